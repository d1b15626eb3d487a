"""Real-time playback clock: which frame a player shows after some wall time, looping in a range.

A player that steps one frame per timer tick plays slow whenever drawing takes longer than a
frame; following the clock instead drops frames and keeps the plate's rate (as Nuke's and
Maya's real-time playback do). Pure arithmetic, no Qt, so the studio and tests share it.
"""

from __future__ import annotations

import math


def playback_frame(start: int, elapsed_s: float, fps: float, speed: int, first: int, last: int) -> int:
    """The frame due `elapsed_s` seconds after playing from `start` at `fps` x `speed` (negative:
    backwards), wrapped into first..last as a looping player does."""
    first, last = int(first), int(last)
    if last < first:
        return first
    n = last - first + 1
    step = math.floor(max(elapsed_s, 0.0) * float(fps) * abs(int(speed)) + 1e-6)
    pos = int(start) - first + (step if speed >= 0 else -step)
    return first + pos % n


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
