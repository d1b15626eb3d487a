"""Lid and iris cues on eyes checked by eye: what tells a downward look from a closure, and what does not.

Run from the repository root, over analyses kept by clip_report.py (ShotAnalysis .npz files named <clip>.npz):
    .venv/bin/python resources/facs/lid_cues.py --cache DIR [--tsv per_frame.tsv]

A held downward look lowers the upper lid with the eyeball, and the solve reads it as AU45 (d3.mp4
frames 62-110: 2.4-5.0), where FACS scores eye position (AU64), not closure. LOOK and SHUT below
are frames checked by eye on crops of the eyes (2026-12): LOOK shows the iris in a lowered slit,
SHUT shows the lashes meeting with no iris. Printed per cue: its range over each set, over all
frames and over the frames whose lid gap both sets share (0.15-0.5 of the rest gap), and whether
any threshold separates them. Measured on the shared clips: none does (see docs/architecture.md).
Cues are in the solve's own frame (each frame aligned onto the track's calibrated neutral), IOD.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))


def _span(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


# (clip, eye: 0 = subject's right, 1 = left) -> frames
LOOK = {("d3.mp4", 0): _span(62, 110) + _span(212, 226) + _span(162, 164) + _span(258, 272),
        ("d3.mp4", 1): _span(62, 110) + _span(212, 226) + _span(162, 164) + _span(135, 139)}
SHUT = {**{("d3.mp4", e): _span(57, 60) + _span(112, 133) + _span(142, 158) + _span(229, 254)
           + (_span(36, 46) if e == 0 else _span(6, 18)) for e in (0, 1)},
        **{("d6.mp4", e): [50, 207, 208, 209, 380, 392, 452, 470, 931, 960] for e in (0, 1)},
        **{("d0.mp4", e): [65, 66] for e in (0, 1)},
        **{("d18.mp4", e): _span(94, 97) + [186, 187] for e in (0, 1)},
        **{("d12.mp4", e): [49, 50] for e in (0, 1)}}
# the subject's right eye; the left is the mirror image
UPPER, LOWER = (158, 159, 160), (153, 145, 144)
IRIS = {"centre": 468, "side": 469, "top": 470, "other side": 471, "bottom": 472}
SHARED_GAP = (0.15, 0.5)  # lid gaps (share of the rest gap) where both sets have frames


def eye_cues(analysis, track: int = 0) -> dict[int, dict[str, np.ndarray]]:
    """{eye: {cue: (T,) values}} of one track (NaN where no face), with the solve's AU45 per side."""
    import core.facs as facs
    from core.facs.model import align, model

    face = facs.extract_shot(analysis, filter="none")[0]
    neutral = face.calibration["neutral"]
    own = analysis.solve_landmarks if analysis.solve_landmarks is not None else analysis.landmarks
    xs = np.full((len(analysis.frame_indices), 478, 3), np.nan)
    for t in np.nonzero(analysis.present[:, track])[0]:
        src = np.asarray(own[t, track], np.float64)
        if not np.isfinite(src[:468]).all():
            src = np.asarray(analysis.landmarks[t, track], np.float64)
        xs[t], _ = align(src, neutral)
    mirror = model().mirror
    out = {}
    for eye in (0, 1):
        side = (lambda p: p) if eye == 0 else (lambda p: int(mirror[p]))
        up, lo = [side(p) for p in UPPER], [side(p) for p in LOWER]
        iris = {k: side(p) for k, p in IRIS.items()}
        y, ny = xs[..., 1], neutral[:, 1]
        upper, lower = y[:, up].mean(1), y[:, lo].mean(1)
        rest_gap = ny[lo].mean() - ny[up].mean()
        c, top, bot = y[:, iris["centre"]], y[:, iris["top"]], y[:, iris["bottom"]]
        width = np.abs(xs[:, iris["side"], 0] - xs[:, iris["other side"], 0])
        out[eye] = {
            "AU45": face.curve("AU45R" if eye == 0 else "AU45L", False),
            "gap/rest": (lower - upper) / rest_gap,
            "upper lid down": upper - ny[up].mean(),
            "lower lid down": lower - ny[lo].mean(),
            "iris down": c - ny[iris["centre"]],
            "iris below upper lid": c - upper,
            "iris above lower lid": lower - c,
            "iris bottom under lower lid": bot - lower,
            "iris height/rest": (bot - top) / (ny[iris["bottom"]] - ny[iris["top"]]),
            "iris width/rest": width / abs(neutral[iris["side"], 0] - neutral[iris["other side"], 0]),
            "eye_open": (np.asarray(analysis.eye_open[:, track, eye], np.float64) if analysis.eye_open is not None
                         else np.full(len(xs), np.nan)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="folder of <clip>.npz analyses")
    ap.add_argument("--tsv", type=Path, help="write the per-frame cues of every checked frame here")
    args = ap.parse_args(argv)
    from core.analysis.types import ShotAnalysis

    cues: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    position: dict[str, dict[int, int]] = {}  # plate frame -> row of the analysis
    for clip in sorted({c for c, _ in (*LOOK, *SHUT)}):
        path = args.cache / f"{clip}.npz"
        if path.exists():
            analysis = ShotAnalysis.load(path)
            cues[clip] = eye_cues(analysis)
            position[clip] = {int(f): k for k, f in enumerate(analysis.frame_indices)}
        else:
            print(f"note: {path} not found, skipped")
    rows: list[tuple[str, str, int, int, dict[str, float]]] = []
    for label, frames in (("look", LOOK), ("shut", SHUT)):
        for (clip, eye), ts in frames.items():
            at = position.get(clip, {})
            rows += [(label, clip, eye, t, {k: float(v[at[t]]) for k, v in cues[clip][eye].items()})
                     for t in ts if t in at]
    if not rows:
        print("none of the checked frames is in the analyses", file=sys.stderr)
        return 2
    names = list(rows[0][4])
    if args.tsv:
        lines = ["\t".join(["label", "clip", "eye", "frame", *names])]
        lines += ["\t".join([lab, clip, "RL"[eye], str(t), *(f"{v[k]:.4f}" for k in names)])
                  for lab, clip, eye, t, v in rows]
        args.tsv.write_text("\n".join(lines) + "\n")
    gap = np.array([v["gap/rest"] for *_, v in rows])
    look = np.array([r[0] == "look" for r in rows])
    shared = (gap >= SHARED_GAP[0]) & (gap < SHARED_GAP[1])
    print(f"{look.sum()} look-down and {(~look).sum()} shut eye-frames; "
          f"{(look & shared).sum()} and {(~look & shared).sum()} with a lid gap of {SHARED_GAP} of rest")
    for k in names:
        v = np.array([r[4][k] for r in rows])
        line = f"{k:28s}"
        for sel in (np.ones_like(look), shared):
            a, b = v[look & sel], v[~look & sel]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if not (len(a) and len(b)):
                continue
            margin = max(a.min() - b.max(), b.min() - a.max())
            line += (f" | look {a.min():7.3f} {np.median(a):7.3f} {a.max():7.3f}"
                     f"  shut {b.min():7.3f} {np.median(b):7.3f} {b.max():7.3f}  margin {margin:+.3f}")
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
