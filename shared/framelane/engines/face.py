"""Face and iris landmarks with the MediaPipe models (BlazeFace short range → face mesh → iris), run with LiteRT.

Pre- and post-processing follow MediaPipe's graphs: SSD anchors for BlazeFace, a square ROI 1.5× the face box
for the mesh, a 64×64 crop 2.3× the eye width for the iris model (left eyes mirrored).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from framelane.engines.base import Frame
from framelane.engines.litert import LiteRtModel
from framelane.weights import FACE_MESH, locate

Points = npt.NDArray[np.float32]

# face-mesh indices: (outer corner, inner corner, upper lid, lower lid) of the subject's right and left eye
EYES = {"right": (33, 133, 159, 145), "left": (263, 362, 386, 374)}
DETECTION_THRESHOLD = 0.5
MESH_PRESENCE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Eye:
    outer: npt.NDArray[np.float32]
    inner: npt.NDArray[np.float32]
    upper: npt.NDArray[np.float32]
    lower: npt.NDArray[np.float32]
    iris: npt.NDArray[np.float32]  # iris centre (x, y) in frame pixels
    iris_radius: float

    @property
    def centre(self) -> npt.NDArray[np.float32]:
        """The centre of the eye opening: midway between the corners, and between the lids."""
        return np.array(
            [(self.outer[0] + self.inner[0]) / 2, (self.upper[1] + self.lower[1]) / 2], dtype=np.float32
        )

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.outer - self.inner))

    @property
    def openness(self) -> float:
        """Lid gap over eye width: about 0.25–0.35 open, below ~0.12 closed (a blink)."""
        return float(np.linalg.norm(self.upper - self.lower)) / max(self.width, 1.0)


@dataclass(frozen=True)
class Face:
    landmarks: Points  # 468 × 2, frame pixels
    eyes: tuple[Eye, Eye]
    box: tuple[float, float, float]  # the (centre x, centre y, size) the mesh was read from


def _anchors() -> Points:
    """BlazeFace short-range anchors: 16×16×2 at stride 8 and 8×8×6 at stride 16 (centres, unit size)."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.array(centres, dtype=np.float32)


class FaceLandmarker:
    def __init__(self) -> None:
        directory = locate(FACE_MESH)
        self.detector = LiteRtModel(directory / "face_detection_short_range.tflite")
        self.mesh = LiteRtModel(directory / "face_landmark.tflite")
        self.iris = LiteRtModel(directory / "iris_landmark.tflite")
        self.anchors = _anchors()

    @property
    def device(self) -> str:
        return self.mesh.device

    @staticmethod
    def _run(model: LiteRtModel, tensor: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        return [output[0] for output in model.run(tensor[None])]

    def detect(self, frame: Frame) -> list[tuple[float, float, float]]:
        """Faces as (centre x, centre y, size) in frame pixels, after non-maximum suppression."""
        height, width = frame.shape[:2]
        side = max(height, width)
        fit = (max(1, round(width * 128 / side)), max(1, round(height * 128 / side)))
        square = np.zeros((128, 128, 3), dtype=np.uint8)  # the frame at the top left, as MediaPipe pads
        square[: fit[1], : fit[0]] = cv2.resize(frame[..., :3], fit, interpolation=cv2.INTER_AREA)
        tensor = square.astype(np.float32) / 127.5 - 1.0
        regressors, logits = self._run(self.detector, tensor)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0].astype(np.float64), -50.0, 50.0)))
        keep = np.nonzero(scores >= DETECTION_THRESHOLD)[0]
        boxes: list[tuple[float, float, float]] = []
        for index in keep[np.argsort(-scores[keep])]:
            cx = (regressors[index, 0] / 128 + self.anchors[index, 0]) * side
            cy = (regressors[index, 1] / 128 + self.anchors[index, 1]) * side
            size = max(regressors[index, 2], regressors[index, 3]) / 128 * side
            if all(np.hypot(cx - bx, cy - by) > 0.5 * max(size, bs) for bx, by, bs in boxes):
                boxes.append((float(cx), float(cy), float(size)))
        return boxes

    def landmarks(self, frame: Frame, box: tuple[float, float, float]) -> Points | None:
        """468 face-mesh points (frame pixels) for the face in `box`; None when the model sees no face there."""
        cx, cy, size = box
        roi = size * 1.5
        crop, origin, scale = _crop(frame, cx, cy, roi, 192)
        points, presence = self._run(self.mesh, crop.astype(np.float32) / 255.0)
        if 1.0 / (1.0 + np.exp(-float(presence.reshape(-1)[0]))) < MESH_PRESENCE_THRESHOLD:
            return None
        mesh = points.reshape(-1, 3)[:, :2]
        return np.asarray(mesh / scale + origin, dtype=np.float32)

    def eye(self, frame: Frame, mesh: Points, side: str) -> Eye:
        outer, inner, upper, lower = (mesh[i] for i in EYES[side])
        centre = (outer + inner) / 2
        width = float(np.linalg.norm(outer - inner))
        crop, origin, scale = _crop(frame, float(centre[0]), float(centre[1]), width * 2.3, 64)
        mirror = side == "left"  # the iris model is trained on right eyes
        tensor = crop[:, ::-1] if mirror else crop
        _, iris = self._run(self.iris, np.ascontiguousarray(tensor).astype(np.float32) / 255.0)
        points = iris.reshape(-1, 3)[:, :2].copy()
        if mirror:
            points[:, 0] = 64 - points[:, 0]
        points = points / scale + origin
        radius = float(np.mean(np.linalg.norm(points[1:] - points[0], axis=1)))
        return Eye(outer, inner, upper, lower, np.asarray(points[0], dtype=np.float32), radius)

    def face_at(self, frame: Frame, box: tuple[float, float, float]) -> Face | None:
        """Mesh and irises for the face in `box` (a detection, or the last frame's face when tracking)."""
        mesh = self.landmarks(frame, box)
        if mesh is None:
            return None
        return Face(mesh, (self.eye(frame, mesh, "right"), self.eye(frame, mesh, "left")), box)

    def faces(self, frame: Frame) -> list[Face]:
        return [face for box in self.detect(frame) if (face := self.face_at(frame, box)) is not None]


def _crop(
    frame: Frame, cx: float, cy: float, size: float, out: int
) -> tuple[Frame, npt.NDArray[np.float32], float]:
    """A square `size` crop centred on (cx, cy), resized to `out` (borders replicated); origin and scale map back."""
    scale = out / size
    origin = np.array([cx - size / 2, cy - size / 2], dtype=np.float32)
    matrix = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]], dtype=np.float32)
    crop = cv2.warpAffine(
        frame[..., :3], matrix, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(crop, dtype=np.uint8), origin, scale
