"""super_resolution engines. `learned`: SPAN on ncnn (Vulkan GPU when present, else CPU) at ×2 or ×4, then
resampled to the exact size; `fast`: Lanczos + unsharp masking on the luma (classical, real time); `auto` (the
default): learned where a GPU makes it real time, fast on a CPU.
"""

from __future__ import annotations

import os
import time
from typing import Any

import cv2
import numpy as np
from aws_lambda_powertools import Logger

from framelane.engines.base import EngineRegistry, EngineUnavailable, Frame, FrameEngine
from framelane.logs import SERVICE
from framelane.media.formats import even
from framelane.models import MediaInfo, SuperResolutionMode, TaskType
from framelane.native_logs import model_loaded, quiet_native_stderr
from framelane.weights import SPAN, locate

logger = Logger(service=SERVICE, child=True)

SHARPEN_AMOUNT = 0.6
SHARPEN_SIGMA = 1.0


def output_dimensions(width: int, height: int, scale: float) -> tuple[int, int]:
    """`scale` × the input, to the nearest even numbers: the output is 4:2:0 H.264 (formats.py's size rule)."""
    return even(width * scale), even(height * scale)


class FastUpscaler:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return output_dimensions(width, height, self.scale)

    def process(self, frame: Frame) -> Frame:
        """Lanczos and sharpening on the luma, where the eye sees detail; bicubic on the chroma, which 4:2:0
        video keeps at half resolution anyway. Half the CPU of doing all three channels alike."""
        height, width = frame.shape[:2]
        size = self.output_size(width, height)
        ycrcb = cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2YCrCb)
        luma = np.ascontiguousarray(ycrcb[..., 0])
        # Unsharp masking before the (linear) Lanczos upscale equals masking after it with the blur scaled
        # up, at a quarter of the pixels for ×2.
        blurred = cv2.GaussianBlur(luma, (0, 0), SHARPEN_SIGMA / self.scale)
        sharpened = cv2.addWeighted(luma, 1 + SHARPEN_AMOUNT, blurred, -SHARPEN_AMOUNT, 0)
        upscaled = cv2.resize(ycrcb, size, interpolation=cv2.INTER_CUBIC)
        cv2.insertChannel(cv2.resize(sharpened, size, interpolation=cv2.INTER_LANCZOS4), upscaled, 0)
        return np.asarray(cv2.cvtColor(upscaled, cv2.COLOR_YCrCb2RGB), dtype=np.uint8)

    def finish(self) -> None:
        pass


