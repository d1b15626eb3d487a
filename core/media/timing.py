"""Frame timing of what we write from a plate: a variable-frame-rate plate's own times, or a
conform to a constant rate.

Phone footage is variable-rate (VFR): its frames are not 1/fps apart (a 30 fps stretch, a 60 fps
stretch, a dropped-frame gap). Written one frame per 1/nominal-fps, a movie of it plays the
30 fps stretches fast and drifts from its audio and from the plate in an editor. So:

* `plate_timing` gives a run of plate frames' own presentation times (and durations) in the
  plate's time base, for a .mov that keeps every plate frame at the plate's time;
* `conform_indices` maps a constant output rate onto the plate (output frame n shows the plate
  frame on screen at time n / rate), for `convert --fps`;
* `parse_rate` reads a rate as users type it (24, 23.976, 29.97, 30000/1001).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from core.errors import MediaError


@dataclass(frozen=True)
class FrameTiming:
    """Presentation times of the frames a movie writer gets, in order: `pts` in `time_base`
    ticks from the movie's first frame (pts[0] == 0), and each frame's `durations` (the last
    one's end is the movie's end)."""

    time_base: Fraction
    pts: tuple[int, ...]
    durations: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def seconds(self) -> float:
        """Length of the run: the last frame's end."""
        return float((self.pts[-1] + self.durations[-1]) * self.time_base) if self.pts else 0.0


def plate_timing(reader: Any, first: int, last: int) -> FrameTiming | None:
    """The own times of plate frames `first`..`last` (inclusive) of a VFR video `reader`, from
    its timestamps; None for a constant-rate plate (and for media without a pts table), which
    is written at its rate as before. The last frame lasts until the plate's next frame, or
    until the plate's end (the reader's duration: the container's last frame duration when it has one)."""
    info = reader.info
    if not getattr(info, "vfr", False):
        return None
    table = getattr(reader, "pts", None)
    tb = getattr(reader, "time_base", None)
    if table is None or tb is None or len(table) < 2:
        return None
    table = np.asarray(table, dtype=np.int64)
    if not 0 <= first <= last < len(table):
        raise MediaError(f"frames {first}-{last} are outside the plate (frames 0-{len(table) - 1})")
    pts = table[first:last + 1] - table[first]
    if last + 1 < len(table):
        end = int(table[last + 1] - table[first])
    else:  # the plate's end: the reader's duration (the container's last frame, else the median step)
        own_end = int(round(float(info.duration_s) / float(tb))) - int(table[first] - table[0])
        end = max(int(pts[-1]) + 1, own_end)
    durations = np.diff(np.r_[pts, end])
    return FrameTiming(Fraction(tb), tuple(int(p) for p in pts), tuple(int(d) for d in durations))


def nominal_offset(reader: Any, frame: int, fps: Fraction | None = None) -> int:
    """Nominal frames (at `fps`, default the plate's nominal rate) from a plate's first frame to
    its frame `frame`, which its timecode counts: on a VFR plate by the frame's time (its index
    is not a count of nominal frames), else the index. The one rule for the start timecode of a
    convert, a studio convert job and a render of the same frames (render and the job used the
    index, convert the time: the same frames got start timecodes seconds apart)."""
    if not getattr(reader.info, "vfr", False):
        return int(frame)
    rate = Fraction(fps if fps is not None else reader.info.fps)
    return round(reader.frame_time(int(frame)) * float(rate))


def segment_times(reader: Any, first: int, last: int) -> tuple[np.ndarray, float]:
    """(seconds of frames `first`..`last` from frame `first`, the run's end in those seconds):
    a VFR video's own times, else index / fps."""
    timing = plate_timing(reader, first, last)
    if timing is not None:
        return np.asarray(timing.pts, dtype=np.float64) * float(timing.time_base), timing.seconds
    fps = float(reader.info.fps)
    t0 = reader.frame_time(first)
    times = np.array([reader.frame_time(i) - t0 for i in range(first, last + 1)], dtype=np.float64)
    return times, (last - first + 1) / fps


def conform_indices(times: np.ndarray, end: float, rate: Fraction, tick: float = 0.0) -> np.ndarray:
    """For a constant `rate`: the index (into `times`) of the frame each output frame n shows,
    the last one whose time is <= n / rate. `times` are seconds from the first frame, `end`
    the run's end; output frames are those starting before `end`. `tick`: the source's time
    base, for its rounding (a 1/1000 base puts 30 fps frames at 33, 67 ms), with a floor of
    1 ms and at most a tenth of an output frame."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    r = float(rate)
    tol = min(max(float(tick), 1e-3), 0.1 / r)
    count = max(1, int(np.ceil((end - tol) * r)))
    at = np.arange(count, dtype=np.float64) / r
    idx = np.searchsorted(times, at + tol, side="right") - 1
    return np.clip(idx, 0, len(times) - 1).astype(np.int64)


def conform_summary(indices: np.ndarray, count: int) -> tuple[int, int]:
    """(repeated, dropped) of a conform: output frames that show the frame before them again,
    and source frames (of `count`) that no output frame shows."""
    idx = np.asarray(indices, dtype=np.int64)
    shown = len(np.unique(idx))
    return int(len(idx) - shown), int(count - shown)


def parse_rate(text: str | float | Fraction) -> Fraction:
    """A frame rate as users write it: 24, 25, '30000/1001', or a decimal NTSC rate to two or
    three places, as editors write them (23.98 or 23.976, 29.97, 47.95, 59.94, 119.88 ->
    24000/1001 ... 120000/1001); MediaError when it is not one (above 0, at most 1000)."""
    from core.media.writers import as_rate

    s = str(text).strip()
    try:
        if "/" in s:
            rate = Fraction(s)
        elif "." in s:
            value = float(s)
            ntsc = [Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120) if abs(value - n * 1000 / 1001) < 5e-3]
            rate = ntsc[0] if ntsc else as_rate(value)  # 23.98 is 24000/1001 (it was 1199/50)
        else:
            rate = Fraction(int(s))
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        raise MediaError(f"'{text}' is not a frame rate: give e.g. 24, 25, 23.976, 29.97 or 30000/1001") from exc
    if not 0 < rate <= 1000:
        raise MediaError(f"'{text}' is not a usable frame rate: give one above 0 and at most 1000 fps, e.g. 24")
    return rate


def rate_argument(text: str) -> Fraction:
    """`parse_rate` as an argparse `type=`: a bad rate is a usage error (exit 2), as other bad
    arguments are (it exited 3, as an unreadable plate does)."""
    import argparse

    try:
        return parse_rate(text)
    except MediaError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def vfr_rates(info: Any) -> str:
    """'nominal 60.000 fps, average 33.750 fps' of a VFR plate's MediaInfo (said in notes)."""
    return f"nominal {float(info.fps):.3f} fps, average {average_rate(info):.3f} fps"


def average_rate(info: Any) -> float:
    """Frames per second over a plate's duration."""
    return info.frame_count / max(float(info.duration_s), 1e-9)


def suggested_rate(info: Any) -> str:
    """The usual rate nearest a VFR plate's average (a phone's ~30 fps clip: '30'), for the hint
    on how to conform it."""
    avg = average_rate(info)
    best = min((Fraction(24), Fraction(25), Fraction(30), Fraction(50), Fraction(60)),
               key=lambda r: abs(float(r) / avg - 1.0))
    return str(best)
