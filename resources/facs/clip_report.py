"""AU levels on the shared clips and stills: what a change to the bases or the solver does to real footage.

Run from the repository root:
    .venv/bin/python resources/facs/clip_report.py [--media DIR] [--save before.json] [--against before.json]

Each clip of the shared media (d0, d3, d6, d12, d18) is analysed once (MediaPipe + optical-flow
refinement, the same Analyzer as `facsimile analyze`) and the analysis is kept under --cache, so
later runs only re-solve: a change to resources/facs/basis_spec.json (after derive_bases.py) or to
core/facs is measured in seconds. Printed per clip: each AU's mean and 95th percentile over the
clip (per-frame solve, filter none), and the mean over the frame ranges in RANGES (d0's smile).
The posed stills print their four expression scores (tests/test_facs_real.py's). --save writes
the numbers; --against prints "before -> after" wherever a number moved by 0.1 or more.
There is no truth for these clips: the report shows what moved, a person judges it by eye.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

CLIPS = ["d0.mp4", "d3.mp4", "d6.mp4", "d12.mp4", "d18.mp4"]
RANGES = {"d0.mp4": {"smile 30-60": (30, 61)}}
STILLS = {"0-f1-su-ph.jpg": "surprise", "0-f15-hao-ph.jpg": "happy", "15-f13-anc-ph.jpg": "anger",
          "45-m7-di-ph.jpg": "disgust"}
EXPRESSIONS = {"surprise": ["AU01", "AU02", "AU05", "AU26"], "happy": ["AU06", "AU12"],
               "anger": ["AU04", "AU07", "AU23"], "disgust": ["AU09", "AU10"]}


def clip_numbers(media: Path, cache: Path) -> dict[str, dict[str, float]]:
    """{'d0.mp4 mean': {'AU01': .., ..}, 'd0.mp4 p95': {..}, 'd0.mp4 smile 30-60': {..}, ..}."""
    import core.facs as facs
    from core.analysis.analyzer import Analyzer
    from core.analysis.types import ShotAnalysis
    from core.media.reader import open_media

    codes = [a.code for a in facs.catalogue()]
    out: dict[str, dict[str, float]] = {}
    cache.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        src = media / "clips" / clip
        if not src.exists():
            print(f"note: {src} not found, skipped")
            continue
        kept = cache / f"{clip}.npz"
        if kept.exists():
            analysis = ShotAnalysis.load(kept)
        else:
            with open_media(src) as reader:
                analysis = Analyzer(max_faces=1).analyze(reader)
            analysis.save(kept)
        face = facs.extract_shot(analysis, filter="none")[0]
        x = np.nan_to_num(np.stack([face.curve(c) for c in codes], axis=1))
        rows = {"mean": x.mean(0), "p95": np.percentile(x, 95, axis=0)}
        for label, (a, b) in RANGES.get(clip, {}).items():
            rows[label] = x[a:b].mean(0)
        for label, vals in rows.items():
            out[f"{clip} {label}"] = {c: round(float(v), 2) for c, v in zip(codes, vals, strict=True)}
    return out


def still_numbers(media: Path) -> dict[str, dict[str, float]]:
    """{'still <name>': {expression: mean of its AUs}} for the four posed stills."""
    import cv2

    import core.facs as facs
    from core.analysis.analyzer import Analyzer

    out = {}
    analyzer = Analyzer(max_faces=1)
    for name in STILLS:
        p = media / "stills" / name
        if not p.exists():
            continue
        img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        faces = facs.extract_shot(analyzer.still_analysis(img), filter="none")
        if faces:
            out[f"still {name}"] = {e: round(float(np.mean([faces[0].curve(a)[0] for a in group])), 2)
                                    for e, group in EXPRESSIONS.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--cache", type=Path, default=REPO / "test_output" / "clip_report_cache",
                    help="where the clip analyses are kept between runs")
    ap.add_argument("--save", type=Path, help="write the numbers to this JSON file")
    ap.add_argument("--against", type=Path, help="a JSON file from --save: print what moved")
    args = ap.parse_args(argv)
    if not (args.media / "clips").is_dir():
        print(f"no shared media at {args.media}: nothing to report", file=sys.stderr)
        return 2
    numbers = {**clip_numbers(args.media, args.cache), **still_numbers(args.media)}
    if args.save:
        args.save.write_text(json.dumps(numbers, indent=1))
    before = json.loads(args.against.read_text()) if args.against else None
    for row, vals in numbers.items():
        if before is None:
            print(f"{row:22s} " + " ".join(f"{k.removeprefix('AU')}:{v:.1f}" for k, v in vals.items()))
            continue
        old = before.get(row, {})
        moved = [f"{k} {old[k]:.2f} -> {v:.2f}" for k, v in vals.items() if k in old and abs(v - old[k]) >= 0.1]
        print(f"{row:22s} " + ("; ".join(moved) if moved else "unchanged"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
