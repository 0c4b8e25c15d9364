"""super_resolution quality on ground truth it never saw whole (the learned mode is SPAN): downscale astronaut, coffee and chelsea by 2 and
4, upscale back, compare with PSNR/SSIM against bicubic. Figures are printed for the closing note."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio as psnr
from skimage.metrics import structural_similarity as ssim

from framelane.engines.base import load_registry
from framelane.engines.super_resolution import (
    FastUpscaler,
    LearnedUpscaler,
    create,
    learned_is_real_time,
    output_dimensions,
)
from framelane.models import MediaInfo
from framelane.services.context import ServiceContext
from tests.support.media import clip_of, rgb_frames
from tests.support.servers import loopback_server

from .pipeline_helpers import thread_worker, wait_for_task

CASES = [(name, factor) for name in ("astronaut", "coffee", "chelsea") for factor in (2, 4)]


def gradient_energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2))


def ground_truth(name: str, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = getattr(data, name)()
    height, width = (
        (image.shape[0] // (2 * factor)) * 2 * factor,
        (image.shape[1] // (2 * factor)) * 2 * factor,
    )
    truth = np.ascontiguousarray(image[:height, :width])
    small = cv2.resize(truth, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    bicubic = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return truth, small, bicubic


@pytest.mark.parametrize("name,factor", CASES)
def test_fast_mode_beats_bicubic(name: str, factor: int) -> None:
    truth, small, bicubic = ground_truth(name, factor)
    fast = FastUpscaler(factor).process(small)
    assert fast.shape == truth.shape
    print(f"{name} ×{factor}: PSNR bicubic {psnr(truth, bicubic):.2f} fast {psnr(truth, fast):.2f}")
    assert psnr(truth, fast) > psnr(truth, bicubic)


@pytest.mark.parametrize("name,factor", CASES)
def test_learned_mode_is_sharper_with_exact_dimensions(name: str, factor: int) -> None:
    truth, small, bicubic = ground_truth(name, factor)
    learned = LearnedUpscaler(factor).process(small)
    assert learned.shape == truth.shape
    ratio = gradient_energy(learned) / gradient_energy(bicubic)
    ssim_bicubic = ssim(truth, bicubic, channel_axis=2)
    ssim_learned = ssim(truth, learned, channel_axis=2)
    print(
        f"{name} ×{factor}: SSIM bicubic {ssim_bicubic:.4f} learned {ssim_learned:.4f} "
        f"PSNR learned {psnr(truth, learned):.2f} gradient-energy ratio {ratio:.2f}"
    )
    assert ratio > 1.2  # visibly sharper than bicubic
    assert ssim_learned >= ssim_bicubic - 0.02


def test_tiles_join_without_seams() -> None:
    """A frame larger than one tile gives the same pixels as one whole-frame model run."""
    frame = np.ascontiguousarray(data.astronaut()[:200, :260])
    engine = LearnedUpscaler(2)
    engine.TILE = 96  # 3 × 3 tiles
    tiled = engine.upscale(frame).astype(int)
    engine.TILE = 1000
    whole = engine.upscale(frame).astype(int)
    difference = np.abs(tiled - whole)
    print(f"tiled vs whole: max difference {difference.max()}, mean {difference.mean():.4f}")
    assert difference.max() <= 2 and difference.mean() < 0.05


@pytest.mark.parametrize(
    "scale,expected",
    # scale × 150×100, each side to the nearest even number (ties down): 225 -> 224, 375 -> 374, 495 -> 494
    [(1.0, (150, 100)), (1.5, (224, 150)), (2.5, (374, 250)), (3.3, (494, 330))],
)
def test_non_integer_scales_give_exact_even_dimensions(scale: float, expected: tuple[int, int]) -> None:
    frame = np.ascontiguousarray(data.chelsea()[:100, :150])
    assert output_dimensions(150, 100, scale) == expected
    for engine in (FastUpscaler(scale), LearnedUpscaler(scale)):
        out = engine.process(frame)
        assert (out.shape[1], out.shape[0]) == expected == engine.output_size(150, 100)


@pytest.mark.parametrize(
    "device,expected",
    [("cpu", FastUpscaler), ("auto", LearnedUpscaler if learned_is_real_time() else FastUpscaler)],
)
def test_auto_mode_is_learned_only_where_it_runs_in_sensible_time(
    device: str, expected: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAMELANE_SR_DEVICE", device)
    media = MediaInfo(duration=1, width=64, height=64, fps=25, has_video=True, has_audio=False, size_bytes=1)
    assert type(create({"scale": 2, "mode": "auto"}, media)) is expected
    assert type(create({"scale": 2}, media)) is expected  # the default
    assert type(create({"scale": 2, "mode": "learned"}, media)) is LearnedUpscaler  # asked for, given


def test_worker_doubles_a_photo_with_the_learned_model(
    papi: httpx.Client, pipeline_ctx: ServiceContext, tmp_path: Path
) -> None:
    """The real engine through the real worker: the user gets a 320×240 MP4 from a 160×120 source, as sharp as
    the learned model makes it (not a bicubic copy) and still the same picture."""
    small = np.ascontiguousarray(data.chelsea()[:240, :320][::2, ::2])
    clip = clip_of([small] * 3, tmp_path / "cat.mp4")
    with loopback_server() as origin, thread_worker(pipeline_ctx, "real-sr", load_registry("")):
        created = papi.post(
            "/v1/tasks/super-resolution",
            json={"source_url": origin.serve_bytes("/c.mp4", clip), "scale": 2, "mode": "learned"},
        )
        task = wait_for_task(papi, created.json()["id"], timeout=120)
    assert task["status"] == "completed", task
    assert (task["output"]["width"], task["output"]["height"]) == (320, 240)
    out = tmp_path / "out.mp4"
    out.write_bytes(httpx.get(task["output"]["url"]).content)
    frames = rgb_frames(out)
    assert len(frames) == 3 and frames[0].shape == (240, 320, 3)
    bicubic = cv2.resize(small, (320, 240), interpolation=cv2.INTER_CUBIC)
    print(
        f"worker ×2: PSNR vs bicubic {psnr(bicubic, frames[1]):.1f} dB, "
        f"gradient-energy ratio {gradient_energy(frames[1]) / gradient_energy(bicubic):.2f}"
    )
    assert psnr(bicubic, frames[1]) > 25  # the same picture
    assert gradient_energy(frames[1]) > 1.1 * gradient_energy(bicubic)  # and sharper than bicubic
