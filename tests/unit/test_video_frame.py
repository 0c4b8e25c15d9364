"""The writer's RGB → encoder-input conversion (OpenCV for 4:2:0) keeps the picture as well as swscale's does."""

from __future__ import annotations

import av
import cv2
import numpy as np
from skimage import data

from framelane.media.formats import H264_MP4, VP9_ALPHA_WEBM
from framelane.media.transcode import video_frame


def test_yuv420_conversion_is_as_faithful_as_swscale() -> None:
    rgb = np.ascontiguousarray(cv2.resize(data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA))
    frame = video_frame(rgb, H264_MP4)
    assert (frame.format.name, frame.width, frame.height) == ("yuv420p", 320, 240)
    ours = frame.to_ndarray(format="rgb24").astype(int)
    reference = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    theirs = reference.to_ndarray(format="rgb24").astype(int)
    our_error, their_error = (float(np.abs(x - rgb.astype(int)).mean()) for x in (ours, theirs))
    assert our_error < 3.0 and our_error < their_error + 0.2, (our_error, their_error)


def test_alpha_and_odd_sizes_keep_their_own_paths() -> None:
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 3] = 77
    assert video_frame(rgba, VP9_ALPHA_WEBM).to_ndarray(format="rgba")[..., 3].max() == 77
    odd = np.zeros((9, 11, 3), np.uint8)
    assert video_frame(odd, H264_MP4).format.name == "rgb24"  # the encoder's own scaler handles it
