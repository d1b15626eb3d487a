"""Faults during delivery: disk full, the output folder vanishing mid-render, a chunk failing
twice, a farm worker dying. Each gives a clear error or a bounded retry, never a corrupt file
under a final name, and a rerun completes the job.

Already in tests/test_jobs.py: kill -9 then resume (no partial frame under a final name),
a folder missing before the start, a chunk failing beyond its retries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import av
import numpy as np
import OpenEXR
import pytest

from core.errors import FacsimileError
from core.jobs.record import JobRecord
from core.jobs.run import ConvertProducer, run_job
from core.jobs.spec import JobSpec, sequence_path
from tests.jobhelpers import make_plate

HERE = "tests.test_delivery_faults"


class FlakyConvert(ConvertProducer):
    """`convert` whose chunk 1 raises on its first two attempts, after two good frames
    (attempts are counted in a file in the job folder, so they survive across processes)."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__(spec)
        self.spec = spec
        self.counter = spec.job_dir / "flaky_attempts"
        self.chunk1 = spec.chunks()[1]
        self.seen = 0

    def frame(self, index: int):
        if self.chunk1[0] <= index <= self.chunk1[1]:
            if self.seen == 0:  # a new attempt at chunk 1 (it resumes at its first missing frame)
                n = int(self.counter.read_text()) if self.counter.exists() else 0
                self.counter.write_text(str(n + 1))
                self.attempt = n + 1
            self.seen += 1
            if self.attempt <= 2 and (self.attempt == 2 or self.seen > 2):
                raise RuntimeError(f"simulated worker fault (attempt {self.attempt})")
        return super().frame(index)


