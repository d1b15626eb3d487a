"""`facsimile compare-faces IMG_A IMG_B`: identity distance between the largest face of each still."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare-faces", help="are the largest faces in two images the same person?")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from core.analysis.identity import compare_images

    result = compare_images(Path(args.image_a), Path(args.image_b))
    print(json.dumps(result))
    return 0
