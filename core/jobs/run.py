"""Run a job: chunks in-process or on Ray, durable progress, resume, final assembly."""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import FacsimileError, MediaError, UserCancelled
from core.jobs.record import JobRecord
from core.jobs.spec import JobSpec, sequence_path

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class FrameProducer(Protocol):
    """Makes the output pictures of a job, one plate frame at a time."""

    width: int
    height: int
    fps: Fraction
    timecode: str | None

    def frame(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...

    def close(self) -> None: ...


_PRODUCERS: dict[str, Callable[[JobSpec], FrameProducer]] = {}


def register_producer(kind: str, factory: Callable[[JobSpec], FrameProducer]) -> None:
    """Make jobs of `kind` use `factory(spec)` to produce their frames."""
    _PRODUCERS[kind] = factory


class ConvertProducer:
    """Frames of a plate, unchanged (the `convert` job)."""

    def __init__(self, spec: JobSpec) -> None:
        from core.media.reader import open_media

        self.reader = open_media(spec.source)
        info = self.reader.info
        self.width, self.height, self.fps = info.width, info.height, info.fps
        self.timecode = info.timecode

    def frame(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.reader.read(index), {}

    def timing(self, first: int, last: int):  # noqa: ANN201 - FrameTiming | None
        """A VFR plate's own times of frames first..last (None: constant rate)."""
        from core.media.timing import plate_timing

        return plate_timing(self.reader, first, last)

    def close(self) -> None:
        self.reader.close()


register_producer("convert", ConvertProducer)


def make_producer(spec: JobSpec) -> FrameProducer:
    """The producer of `spec.kind`: a registered kind, or "package.module:Factory" (imported
    where the chunk runs, so a farm worker needs no registration step)."""
    if spec.kind not in _PRODUCERS and spec.kind == "render":
        import core.render.job  # noqa: F401  (registers the "render" producer)
    if spec.kind not in _PRODUCERS and ":" in spec.kind:
        import importlib

        module, _, name = spec.kind.partition(":")
        try:
            return getattr(importlib.import_module(module), name)(spec)
        except (ImportError, AttributeError) as exc:
            raise FacsimileError(f"job kind {spec.kind!r}: cannot load the producer ({exc})") from exc
    try:
        return _PRODUCERS[spec.kind](spec)
    except KeyError:
        raise FacsimileError(f"unknown job kind {spec.kind!r}") from None


def _runs(frames: list[int]) -> Iterator[list[int]]:
    """Split sorted frame numbers into runs of consecutive frames."""
    run: list[int] = []
    for f in frames:
        if run and f != run[-1] + 1:
            yield run
            run = []
        run.append(f)
    if run:
        yield run


def chunk_movie_path(spec: JobSpec, index: int) -> Path:
    return spec.job_dir / "chunks" / f"chunk_{index:05d}.mov"


def _writer_kwargs(spec: JobSpec, producer: FrameProducer, first: int) -> dict:
    """Writer options for a run of frames starting at plate frame `first` (its timecode)."""
    import inspect

    from core.media.writers import offset_timecode, open_writer

    # spec.writer also holds delivery facts for the sidecar (preset, handles): pass on only
    # what the writer takes.
    accepted = set(inspect.signature(open_writer).parameters) - {"output", "start_number"}
    w = {k: v for k, v in spec.writer.items() if k in accepted}
    if w.get("timecode"):
        w["timecode"] = offset_timecode(w["timecode"], first - spec.first, producer.fps)
    return {"width": producer.width, "height": producer.height, "fps": producer.fps, **w}


def _timing(producer: FrameProducer, first: int, last: int):  # noqa: ANN202 - FrameTiming | None
    """The own times of plate frames first..last for a movie chunk when the producer's plate is
    variable-rate (its `timing`), so the joined movie keeps the plate's timing; None: written at fps."""
    timing = getattr(producer, "timing", None)
    return timing(first, last) if callable(timing) else None


def _extras(writer, extra: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Extra channels (e.g. the matte) go where the format can hold them (EXR), else nowhere."""
    return extra if extra and getattr(writer, "supports_extra_channels", False) else None


def missing_frames(spec: JobSpec, chunk: tuple[int, int], record: JobRecord) -> list[int]:
    """Frames of a sequence chunk that are not both recorded and on disk."""
    done = record.done_frames()
    return [f for f in range(chunk[0], chunk[1] + 1)
            if f not in done or not sequence_path(spec.output, spec.output_number(f)).exists()]


def check_output_folder(spec: JobSpec) -> None:
    """The output folder must exist: never silently re-create a folder that vanished (an
    unmounted network share would then fill the local disk under its mount point)."""
    folder = Path(spec.output).parent
    if not folder.is_dir():
        raise MediaError(f"the output folder {folder} does not exist (moved, deleted or unmounted?); "
                             "create it or choose another output")


def run_chunk(spec: JobSpec, index: int, progress: Progress | None = None, cancel: Cancel | None = None,
              producer: FrameProducer | None = None) -> int:
    """Render chunk `index` of `spec`, skipping what is already done. Returns frames rendered.

    `producer`: one kept by the caller across consecutive chunks (a local run): it is neither
    made nor closed here, and a chunk that starts where the last one ended continues its decode
    and its render state instead of reopening the plate and re-rendering the warm-up frames."""
    from core.media.writers import open_writer

    chunks = spec.chunks()
    if not 0 <= index < len(chunks):
        raise FacsimileError(f"job {spec.job_id} has chunks 0-{len(chunks) - 1}; there is no chunk {index}")
    check_output_folder(spec)
    record = JobRecord(spec.job_dir)
    chunk = chunks[index]
    if spec.sequence:
        todo = missing_frames(spec, chunk, record)
    else:
        done = record.done_chunks().get(index)
        todo = [] if done and chunk_movie_path(spec, index).exists() else list(range(chunk[0], chunk[1] + 1))
    if not todo:
        return 0
    own = producer is None
    if producer is None:
        producer = make_producer(spec)
    rendered = 0
    try:
        if spec.sequence:
            for run in _runs(todo):
                with open_writer(spec.output, start_number=spec.output_number(run[0]),
                                 **_writer_kwargs(spec, producer, run[0])) as writer:
                    for f in run:
                        if cancel and cancel():
                            raise UserCancelled("render cancelled; finished frames are kept and resume")
                        img, extra = producer.frame(f)
                        writer.write(img, extra_channels=_extras(writer, extra))
                        record.append({"type": "frame", "frame": f, "chunk": index})
                        rendered += 1
                        if progress:
                            progress(1, len(todo))
        else:
            path = chunk_movie_path(spec, index)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open_writer(str(path), **_writer_kwargs(spec, producer, todo[0]),
                             timing=_timing(producer, todo[0], todo[-1])) as writer:
                for f in todo:
                    if cancel and cancel():
                        raise UserCancelled("render cancelled; finished chunks are kept and resume")
                    img, extra = producer.frame(f)
                    writer.write(img, extra_channels=_extras(writer, extra))
                    rendered += 1
                    if progress:
                        progress(1, len(todo))
            record.append({"type": "chunk", "chunk": index, "first": chunk[0], "last": chunk[1], "file": str(path)})
    finally:
        if own:
            producer.close()
    return rendered


def pending_chunks(spec: JobSpec) -> list[int]:
    """Indices of chunks with work left (none for a finished movie: its chunks were joined and
    removed, and the movie is in place)."""
    if not spec.sequence and completed(spec):
        return []
    record = JobRecord(spec.job_dir)
    out = []
    for i, chunk in enumerate(spec.chunks()):
        if spec.sequence:
            if missing_frames(spec, chunk, record):
                out.append(i)
        elif i not in record.done_chunks() or not chunk_movie_path(spec, i).exists():
            out.append(i)
    return out


def finalize(spec: JobSpec, metadata: dict[str, str] | None = None, keep_chunks: bool = False) -> Path:
    """Check every frame is there and, for a movie, join the chunks into the final file (then
    delete the chunk movies unless keep_chunks)."""
    from core.jobs.remux import concat_movies

    if completed(spec):  # a movie joined before and still in place: nothing to join again
        return Path(spec.output)
    left = pending_chunks(spec)
    if left:
        raise FacsimileError(f"job {spec.job_id} is incomplete: chunks {left} still have frames to render")
    if not spec.sequence:
        chunks = [chunk_movie_path(spec, i) for i in range(len(spec.chunks()))]
        tc = spec.writer.get("timecode")  # the timecode of the job's first frame, when it has one
        try:
            concat_movies(chunks, spec.output, timecode=tc,
                          metadata={**(spec.writer.get("attributes") or {}), **(metadata or {})})
        except (FacsimileError, OSError) as exc:
            if not stopped_by_full_disk(exc):
                raise
            from core.util.atomic import describe_os_error

            said = describe_os_error(exc, spec.output) if isinstance(exc, OSError) else str(exc)
            raise FacsimileError(f"{said}; {kept_for_resume(spec)}") from exc
    JobRecord(spec.job_dir).append({"type": "complete", "time": time.time(),
                                    "output_bytes": _output_bytes(spec)})
    if not spec.sequence and not keep_chunks:
        # The joined movie holds the chunks' packets unchanged: keeping them would double the
        # disk a render takes. A re-run finds the job complete and the movie in place.
        for c in chunks:
            c.unlink(missing_ok=True)
    return Path(spec.output)


def _output_bytes(spec: JobSpec) -> int | None:
    out = Path(spec.output)
    return out.stat().st_size if not spec.sequence and out.exists() else None


def frames_done(spec: JobSpec) -> int:
    """How many of a job's frames are rendered: a sequence's recorded frames on disk, a movie's
    frames in finished chunks (all of them once the movie is joined)."""
    if spec.sequence:
        record = JobRecord(spec.job_dir)
        return len(spec.frames) - sum(len(missing_frames(spec, c, record)) for c in spec.chunks())
    if completed(spec):
        return len(spec.frames)
    left = set(pending_chunks(spec))
    return sum(b - a + 1 for i, (a, b) in enumerate(spec.chunks()) if i not in left)


def completed(spec: JobSpec) -> bool:
    """The job was finished and its movie is still there, the same size (sequences: every frame
    is recorded and on disk, which pending_chunks checks)."""
    if spec.sequence:
        return False
    done = [e for e in JobRecord(spec.job_dir).entries() if e.get("type") == "complete"]
    return bool(done) and done[-1].get("output_bytes") is not None and _output_bytes(spec) == done[-1]["output_bytes"]


def _run_local(spec: JobSpec, chunks: list[int], progress: Progress | None, cancel: Cancel | None) -> None:
    """The chunks one after the other in this process, with one producer while they succeed:
    opening the plate, building the renderer and warming the colour window for every chunk cost
    a third again of the frames (and a seek back to a keyframe, a GOP of decoding, per chunk of
    a long-GOP plate). The pixels are the same: the warm-up exists to reproduce this state."""
    producer: FrameProducer | None = None
    try:
        for i in chunks:
            attempt = 0
            while True:
                try:
                    if producer is None:
                        producer = make_producer(spec)
                    run_chunk(spec, i, progress, cancel, producer=producer)
                    break
                except (UserCancelled, KeyboardInterrupt):
                    raise
                except FacsimileError as exc:
                    # Errors a retry cannot fix (disk full, vanished folder) stop at once.
                    raise chunk_failure(spec, i, exc) from exc
                except OSError as exc:
                    if exc.errno in _FATAL_ERRNOS:
                        raise chunk_failure(spec, i, exc) from exc
                    producer = _discard(producer)  # a retry starts from a fresh plate and renderer
                    attempt = _retry(spec, i, exc, attempt)
                except Exception as exc:  # noqa: BLE001 - a worker fault: retry with a limit
                    producer = _discard(producer)
                    attempt = _retry(spec, i, exc, attempt)
    finally:
        _discard(producer)


def _discard(producer: FrameProducer | None) -> None:
    """Close a producer (None is fine); returns None to clear the caller's reference."""
    if producer is not None:
        try:
            producer.close()
        except Exception as exc:  # noqa: BLE001 - closing after a failure must not hide it
            log.warning("closing the frame producer failed: %s", exc)
    return None


#: disk full, file too large, quota, read-only: a retry cannot fix these
_FATAL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}


def stopped_by_full_disk(exc: BaseException | None) -> bool:
    """`exc` is, or was raised from, a full disk or an exceeded quota (ENOSPC, EDQUOT)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def chunk_failure(spec: JobSpec, index: int, exc: BaseException) -> FacsimileError:
    """The error a chunk stopped by `exc` ends in, said the same way by every engine (local, Ray,
    a farm task's `job run --chunk`): which chunk and frames, the cause, and what is kept: after a
    full disk, where the finished part is and how to resume or discard it."""
    from core.util.atomic import describe_os_error

    a, b = spec.chunks()[index]
    cause = describe_os_error(exc, spec.output) if isinstance(exc, OSError) else str(exc)
    kept = kept_for_resume(spec) if stopped_by_full_disk(exc) else "finished frames are kept, run again to resume"
    return FacsimileError(f"chunk {index} (frames {a}-{b}) failed: {cause}; {kept}")


def is_fatal(exc: BaseException) -> bool:
    """`exc` is an error a retry of the chunk cannot cure: a FacsimileError, or a full disk, a file
    too large, an exceeded quota or a read-only file system."""
    return isinstance(exc, FacsimileError) or (isinstance(exc, OSError) and exc.errno in _FATAL_ERRNOS)


def kept_for_resume(spec: JobSpec) -> str:
    """What a job stopped by a full disk leaves and what to do with it: where its finished part
    is, the space it holds, the command that resumes it and the folder that discards it (there
    is no command for that: the job folder is deleted by hand)."""
    import shlex

    job_json = shlex.quote(str(spec.job_dir / "job.json"))
    done, total = frames_done(spec), len(spec.frames)
    if done == 0:
        held = sum(p.stat().st_size for p in spec.job_dir.rglob("*") if p.is_file())
        where = f"no frame was finished; the job's folder {spec.job_dir} holds {held / 1e6:.1f} MB"
        discard = f"delete {spec.job_dir}"
    elif spec.sequence:
        record = JobRecord(spec.job_dir)
        frames = [sequence_path(spec.output, spec.output_number(f)) for f in sorted(record.done_frames())]
        held = sum(p.stat().st_size for p in frames if p.is_file())
        where = (f"the {done} of {total} finished frames ({held / 1e6:.1f} MB) are kept as {spec.output}, their "
                 f"record in {spec.job_dir}")
        discard = f"delete {spec.job_dir} and those frames"
    else:
        held = sum(p.stat().st_size for p in spec.job_dir.rglob("*") if p.is_file())
        chunks = len(spec.chunks()) - len(pending_chunks(spec))
        where = (f"the finished part ({chunks} of {len(spec.chunks())} chunks, {done} of {total} frames, "
                 f"{held / 1e6:.1f} MB) is kept in {spec.job_dir}")
        if not pending_chunks(spec):
            where += f" (joining them into {Path(spec.output).name} needs about as much again)"
        discard = f"delete {spec.job_dir}"
    return (f"{where}: once there is space, resume it with `facsimile job run {job_json}` (or the same command "
            f"again), or {discard} to discard it")


def _retry(spec: JobSpec, i: int, exc: BaseException, attempt: int) -> int:
    """Count a failed attempt of chunk `i`; raise a clear error once the retries are spent."""
    attempt += 1
    if attempt > spec.max_retries:
        a, b = spec.chunks()[i]
        raise FacsimileError(f"chunk {i} (frames {a}-{b}) failed {attempt} times (retry limit {spec.max_retries}); "
                             f"last error: {type(exc).__name__}: {exc}") from exc
    log.warning("chunk %d failed (%s), retrying (%d/%d)", i, exc, attempt, spec.max_retries)
    return attempt


def run_job(spec: JobSpec, engine: str = "local", address: str | None = None, progress: Progress | None = None,
            cancel: Cancel | None = None, metadata: dict[str, str] | None = None, keep_chunks: bool = False) -> Path:
    """Render every missing frame of `spec` and assemble the output; resumable. One job at a
    time writes an output (core.jobs.lock): a second one is refused while this runs."""
    from core.jobs.lock import output_lock

    check_output_folder(spec)
    with output_lock(spec.output, spec.job_id):
        return _run_job(spec, engine, address, progress, cancel, metadata, keep_chunks)


def _run_job(spec: JobSpec, engine: str, address: str | None, progress: Progress | None, cancel: Cancel | None,
             metadata: dict[str, str] | None, keep_chunks: bool) -> Path:
    spec.save()
    if completed(spec):
        log.info("job %s is complete and %s is in place: nothing to render", spec.job_id, spec.output)
        return Path(spec.output)
    todo = pending_chunks(spec)
    log.info("job %s: %d of %d chunks to render (%s)", spec.job_id, len(todo), len(spec.chunks()), engine)
    if engine == "local":
        _run_local(spec, todo, progress, cancel)
    elif engine == "ray":
        from core.jobs.ray_engine import run_on_ray

        run_on_ray(spec, todo, address=address, progress=progress)
    else:
        raise FacsimileError(f"unknown engine {engine!r} (use local or ray)")
    return finalize(spec, metadata=metadata, keep_chunks=keep_chunks)
