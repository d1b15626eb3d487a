"""Render jobs: chunks, durable progress, resume after a real kill -9, remux join, Ray, OpenJD."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import OpenEXR
import pytest

from core.cli import main
from core.errors import FacsimileError
from core.jobs.record import JobRecord
from core.jobs.run import chunk_movie_path, run_job
from core.jobs.spec import JobSpec, sequence_path
from tests.jobhelpers import make_plate

REPO = Path(__file__).resolve().parent.parent


def _exr_pixels(path: Path) -> np.ndarray:
    with OpenEXR.File(str(path)) as f:
        ch = f.channels()
        key = "RGBA" if "RGBA" in ch else "RGB"
        return np.array(ch[key].pixels)


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return make_plate(tmp_path_factory.mktemp("plate") / "plate.mp4")


def test_exr_job_writes_every_frame_and_records_it(plate, tmp_path):
    spec = JobSpec.create("convert", str(plate), str(tmp_path / "out.####.exr"), (0, 29), chunk_size=8)
    assert [c for c in spec.chunks()] == [(0, 7), (8, 15), (16, 23), (24, 29)]
    run_job(spec)
    files = sorted(tmp_path.glob("out.*.exr"))
    assert [f.name for f in files] == [f"out.{n}.exr" for n in range(1001, 1031)]
    assert JobRecord(spec.job_dir).done_frames() == set(range(30))
    # Running again renders nothing: every frame is recorded and on disk.
    mtimes = [f.stat().st_mtime_ns for f in files]
    run_job(spec)
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_missing_frame_on_disk_is_rendered_again(plate, tmp_path):
    spec = JobSpec.create("convert", str(plate), str(tmp_path / "out.####.exr"), (0, 11), chunk_size=4)
    run_job(spec)
    victim = sequence_path(spec.output, 1005)
    reference = _exr_pixels(victim)
    victim.unlink()
    run_job(spec)
    np.testing.assert_array_equal(_exr_pixels(victim), reference)


def test_prores_chunks_join_with_bit_identical_packets(plate, tmp_path):
    out = tmp_path / "out.mov"
    spec = JobSpec.create("convert", str(plate), str(out), (0, 29), chunk_size=7,
                          writer={"codec": "prores4444", "timecode": "01:00:00:00"})
    run_job(spec, metadata={"comment": "synthetic media"}, keep_chunks=True)
    chunk_packets = []
    for i in range(len(spec.chunks())):
        with av.open(str(chunk_movie_path(spec, i))) as c:
            chunk_packets += [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]
    with av.open(str(out)) as joined:
        stream = joined.streams.video[0]
        joined_packets = [bytes(p) for p in joined.demux(stream) if p.size]
        assert stream.codec_context.name == "prores"
    with av.open(str(out)) as joined:
        frames = [f.to_ndarray(format="rgb24") for f in joined.decode(video=0)]
    assert len(joined_packets) == 30
    assert joined_packets == chunk_packets
    assert len(frames) == 30
    from core.media.reader import probe

    assert probe(out).timecode == "01:00:00:00"  # the tmcd track of the joined movie (it was dropped)


def test_a_joined_movie_keeps_a_drop_frame_timecode(tmp_path):
    """A 29.97 plate at 00:00:59;25: the chunks' join had no tmcd track (the stream copied from a
    template had no frame rate, which FFmpeg's mov muxer needs to write one)."""
    from core.media.reader import probe
    from tests.mediagen import make_video

    plate = make_video(tmp_path / "df.mov", frames=12, fps=Fraction(30000, 1001), timecode="00:00:59;25")
    out = tmp_path / "out.mov"
    spec = JobSpec.create("convert", str(plate), str(out), (2, 11), chunk_size=4,
                          writer={"codec": "prores422hq", "timecode": "00:00:59;27"})
    run_job(spec)
    info = probe(out)
    assert info.timecode == "00:00:59;27" and info.frame_count == 10 and info.fps == Fraction(30000, 1001)


