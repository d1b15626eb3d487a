"""`facsimile convert`: a plate to a ProRes .mov or an EXR / PNG / TIFF sequence.

Frame rate, timecode (moved on for --frames) and alpha are carried through. Nothing is ever
left half-written under the final name: a failed .mov leaves no file at all; a failed
sequence leaves only complete frames and the error says which range finished.

A variable-frame-rate plate (phone footage) is written to a .mov frame for frame at its own
times (same duration, audio in sync); `--fps RATE` conforms any plate to a constant rate
instead (frames repeated or dropped, output frame n = the plate frame on screen at n / RATE).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.delivery.provenance import TAG_RENDER_ID, carry_sidecar, source_provenance
from core.errors import FacsimileError, MediaError
from core.media.timing import (
    FrameTiming,
    conform_indices,
    conform_summary,
    nominal_offset,
    parse_rate,
    plate_timing,
    rate_argument,
    segment_times,
    suggested_rate,
    vfr_rates,
)
from core.media.writers import (
    CODECS,
    COMPRESSIONS,
    describe_frames,
    format_timecode,
    is_drop_frame,
    is_sequence_pattern,
    offset_timecode,
    parse_timecode,
    plate_timecode_at,
)

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `convert` sub-command."""
    p = subparsers.add_parser(
        "convert",
        help="convert a plate to ProRes .mov or an EXR/PNG/TIFF sequence",
        description=(
            "Convert a plate (video, image sequence or still) to a ProRes .mov or an image sequence "
            "(out.####.exr, out.%04d.png, out.####.tif). Frame rate, timecode and alpha are carried "
            "through. EXR output is half-float, premultiplied, scene-linear (OpenColorIO). A variable-frame-rate "
            "plate's .mov keeps every frame at the plate's own time; --fps conforms to a constant rate."
        ),
    )
    p.add_argument("input", help="plate: video file, image sequence pattern (shot.####.exr) or still")
    p.add_argument("output", help="out.mov, or a sequence pattern such as out.####.exr / out.%%04d.png")
    p.add_argument("--frames", metavar="A-B",
                   help="0-based plate frame indices, inclusive (e.g. 0-47 = the first 48 frames; '10' = one frame)")
    p.add_argument("--codec", choices=CODECS, default="prores4444", help="ProRes flavour for .mov (default prores4444)")
    p.add_argument("--colorspace", metavar="NAME",
                   help="output colour space (OCIO name). EXR default 'Linear Rec.709 (sRGB)' ('ACEScg' ...); "
                        ".mov/.png/.tif default: the input's display encoding")
    p.add_argument("--input-colorspace", metavar="NAME",
                   help="colour space of the plate (default 'sRGB - Texture' for 8/16-bit plates, "
                        "'Linear Rec.709 (sRGB)' (or the file's own tag) for float EXR/TIFF)")
    p.add_argument("--compression", choices=COMPRESSIONS, default="piz", help="EXR compression (default piz)")
    p.add_argument("--start-number", type=int, default=1001, metavar="N",
                   help="first frame number of an output sequence (default 1001)")
    p.add_argument("--fps", metavar="RATE", type=rate_argument,
                   help="conform to a constant RATE (24, 23.976 or 23.98, 29.97, 30000/1001): output frame n is the plate "
                        "frame on screen at n/RATE, frames repeated or dropped as needed (the usual step for a "
                        "variable-frame-rate plate). Default: the plate's frames one for one (a VFR plate's .mov keeps its own times)")
    p.add_argument("--audio", action="store_true", help="copy the plate's audio into the .mov (no re-encode)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (default: refuse)")
    p.set_defaults(func=run)


def parse_frames(text: str | None, count: int) -> tuple[int, int]:
    """'A-B' (0-based, inclusive) to (A, B); None means the whole plate."""
    if count <= 0:
        raise MediaError("the input has no frames")
    if text is None:
        return 0, count - 1
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        raise MediaError(f"--frames '{text}' is not a range: give 0-based indices A-B, e.g. 0-47")
    a = int(m[1])
    b = int(m[2]) if m[2] is not None else a
    if b < a:
        raise MediaError(f"--frames {text}: the end {b} is before the start {a}")
    if b >= count:
        raise MediaError(f"--frames {text} is outside the plate: it has frames 0-{count - 1} (0-based)")
    return a, b


