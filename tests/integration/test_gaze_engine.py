"""gaze_redirect with the real MediaPipe face mesh + iris models: an off-camera input is made by shifting both
irises sideways by a known amount; the redirect is measured with the same landmark models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from skimage import data

from framelane.engines.base import load_registry
from framelane.engines.face import Face, FaceLandmarker
from framelane.engines.gaze import SUPPORT, GazeRedirector, redirect, warp_eye
from framelane.errors import TaskFailure
from framelane.media.samples import make_sample_clip
from framelane.services.context import ServiceContext
from tests.support.gaze import iris_offsets
from tests.support.media import clip_of, rgb_frames
from tests.support.servers import loopback_server

from .pipeline_helpers import thread_worker, wait_for_task

SHIFT = 10.0  # pixels, for eyes ~40 px wide: a clear sideways look


@pytest.fixture(scope="module")
def landmarker() -> FaceLandmarker:
    return FaceLandmarker()


@pytest.fixture(scope="module")
def off_camera(landmarker: FaceLandmarker) -> tuple[np.ndarray, list[Face]]:
    face = cv2.resize(data.astronaut()[30:290, 100:360], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    (frontal,) = landmarker.faces(face)
    shifted = np.ascontiguousarray(face)
    for eye in frontal.eyes:
        warp_eye(shifted, eye.centre, eye.width, np.array([SHIFT, 0.0], np.float32))
    return shifted, landmarker.faces(shifted)


@pytest.mark.parametrize("intensity,low,high", [(1.0, 0.70, 1.30), (0.5, 0.35, 0.65), (0.0, 0.0, 0.0)])
def test_offset_reduction_follows_intensity(
    landmarker: FaceLandmarker,
    off_camera: tuple[np.ndarray, list[Face]],
    intensity: float,
    low: float,
    high: float,
) -> None:
    frame, faces = off_camera
    before = iris_offsets(faces[0].eyes)
    out = redirect(frame, faces, intensity, landmarker) if intensity else GazeRedirector(0).process(frame)
    after = iris_offsets(landmarker.faces(out)[0].eyes)
    reductions = [1 - abs(a) / abs(b) for a, b in zip(after, before, strict=True)]
    print(f"intensity {intensity}: offsets {before} → {after}, reduction {reductions}")
    assert all(low <= r <= high for r in reductions), reductions
    if intensity == 0:
        assert np.array_equal(out, frame)


@pytest.mark.parametrize("intensity,low,high", [(1.0, 0.70, 1.30), (0.5, 0.35, 0.65)])
def test_video_keeps_the_redirect_while_tracking(
    landmarker: FaceLandmarker,
    off_camera: tuple[np.ndarray, list[Face]],
    intensity: float,
    low: float,
    high: float,
) -> None:
    """A drifting face through the video engine: tracking, and warps that reuse the eyes' measured gains
    between re-measured frames, keep the mean reduction on target."""
    frame, _ = off_camera
    engine = GazeRedirector(intensity)
    reductions = []
    for index in range(12):
        canvas = np.full((frame.shape[0] + 80, frame.shape[1] + 80, 3), 110, np.uint8)
        x, y = 40 + round(6 * np.sin(index / 3)), 20 + 2 * index
        canvas[y : y + frame.shape[0], x : x + frame.shape[1]] = frame
        before = iris_offsets(landmarker.faces(canvas)[0].eyes)
        after = iris_offsets(landmarker.faces(engine.process(canvas))[0].eyes)
        reductions.extend(1 - abs(a) / abs(b) for a, b in zip(after, before, strict=True))
    mean = float(np.mean(reductions))
    print(
        f"video, intensity {intensity}: mean reduction {mean:.2f}, per eye {min(reductions):.2f}–{max(reductions):.2f}"
    )
    assert low <= mean <= high
    assert min(reductions) > 0.2  # every frame moved the right way


def test_only_the_eye_regions_change(
    landmarker: FaceLandmarker, off_camera: tuple[np.ndarray, list[Face]]
) -> None:
    frame, faces = off_camera
    out = redirect(frame, faces, 1.0, landmarker)
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    near = np.zeros(frame.shape[:2], bool)
    for eye in faces[0].eyes:
        margin = SUPPORT * eye.width + 8  # the warp's support, plus the eye landmarks' wobble between rounds
        near |= np.hypot(xs - eye.centre[0], ys - eye.centre[1]) <= margin
    difference = np.abs(out.astype(int) - frame.astype(int)).max(axis=2)
    assert difference[~near].max() < 1
    assert difference[near].max() > 10  # the eyes did move


def test_closed_eyes_are_left_alone(
    landmarker: FaceLandmarker, off_camera: tuple[np.ndarray, list[Face]]
) -> None:
    frame, faces = off_camera
    blinking = [
        dataclasses.replace(face, eyes=tuple(dataclasses.replace(e, lower=e.upper.copy()) for e in face.eyes))
        for face in faces
    ]
    assert np.array_equal(redirect(frame, blinking, 1.0, landmarker), frame)


def test_every_face_is_handled(landmarker: FaceLandmarker, off_camera: tuple[np.ndarray, list[Face]]) -> None:
    frame, _ = off_camera
    pair = np.ascontiguousarray(np.hstack([frame, frame[:, ::-1]]))
    faces = landmarker.faces(pair)
    assert len(faces) == 2
    out = redirect(pair, faces, 1.0, landmarker)
    redirected = landmarker.faces(out)
    assert len(redirected) == 2
    for face in redirected:
        assert all(abs(o) < 0.4 * SHIFT for o in iris_offsets(face.eyes))


def test_frames_without_faces_pass_and_a_faceless_video_fails() -> None:
    engine = GazeRedirector(1.0)
    empty = np.full((240, 320, 3), 90, np.uint8)
    assert np.array_equal(engine.process(empty), empty)
    with pytest.raises(TaskFailure) as failure:
        engine.finish()
    assert failure.value.code == "no_face_detected"


def test_worker_fails_a_faceless_video_with_no_face_detected(
    papi: httpx.Client, pipeline_ctx: ServiceContext, tmp_path: Path
) -> None:
    clip = make_sample_clip(tmp_path / "scene.mp4", seconds=1, width=320, height=240).read_bytes()
    with loopback_server() as origin, thread_worker(pipeline_ctx, "real-gaze", load_registry("")):
        created = papi.post(
            "/v1/tasks/gaze-redirect", json={"source_url": origin.serve_bytes("/s.mp4", clip)}
        )
        task = wait_for_task(papi, created.json()["id"], timeout=120)
    assert (task["status"], task["error"]["code"]) == ("failed", "no_face_detected")


def test_worker_moves_the_irises_of_a_face(
    papi: httpx.Client,
    pipeline_ctx: ServiceContext,
    landmarker: FaceLandmarker,
    off_camera: tuple[np.ndarray, list[Face]],
    tmp_path: Path,
) -> None:
    """The real engine through the real worker, on a face looking sideways: in the MP4 the user gets back, the
    irises sit near the eye centres (measured with the landmark models on the decoded frames)."""
    frame, faces = off_camera
    before = iris_offsets(faces[0].eyes)
    assert all(abs(offset) > 0.4 * SHIFT for offset in before)  # clearly off-centre: 5 and 7 px
    clip = clip_of([frame] * 4, tmp_path / "face.mp4")
    with loopback_server() as origin, thread_worker(pipeline_ctx, "real-gaze", load_registry("")):
        created = papi.post(
            "/v1/tasks/gaze-redirect", json={"source_url": origin.serve_bytes("/f.mp4", clip)}
        )
        task = wait_for_task(papi, created.json()["id"], timeout=120)
    assert task["status"] == "completed", task
    out = tmp_path / "out.mp4"
    out.write_bytes(httpx.get(task["output"]["url"]).content)
    frames = rgb_frames(out)
    assert len(frames) == 4 and frames[0].shape == frame.shape
    reductions = []
    for picture in frames:
        (face,) = landmarker.faces(picture)
        after = iris_offsets(face.eyes)
        print(f"worker: offsets {before} -> {after}")
        reductions.extend(1 - abs(a) / abs(b) for a, b in zip(after, before, strict=True))
    assert min(reductions) >= 0.5 and np.mean(reductions) >= 0.7, reductions  # every frame, both eyes
