"""`facsimile probe FILE`: print what a plate is (MediaInfo as JSON) on stdout."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `probe` sub-command."""
    p = subparsers.add_parser(
        "probe",
        help="print size, exact frame count, fps, pixel format, colour tags, timecode and audio of media as JSON",
        description="Open a video, an image sequence (shot.####.exr, shot.%%04d.png or one member file) "
        "or a still, and print its MediaInfo as JSON on stdout.",
    )
    p.add_argument("path", help="video file, sequence pattern or member file, or still image")
    p.add_argument("--fps", default=None, help="frame rate for sequences/stills (e.g. 24, 25, 24000/1001)")
    p.add_argument("--single", action="store_true", help="open a numbered image as one still, not a sequence")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from core.errors import MediaError
    from core.media.reader import open_media

    with open_media(args.path, fps=args.fps, as_sequence=False if args.single else None) as reader:
        if args.fps is not None and reader.info.kind == "video" and not getattr(reader, "_counting", False):
            # a video's own timestamps set its rate and duration: an --fps would only relabel them
            raise MediaError(f"--fps is for image sequences and stills: {args.path} is a video that carries its "
                             "own frame rate; leave --fps out")
        info = reader.info.to_json()
    json.dump(info, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
