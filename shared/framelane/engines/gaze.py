"""gaze_redirect: move each iris toward the centre of its eye opening by `intensity` (0 = identical output,
1 = centred), warping only a smooth, compactly supported region around each eye. Closed eyes (blinks) are left
alone, every face is handled, frames without a face pass through, and a video with no face at all fails with
`no_face_detected`. Faces are tracked between frames (the mesh of the last frame seeds the next one)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from framelane.engines.base import EngineRegistry, Frame
from framelane.engines.face import Face, FaceLandmarker
from framelane.errors import TaskFailure
from framelane.models import MediaInfo, TaskErrorCode, TaskType

BLINK_OPENNESS = 0.12
SUPPORT = 0.8  # warp radius, in eye widths from the eye centre
ROUNDS = 2  # warps per frame; the eyes are measured again between them
INITIAL_GAIN = 0.75
GAIN_REFRESH_EVERY = 4  # frames between re-measured rounds on video; the others reuse the tracked eyes' gains
REDETECT_EVERY = 15  # frames between full detections while tracking


def warp_eye(
    frame: Frame, centre: npt.NDArray[np.float32], width: float, shift: npt.NDArray[np.float32]
) -> None:
    """Move the content at the eye centre by `shift` pixels, in place; nothing changes beyond SUPPORT × width.

    out(p) = in(p − shift · w(p)), with w = (1 − (r/R)²)² for r < R: 1 at the centre, 0 with zero slope at R.
    """
    radius = SUPPORT * width
    height, frame_width = frame.shape[:2]
    x0, y0 = max(0, int(centre[0] - radius) - 1), max(0, int(centre[1] - radius) - 1)
    x1, y1 = min(frame_width, int(centre[0] + radius) + 2), min(height, int(centre[1] + radius) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    r2 = ((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (radius * radius)
    weight = np.where(r2 < 1.0, (1.0 - r2) ** 2, 0.0).astype(np.float32)
    map_x = xs - shift[0] * weight
    map_y = ys - shift[1] * weight
    source = frame.copy() if frame.flags.writeable is False else frame
    patch = cv2.remap(source, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    changed = weight > 0
    frame[y0:y1, x0:x1][changed] = patch[changed]


def redirect(
    frame: Frame,
    faces: list[Face],
    intensity: float,
    landmarker: FaceLandmarker,
    rounds: int = ROUNDS,
    gains: dict[tuple[int, int], float] | None = None,
) -> Frame:
    """Warp each open eye so its iris offset from the eye centre shrinks to (1 − intensity) of what it was.

    Closed loop: after a round of warps the eyes are measured again from the same face crops (a warp also
    nudges the mesh, for both eyes). The iris model reads a warped eye as moved by less than the warp (it also
    looks at the lids and the sclera), so each eye's response to the last warp — its gain — scales the next one.
    `gains` (per (face, eye)) carries the measured gains from frame to frame: tracked eyes change slowly, so a
    video re-measures only now and then and warps once per frame in between.
    """
    gains = {} if gains is None else gains
    out = np.array(frame[..., :3], copy=True)
    targets = {
        (face_index, side): (eye.iris - eye.centre) * (1.0 - intensity)
        for face_index, face in enumerate(faces)
        for side, eye in enumerate(face.eyes)
        if eye.openness >= BLINK_OPENNESS
    }
    current: list[Face | None] = list(faces)
    applied: dict[tuple[int, int], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
    for round_ in range(rounds):
        moved = False
        for key, target in targets.items():
            face = current[key[0]]
            if face is None:
                continue
            eye = face.eyes[key[1]]
            error = (eye.iris - eye.centre) - target
            if key in applied:  # measured change of the offset per pixel of the last warp
                last_error, last_shift = applied[key]
                measured = np.dot(error - last_error, last_shift) / max(
                    float(np.dot(last_shift, last_shift)), 1e-6
                )
                gains[key] = min(max(float(measured), 0.4), 1.5)
            gain = gains.get(key, INITIAL_GAIN)
            if float(np.hypot(*error)) >= 0.25:
                shift = (-error / gain).astype(np.float32)
                warp_eye(out, eye.centre, eye.width, shift)
                applied[key] = (error, shift)
                moved = True
        if not moved or round_ == rounds - 1:
            break
        # the same crops as the first measurement: only the eyes changed, so only the eyes' readings move
        current = [landmarker.face_at(out, face.box) for face in faces]
    return out


class GazeRedirector:
    def __init__(self, intensity: float) -> None:
        self.intensity = intensity
        self.landmarker = FaceLandmarker()
        self.frames_with_faces = 0
        self._tracked: list[tuple[float, float, float]] = []
        self._frame_index = 0
        self._gains: dict[tuple[int, int], float] = {}

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def faces(self, frame: Frame) -> list[Face]:
        """Faces from the boxes of the last frame's meshes; a full detection when tracking lost a face or is due."""
        faces: list[Face] = []
        if self._tracked and self._frame_index % REDETECT_EVERY:
            for box in self._tracked:
                face = self.landmarker.face_at(frame, box)
                if face is None:
                    faces = []
                    break
                faces.append(face)
        if not faces:
            faces = self.landmarker.faces(frame)
            self._gains = {}  # a new detection may list the faces in another order
        self._tracked = [_box(face) for face in faces]
        self._frame_index += 1
        return faces

    def process(self, frame: Frame) -> Frame:
        faces = self.faces(frame)
        if faces:
            self.frames_with_faces += 1
        if not faces or self.intensity == 0:
            return np.asarray(frame[..., :3])
        rounds = ROUNDS if not self._gains or self._frame_index % GAIN_REFRESH_EVERY == 0 else 1
        return redirect(frame, faces, self.intensity, self.landmarker, rounds, self._gains)

    def finish(self) -> None:
        if self.frames_with_faces == 0:
            raise TaskFailure(TaskErrorCode.no_face_detected, "no face was found in any frame of the video")


def _box(face: Face) -> tuple[float, float, float]:
    """The detector-style box (centre, size) that reproduces this face's mesh ROI."""
    low, high = face.landmarks.min(axis=0), face.landmarks.max(axis=0)
    centre = (low + high) / 2
    return float(centre[0]), float(centre[1]), float(max(high - low))


def create(options: dict[str, Any], media: MediaInfo) -> GazeRedirector:
    return GazeRedirector(float(options.get("intensity", 1.0)))  # each model load logs its model and device


def register(registry: EngineRegistry) -> None:
    registry.register(TaskType.gaze_redirect, create)
