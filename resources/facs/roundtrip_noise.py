"""How far the image round trip (tests/test_facs_roundtrip.py, the full set) is from its line.

Run from the repository root (needs ../shared/media for s11.jpg):
    .venv/bin/python resources/facs/roundtrip_noise.py [--seeds 1 2 3 4 5] [--media DIR]

The round trip is deterministic on one machine, so its r is one sample. This repeats the full set
(astronaut and s11, each AU alone at 1/3/5, plus the mixtures) with +-1 grey level of uniform
noise added to every warped render, one run per seed, and prints the pooled Pearson r of each run
and their spread: a number just past 0.95 whose noise draws fall either side is not a margin.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))


def run(seed: int, still: np.ndarray, out: Path) -> tuple[float, float, float]:
    """(full r, astronaut r, still r) with render noise drawn from `seed`."""
    import skimage.data

    import tests.test_facs_roundtrip as rt

    rng = np.random.default_rng(seed)
    clean = rt._DB.render_au

    def noisy(img: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        im = clean(img, src, dst)
        return np.clip(im.astype(np.int16) + rng.integers(-1, 2, im.shape), 0, 255).astype(np.uint8)

    rt.render = noisy
    try:
        ta, ga = rt.run_face(skimage.data.astronaut(), (1, 3, 5), f"noise{seed}_astronaut", out)
        ts, gs = rt.run_face(still, (1, 3, 5), f"noise{seed}_s11", out)
    finally:
        rt.render = clean
    r = lambda t, g: float(np.corrcoef(t.ravel(), g.ravel())[0, 1])  # noqa: E731
    return r(np.vstack([ta, ts]), np.vstack([ga, gs])), r(ta, ga), r(ts, gs)


def main(argv: list[str] | None = None) -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    args = ap.parse_args(argv)
    path = args.media / "stills" / "s11.jpg"
    if not path.exists():
        print(f"{path} not found: the full set needs the shared media")
        return 0
    still = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    full = []
    with tempfile.TemporaryDirectory() as d:
        for seed in args.seeds:
            f, a, s = run(seed, still, Path(d))
            full.append(f)
            print(f"seed {seed}: full set r {f:.4f}  (astronaut {a:.4f}, s11 {s:.4f})")
    print(f"full set r over {len(full)} noise draws: {min(full):.4f} .. {max(full):.4f}, mean {np.mean(full):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
