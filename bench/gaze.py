"""Gaze on real footage: the current `estimate_pose` against an earlier revision's, from the same landmarks.

    .venv/bin/python bench/gaze.py [--cache DIR] [--before REV] [--clips d0 d3 ...]
                                   [--frames d3:277 d0:18 ...] [--draw DIR]

For each shared clip (default d0, d3, d6, d12, d18) the analysis is read from DIR/<clip>.npz
when --cache is given (core.analysis.types.ShotAnalysis), else made here with the default
Analyzer. Gaze is then recomputed from its stabilised landmarks with core/analysis/pose.py as it
is and as it was at REV (git show; default 19c5858, before the ray-cast eyeball), and printed:
- gx~yaw, gy~pitch: least-squares slope and correlation of gaze_angle_x against the head's yaw
  and gaze_angle_y against its pitch. A talking head mostly looks into the lens whichever way it
  turns, so a gaze that measures the eyes (not the head) has a slope near 0 there; -1 (x) or +1
  (y) is a gaze that turns with the head. Clips where the eyes follow the head turn on purpose
  (d12 looks round the room) or barely turn (d0, d18) say less.
- eyes |dx|, |dy|: mean absolute difference of the two eyes' own angles (gaze_0 minus gaze_1),
  and dx's mean (> 0: converging).
- miss: frames where an iris ray missed its eyeball (current code only).
- the listed frames' gaze angles and each eye's x angle, before and after.
--draw DIR writes, per listed frame, an eye crop (x4) with each eye's gaze drawn from its iris
(before red, after green), to look at. Needs ../shared/media (see MEDIA.md) unless every clip is
cached; exits 0 with a note when it is absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("FACSIMILE_SHARED_MEDIA", REPO.parent / "shared" / "media"))
BEFORE = "19c5858"  # the last commit with the head-frame iris offset (it read the iris landmark's z)


def load_pose_module(rev: str):
    """core/analysis/pose.py as it was at git revision rev, as a module."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:core/analysis/pose.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"pose_{rev}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"pose_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def analysis_of(clip: str, cache: Path | None):
    from core.analysis.types import ShotAnalysis

    if cache is not None and (cache / f"{clip}.mp4.npz").exists():
        return ShotAnalysis.load(cache / f"{clip}.mp4.npz")
    from core.analysis.analyzer import Analyzer

    return Analyzer().analyze(SHARED / "clips" / f"{clip}.mp4")


def eye_angles(v):
    """(..., 3) gaze vectors -> (..., 2) OpenFace angles (x, y)."""
    import numpy as np

    return np.stack([np.arctan2(v[..., 0], -v[..., 2]), np.arctan2(v[..., 1], -v[..., 2])], -1)


def measure(a, pose_mods: dict) -> dict:
    """Per method: per-frame euler, gaze vectors (T, 2, 3), frame numbers; misses for the current code."""
    import numpy as np

    from core.analysis import pose as current

    out = {k: {"vecs": [], "euler": [], "frames": [], "miss": 0} for k in pose_mods}
    for t in range(a.n_frames):
        for f in range(a.n_tracks):
            if not a.present[t, f]:
                continue
            lm = a.landmarks[t, f].astype(np.float64)
            for k, mod in pose_mods.items():
                hp = mod.estimate_pose(lm, a.width, a.height)
                o = out[k]
                o["vecs"].append(hp.gaze_vectors)
                o["euler"].append(hp.euler)
                o["frames"].append(int(a.frame_indices[t]))
                if mod is current:
                    o["miss"] += sum(not current.eye_gaze(lm, hp.scale, hp.rotation, e)[1] for e in range(2))
    return {k: {n: np.asarray(v) for n, v in o.items()} for k, o in out.items()}


