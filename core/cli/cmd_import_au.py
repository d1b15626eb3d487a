"""`facsimile import-au FILE.csv [--out curves.json]`: read an OpenFace 2.x CSV into AU curves."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("facsimile")


def register(subparsers) -> None:
    p = subparsers.add_parser("import-au", help="read AU curves from an OpenFace 2.x CSV",
                              description="Read an OpenFace 2.x CSV (AU intensities, success, confidence, "
                                          "pose, gaze per frame and face) and write the curves as JSON.")
    p.add_argument("csv", type=Path, help="OpenFace CSV file")
    p.add_argument("-o", "--out", type=Path, default=None, help="curves JSON to write (default: FILE.curves.json)")
    p.add_argument("--json", action="store_true", help="print a summary (output, faces, frames) as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (default: refuse)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from core.errors import FacsimileError
    from core.facs.openface import curves_to_json, read_openface_csv
    from core.util.atomic import atomic_write_text, refuse_existing

    if not args.csv.exists():
        raise FacsimileError(f"{args.csv} does not exist")
    stem = args.csv.name[: -len(args.csv.suffix)] if args.csv.suffix else args.csv.name
    out = args.out or args.csv.with_name(stem.removesuffix(".curves") + ".curves.json")  # x.curves.csv -> x.curves.json
    refuse_existing(out, args.overwrite, inputs=(args.csv,))
    curves = read_openface_csv(args.csv)
    atomic_write_text(out, json.dumps(curves_to_json(curves), indent=1))
    summary = []
    for fid, face in curves["faces"].items():
        n = len(face.get("frame", []))
        ok = int(face["success"].sum()) if "success" in face else None  # the file does not say
        log.info("face %d: %d frames (%s with success), AU curves written to %s", fid, n,
                 "no column for those" if ok is None else ok, out)
        summary.append({"face_id": int(fid), "frames": n, "success": ok})
    print(json.dumps({"output": str(out), "faces": summary}, indent=2) if args.json else out)
    return 0
