"""`facsimile verify FILE`: is this a Facsimile render? Tag, watermark and sidecar, as JSON."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="report a deliverable's synthetic-media tag, watermark and sidecar")
    p.add_argument("file", help="a .mov, an EXR frame or a sequence pattern (out.####.exr)")
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from core.delivery.provenance import verify

    report = verify(args.file)
    print(json.dumps(report, indent=2))
    return 0 if report["verified"] else 1
