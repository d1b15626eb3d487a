"""`facsimile convert`: a plate to a ProRes .mov or an EXR / PNG / TIFF sequence.

Frame rate, timecode (moved on for --frames) and alpha are carried through. Nothing is ever
left half-written under the final name: a failed .mov leaves no file at all; a failed
sequence leaves only complete frames and the error says which range finished.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from core.errors import FacsimileError, MediaError
from core.media.writers import CODECS, COMPRESSIONS, describe_frames, is_sequence_pattern, plate_timecode_at

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `convert` sub-command."""
    p = subparsers.add_parser(
        "convert",
        help="convert a plate to ProRes .mov or an EXR/PNG/TIFF sequence",
        description=(
            "Convert a plate (video, image sequence or still) to a ProRes .mov or an image sequence "
            "(out.####.exr, out.%04d.png, out.####.tif). Frame rate, timecode and alpha are carried "
            "through. EXR output is half-float, premultiplied, scene-linear (OpenColorIO)."
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
    with open_media(args.input) as reader:
        info = reader.info
        first, last = parse_frames(args.frames, info.frame_count)
        count = last - first + 1
        sequence = is_sequence_pattern(output)
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
        timecode = plate_timecode_at(info, first)
        in_cs, premultiplied = plate_colorspace(info, reader.read(first).dtype, args.input_colorspace)
        writer = open_writer(
            output, width=info.width, height=info.height, fps=info.fps, codec=args.codec,
            colorspace=args.colorspace, input_colorspace=in_cs, compression=args.compression,
            start_number=args.start_number, timecode=timecode,
            audio_from=info.path if args.audio else None,
            audio_start=reader.frame_time(first), premultiplied=premultiplied,
            attributes={"facsimile/source": Path(info.path).name}, pixel_aspect=info.pixel_aspect,
        )
        log.debug("convert %s frames %d-%d -> %s (%s -> %s)", info.path, first, last, output, in_cs,
                  getattr(writer, "colorspace", "?"))
        try:
            with writer, _progress(count, output.name) as bar:
                if args.overwrite and sequence:  # every check passed and the writer is open: replace now
                    _clear_old_frames(output, args.start_number, count, info)
                for _, frame in reader.frames(first, last + 1):
                    writer.write(frame)
                    bar.update(1)
        except FacsimileError as exc:
            raise type(exc)(_failure_message(exc, writer, sequence, args.start_number, count, output)) from exc
    if not sequence:
        print(f"wrote {output} ({count} frames, {float(info.fps):.3f} fps{', TC ' + timecode if timecode else ''})",
              file=sys.stderr)
    else:
        print(f"wrote {output} frames {describe_frames(writer.frames_written)}", file=sys.stderr)
    return 0


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
