"""Helpers for the job tests: a small generated plate and a deliberately slow producer.

The slow producer lets a test kill a real render process part-way through (kill -9) at a
moment it can observe; it renders the same pictures as the `convert` job.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.jobs.run import ConvertProducer, register_producer


def make_plate(path: Path, frames: int = 30, size: tuple[int, int] = (96, 64), fps: int = 24) -> Path:
    """An H.264 plate whose frames all differ (a moving gradient and a frame counter block)."""
    w, h = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "12", "g": "12", "bf": "2"}
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (xx * 2 + i * 7) % 256
            img[..., 1] = (yy * 3 + i * 5) % 256
            img[..., 2] = 128
            img[4:20, 4 + (i % 8) * 8: 12 + (i % 8) * 8] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


class SlowConvert(ConvertProducer):
    """`convert`, 0.15 s per frame."""

    def frame(self, index):
        time.sleep(0.15)
        return super().frame(index)


register_producer("slow_convert", SlowConvert)


class CountingConvert(ConvertProducer):
    """`convert` that counts the producers made and, once per class reset, fails on frame
    `fail_at` with a transient I/O error (a worker fault that a retry fixes)."""

    made = 0
    closed = 0
    fail_at: int | None = None

    def __init__(self, spec) -> None:
        super().__init__(spec)
        type(self).made += 1

    def frame(self, index):
        if index == type(self).fail_at:
            type(self).fail_at = None
            raise OSError(5, "Input/output error (injected)")
        return super().frame(index)

    def close(self) -> None:
        type(self).closed += 1
        super().close()


register_producer("counting_convert", CountingConvert)