class DyingConvert(ConvertProducer):
    """`convert` whose process exits hard (a dead worker) the first time chunk 1 starts."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__(spec)
        self.marker = spec.job_dir / "died_once"
        self.chunk1 = spec.chunks()[1]

    def frame(self, index: int):
        if index == self.chunk1[0] + 1 and not self.marker.exists():
            self.marker.write_text("x")
            os._exit(1)
        return super().frame(index)


class SlowConvert(ConvertProducer):
    def frame(self, index: int):
        time.sleep(0.1)
        return super().frame(index)


def _readable_exr(path: Path) -> np.ndarray:
    with OpenEXR.File(str(path)) as f:
        return np.array(f.channels()["RGBA"].pixels)


def _no_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and (".tmp" in p.name or ".partial" in p.name)]


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return make_plate(tmp_path_factory.mktemp("plate") / "plate.mp4", frames=24, size=(320, 240))


@pytest.fixture
def tiny_disk(tmp_path):
    """An 8 MB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` so that about `leave` bytes stay free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler.bin"
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def test_disk_full_exr_is_a_clear_error_and_resumes(plate, tiny_disk, tmp_path):
    out = tiny_disk / "out"
    out.mkdir()
    spec = JobSpec.create("convert", str(plate), str(out / "o.####.exr"), (0, 23), chunk_size=8)
    filler = _fill(tiny_disk, 600_000)
    with pytest.raises(FacsimileError, match="disk is full|No space") as info:
        run_job(spec)
    assert "resume" in str(info.value)
    written = sorted(out.glob("o.*.exr"))
    assert 0 < len(written) < 24, "the disk must fill part-way"
    for f in written:  # every file under a final name is a complete EXR
        _readable_exr(f)
    assert _no_temp_files(out) == []
    filler.unlink()
    run_job(spec)  # space freed: the rerun renders the rest
    assert JobRecord(spec.job_dir).done_frames() == set(range(24))
    ref = JobSpec.create("convert", str(plate), str(tmp_path / "r.####.exr"), (0, 23), chunk_size=24)
    run_job(ref)
    for n in range(1001, 1025):
        np.testing.assert_array_equal(_readable_exr(sequence_path(spec.output, n)),
                                      _readable_exr(sequence_path(ref.output, n)))


def test_disk_full_prores_leaves_no_movie_under_its_name(plate, tiny_disk):
    out = tiny_disk / "out"
    out.mkdir()
    target = out / "o.mov"
    spec = JobSpec.create("convert", str(plate), str(target), (0, 23), chunk_size=8, writer={"codec": "prores4444"})
    filler = _fill(tiny_disk, 700_000)
    with pytest.raises(FacsimileError, match="disk is full|No space|space"):
        run_job(spec)
    assert not target.exists(), "a half movie must never appear under the final name"
    assert _no_temp_files(out) == []
    filler.unlink()
    run_job(spec)
    with av.open(str(target)) as c:
        assert sum(1 for p in c.demux(c.streams.video[0]) if p.size) == 24


def _held(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _says_where_and_what_to_do(message: str, spec: JobSpec) -> None:
    """A full-disk error names the partial render's folder, the space it holds, the command
    that resumes it and the folder to delete to discard it."""
    import shlex

    assert str(spec.job_dir) in message, message
    assert f"{_held(spec.job_dir) / 1e6:.1f} MB" in message, message
    assert f"`facsimile job run {shlex.quote(str(spec.job_dir / 'job.json'))}`" in message, message
    assert f"delete {spec.job_dir}" in message, message


def test_disk_full_in_a_chunk_says_where_the_partial_render_is_and_how_to_resume_or_discard(plate, tiny_disk):
    """The error said 'finished frames are kept, run again to resume' but not that they sit in
    the hidden .facsimile-jobs folder, how much of the full disk they hold, or how to drop them."""
    out = tiny_disk / "out"
    out.mkdir()
    spec = JobSpec.create("convert", str(plate), str(out / "o.mov"), (0, 23), chunk_size=8,
                          writer={"codec": "prores4444"})
    filler = _fill(tiny_disk, 700_000)
    with pytest.raises(FacsimileError, match="disk is full") as info:
        run_job(spec)
    assert 0 < len(list((spec.job_dir / "chunks").glob("chunk_*.mov"))), "the disk must fill part-way"
    _says_where_and_what_to_do(str(info.value), spec)
    filler.unlink()
    from core.cli import main

    assert main(["job", "run", str(spec.job_dir / "job.json")]) == 0  # the command it names resumes it
    with av.open(str(out / "o.mov")) as c:
        assert sum(1 for p in c.demux(c.streams.video[0]) if p.size) == 24


def test_disk_full_while_joining_the_chunks_says_so_too(plate, tiny_disk):
    """Every chunk rendered, then the join into the movie filled the disk: the error said only
    'the disk is full while writing o.mov', nothing of the chunks kept or of resuming."""
    from core.jobs.run import run_chunk

    out = tiny_disk / "out"
    out.mkdir()
    spec = JobSpec.create("convert", str(plate), str(out / "o.mov"), (0, 23), chunk_size=8,
                          writer={"codec": "prores4444"})
    spec.save()
    for i in range(len(spec.chunks())):
        run_chunk(spec, i)
    _fill(tiny_disk, 100_000)
    with pytest.raises(FacsimileError, match="disk is full") as info:
        run_job(spec)
    assert not (out / "o.mov").exists()
    _says_where_and_what_to_do(str(info.value), spec)
    assert "3 of 3 chunks" in str(info.value)


def test_disk_full_in_a_farm_chunk_task_says_the_same(plate, tiny_disk, capsys):
    """A farm task (`job run JOB --chunk N`) stopped by a full disk printed only 'the disk is full
    while writing …': nothing of what was kept, how to resume or what to delete."""
    from core.cli import main

    out = tiny_disk / "out"
    out.mkdir()
    spec = JobSpec.create("convert", str(plate), str(out / "o.mov"), (0, 23), chunk_size=8,
                          writer={"codec": "prores4444"})
    job = spec.save()
    assert main(["job", "run", str(job), "--chunk", "0"]) == 0
    filler = _fill(tiny_disk, 100_000)
    assert main(["job", "run", str(job), "--chunk", "1"]) != 0
    said = capsys.readouterr().err
    assert "chunk 1 (frames 8-15) failed" in said and "disk is full" in said, said
    _says_where_and_what_to_do(" ".join(said.split()), spec)
    filler.unlink()
    assert main(["job", "run", str(job)]) == 0  # the command it names resumes it
    with av.open(str(out / "o.mov")) as c:
        assert sum(1 for p in c.demux(c.streams.video[0]) if p.size) == 24


def test_disk_full_on_the_ray_engine_is_said_once_and_not_retried(plate, tiny_disk):
    """On the Ray engine a full disk was a worker fault: retried max_retries times, then 'finished
    frames are kept, run again to resume', without where they are or how to discard them."""
    from core.jobs.ray_engine import run_on_ray

    ray = pytest.importorskip("ray")
    out = tiny_disk / "out"
    out.mkdir()
    spec = JobSpec.create("convert", str(plate), str(out / "o.mov"), (0, 23), chunk_size=8, max_retries=2,
                          writer={"codec": "prores4444"})
    spec.save()
    _fill(tiny_disk, 700_000)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(FacsimileError, match="disk is full") as info:
            run_on_ray(spec, [0, 1, 2])
    finally:
        ray.shutdown()
    text = str(info.value)
    assert "run again to resume" not in text, text
    _says_where_and_what_to_do(text, spec)
    assert 0 < len(list((spec.job_dir / "chunks").glob("chunk_*.mov"))) < 3, "the disk must fill part-way"


def test_file_size_limit_efbig_is_a_clear_error(plate, tmp_path):
    """Without root: RLIMIT_FSIZE in a child process makes writes fail with EFBIG."""
    out = tmp_path / "o.####.exr"
    spec = JobSpec.create("convert", str(plate), str(out), (0, 5), chunk_size=3)
    job = spec.save()
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
            f"from core.cli import main; sys.exit(main(['job', 'run', {str(job)!r}]))")
    proc = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "too large" in proc.stderr.lower() or "efbig" in proc.stderr.lower() or "File too large" in proc.stderr
    for f in tmp_path.glob("o.*.exr"):
        _readable_exr(f)
    assert _no_temp_files(tmp_path) == []


def test_output_folder_vanishing_mid_render_stops_and_is_not_recreated(plate, tmp_path):
    out = tmp_path / "share"
    out.mkdir()
    spec = JobSpec.create(f"{HERE}:SlowConvert", str(plate), str(out / "o.####.exr"), (0, 23), chunk_size=6)
    record = JobRecord(spec.job_dir)

    def pull_the_share() -> None:
        deadline = time.time() + 30
        while time.time() < deadline and (not record.path.exists() or len(record.done_frames()) < 4):
            time.sleep(0.02)
        # a share goes away at once; rmtree would race the render's writes (a frame created while
        # it deletes leaves the folder in place, and the run then finishes with holes)
        out.rename(tmp_path / "unmounted")

    t = threading.Thread(target=pull_the_share)
    t.start()
    with pytest.raises(FacsimileError, match="does not exist|vanished"):
        run_job(spec)
    t.join()
    assert not out.exists(), "a vanished output folder must never be re-created"


def test_chunk_failing_twice_is_retried_and_completes(plate, tmp_path, caplog):
    spec = JobSpec.create(f"{HERE}:FlakyConvert", str(plate), str(tmp_path / "o.####.exr"), (0, 23), chunk_size=8,
                          max_retries=2)
    run_job(spec)
    assert (spec.job_dir / "flaky_attempts").read_text() == "3"
    assert JobRecord(spec.job_dir).done_frames() == set(range(24))
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 2


def test_chunk_failing_twice_beyond_one_retry_is_reported_then_resumes(plate, tmp_path):
    spec = JobSpec.create(f"{HERE}:FlakyConvert", str(plate), str(tmp_path / "o.####.exr"), (0, 23), chunk_size=8,
                          max_retries=1)
    with pytest.raises(FacsimileError, match=r"chunk 1 \(frames 8-15\) failed 2 times \(retry limit 1\).*"
                                             r"simulated worker fault"):
        run_job(spec)
    done = JobRecord(spec.job_dir).done_frames()
    assert set(range(8)) <= done and {8, 9} <= done and 10 not in done
    for f in tmp_path.glob("o.*.exr"):
        _readable_exr(f)
    run_job(spec)  # the third attempt succeeds and renders only what is missing
    assert JobRecord(spec.job_dir).done_frames() == set(range(24))


def test_ray_worker_that_dies_is_retried(plate, tmp_path):
    ray = pytest.importorskip("ray")
    out = tmp_path / "o.####.exr"
    spec = JobSpec.create(f"{HERE}:DyingConvert", str(plate), str(out), (0, 17), chunk_size=6, max_retries=2)
    # address="local": a new instance, never a cluster another test left running on this machine
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}})
    try:
        run_job(spec, engine="ray")
    finally:
        ray.shutdown()
    assert (spec.job_dir / "died_once").exists(), "the worker must have died once"
    assert JobRecord(spec.job_dir).done_frames() == set(range(18))
    for n in range(1001, 1019):
        _readable_exr(sequence_path(spec.output, n))


def test_ray_reports_a_chunks_own_error_once_and_an_unreachable_cluster_at_once(plate, tmp_path):
    """A chunk's FacsimileError came back as "RayTaskError(FacsimileError): ray::_chunk_task() (pid=…)"
    with colour codes, after three identical attempts; an unreachable --address hung for minutes
    in Ray's own connection retries."""
    import time

    from core.jobs.ray_engine import run_on_ray

    ray = pytest.importorskip("ray")
    out = tmp_path / "x.####.exr"
    spec = JobSpec.create("convert", str(tmp_path / "gone.mov"), str(out), (0, 5), chunk_size=3, max_retries=2)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(FacsimileError) as err:
            run_on_ray(spec, [0, 1])
    finally:
        ray.shutdown()
    text = str(err.value)
    assert "chunk 0 (frames 0-2): MediaError:" in text and "gone.mov" in text
    assert "\x1b[" not in text and "ray::" not in text
    t0 = time.monotonic()
    with pytest.raises(FacsimileError, match="cannot reach the Ray cluster at 127.0.0.1:9"):
        run_on_ray(spec, [0], address="127.0.0.1:9")
    assert time.monotonic() - t0 < 10
