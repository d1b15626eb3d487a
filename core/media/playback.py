"""Real-time playback clock: which frame a player shows after some wall time, looping in a range.

A player that steps one frame per timer tick plays slow whenever drawing takes longer than a
frame; following the clock instead drops frames and keeps the plate's rate (as Nuke's and
Maya's real-time playback do). Pure arithmetic, no Qt, so the studio and tests share it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.media.timing import segment_times


def playback_frame(start: int, elapsed_s: float, fps: float, speed: int, first: int, last: int,
                   times: Sequence[float] | np.ndarray | None = None) -> int:
    """The frame due `elapsed_s` seconds after playing from `start` at `fps` x `speed` (negative:
    backwards), wrapped into first..last as a looping player does. `times`: every plate frame's
    own time in seconds (a variable-frame-rate plate, plate_times): the frame on screen at that
    moment of the plate's own timeline, so a 30 fps stretch under a 60 fps nominal rate does
    not play twice as fast; None: frames are 1 / fps apart."""
    first, last = int(first), int(last)
    if last < first:
        return first
    if times is not None and len(times) > last:
        return _timed_frame(start, elapsed_s, fps, speed, first, last, np.asarray(times, np.float64))
    n = last - first + 1
    step = math.floor(max(elapsed_s, 0.0) * float(fps) * abs(int(speed)) + 1e-6)
    pos = int(start) - first + (step if speed >= 0 else -step)
    return first + pos % n


def _timed_frame(start: int, elapsed_s: float, fps: float, speed: int, first: int, last: int,
                 times: np.ndarray) -> int:
    """playback_frame on a plate's own frame times: the loop first..last lasts from its first
    frame's time to the end of its last (the next frame's time, or one nominal frame)."""
    t = times[first:last + 1] - times[first]
    end = times[last + 1] - times[first] if len(times) > last + 1 else t[-1] + 1.0 / float(fps)
    moved = max(elapsed_s, 0.0) * abs(int(speed))
    at = (t[min(max(int(start), first), last) - first] + (moved if speed >= 0 else -moved)) % end
    if speed >= 0:  # forwards: the frame on screen at `at`, the last one starting by then
        return first + int(np.searchsorted(t, at + 1e-6, side="right")) - 1
    # backwards: the first frame starting at or after `at` (the start frame is shown first, for
    # the step before it, as at a constant rate), the loop's start again past the last frame
    return first + int(np.searchsorted(t, at - 1e-6, side="left")) % len(t)


_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # reader -> its plate_times


def plate_times(reader: Any) -> np.ndarray | None:
    """Seconds of every frame of a variable-frame-rate plate from its first (the reader's pts
    table), for playback_frame; None for a constant-rate plate (frames 1 / fps apart). Kept per
    reader: the studio asks on every shot switch, and a long phone plate has 100k frames."""
    if not getattr(reader.info, "vfr", False):
        return None
    try:
        return _TIMES[reader]
    except (KeyError, TypeError):
        pass
    times = segment_times(reader, 0, int(reader.info.frame_count) - 1)[0]  # from the pts table, in one step
    try:
        _TIMES[reader] = times
    except TypeError:
        pass  # a reader that takes no weak reference: computed each time
    return times


class RateMeter:
    """Frames per second over a sliding window of recent frame times (seconds)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = float(window_s)
        self.times: list[float] = []

    def reset(self) -> None:
        """Forget the frames counted so far (playback restarted)."""
        self.times = []

    def add(self, t: float) -> None:
        """Count a frame shown at time `t`."""
        self.times.append(float(t))
        cut = t - self.window_s
        while self.times and self.times[0] < cut:
            self.times.pop(0)

    def fps(self) -> float | None:
        """Frames per second over the window (None until two frames were counted)."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return None
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])