def _progress(total: int, desc: str):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    try:
        size = os.get_terminal_size(sys.stderr.fileno()) if tty else None
    except (OSError, ValueError):
        size = None
    known = size is not None and size.columns > 0 and size.lines > 0
    # a terminal that reports no size (some ptys, CI consoles) would make tqdm hide the bar
    return tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, disable=not tty,
                dynamic_ncols=known, ncols=None if known else 100, nrows=None if known else 20)


def run(args: argparse.Namespace) -> int:
    """Handler of `facsimile convert`."""
    from core.media.colour import plate_colorspace
    from core.media.reader import open_media
    from core.media.writers import frame_path, open_writer

    output = Path(args.output)
    rate = parse_rate(args.fps) if getattr(args, "fps", None) is not None else None
    with open_media(args.input) as reader:
        info = reader.info
        first, last = parse_frames(args.frames, info.frame_count)
        sequence = is_sequence_pattern(output)
        plan = _timing_plan(reader, first, last, rate, sequence, bool(args.audio))
        count = len(plan.indices)
        if not args.overwrite:
            if sequence and output.suffix.lower() in (".exr", ".png", ".tif", ".tiff"):
                existing = [n for n in range(args.start_number, args.start_number + count)
                            if frame_path(output, n).exists()]
                if existing:
                    raise MediaError(f"{output} already has frames {describe_frames(existing)}: "
                                     "pass --overwrite to replace them, or choose another name")
            elif output.exists():
                raise MediaError(f"{output} already exists: pass --overwrite to replace it, or choose another name")
        if args.audio and not info.audio:
            raise MediaError(f"{args.input} has no audio track to copy (leave out --audio)")
        if args.audio and output.suffix.lower() != ".mov":
            raise MediaError("--audio needs a .mov output (image sequences carry no audio)")
        timecode = _start_timecode(reader, first, plan.fps) if not plan.conformed else \
            _grid_timecode(reader, plan.grid_start, plan.fps)
        # a render converted stays marked as synthetic media: its tags go with it (and its sidecar, below)
        provenance = source_provenance(args.input, reader)
        in_cs, premultiplied = plate_colorspace(info, reader.read(first).dtype, args.input_colorspace)
        writer = open_writer(
            output, width=info.width, height=info.height, fps=plan.fps, codec=args.codec,
            colorspace=args.colorspace, input_colorspace=in_cs, compression=args.compression,
            start_number=args.start_number, timecode=timecode,
            audio_from=info.path if args.audio else None,
            audio_start=float(plan.grid_start / plan.fps) if plan.conformed else reader.frame_time(first),
            premultiplied=premultiplied,
            attributes={**provenance, "facsimile/source": Path(info.path).name}, pixel_aspect=info.pixel_aspect,
            timing=plan.timing,
        )
        log.debug("convert %s frames %d-%d -> %s (%s -> %s)", info.path, first, last, output, in_cs,
                  getattr(writer, "colorspace", "?"))
        try:
            with writer, _progress(count, output.name) as bar:
                if args.overwrite and sequence:  # every check passed and the writer is open: replace now
                    _clear_old_frames(output, args.start_number, count, info)
                if plan.conformed:
                    for k in plan.indices:  # repeats come from the reader's cache; drops are skipped
                        writer.write(reader.read(int(k)))
                        bar.update(1)
                else:
                    for _, frame in reader.frames(first, last + 1):
                        writer.write(frame)
                        bar.update(1)
        except FacsimileError as exc:
            raise type(exc)(_failure_message(exc, writer, sequence, args.start_number, count, output)) from exc
    tc = f", TC {timecode}" if timecode else ""
    if not sequence:
        if plan.timing is not None:
            print(f"wrote {output} ({count} frames at the plate's own times, variable rate, {plan.timing.seconds:.3f} s, "
                  f"nominal {float(plan.fps):.3f} fps{tc})", file=sys.stderr)
        else:
            print(f"wrote {output} ({count} frames, {float(plan.fps):.3f} fps{tc}{plan.summary})", file=sys.stderr)
    else:
        conformed = f" ({float(plan.fps):.3f} fps{plan.summary})" if plan.conformed else ""
        print(f"wrote {output} frames {describe_frames(writer.frames_written)}{conformed}", file=sys.stderr)
    if plan.note:
        print(f"note: {plan.note}", file=sys.stderr)
    if provenance:
        how = f"frames {first}-{last}" + (f", conformed to {float(plan.fps):.3f} fps" if plan.conformed else "")
        side = carry_sidecar(args.input, output, how)
        print(f"note: {Path(args.input).name} is synthetic media (render {provenance.get(TAG_RENDER_ID, '?')}): "
              "the output keeps its marking" + (f" and its sidecar ({side.name})" if side else
                                                 "; the render had no sidecar beside it, so neither has the output"),
              file=sys.stderr)
    return 0


