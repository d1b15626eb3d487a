"""The nominal rate of a variable-frame-rate plate: the typical frame step's rate, snapped to a
standard rate, not FFmpeg's r_frame_rate (which followed the jitter of a phone's time stamps
and the fastest stretch of a clip). Real encodes, read with the real reader."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from core.media.reader import open_media
from tests.mediagen import make_video


def _plate(path: Path, steps: list[int], tb: Fraction) -> Path:
    pts = np.r_[0, np.cumsum(steps)]
    return make_video(path, len(pts), 64, 48, fps=30, pts=[int(p) for p in pts], time_base=tb)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_jittered_phone_clip_is_30_fps(tmp_path, seed):
    """An iPhone-style 1/600 time base at 30 fps, +-1-2 ticks of jitter: read 88/3, 89/3 or
    30000/1001 by the jitter; now 30 each time."""
    rng = np.random.default_rng(seed)
    steps = [20 + int(d) for d in rng.choice([-2, -1, 0, 0, 0, 1, 2], size=40)]
    with open_media(_plate(tmp_path / "j.mp4", steps, Fraction(1, 600))) as r:
        assert r.info.vfr and r.info.fps == 30


def test_a_slow_motion_stretch_does_not_set_the_rate(tmp_path):
    """A 30 fps clip with a 120 fps stretch (more frames than the 30 fps part, less time) read
    120 (its fastest rate); now 30."""
    steps = [20] * 24 + [5] * 40 + [20] * 4 + [21, 19]
    with open_media(_plate(tmp_path / "s.mp4", steps, Fraction(1, 600))) as r:
        assert r.info.vfr and r.info.fps == 30


def test_ntsc_and_integer_rates_are_told_apart(tmp_path):
    """29.97 fps jittered in a 1/30000 base (1001 ticks a frame) is 30000/1001, and the same
    jitter about 1000 ticks is 30: the snap goes to the rate the typical steps are nearer."""
    rng = np.random.default_rng(5)
    jitter = [int(d) for d in rng.choice([-30, -15, 0, 15, 30], size=40)]
    with open_media(_plate(tmp_path / "n.mp4", [1001 + d for d in jitter], Fraction(1, 30000))) as r:
        assert r.info.vfr and r.info.fps == Fraction(30000, 1001)
    with open_media(_plate(tmp_path / "i.mp4", [1000 + d for d in jitter], Fraction(1, 30000))) as r:
        assert r.info.vfr and r.info.fps == 30
