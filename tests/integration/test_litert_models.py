"""The engines' LiteRT adapter: the same outputs, in the same order, as LiteRT's reference interpreter for all
five MediaPipe models; a GPU that cannot be used falls back to the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from framelane.engines import litert
from framelane.engines.litert import LiteRtModel
from framelane.weights import FACE_MESH, SELFIE_SEGMENTATION, ModelSpec, locate

MODELS = [
    (SELFIE_SEGMENTATION, "selfie_segmentation.tflite"),
    (SELFIE_SEGMENTATION, "selfie_segmentation_landscape.tflite"),
    (FACE_MESH, "face_detection_short_range.tflite"),
    (FACE_MESH, "face_landmark.tflite"),
    (FACE_MESH, "iris_landmark.tflite"),
]


@pytest.mark.parametrize("spec,name", MODELS, ids=[name for _, name in MODELS])
def test_outputs_match_the_reference_interpreter(spec: ModelSpec, name: str) -> None:
    path = locate(spec) / name
    reference = Interpreter(model_path=str(path), num_threads=1)
    reference.allocate_tensors()
    model_input = reference.get_input_details()[0]
    tensor = np.random.default_rng(0).random(model_input["shape"], dtype=np.float32)
    reference.set_tensor(model_input["index"], tensor)
    reference.invoke()
    expected = [reference.get_tensor(output["index"]) for output in reference.get_output_details()]
    model = LiteRtModel(path)
    outputs = model.run(tensor)
    assert model.input_shape == tuple(model_input["shape"])
    assert [o.shape for o in outputs] == [e.shape for e in expected]
    tolerance = 0.0 if model.device == "cpu" else 1e-2  # GPU kernels may compute in half precision
    for output, reference_output in zip(outputs, expected, strict=True):
        assert np.abs(output - reference_output).max() <= tolerance


def test_a_gpu_that_cannot_be_used_falls_back_to_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    compile_model = LiteRtModel._compile

    def no_gpu(path: Path, accelerators: litert.HardwareAccelerator) -> litert.CompiledModel:
        if accelerators & litert.HardwareAccelerator.GPU:
            raise RuntimeError("Failed to initialize WebGPU environment: No adapters found")
        return compile_model(path, accelerators)

    monkeypatch.setenv("FRAMELANE_LITERT_DEVICE", "gpu")
    monkeypatch.setattr(LiteRtModel, "_compile", staticmethod(no_gpu))
    model = LiteRtModel(locate(SELFIE_SEGMENTATION) / "selfie_segmentation.tflite")
    assert model.device == "cpu"
    (probability,) = model.run(np.zeros(model.input_shape, np.float32))
    assert probability.shape == (1, 256, 256, 1)