@dataclass
class _Plan:
    """Which plate frame each output frame is, and at what times: `indices` (plate frames, in
    output order), `fps` (the output's rate; a VFR movie's nominal one), `timing` (a VFR .mov's
    own frame times, else None), `conformed` and its `summary`, and a `note` for the user."""

    indices: np.ndarray
    fps: Fraction
    timing: FrameTiming | None = None
    conformed: bool = False
    summary: str = ""
    note: str = ""
    grid_start: int = 0  # a conform's first output frame on the plate's own grid (n / rate from frame 0)


def _timing_plan(reader, first: int, last: int, rate: Fraction | None, sequence: bool,  # noqa: ANN001
                 audio: bool = False) -> _Plan:
    """How frames first..last of the plate become output frames. Default: one for one; a VFR
    plate's .mov at the plate's own times (said in a note), a VFR plate's sequence tagged with
    its nominal rate (a sequence holds no times: said too). `rate` (--fps): conformed to it,
    output frame n showing the plate frame on screen at n / rate. `audio`: the plate's audio is
    copied (only then does the note say it is in sync)."""
    info = reader.info
    src = Path(info.path).name
    hint = f"use --fps RATE (e.g. --fps {suggested_rate(info)}) to conform it to a constant rate"
    if rate is None:
        indices = np.arange(first, last + 1, dtype=np.int64)
        if not info.vfr:
            return _Plan(indices, info.fps)
        if sequence:
            return _Plan(indices, info.fps, note=(
                f"{src} has a variable frame rate ({vfr_rates(info)}); an image sequence holds no frame times: its "
                f"frames are the plate's one for one, tagged with the nominal {float(info.fps):.3f} fps, so it plays "
                f"at another speed than the plate; {hint}"))
        sync = ", audio in sync" if audio else ""
        return _Plan(indices, info.fps, timing=plate_timing(reader, first, last), note=(
            f"{src} has a variable frame rate ({vfr_rates(info)}): the .mov keeps every plate frame at its own time "
            f"(a variable-rate movie, frame for frame with the plate{sync}); {hint}"))
    # the grid n / rate runs from the plate's first frame, whatever the range: frame n of a range's
    # conform is the full conform's frame at the same time (it sat on the range's first frame)
    times, end = segment_times(reader, 0, info.frame_count - 1)
    tick = float(getattr(reader, "time_base", 0) or 0) if info.kind == "video" else 0.0
    full = conform_indices(times, end, rate, tick)
    k0, k1 = int(np.searchsorted(full, first, side="left")), int(np.searchsorted(full, last, side="right"))
    if k1 <= k0:  # the range is shorter than a frame at `rate` and no grid frame shows it
        raise MediaError(f"frames {first}-{last} fall between two frames at {float(rate):.3f} fps: no frame of the "
                         "conform shows them; give a longer range")
    local = full[k0:k1] - first
    repeated, dropped = conform_summary(local, last - first + 1)
    what = "no frame repeated or dropped" if not (repeated or dropped) else \
        f"{repeated} plate frame(s) repeated, {dropped} dropped"
    summary = f", conformed from {'a variable' if info.vfr else f'{float(info.fps):.3f} fps, a constant'} rate: {what}"
    return _Plan(local + first, rate, conformed=True, summary=summary, grid_start=k0)