def test_prores_chunks_are_removed_after_the_join_and_a_rerun_renders_nothing(plate, tmp_path, caplog):
    out = tmp_path / "out.mov"
    spec = JobSpec.create("convert", str(plate), str(out), (0, 29), chunk_size=10, writer={"codec": "prores4444"})
    run_job(spec)
    assert not any(chunk_movie_path(spec, i).exists() for i in range(len(spec.chunks())))
    before = out.stat().st_mtime_ns
    with caplog.at_level("INFO", logger="core.jobs.run"):
        run_job(spec)
    assert out.stat().st_mtime_ns == before and "nothing to render" in caplog.text
    out.unlink()  # the movie is gone: a re-run renders it again
    run_job(spec)
    with av.open(str(out)) as joined:
        assert joined.streams.video[0].frames == 30 or sum(1 for _ in joined.decode(video=0)) == 30


def _uninterrupted_reference(plate: Path, tmp: Path) -> list[np.ndarray]:
    ref = JobSpec.create("convert", str(plate), str(tmp / "ref" / "r.####.exr"), (0, 29), chunk_size=5)
    (tmp / "ref").mkdir()
    run_job(ref)
    return [_exr_pixels(sequence_path(ref.output, 1001 + i)) for i in range(30)]


def test_kill_9_then_resume_renders_only_missing_frames(plate, tmp_path):
    """A real render process is killed with SIGKILL part-way; the rerun renders only the rest,
    and the result equals an uninterrupted run pixel for pixel."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    spec = JobSpec.create("slow_convert", str(plate), str(out_dir / "o.####.exr"), (0, 29), chunk_size=5)
    job_file = spec.save()
    code = ("import sys, tests.jobhelpers; from core.cli import main; "
            f"sys.exit(main(['job', 'run', {str(job_file)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    record = JobRecord(spec.job_dir)
    deadline = time.time() + 60
    while len(record.done_frames()) < 8 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = record.done_frames()
    assert 8 <= len(done_before) < 30, "the kill must land mid-render"
    # No partial file is left under a final name: every final-named frame is a readable EXR.
    for f in out_dir.glob("o.*.exr"):
        _exr_pixels(f)
    n_before = len(record.entries())
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    new = [e for e in record.entries()[n_before:] if e.get("type") == "frame"]
    assert {e["frame"] for e in new} == set(range(30)) - done_before
    assert len(new) == 30 - len(done_before)
    reference = _uninterrupted_reference(plate, tmp_path)
    for i in range(30):
        np.testing.assert_array_equal(_exr_pixels(sequence_path(spec.output, 1001 + i)), reference[i])


def test_vanished_output_folder_is_a_clear_error(plate, tmp_path):
    out_dir = tmp_path / "gone"
    out_dir.mkdir()
    spec = JobSpec.create("convert", str(plate), str(out_dir / "o.####.exr"), (0, 3), chunk_size=2)
    spec.save()
    shutil.rmtree(out_dir)
    with pytest.raises(FacsimileError):
        run_job(spec)


def test_a_local_run_keeps_one_producer_across_chunks_and_a_retry_starts_fresh(plate, tmp_path):
    """Consecutive chunks in one process share the producer (the plate stays open, a render's
    state carries on); a chunk that fails and is retried gets a new one; every producer is
    closed; the frames are those of a run without the fault."""
    from tests.jobhelpers import CountingConvert

    clean = JobSpec.create("convert", str(plate), str(tmp_path / "clean.####.exr"), (0, 29), chunk_size=8)
    run_job(clean)
    CountingConvert.made = CountingConvert.closed = 0
    CountingConvert.fail_at = None
    spec = JobSpec.create("counting_convert", str(plate), str(tmp_path / "a.####.exr"), (0, 29), chunk_size=8)
    run_job(spec)
    assert (CountingConvert.made, CountingConvert.closed) == (1, 1)
    CountingConvert.made = CountingConvert.closed = 0
    CountingConvert.fail_at = 13  # in the second chunk
    spec = JobSpec.create("counting_convert", str(plate), str(tmp_path / "b.####.exr"), (0, 29), chunk_size=8)
    run_job(spec)
    assert (CountingConvert.made, CountingConvert.closed) == (2, 2)
    for n in range(1001, 1031):
        np.testing.assert_array_equal(_exr_pixels(tmp_path / f"b.{n}.exr"), _exr_pixels(tmp_path / f"clean.{n}.exr"))


def test_a_chunk_failing_beyond_its_retries_is_reported(plate, tmp_path):
    spec = JobSpec.create("convert", str(plate), str(tmp_path / "o.####.exr"), (0, 40), chunk_size=10,
                          max_retries=1)
    with pytest.raises(FacsimileError, match="frame"):
        run_job(spec)  # frames 30..40 do not exist in a 30-frame plate
    assert all(sequence_path(spec.output, 1001 + i).exists() for i in range(30))


def test_openjd_template_runs_locally(plate, tmp_path):
    if not shutil.which("openjd", path=str(Path(sys.executable).parent)):
        pytest.skip("openjd-cli is not installed (pip install -e '.[farm]')")
    spec = JobSpec.create("convert", str(plate), str(tmp_path / "o.####.exr"), (0, 9), chunk_size=4)
    job_file = spec.save(tmp_path / "job.json")
    from core.cli import main

    tmpl = tmp_path / "job.template.json"
    assert main(["farm", "export", str(job_file), "--format", "openjd", "--out", str(tmpl)]) == 0
    doc = json.loads(tmpl.read_text())
    assert doc["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"] == "0-2"
    openjd = str(Path(sys.executable).parent / "openjd")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([openjd, "run", str(tmpl), "--step", "Assemble", "--run-dependencies"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(list(tmp_path.glob("o.*.exr"))) == 10


def test_ray_two_worker_cluster(plate, tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        assert len(ray.nodes()) == 2
        spec = JobSpec.create("convert", str(plate), str(tmp_path / "o.####.exr"), (0, 29), chunk_size=5)
        run_job(spec, engine="ray", address=cluster.address)
        assert JobRecord(spec.job_dir).done_frames() == set(range(30))
        mov = JobSpec.create("convert", str(plate), str(tmp_path / "o.mov"), (0, 29), chunk_size=10)
        run_job(mov, engine="ray", address=cluster.address)
        with av.open(str(tmp_path / "o.mov")) as c:
            assert sum(1 for p in c.demux(c.streams.video[0]) if p.size) == 30
    finally:
        ray.shutdown()
        cluster.shutdown()


def _linear_exr_plate(folder: Path, frames: int = 4) -> str:
    """A linear half-float EXR sequence (the astronaut, sRGB-decoded) with a timecode."""
    import skimage.data

    from tests.mediagen import write_exr

    folder.mkdir(parents=True, exist_ok=True)
    img = skimage.data.astronaut()[::4, ::4].astype(np.float32) / 255
    lin = np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)
    for k in range(frames):
        write_exr(folder / f"cg.{1001 + k:04d}.exr", lin * (1 + 0.1 * k), fps=24, timecode="01:00:00:00")
    return str(folder / "cg.####.exr")


def _exr_rgb(path: Path) -> np.ndarray:
    with OpenEXR.File(str(path)) as f:
        ch = f.channels()
        return np.asarray(ch["RGB"].pixels if "RGB" in ch else ch["RGBA"].pixels[..., :3], np.float32)


def test_plate_export_keeps_a_linear_plate_linear_and_its_timecode(tmp_path):
    """The studio's plate export (core.jobs.convert.prepare_convert) writes what `facsimile convert`
    does: a linear EXR plate comes out with the same values (it was decoded as sRGB a second time,
    half as bright), and the timecode moves on to the first exported frame."""
    from core.jobs.convert import prepare_convert
    from core.media.reader import open_media

    plate = _linear_exr_plate(tmp_path / "plate")
    (tmp_path / "out").mkdir()
    spec = prepare_convert(plate, tmp_path / "out" / "e.####.exr", (1, 3))
    assert spec.writer["input_colorspace"] == "Linear Rec.709 (sRGB)" and spec.writer["timecode"] == "01:00:00:01"
    run_job(spec)
    src = sorted((tmp_path / "plate").glob("cg.*.exr"))
    out = sorted((tmp_path / "out").glob("e.*.exr"))
    assert [p.name for p in out] == ["e.1001.exr", "e.1002.exr", "e.1003.exr"]
    for a, b in zip(src[1:], out, strict=True):
        np.testing.assert_allclose(_exr_rgb(b), _exr_rgb(a), atol=1e-3)
    with open_media(str(tmp_path / "out" / "e.####.exr")) as r:
        assert r.info.timecode == "01:00:00:01"
    with pytest.raises(FacsimileError, match="outside the plate"):
        prepare_convert(plate, tmp_path / "out" / "x.####.exr", (2, 9))


@pytest.mark.parametrize(("fps", "tc"), [(Fraction(60000, 1001), "10:00:59;55"), (Fraction(50), "01:00:00:45")])
def test_exr_timecode_above_30_fps(tmp_path, fps, tc):
    """EXR export of a 59.94 or 50 fps plate failed ("Cannot set frame field in time code"): the
    field holds 0-29; above 30 fps SMPTE 12M counts frame pairs with the field phase bit. The
    reader reads it back the same way, frame by frame across a second boundary."""
    from core.media.reader import probe
    from tests.mediagen import make_video

    plate = make_video(tmp_path / "hfr.mov", frames=8, fps=fps, timecode=tc)
    assert main(["convert", str(plate), str(tmp_path / "o.####.exr")]) == 0
    info = probe(tmp_path / "o.####.exr")
    assert info.timecode == tc and info.fps == fps
    with OpenEXR.File(str(tmp_path / "o.1002.exr")) as f:
        t = f.header()["timeCode"]
    second = int(tc[9:]) + 1
    assert (2 * t.frame + int(t.fieldPhase)) == second


def test_job_status_and_finalize_know_a_finished_movie(plate, tmp_path, capsys):
    """A finished movie job's chunks are joined and removed: `job status` said pending [0],
    frames_done 0, complete false, and `job finalize` failed ("chunks [0] still have frames")."""
    out = tmp_path / "out.mov"
    spec = JobSpec.create("convert", str(plate), str(out), (0, 9), chunk_size=4, writer={"codec": "prores422hq"})
    job = spec.save()
    assert main(["job", "run", str(job), "--chunk", "1"]) == 0
    capsys.readouterr()
    assert main(["job", "status", str(job)]) == 0
    part = json.loads(capsys.readouterr().out)
    assert part["pending_chunks"] == [0, 2] and part["frames_done"] == 4 and part["complete"] is False
    for bad in ("3", "-1"):  # chunks 0-2: 99 was an IndexError, -1 rendered the last chunk again
        assert main(["job", "run", str(job), "--chunk", bad]) != 0
    assert main(["job", "run", str(job)]) == 0
    capsys.readouterr()
    assert main(["job", "status", str(job)]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["pending_chunks"] == [] and done["frames_done"] == 10 and done["complete"] is True
    mtime = out.stat().st_mtime_ns
    assert main(["job", "finalize", str(job)]) == 0 and out.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(("field", "value", "says"), [
    ("chunk_size", 0, "chunk_size"), ("chunk_size", "24", "chunk_size"), ("first", -5, "frames"),
    ("last", 1, "frames"), ("kind", "", "kind"), ("foo", 1, "unknown field"),
    ("last", 10**12, "at most"), ("writer", {"start_number": "1001x"}, "start_number")])
def test_a_damaged_job_file_says_what_is_wrong(plate, tmp_path, capsys, field, value, says):
    spec = JobSpec.create("convert", str(plate), str(tmp_path / "o.####.exr"), (4, 9))
    data = spec.to_json()
    data[field] = value
    job = tmp_path / "job.json"
    job.write_text(json.dumps(data))
    assert main(["job", "status", str(job)]) != 0
    assert says in capsys.readouterr().err


def test_a_damaged_progress_log_is_read_past(plate, tmp_path, capsys):
    """A progress.jsonl line that is JSON but not an entry (a list, a frame entry without its
    frame) was a KeyError / AttributeError in `job status` and a resume."""
    out = tmp_path / "o.####.exr"
    spec = JobSpec.create("convert", str(plate), str(out), (0, 5), chunk_size=3)
    run_job(spec)
    with open(spec.job_dir / "progress.jsonl", "a") as f:
        f.write('[1, 2]\n{"type": "frame"}\n{"type": "chunk", "chunk": "x"}\n"text"\n')
    spec.save()
    assert main(["job", "status", str(spec.job_dir / "job.json")]) == 0
    assert json.loads(capsys.readouterr().out)["frames_done"] == 6
    run_job(spec)  # nothing to redo


def test_farm_export_refuses_an_existing_template_and_a_missing_folder(plate, tmp_path, capsys):
    """`farm export -o existing.yaml` replaced the file silently, and a job written to a mistyped
    folder made that folder; both are now clear errors, and --overwrite replaces the template."""
    spec = JobSpec.create("convert", str(plate), str(tmp_path / "o.####.exr"), (0, 9), chunk_size=4)
    with pytest.raises(FacsimileError, match="nodir does not exist"):
        spec.save(tmp_path / "nodir" / "job.json")
    assert not (tmp_path / "nodir").exists()
    job_file = spec.save(tmp_path / "job.json")
    tmpl = tmp_path / "t.yaml"
    tmpl.write_text("mine")
    assert main(["farm", "export", str(job_file), "-o", str(tmpl)]) == 3
    assert "already exists: pass --overwrite" in capsys.readouterr().err and tmpl.read_text() == "mine"
    assert main(["farm", "export", str(job_file), "-o", str(job_file), "--overwrite"]) == 3
    assert "own input" in capsys.readouterr().err
    assert main(["farm", "export", str(job_file), "-o", str(tmpl), "--overwrite"]) == 0
    assert json.loads(tmpl.read_text())["steps"]


def test_a_plate_or_folder_given_as_job_file_is_a_one_line_error(plate, tmp_path, capsys):
    """`job status d0.mp4` printed 'internal error: UnicodeDecodeError': a binary file is not a job file."""
    for cmd in (["job", "status"], ["job", "run"], ["job", "finalize"], ["farm", "export", "-o", str(tmp_path / "t")]):
        assert main([*cmd, str(plate)]) == 1
        err = capsys.readouterr().err
        assert "is not a job file" in err and "internal error" not in err
    assert main(["job", "status", str(tmp_path)]) == 1
    assert "it is a folder" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(FacsimileError, match="not valid JSON"):
        JobSpec.load(tmp_path / "bad.json")


def test_farm_export_checks_python_and_analyze_checks_detect_every(plate, tmp_path, capsys, caplog):
    """`farm export --python /nonexistent/python` and `analyze --detect-every -1` were accepted."""
    job_file = JobSpec.create("convert", str(plate), str(tmp_path / "o.mov"), (0, 3)).save(tmp_path / "job.json")
    assert main(["farm", "export", str(job_file), "-o", str(tmp_path / "a.json"), "--python", "rel/python"]) == 1
    assert "give an absolute path" in capsys.readouterr().err
    not_exec = tmp_path / "python"
    not_exec.write_text("")
    assert main(["farm", "export", str(job_file), "-o", str(tmp_path / "a.json"), "--python", str(not_exec)]) == 1
    assert "not executable" in capsys.readouterr().err
    # a path only the workers have (another mount) is legitimate: one warning, the template is written
    assert main(["farm", "export", str(job_file), "-o", str(tmp_path / "b.json"), "--python", "/nonexistent/py"]) == 0
    assert "does not exist on this machine" in caplog.text and (tmp_path / "b.json").exists()
    assert main(["analyze", str(plate), "-o", str(tmp_path / "an"), "--detect-every", "-1"]) == 1
    assert "--detect-every -1" in capsys.readouterr().err and not (tmp_path / "an").exists()
