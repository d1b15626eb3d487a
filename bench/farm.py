"""Farm throughput: the same render job on a local Ray cluster with 1 and with 2 worker nodes.

Prints frames per second for each and the ratio (2 workers / 1 worker), measured side by
side in one run. The job is a real one: decode a generated 1080p H.264 plate and write
ProRes 4444 chunks (joined by remux) or EXR PIZ frames.

    .venv/bin/python bench/farm.py [--frames 48] [--chunk 8] [--format exr|mov]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.jobs.run import run_job  # noqa: E402
from core.jobs.spec import JobSpec  # noqa: E402


def make_plate(path: Path, frames: int, size=(1920, 1080)) -> Path:
    w, h = size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(24))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(frames):
            img = np.kron(np.roll(base, i, axis=1), np.ones((8, 8, 1), np.uint8))
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def run(nodes: int, plate: Path, out_dir: Path, frames: int, chunk: int, fmt: str) -> float:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        # Warm the workers (imports) so start-up is not measured as throughput.
        ray.get([ray.remote(lambda: __import__("core.jobs.run")).remote() for _ in range(nodes)])
        name = "o.mov" if fmt == "mov" else "o.####.exr"
        spec = JobSpec.create("convert", str(plate), str(out_dir / name), (0, frames - 1), chunk_size=chunk)
        t0 = time.perf_counter()
        run_job(spec, engine="ray", address=cluster.address)
        return frames / (time.perf_counter() - t0)
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--format", choices=["exr", "mov"], default="exr")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plate = make_plate(tmp / "plate.mp4", args.frames)
        results = {}
        for nodes in (1, 2):
            d = tmp / f"n{nodes}"
            d.mkdir()
            results[nodes] = run(nodes, plate, d, args.frames, args.chunk, args.format)
    print(f"farm throughput, 1080p decode -> {args.format.upper()}, {args.frames} frames, chunk {args.chunk}")
    print(f"{'workers':>8} {'fps':>8}")
    for n, fps in results.items():
        print(f"{n:>8} {fps:>8.2f}")
    print(f"ratio 2/1 workers: {results[2] / results[1]:.2f}x (ideal 2.00x on a machine with >= 2 free cores)")


if __name__ == "__main__":
    main()
