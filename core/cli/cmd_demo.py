"""`facsimile demo [--out DIR]`: the built-in end-to-end demo on the astronaut portrait."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on built-in media (the astronaut portrait)")
    p.add_argument("-o", "--out", default="demo_output", help="output folder (default demo_output)")
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--json", action="store_true", help="print the recovery report as JSON")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from core.demo import run_demo

    result = run_demo(args.out, frames=args.frames, say=lambda s: print(s, file=sys.stderr if args.json else sys.stdout))
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