class LearnedUpscaler:
    """SPAN (Swift Parameter-free Attention Network, winner of NTIRE 2024's efficient super-resolution track),
    trained for fidelity: it restores edges and fine texture without the invented detail of a GAN, so it is
    sharper than bicubic *and* closer to the truth. The ×2 model serves scales up to 2, the ×4 model the rest
    (there is no ×3); the result is resampled to the exact size. Frames run in overlapping tiles, so memory
    stays bounded whatever the frame size."""

    TILE = 320  # input pixels per tile side
    OVERLAP = 16  # input pixels of context around each tile, beyond the model's receptive field

    def __init__(self, scale: float) -> None:
        try:
            import ncnn
        except ImportError as exc:
            raise EngineUnavailable(f"the learned super-resolution engine cannot load: {exc}") from exc
        self.scale = scale
        # scale 1 still runs the model (restoration), then resamples
        self.model_scale = 2 if scale <= 2 else 4
        directory = locate(SPAN)
        name = f"spanx{self.model_scale}_ch48"
        started = time.perf_counter()
        with quiet_native_stderr():  # ncnn probes for Vulkan loudly on hosts without it
            self.device = "vulkan" if _vulkan_gpu_available(ncnn) else "cpu"
            self._net = ncnn.Net()
            self._net.opt.use_vulkan_compute = self.device == "vulkan"
            self._net.opt.num_threads = os.cpu_count() or 1
            self._net.load_param(str(directory / f"{name}.param"))
            self._net.load_model(str(directory / f"{name}.bin"))
        self._ncnn = ncnn
        model_loaded(logger, name, self.device, started)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return output_dimensions(width, height, self.scale)

    def _infer(self, tile: Frame) -> Frame:
        height, width = tile.shape[:2]
        pixels = self._ncnn.Mat.from_pixels(
            np.ascontiguousarray(tile), self._ncnn.Mat.PixelType.PIXEL_RGB, width, height
        )
        pixels.substract_mean_normalize([], [1 / 255.0] * 3)
        extractor = self._net.create_extractor()
        extractor.input("data", pixels)
        _, result = extractor.extract("output")
        chw = np.asarray(result)
        return np.asarray(np.clip(chw.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255), dtype=np.uint8)

    def upscale(self, frame: Frame) -> Frame:
        """The model's own ×2/×4 output, tile by tile: each tile is run with OVERLAP context and only its core
        is kept, so the seams match a whole-frame run."""
        height, width = frame.shape[:2]
        factor = self.model_scale
        out = np.empty((height * factor, width * factor, 3), dtype=np.uint8)
        for y0 in range(0, height, self.TILE):
            for x0 in range(0, width, self.TILE):
                y1, x1 = min(height, y0 + self.TILE), min(width, x0 + self.TILE)
                ya, xa = max(0, y0 - self.OVERLAP), max(0, x0 - self.OVERLAP)
                yb, xb = min(height, y1 + self.OVERLAP), min(width, x1 + self.OVERLAP)
                result = self._infer(frame[ya:yb, xa:xb])
                out[y0 * factor : y1 * factor, x0 * factor : x1 * factor] = result[
                    (y0 - ya) * factor : (y1 - ya) * factor, (x0 - xa) * factor : (x1 - xa) * factor
                ]
        return out

    def process(self, frame: Frame) -> Frame:
        height, width = frame.shape[:2]
        upscaled = self.upscale(np.ascontiguousarray(frame[..., :3]))
        size = self.output_size(width, height)
        if upscaled.shape[1] != size[0] or upscaled.shape[0] != size[1]:
            upscaled = np.asarray(cv2.resize(upscaled, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        return upscaled

    def finish(self) -> None:
        pass


def _vulkan_gpu_available(ncnn: Any) -> bool:
    """A real Vulkan GPU (not a software rasterizer such as llvmpipe, which ncnn lists as a CPU-type device);
    FRAMELANE_SR_DEVICE=cpu forces the CPU path."""
    if os.environ.get("FRAMELANE_SR_DEVICE", "auto") == "cpu":
        return False
    cpu_type = 3  # ncnn's device types: 0 discrete, 1 integrated, 2 virtual GPU, 3 CPU
    return any(ncnn.get_gpu_info(index).type() != cpu_type for index in range(ncnn.get_gpu_count()))


def create(options: dict[str, Any], media: MediaInfo) -> FrameEngine:
    """`auto` is `learned` on a GPU and `fast` on a CPU, where SPAN takes minutes per second of video."""
    mode = SuperResolutionMode(options.get("mode", SuperResolutionMode.auto))
    scale = float(options.get("scale", 2))
    if mode is SuperResolutionMode.auto:
        mode = SuperResolutionMode.learned if learned_is_real_time() else SuperResolutionMode.fast
        logger.info("super resolution mode", extra={"requested": "auto", "mode": str(mode)})
    if mode is SuperResolutionMode.fast:
        return FastUpscaler(scale)
    return LearnedUpscaler(scale)


def learned_is_real_time() -> bool:
    """A Vulkan GPU for ncnn (the learned mode's only fast path)."""
    try:
        import ncnn
    except ImportError:
        return False
    with quiet_native_stderr():
        return _vulkan_gpu_available(ncnn)


def register(registry: EngineRegistry) -> None:
    registry.register(TaskType.super_resolution, create)
