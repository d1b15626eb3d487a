"""Distribute a job's chunks over a Ray cluster (`ray.init(address=...)`).

Each chunk is one Ray task that writes its frames (EXR) or its chunk movie (ProRes)
straight to the shared output folder and records them in the job's durable log, so a
worker that dies loses at most its own unfinished chunk, which Ray retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.errors import FacsimileError
from core.jobs.spec import JobSpec

log = logging.getLogger(__name__)


def _chunk_task(spec_json: dict, index: int) -> tuple[int, int]:
    from core.jobs.run import run_chunk
    from core.jobs.spec import JobSpec as _Spec

    spec = _Spec.from_json(spec_json)
    return index, run_chunk(spec, index)


def run_on_ray(spec: JobSpec, chunks: list[int], address: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> None:
    """Run `chunks` of `spec` as Ray tasks; raise a clear error naming any chunk that failed."""
    try:
        import ray
    except ImportError as exc:
        raise FacsimileError("the Ray engine needs the farm extra: pip install -e '.[farm]'") from exc
    started_here = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        except ConnectionError as exc:
            raise FacsimileError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        started_here = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        options: dict = {"max_retries": spec.max_retries, "retry_exceptions": True}
        if gpus and spec.settings.get("device", "auto") != "cpu":
            options["num_gpus"] = 1
        log.info("ray: %d chunks on %s (GPUs in cluster: %s)", len(chunks), address or "a local cluster", gpus)
        task = ray.remote(_chunk_task).options(**options)
        pending = {task.remote(spec.to_json(), i): i for i in chunks}
        frames_total = sum(spec.chunks()[i][1] - spec.chunks()[i][0] + 1 for i in chunks)
        failures = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            index = pending.pop(ref)
            try:
                _, rendered = ray.get(ref)
                if progress:
                    a, b = spec.chunks()[index]
                    progress(b - a + 1, frames_total)
            except Exception as exc:  # noqa: BLE001 - report every failed chunk together
                a, b = spec.chunks()[index]
                failures.append(f"chunk {index} (frames {a}-{b}): {type(exc).__name__}: {str(exc).splitlines()[0]}")
        if failures:
            raise FacsimileError(
                f"{len(failures)} chunk(s) failed after {spec.max_retries + 1} attempts; finished frames are kept, "
                f"run again to resume. " + "; ".join(failures))
    finally:
        if started_here:
            ray.shutdown()