def report(clip: str, res: dict, frames: list[int]) -> None:
    import numpy as np

    first = next(iter(res.values()))
    e = first["euler"]
    print(f"{clip}: {len(e)} faces, yaw {e[:, 1].min():+.2f}..{e[:, 1].max():+.2f}, "
          f"pitch {e[:, 0].min():+.2f}..{e[:, 0].max():+.2f}")
    for k, o in res.items():
        g = eye_angles(o["vecs"].mean(1))
        per = eye_angles(o["vecs"])
        sx, rx = np.polyfit(o["euler"][:, 1], g[:, 0], 1)[0], np.corrcoef(o["euler"][:, 1], g[:, 0])[0, 1]
        sy, ry = np.polyfit(o["euler"][:, 0], g[:, 1], 1)[0], np.corrcoef(o["euler"][:, 0], g[:, 1])[0, 1]
        d = per[:, 0] - per[:, 1]
        line = (f"  {k:7s} gx~yaw {sx:+.2f} (r {rx:+.2f})  gy~pitch {sy:+.2f} (r {ry:+.2f})  "
                f"eyes |dx| {np.abs(d[:, 0]).mean():.3f} (mean {d[:, 0].mean():+.3f}) |dy| {np.abs(d[:, 1]).mean():.3f}")
        if k == "after":
            line += f"  miss {o['miss']}"
        print(line)
        for fr in frames:
            j = np.flatnonzero(o["frames"] == fr)
            if len(j):
                j = j[0]
                print(f"      frame {fr}: yaw {o['euler'][j, 1]:+.3f} pitch {o['euler'][j, 0]:+.3f}  gaze "
                      f"({g[j, 0]:+.3f}, {g[j, 1]:+.3f})  eye0 x {per[j, 0, 0]:+.3f} eye1 x {per[j, 1, 0]:+.3f}")


def draw(clip: str, a, res: dict, frames: list[int], out: Path) -> None:
    """Eye crops (x4) with the gaze drawn from each iris: before red, after green."""
    import cv2
    import numpy as np

    from core.analysis.pose import EYES
    from core.media.reader import open_media

    with open_media(SHARED / "clips" / f"{clip}.mp4") as r:
        for fr in frames:
            t = int(np.flatnonzero(a.frame_indices == fr)[0])
            rgb = r.read_rgb8(fr)
            img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            lm = a.landmarks[t, 0].astype(np.float64)
            eyes = lm[[33, 133, 263, 362, 159, 386], :2]
            x0, y0 = (eyes.min(0) - 40).astype(int).clip(0)
            x1, y1 = (eyes.max(0) + 40).astype(int)
            k = 4
            crop = cv2.resize(img[y0:y1, x0:x1], None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)

            def px(p, x0=x0, y0=y0, k=k):
                return int(round((p[0] - x0) * k)), int(round((p[1] - y0) * k))

            span = np.linalg.norm(lm[33, :2] - lm[263, :2])
            for name, col in (("before", (0, 0, 255)), ("after", (0, 255, 0))):
                o = res[name]
                j = int(np.flatnonzero(o["frames"] == fr)[0])
                for e, eye in enumerate(EYES):
                    iris = lm[eye[-1], :2]
                    cv2.line(crop, px(iris), px(iris + 0.5 * span * o["vecs"][j, e, :2]), col, 2)
                g = eye_angles(o["vecs"][j].mean(0))
                cv2.putText(crop, f"{name} ({g[0]:+.2f}, {g[1]:+.2f})", (6, 22 if name == "before" else 44),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.6, col, 2)
            cv2.putText(crop, f"{clip} frame {fr} yaw {o['euler'][j, 1]:+.2f} pitch {o['euler'][j, 0]:+.2f}",
                        (6, crop.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
            cv2.imwrite(str(out / f"{clip}_{fr}.png"), crop)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="folder of <clip>.mp4.npz analyses to read instead of analysing")
    ap.add_argument("--before", default=BEFORE, help=f"git revision to compare with (default {BEFORE})")
    ap.add_argument("--clips", nargs="+", default=["d0", "d3", "d6", "d12", "d18"])
    ap.add_argument("--frames", nargs="*", default=["d3:277"], help="CLIP:FRAME to print (and draw)")
    ap.add_argument("--draw", type=Path, help="folder to write eye crops of the listed frames into")
    args = ap.parse_args()
    cached = args.cache is not None and all((args.cache / f"{c}.mp4.npz").exists() for c in args.clips)
    if not cached and not (SHARED / "clips").is_dir():
        print(f"shared media not found at {SHARED} (see MEDIA.md); nothing measured")
        return 0
    from core.analysis import pose as current

    mods = {"before": load_pose_module(args.before), "after": current}
    wanted: dict[str, list[int]] = {}
    for item in args.frames:
        c, f = item.split(":")
        wanted.setdefault(c, []).append(int(f))
    if args.draw:
        args.draw.mkdir(parents=True, exist_ok=True)
    for clip in args.clips:
        a = analysis_of(clip, args.cache)
        res = measure(a, mods)
        report(clip, res, wanted.get(clip, []))
        if args.draw and wanted.get(clip):
            draw(clip, a, res, wanted[clip], args.draw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
