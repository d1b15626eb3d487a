"""Distribute a job's chunks over a Ray cluster (`ray.init(address=...)`).

Each chunk is one Ray task that writes its frames (EXR) or its chunk movie (ProRes)
straight to the shared output folder and records them in the job's durable log, so a
worker that dies loses at most its own unfinished chunk, which Ray retries.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable

from core.errors import FacsimileError
from core.jobs.spec import JobSpec

log = logging.getLogger(__name__)


def _chunk_task(spec_json: dict, index: int) -> tuple[int, int, str | None, bool]:
    """(index, frames rendered, None, False) or, for an error a retry cannot cure (a
    FacsimileError: a damaged plate, a refused setting, withdrawn consent; a full disk, a
    read-only or over-quota folder), (index, 0, its message, whether the disk was full): returned,
    not raised, so Ray does not run the chunk again. Anything else raises and Ray retries it, as
    the local engine does."""
    from core.jobs.run import is_fatal, run_chunk, stopped_by_full_disk
    from core.jobs.spec import JobSpec as _Spec
    from core.util.atomic import describe_os_error

    spec = _Spec.from_json(spec_json)
    try:
        return index, run_chunk(spec, index), None, False
    except (FacsimileError, OSError) as exc:
        if not is_fatal(exc):
            raise
        said = describe_os_error(exc, spec.output) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        return index, 0, said, stopped_by_full_disk(exc)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _reason(exc: BaseException) -> str:
    """A failed chunk's own error, not Ray's wrapper: RayTaskError(FacsimileError) carries the
    chunk's exception as .cause; its text, without terminal colour codes, is what the user needs."""
    cause = getattr(exc, "cause", None) or exc
    text = _ANSI.sub("", str(cause)).strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("ray::", "Traceback", "  "))]
    return f"{type(cause).__name__}: {lines[-1] if lines else text[:300]}"


def _reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """FacsimileError at once when a cluster address (host:port, ray://host:port) does not answer."""
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise FacsimileError(f"Ray cluster address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise FacsimileError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); check the head "
                             "node's address and that `ray start --head` runs there") from exc


def run_on_ray(spec: JobSpec, chunks: list[int], address: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> None:
    """Run `chunks` of `spec` as Ray tasks; raise a clear error naming any chunk that failed."""
    try:
        import ray
    except ImportError as exc:
        raise FacsimileError("the Ray engine needs the farm extra: pip install -e '.[farm]'") from exc
    started_here = False
    if not ray.is_initialized():
        _reachable(address)  # an unreachable head hung for minutes in Ray's own retries
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        except ConnectionError as exc:
            raise FacsimileError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        started_here = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        # a dead worker and a raised error are retried by Ray; a FacsimileError comes back as a value
        options: dict = {"max_retries": spec.max_retries, "retry_exceptions": True}
        if gpus and spec.settings.get("device", "auto") != "cpu":
            options["num_gpus"] = 1
        log.info("ray: %d chunks on %s (GPUs in cluster: %s)", len(chunks), address or "a local cluster", gpus)
        task = ray.remote(_chunk_task).options(**options)
        pending = {task.remote(spec.to_json(), i): i for i in chunks}
        frames_total = sum(spec.chunks()[i][1] - spec.chunks()[i][0] + 1 for i in chunks)
        failures = []
        disk_full = False
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            index = pending.pop(ref)
            try:
                _, rendered, error, full = ray.get(ref)
                if error is not None:
                    a, b = spec.chunks()[index]
                    failures.append(f"chunk {index} (frames {a}-{b}): {error}")
                    disk_full = disk_full or full
                    continue
                if progress:
                    a, b = spec.chunks()[index]
                    progress(b - a + 1, frames_total)
            except Exception as exc:  # noqa: BLE001 - report every failed chunk together
                a, b = spec.chunks()[index]
                failures.append(f"chunk {index} (frames {a}-{b}): {_reason(exc)}")
        if failures:
            from core.jobs.run import kept_for_resume

            # after a full disk: where the finished part is, and how to resume or discard it
            kept = kept_for_resume(spec) if disk_full else "finished frames are kept, run again to resume"
            raise FacsimileError(
                f"{len(failures)} chunk(s) failed (a worker fault after {spec.max_retries + 1} attempts, an error in the "
                f"job's own data or a full disk at once): " + "; ".join(failures) + f"; {kept}")
    finally:
        if started_here:
            ray.shutdown()
