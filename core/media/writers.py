"""Deliverable writers: one entry point, `open_writer`, for ProRes .mov and image sequences.

    with open_writer("shot.mov", width=1920, height=1080, fps=Fraction(24000, 1001),
                     timecode="01:00:00:00") as w:
        for frame in frames:          # HxWx3/4, uint8 | uint16 | float32 0..1 display-referred
            w.write(frame)

Every writer is atomic towards its final name: a movie is written to ``.NAME.*.partial.mov``
beside the target and renamed on `close()`; each sequence frame is written to a temporary
name and renamed when complete. A reader (Nuke, a farm watcher) never sees half a file.
An exception inside the ``with`` aborts: the partial movie is removed; the complete frames of
a sequence stay (they are valid deliverables) and `frames_written` says which.

Also here: SMPTE timecode arithmetic (drop-frame aware) and frame-number patterns
(``####``, ``%04d``), shared by the writers and the ``convert`` command.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from core.errors import MediaError

if TYPE_CHECKING:
    from core.media.timing import FrameTiming

log = logging.getLogger(__name__)

SEQUENCE_EXTENSIONS = {".exr", ".png", ".tif", ".tiff"}
MOVIE_EXTENSIONS = {".mov"}
CODECS = ("prores4444", "prores4444xq", "prores422hq")
COMPRESSIONS = ("piz", "zip", "dwaa")


# --- timecode --------------------------------------------------------------------------------
_TC_RE = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$")


def _nominal_rate(fps: Fraction) -> int:
    return int(round(float(fps)))


def _drop_count(fps: Fraction) -> int:
    """Frame numbers dropped each minute for a drop-frame rate (29.97 -> 2, 59.94 -> 4)."""
    nominal = _nominal_rate(fps)
    if fps.denominator == 1001 and nominal in (30, 60):
        return 2 if nominal == 30 else 4
    return 0


def parse_timecode(tc: str, fps: Fraction) -> int:
    """SMPTE timecode 'HH:MM:SS:FF' (';' before FF = drop-frame) to a frame count from 00:00:00:00."""
    m = _TC_RE.match(tc.strip())
    if not m:
        raise MediaError(f"'{tc}' is not a SMPTE timecode (expected HH:MM:SS:FF, or HH:MM:SS;FF for drop-frame)")
    h, mi, s, sep, f = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    nominal = _nominal_rate(Fraction(fps))
    if mi > 59 or s > 59 or f >= nominal:
        raise MediaError(f"'{tc}' is not a valid timecode at {float(fps):.3f} fps")
    frames = ((h * 60 + mi) * 60 + s) * nominal + f
    drop = _drop_count(Fraction(fps)) if sep in ";." else 0
    if drop:
        minutes = h * 60 + mi
        frames -= drop * (minutes - minutes // 10)
    return frames


def format_timecode(frames: int, fps: Fraction, drop_frame: bool = False) -> str:
    """A frame count to SMPTE timecode (wraps at 24 h); drop-frame only for 29.97/59.94."""
    fps = Fraction(fps)
    nominal = _nominal_rate(fps)
    drop = _drop_count(fps) if drop_frame else 0
    frames = int(frames)
    if drop:
        per_10min = nominal * 600 - drop * 9
        per_min = nominal * 60 - drop
        day = per_10min * 6 * 24
        frames %= day
        tens, rem = divmod(frames, per_10min)
        frames += drop * 9 * tens + (drop * ((rem - drop) // per_min) if rem > drop else 0)
    else:
        frames %= nominal * 86400
    f = frames % nominal
    s = frames // nominal % 60
    mi = frames // (nominal * 60) % 60
    h = frames // (nominal * 3600) % 24
    return f"{h:02d}:{mi:02d}:{s:02d}{';' if drop else ':'}{f:02d}"


def is_drop_frame(tc: str) -> bool:
    """`tc` is written in drop-frame notation (';' or '.' before the frames)."""
    return bool(re.search(r"[;.]\d{2,3}$", tc.strip()))


def offset_timecode(tc: str, frames: int, fps: Fraction) -> str:
    """`tc` moved by `frames` (keeps drop-frame notation)."""
    return format_timecode(parse_timecode(tc, fps) + frames, fps, drop_frame=is_drop_frame(tc))


def plate_timecode_at(info, frame: int) -> str | None:
    """The timecode of plate frame `frame` (a MediaInfo's start timecode moved on), or None when
    the plate has none or it is unusable (said in the log: the output then carries none)."""
    if not getattr(info, "timecode", None):
        return None
    try:
        return offset_timecode(info.timecode, frame, info.fps)
    except MediaError as exc:
        log.warning("the plate's timecode is not usable (%s): writing none", exc)
        return None


def as_rate(fps: Fraction | float | int | str) -> Fraction:
    """A frame rate as an exact rational; a float NTSC rate (29.97, 23.976, 59.94) becomes
    30000/1001 etc., any other float its nearest fraction with denominator <= 1001."""
    if isinstance(fps, float):
        for n in (24, 30, 48, 60, 120):
            if abs(fps - n * 1000 / 1001) < 2e-3:
                return Fraction(n * 1000, 1001)
        return Fraction(fps).limit_denominator(1001)
    return Fraction(fps)


# --- frame-number patterns -------------------------------------------------------------------
_HASH_RE = re.compile(r"#+")
_PRINTF_RE = re.compile(r"%(0?\d*)d")


def is_sequence_pattern(path: str | Path) -> bool:
    """True for a name with a frame-number pattern (``####``, ``%04d``, ``%d``)."""
    name = Path(path).name
    return bool(_HASH_RE.search(name) or _PRINTF_RE.search(name))


def frame_path(pattern: str | Path, number: int) -> Path:
    """The file name of frame `number` in a ``####`` / ``%04d`` pattern (padding = hash count)."""
    pattern = str(pattern)
    name = Path(pattern).name
    if (m := _HASH_RE.search(name)) is not None:
        pad = len(m.group(0))
        new = name[: m.start()] + f"{number:0{pad}d}" + name[m.end():]
    elif (m := _PRINTF_RE.search(name)) is not None:
        new = name[: m.start()] + (f"%{m.group(1)}d" % number) + name[m.end():]
    else:
        raise MediaError(f"'{pattern}' has no frame-number pattern: use e.g. out.####.exr or out.%04d.exr")
    return Path(pattern).with_name(new)


def describe_frames(numbers: list[int]) -> str:
    """'1001-1010' style summary of written frame numbers ('none' when empty)."""
    if not numbers:
        return "none"
    numbers = sorted(numbers)
    runs, start, prev = [], numbers[0], numbers[0]
    for n in numbers[1:]:
        if n != prev + 1:
            runs.append((start, prev))
            start = n
        prev = n
    runs.append((start, prev))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


# --- base class ------------------------------------------------------------------------------
class Writer:
    """Base of every deliverable writer: a context manager with write / close / abort.

    Attributes: `path` (the final name or pattern), `width`, `height`, `fps`, `frames_written`
    (frame numbers, or 0-based indices for a movie, that are complete on disk under their
    final name after close), `supports_extra_channels`.
    """

    supports_extra_channels: bool = False

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction) -> None:
        if width <= 0 or height <= 0:
            raise MediaError(f"invalid output size {width}x{height}")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = as_rate(fps)
        if self.fps <= 0:
            raise MediaError(f"invalid frame rate {fps}")
        self.frames_written: list[int] = []
        self.closed = False

    def write(self, frame: np.ndarray, extra_channels: dict[str, np.ndarray] | None = None) -> None:
        """Append one frame (HxWx3 RGB or HxWx4 RGBA)."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the deliverable and make it visible under its final name."""
        self.closed = True

    def abort(self) -> None:
        """Stop and remove anything incomplete (a partial movie; never a finished frame)."""
        self.closed = True

    def _check_extra(self, extra_channels: dict[str, np.ndarray] | None) -> None:
        if extra_channels and not self.supports_extra_channels:
            raise MediaError(
                f"{self.path.suffix} output cannot hold extra channels ({', '.join(extra_channels)}): "
                "write an EXR sequence for masks and other channels"
            )

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.closed:
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()


def check_output_folder(output: str | Path) -> None:
    """Raise a clear MediaError when the folder of `output` is missing or is a file."""
    folder = Path(output).parent
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise MediaError(f"cannot write {output}: {parent} is a file, not a folder")
            break
    if not folder.is_dir():
        raise MediaError(f"cannot write {output}: the folder {folder} does not exist (create it first)")


def open_writer(
    output: str | Path,
    *,
    width: int,
    height: int,
    fps: Fraction,
    codec: str = "prores4444",
    colorspace: str | None = None,
    input_colorspace: str | None = None,
    compression: str = "piz",
    start_number: int = 1001,
    timecode: str | None = None,
    audio_from: str | Path | None = None,
    audio_start: float = 0.0,
    premultiplied: bool = False,
    attributes: dict[str, str] | None = None,
    pixel_type: str = "half",
    pixel_aspect: float = 1.0,
    timing: FrameTiming | None = None,
) -> Writer:
    """A writer for `output`, chosen by its name.

    - ``*.mov``: ProRes (`codec` prores4444 | prores4444xq | prores422hq), BT.709, timecode
      track, audio copied from `audio_from` (packets from `audio_start` seconds on).
    - ``name.####.exr`` / ``name.%04d.exr``: half-float scene-linear EXR in `colorspace`
      (default Linear Rec.709 (sRGB); ACEScg ...), `compression` piz | zip | dwaa,
      `pixel_type` half (default) or float (32-bit).
    - ``name.####.png`` / ``.tif``: 16-bit display-referred, straight alpha.

    `input_colorspace` names the frames' colour space (default ``sRGB - Texture``: display-
    referred plates; give a linear space when feeding linear float frames). `premultiplied`
    says whether RGBA input colour is premultiplied by alpha. `attributes` are string
    metadata (EXR header attributes, MOV metadata keys), e.g. ``{"facsimile/synthetic": "true"}``.
    Frames are numbered from `start_number` in a sequence. `pixel_aspect` (an anamorphic
    plate's, e.g. 2.0) is written where the format holds one: the MOV's sample aspect ratio,
    the EXR's pixelAspectRatio; PNG and TIFF have no standard place for it. `timing` (a .mov
    only): the frames' own times (core.media.timing.plate_timing), for a variable-frame-rate
    plate kept frame for frame at its time; `fps` is then its nominal rate. Sequences hold no
    frame times and ignore it.
    """
    from core.media.colour import DEFAULT_INPUT_COLORSPACE

    out = Path(output)
    suffix = out.suffix.lower()
    check_output_folder(out)
    input_colorspace = input_colorspace or DEFAULT_INPUT_COLORSPACE
    if suffix in MOVIE_EXTENSIONS:
        if codec not in CODECS:
            raise MediaError(f"unknown codec '{codec}': choose one of {', '.join(CODECS)}")
        if is_sequence_pattern(out):
            raise MediaError(f"'{out.name}' is a movie name with a frame pattern: drop the #### for a .mov")
        from core.media.prores import ProResWriter

        return ProResWriter(out, width, height, fps, profile=codec, timecode=timecode, audio_from=audio_from,
                            audio_start=audio_start, input_colorspace=input_colorspace, colorspace=colorspace,
                            premultiplied=premultiplied, metadata=attributes, pixel_aspect=pixel_aspect,
                            timing=timing)
    if suffix in SEQUENCE_EXTENSIONS:
        if not is_sequence_pattern(out):
            raise MediaError(
                f"'{out.name}' needs a frame-number pattern for an image sequence, e.g. "
                f"{out.stem}.####{out.suffix} or {out.stem}.%04d{out.suffix}"
            )
        if start_number < 0:
            raise MediaError(f"the start frame number must not be negative (got {start_number})")
        if suffix == ".exr":
            if compression.lower() not in COMPRESSIONS:
                raise MediaError(f"unknown EXR compression '{compression}': choose one of {', '.join(COMPRESSIONS)}")
            from core.media.exr import EXRSequenceWriter

            return EXRSequenceWriter(out, width, height, fps, start_number=start_number, compression=compression,
                                     colorspace=colorspace, input_colorspace=input_colorspace,
                                     premultiplied=premultiplied, timecode=timecode, attributes=attributes,
                                     pixel_type=pixel_type, pixel_aspect=pixel_aspect)
        from core.media.images import ImageSequenceWriter

        return ImageSequenceWriter(out, width, height, fps, start_number=start_number, colorspace=colorspace,
                                   input_colorspace=input_colorspace, premultiplied=premultiplied)
    raise MediaError(
        f"cannot write '{out.name}': use a .mov (ProRes) or an image sequence such as "
        "out.####.exr, out.####.png or out.####.tif"
    )