def _label_seconds(count: int, fps: Fraction, drop: bool) -> Fraction:
    """What a timecode label of `count` frames at `fps` means in seconds: a non-drop label counts
    frames at the integer rate (01:00:00:00 at 29.97 NDF is 108000 frames, "1 hour"), a drop-frame
    one keeps to real time. Converted by real time, a 29.97 NDF plate's 01:00:00:00 became
    00:59:56:12 at 30 (3.6 s an hour), though NDF labels are counts, not real time."""
    rate = Fraction(fps)
    return Fraction(count) / rate if drop and rate.denominator == 1001 else Fraction(count, round(float(rate)))


def _grid_timecode(reader, k: int, fps: Fraction) -> str | None:  # noqa: ANN001 - Reader
    """The timecode of frame `k` of a conform of the whole plate to `fps` (its grid runs from the
    plate's first frame): the conform's start timecode moved on `k` frames."""
    start = _start_timecode(reader, 0, fps)
    if start is None or k == 0:
        return start
    try:
        return offset_timecode(start, k, fps)
    except MediaError as exc:
        log.warning("the plate's timecode is not usable at %s fps (%s): writing none", float(fps), exc)
        return None


def _start_timecode(reader, first: int, fps: Fraction) -> str | None:  # noqa: ANN001 - Reader
    """The output's start timecode: the plate's moved on to frame `first` (by its time on a VFR
    plate: its index is not a count of nominal frames), in `fps` when conformed to another rate
    (the same label time, to the nearest frame: _label_seconds)."""
    info = reader.info
    tc = plate_timecode_at(info, nominal_offset(reader, first))
    if tc is None or fps == info.fps:
        return tc
    try:
        drop = is_drop_frame(tc)
        seconds = _label_seconds(parse_timecode(tc, info.fps), info.fps, drop)
        out_drop = drop and Fraction(fps).denominator == 1001  # a drop-frame label stays one where it can
        frames = round(seconds * (Fraction(fps) if out_drop else round(float(fps))))
        return format_timecode(frames, fps, drop_frame=drop)
    except MediaError as exc:
        log.warning("the plate's timecode is not usable at %s fps (%s): writing none", float(fps), exc)
        return None


def _clear_old_frames(output: Path, start: int, count: int, info) -> None:  # noqa: ANN001 - MediaInfo
    """--overwrite of a sequence: remove the frames about to be replaced, once every check has
    passed and the writer is open. Written over one by one, a convert killed part way left a
    sequence of new and old frames (another compression, another source) under final names,
    which nothing marked; now the frames not yet written are missing, which a compositor's
    reader reports. Refused when an output frame is one of the input's files (compared by file
    identity, so a case-insensitive disk or a link cannot hide it)."""
    from core.errors import MediaError
    from core.media.writers import frame_path

    def ident(p: Path) -> tuple[int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    src = Path(info.path)
    first_in = int(getattr(info, "first_frame_number", 0) or 0)
    files = [src] if src.exists() else [frame_path(src, n) for n in range(first_in, first_in + int(info.frame_count))]
    inputs = {i for i in map(ident, files) if i is not None}
    olds = [frame_path(output, n) for n in range(start, start + count)]
    if any(ident(o) in inputs for o in olds if o.exists()):
        raise MediaError(f"{output} holds frames of the input: convert into another name")
    for o in olds:
        try:
            o.unlink(missing_ok=True)
        except OSError as exc:
            raise MediaError(f"cannot replace {o}: {exc.strerror or exc}") from exc


def _failure_message(exc: Exception, writer, sequence: bool, start: int, count: int, output: Path) -> str:
    msg = str(exc)
    if not sequence:
        return f"{msg} (nothing was written to {output})"
    done = writer.frames_written
    wanted = f"{start}-{start + count - 1}"
    if not done:
        return f"{msg} (no frame of {output} was written)"
    return f"{msg} (frames {describe_frames(done)} of {wanted} are complete; the rest were not written)"
