"""One LiteRT model (.tflite) for the engines: on the GPU when the host has one (LiteRT's WebGPU accelerator,
over Vulkan; ops it lacks fall back to the CPU), else on the CPU (XNNPACK, one thread: the video codecs need
the other cores). FRAMELANE_LITERT_DEVICE=cpu|gpu|auto overrides the choice. The runtime's probing chatter on
stderr is held back; one structured line per load says the model, the device used and the load time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from ai_edge_litert.compiled_model import CompiledModel, CpuOptions, HardwareAccelerator, Options
from aws_lambda_powertools import Logger

from framelane.logs import SERVICE
from framelane.native_logs import model_loaded, quiet_native_stderr

logger = Logger(service=SERVICE, child=True)
Tensor = npt.NDArray[np.float32]


def gpu_present() -> bool:
    """A GPU device node: a render node (Mesa, most Vulkan drivers) or NVIDIA's."""
    return os.path.exists("/dev/dri") or os.path.exists("/dev/nvidia0")


class LiteRtModel:
    def __init__(self, path: Path) -> None:
        started = time.perf_counter()
        with quiet_native_stderr():
            self._load(path)
            # the first write sets up the buffers' own LiteRT environment, which probes the accelerators again
            self.run(np.zeros(self.input_shape, dtype=np.float32))
        model_loaded(logger, path.stem, self.device, started)

    def __del__(self) -> None:
        """Freeing the native model and buffers prints a line per accelerator: inside the quiet block too."""
        with quiet_native_stderr():
            self.__dict__.clear()

    def _load(self, path: Path) -> None:
        choice = os.environ.get("FRAMELANE_LITERT_DEVICE", "auto")
        self.device = "cpu"
        if choice == "gpu" or (choice == "auto" and gpu_present()):
            try:
                self._model = self._compile(path, HardwareAccelerator.GPU | HardwareAccelerator.CPU)
                self.device = "gpu" if self._model.is_fully_accelerated() else "gpu+cpu"
            except RuntimeError as exc:  # no usable adapter, or a driver LiteRT cannot use
                logger.warning(
                    "LiteRT GPU unavailable, using the CPU", extra={"model": path.name, "reason": str(exc)}
                )
        if self.device == "cpu":
            self._model = self._compile(path, HardwareAccelerator.CPU)
        self._inputs = self._model.create_input_buffers(0)
        self._outputs = self._model.create_output_buffers(0)
        signature = next(iter(self._model.get_signature_list()))
        (model_input,) = self._model.get_input_tensor_details(signature).values()
        self.input_shape = tuple(int(v) for v in model_input["shape"])
        self._output_shapes = [
            tuple(int(v) for v in detail["shape"])
            for detail in self._model.get_output_tensor_details(signature).values()
        ]

    @staticmethod
    def _compile(path: Path, accelerators: HardwareAccelerator) -> CompiledModel:
        options = Options(hardware_accelerators=accelerators, cpu_options=CpuOptions(num_threads=1))
        return CompiledModel.from_file(str(path), options=options)

    def run(self, tensor: Tensor) -> list[Tensor]:
        """One inference: `tensor` has the model's input shape; the outputs come in the signature's order."""
        self._inputs[0].write(np.ascontiguousarray(tensor, dtype=np.float32))
        self._model.run_by_index(0, self._inputs, self._outputs)
        return [
            buffer.read(int(np.prod(shape)), np.float32).reshape(shape)
            for buffer, shape in zip(self._outputs, self._output_shapes, strict=True)
        ]
