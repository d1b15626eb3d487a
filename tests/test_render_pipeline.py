"""The render pipeline end to end: project shot -> render job -> deliverable with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from core.cli import main
from core.delivery.provenance import verify
from core.delivery.sidecar import sidecar_path
from core.errors import FacsimileError
from core.project import Project
from core.render.delivery import render_shot
from core.render.renderer import Renderer, RenderSettings
from tests.mediagen import analysed_astronaut_project


@pytest.fixture(scope="module")
def astronaut_project(tmp_path_factory) -> Path:
    """A project with one analysed 8-frame shot of the astronaut plate (no curves yet)."""
    return analysed_astronaut_project(tmp_path_factory.mktemp("proj"), 8)


def test_edit_mode_without_edits_returns_the_plate(astronaut_project):
    project = Project.load(astronaut_project)
    shot = project.shots[0]
    from core.media.reader import open_media

    with open_media(project.plate_of(shot).path) as r:
        frame = r.read(3)
    lm = shot.analysis.landmarks[3, 0]
    result = Renderer(RenderSettings(mode="edit")).render(frame, lm, {"AU12": 1.0}, {"AU12": 1.0})
    diff = np.abs(result.image.astype(int) - frame.astype(int))
    assert diff.max() <= 1, "an unedited face must come back as the plate"
    assert result.matte.max() > 0.9 and result.matte.min() == 0.0


def test_no_face_frame_is_passed_through_bit_exact():
    frame = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    result = Renderer().render(frame, None)
    assert np.array_equal(result.image, frame)
    assert result.info["face"] is False


def test_render_shot_delivers_tagged_watermarked_mov_with_sidecar(astronaut_project, tmp_path):
    out = tmp_path / "render.mov"
    result = render_shot(str(astronaut_project), str(out), chunk=4)
    assert Path(result["output"]) == out and out.exists()
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "prores"
        assert sum(1 for p in c.demux(stream) if p.size) == 8
    doc = json.loads(sidecar_path(out).read_text())
    assert doc["synthetic_media"] is True and doc["frames"] == {"first": 0, "last": 7, "fps": "24/1"}
    assert doc["inputs"]["plate"]["sha256"]
    assert any(m["stage"] == "occlusion" and m["status"].startswith("off") for m in doc["models"])
    from core.facs.model import model_version

    au_model = {m["stage"]: m for m in doc["models"]}["au_model"]
    assert au_model["version"] == model_version() and au_model["curves_solved_with"] is None  # no curves yet
    report = verify(out)
    assert report["synthetic_tag"], report
    assert report["watermark"]["present"] and report["watermark"]["matches_render_id"], report
    assert report["sidecar"]["found"] and report["sidecar"]["matches_render_id"], report
    assert report["verified"]
    assert main(["verify", str(out)]) == 0


def test_render_exr_sequence_with_matte_channel(astronaut_project, tmp_path):
    import OpenEXR

    out = tmp_path / "exr" / "r.####.exr"
    out.parent.mkdir()
    render_shot(str(astronaut_project), str(out), frames=(2, 4))
    files = sorted(out.parent.glob("r.*.exr"))
    assert [f.name for f in files] == ["r.1001.exr", "r.1002.exr", "r.1003.exr"]
    f = OpenEXR.File(str(files[0]))
    channels, header = f.channels(), f.header()
    assert set(channels) == {"RGBA", "mask.Y"}
    assert channels["mask.Y"].pixels.max() > 0.9
    assert str(header.get("facsimile/synthetic")) in ("true", "b'true'")
    assert verify(out)["verified"]


def test_unverified_file_is_reported(tmp_path):
    from tests.jobhelpers import make_plate as plain_plate

    clip = plain_plate(tmp_path / "plain.mp4", frames=4)
    assert main(["verify", str(clip)]) == 1


def test_render_of_a_linear_exr_plate_keeps_its_colours(tmp_path):
    """A linear EXR plate renders to EXR with the plate's values outside the face (only the
    watermark's small changes): the writer was told the frames were sRGB, and every render of a
    linear plate came out darker (mean 0.28 -> 0.14). The watermark still verifies: it is
    embedded in the frame's sRGB encoding, where `facsimile verify` reads it."""
    import OpenEXR
    import skimage.data

    from core.analysis.analyzer import Analyzer
    from core.project import Plate
    from tests.mediagen import write_exr

    img = skimage.data.astronaut().astype(np.float32) / 255
    lin = np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4).astype(np.float32)
    (tmp_path / "plate").mkdir()
    for k in range(3):
        write_exr(tmp_path / "plate" / f"a.{1001 + k:04d}.exr", lin, fps=24)
    pattern = str(tmp_path / "plate" / "a.####.exr")
    project = Project.create(tmp_path / "p.facsimile", name="p")
    plate = project.add_plate(Plate.from_media(pattern))
    shot = project.new_shot(plate.id, 0, 2, name="sh")
    shot.analysis = Analyzer().analyze(pattern, frames=(0, 3))
    project.save()
    (tmp_path / "out").mkdir()
    render_shot(str(tmp_path / "p.facsimile"), str(tmp_path / "out" / "r.####.exr"))
    with OpenEXR.File(str(sorted((tmp_path / "out").glob("r.*.exr"))[0])) as f:
        ch = f.channels()
        rgb = np.asarray(ch["RGBA"].pixels, np.float32)[..., :3]
        matte = np.asarray(ch["mask.Y"].pixels, np.float32)
    outside = matte <= 0
    assert outside.mean() > 0.5
    assert abs(float(rgb[outside].mean()) / float(lin[outside].mean()) - 1) < 0.01
    assert np.abs(rgb[outside] - lin[outside]).max() < 0.01  # the watermark's QIM steps, no colour change
    report = verify(tmp_path / "out" / "r.####.exr")  # the mark is where verify reads it: display values
    assert report["watermark"]["present"] and report["watermark"]["matches_render_id"], report
    assert report["verified"], report


def _edited_project(tmp_path: Path, frames: int = 6) -> Path:
    """A project with an analysed shot and its curves (a jaw drop keyed on the edit layer)."""
    (tmp_path / "p").mkdir()
    proj = analysed_astronaut_project(tmp_path / "p", frames)
    assert main(["project", "analyze", str(proj)]) == 0
    assert main(["project", "key", str(proj), "--shot", "sh001", "--curve", "AU26", "--frame", "2",
                 "--value", "5"]) == 0
    return proj


def _frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.int16)


def test_a_render_after_an_edit_is_a_new_render_not_the_old_one(tmp_path):
    """The job id did not depend on the curves: rendering an edited shot to the same name again
    'resumed' the finished job ("nothing to render"), so the old pictures stayed under a fresh
    sidecar, and an interrupted render resumed after an edit mixed the two performances. The id
    now carries the shot's fingerprint: an unchanged shot still resumes (nothing re-rendered); an
    edited one is a new job, which refuses to replace the earlier output unless told to."""
    from core.errors import MediaError
    from core.render.delivery import prepare_render, run_render_job

    proj = _edited_project(tmp_path)
    out = tmp_path / "sh.mov"
    first = render_shot(str(proj), str(out), frames=(0, 3))
    first_job = json.loads(Path(first["sidecar"]).read_text())["job_id"]
    before, mtime = _frames(out), out.stat().st_mtime_ns
    render_shot(str(proj), str(out), frames=(0, 3))  # unchanged: the finished job, nothing rendered
    assert out.stat().st_mtime_ns == mtime
    assert main(["project", "key", str(proj), "--shot", "sh001", "--curve", "AU26", "--frame", "2",
                 "--value", "0"]) == 0
    with pytest.raises(MediaError, match="already exists.*--overwrite"):
        render_shot(str(proj), str(out), frames=(0, 3))
    assert out.stat().st_mtime_ns == mtime  # refused: nothing touched
    second = render_shot(str(proj), str(out), frames=(0, 3), overwrite=True)
    assert json.loads(Path(second["sidecar"]).read_text())["job_id"] != first_job
    assert np.abs(_frames(out)[2] - before[2]).max() > 20  # the edit is in the pictures
    # a job made before an edit is not run on the edited shot (a farm chunk, a resume)
    spec = prepare_render(str(proj), str(tmp_path / "late.mov"), frames=(0, 3))
    spec.save()
    assert main(["project", "key", str(proj), "--shot", "sh001", "--curve", "AU26", "--frame", "2",
                 "--value", "3"]) == 0
    with pytest.raises(FacsimileError, match="changed since this render job was made"):
        run_render_job(spec)
    assert not (tmp_path / "late.mov").exists()
    # the CLI says so and offers --overwrite
    assert main(["render", str(proj), "--out", str(out), "--frames", "0-3"]) != 0
    assert main(["render", str(proj), "--out", str(out), "--frames", "0-3", "--overwrite"]) == 0


def test_overwriting_a_sequence_removes_the_earlier_renders_other_frames(tmp_path):
    """A shorter render over a longer one left the longer one's frames beside it (a compositor's
    Read node picks them up); and a file the user put under the output name was replaced."""
    from core.errors import MediaError

    proj = _edited_project(tmp_path)
    pattern = tmp_path / "exr" / "sh.####.exr"
    pattern.parent.mkdir()
    render_shot(str(proj), str(pattern), frames=(0, 4))
    assert len(list(pattern.parent.glob("sh.*.exr"))) == 5
    with pytest.raises(MediaError, match="5 frame"):
        render_shot(str(proj), str(pattern), frames=(0, 1))
    render_shot(str(proj), str(pattern), frames=(0, 1), overwrite=True)
    assert sorted(p.name for p in pattern.parent.glob("sh.*.exr")) == ["sh.1001.exr", "sh.1002.exr"]
    mine = tmp_path / "mine.mov"
    mine.write_bytes(b"the user's own file")
    with pytest.raises(MediaError, match="already exists"):
        render_shot(str(proj), str(mine), frames=(0, 1))
    assert mine.read_bytes() == b"the user's own file"


def test_an_image_name_without_a_frame_pattern_is_refused(astronaut_project, tmp_path):
    """`--out shot.exr` wrote a QuickTime ProRes movie named .exr, which no compositor could read."""
    for name in ("a.exr", "a.png", "a.tif"):
        with pytest.raises(FacsimileError, match=r"frame-number pattern, e\.g\. a\.####"):
            render_shot(str(astronaut_project), str(tmp_path / name), frames=(0, 0))
        assert not (tmp_path / name).exists()


def test_a_movie_and_a_sequence_of_one_name_keep_their_own_sidecars(astronaut_project, tmp_path):
    """The presets name a folder's outputs SHOT_comp.mov and SHOT_comp.####.exr: both wrote
    SHOT_comp.facsimile.json, so the second render replaced the first one's record and the movie
    then failed `verify` (its render id no longer matched)."""
    mov = render_shot(str(astronaut_project), str(tmp_path) + "/", preset="prores4444-comp", frames=(0, 1))
    seq = render_shot(str(astronaut_project), str(tmp_path) + "/", preset="exr-acescg-comp", frames=(0, 1))
    assert mov["sidecar"] != seq["sidecar"] and Path(seq["sidecar"]).name.endswith(".exr.facsimile.json")
    assert verify(mov["output"])["verified"] is True
    assert verify(Path(seq["output"]).parent / Path(seq["output"]).name.replace("####", "1001"))["verified"] is True


def test_a_converted_render_stays_marked_as_synthetic(astronaut_project, tmp_path, capsys):
    """`convert` of a render (to conform it, or to EXR) wrote only its own source tag: the
    synthetic-media tags and the sidecar were gone and `verify` failed. They go with it now; a
    plate converted gets neither."""
    mov = render_shot(str(astronaut_project), str(tmp_path / "r.mov"), frames=(0, 2))["output"]
    for out in (tmp_path / "c.mov", tmp_path / "s" / "c.####.exr"):
        out.parent.mkdir(exist_ok=True)
        assert main(["convert", mov, str(out), "--fps", "30"]) == 0
        assert "is synthetic media" in capsys.readouterr().err
        one = out if out.suffix == ".mov" else out.parent / "c.1001.exr"
        report = verify(one)
        assert report["verified"] is True and report["tags"]["facsimile/source"] == "r.mov", report
        assert json.loads(sidecar_path(out).read_text())["converted"]["from"] == mov
    assert main(["convert", mov, str(tmp_path / "again.mov")]) == 0  # a render converted twice: still marked
    plate = tmp_path / "plate.mov"
    assert main(["convert", str(tmp_path / "c.mov"), str(tmp_path / "c2.mov")]) == 0
    assert verify(tmp_path / "c2.mov")["verified"] is True
    proj = Project.load(astronaut_project)
    assert main(["convert", proj.plate_of(proj.shots[0]).path, str(plate)]) == 0
    assert verify(plate)["synthetic_tag"] is False and not sidecar_path(plate).exists()


def test_verify_a_sequence_with_frames_of_another_render(tmp_path):
    """`verify` sampled three frames: a sequence whose other frames came from an earlier render
    (a shorter render written over a longer one) passed. It now reads every frame's render id."""
    import shutil

    proj = _edited_project(tmp_path)
    pattern = tmp_path / "s" / "s.####.exr"
    pattern.parent.mkdir()
    render_shot(str(proj), str(pattern), frames=(0, 4))
    assert verify(pattern)["verified"] is True and verify(pattern)["sequence"]["render_ids"] == 1
    keep = tmp_path / "keep"
    shutil.copytree(pattern.parent, keep)  # the first render, as someone kept it
    assert main(["project", "key", str(proj), "--shot", "sh001", "--curve", "AU26", "--frame", "2",
                 "--value", "0"]) == 0
    render_shot(str(proj), str(pattern), frames=(0, 1), overwrite=True)
    for f in ("s.1003.exr", "s.1004.exr", "s.1005.exr"):  # put the old tail back by hand
        shutil.copy(keep / f, pattern.parent / f)
    report = verify(pattern)
    assert report["verified"] is False and report["sequence"]["frames_of_other_renders"] == "1003-1005"


def test_an_old_render_command_does_not_take_back_a_newer_render(tmp_path):
    """Render A, replace it with render B (other settings, --overwrite), then run A's command again:
    A's finished job was 'resumed', so the movie was silently rendered over and a sequence kept
    B's frames under A's fresh sidecar (verify false). The output is now another render's, and A
    asks for --overwrite like any other job."""
    from core.errors import MediaError

    proj = _edited_project(tmp_path)
    for out in (tmp_path / "m.mov", tmp_path / "s" / "x.####.exr"):
        out.parent.mkdir(exist_ok=True)
        render_shot(str(proj), str(out), frames=(0, 2))
        b = render_shot(str(proj), str(out), frames=(0, 2), overrides={"blend": "gaussian"}, overwrite=True)
        b_job = json.loads(Path(b["sidecar"]).read_text())["job_id"]
        with pytest.raises(MediaError, match="now another render's.*--overwrite"):
            render_shot(str(proj), str(out), frames=(0, 2))
        assert json.loads(Path(b["sidecar"]).read_text())["job_id"] == b_job and verify(out)["verified"]
        a = render_shot(str(proj), str(out), frames=(0, 2), overwrite=True)
        assert json.loads(Path(a["sidecar"]).read_text())["job_id"] != b_job and verify(out)["verified"]


def test_a_second_render_to_the_same_output_waits_its_turn(tmp_path):
    """Two renders to one output at once both exited 0 and left a movie of two render ids. A job
    holds a lock beside the output (released by the kernel if it dies); the second is refused."""
    import subprocess
    import sys

    from core.jobs.lock import OutputBusy, lock_path

    proj = _edited_project(tmp_path)
    out = tmp_path / "busy.mov"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from core.jobs.lock import output_lock\n"
        f"with output_lock({str(out)!r}, 'other-job'):\n"
        "    print('held', flush=True); time.sleep(60)")], cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputBusy, match="another render is writing .*busy.mov now .*other-job"):
            render_shot(str(proj), str(out), frames=(0, 1))
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    render_shot(str(proj), str(out), frames=(0, 1))  # the holder died: its lock went with it
    assert verify(out)["verified"] and not lock_path(out).exists()
    # a render into a folder that is not there: a clear error (it was "internal error: FileNotFoundError")
    for missing in (tmp_path / "nodir" / "x.mov", tmp_path / "nodir" / "x.####.exr"):
        with pytest.raises(FacsimileError, match="folder .*nodir does not exist"):
            render_shot(str(proj), str(missing), frames=(0, 1))
    assert not (tmp_path / "nodir").exists()


def test_a_farm_render_delivers_its_sidecars(tmp_path):
    """`render --job-only`, then `job run --chunk N` per chunk and `job finalize` (or a plain `job
    run`) delivered frames without the sidecar and curves CSV: verify failed on every farm render."""
    proj = _edited_project(tmp_path)
    for out, finish in ((tmp_path / "farm.mov", "finalize"), (tmp_path / "f" / "f.####.exr", "run")):
        out.parent.mkdir(exist_ok=True)
        job = tmp_path / f"{out.stem}.job.json"
        assert main(["render", str(proj), "--frames", "0-4", "--chunk", "2", "--out", str(out),
                     "--job-only", str(job)]) == 0
        spec = json.loads(job.read_text())
        chunks = -(-(spec["last"] - spec["first"] + 1) // spec["chunk_size"])
        for i in range(chunks if finish == "finalize" else 1):
            assert main(["job", "run", str(job), "--chunk", str(i)]) == 0
        assert main(["job", finish, str(job)]) == 0
        assert sidecar_path(out).exists() and verify(out)["verified"], verify(out)


def test_a_chunk_size_below_one_is_refused_before_any_job_is_written(tmp_path, capsys):
    """`render --chunk 0` wrote a job that no later command could load again ("chunk_size 0")."""
    proj = _edited_project(tmp_path)
    for bad in ("0", "-3"):
        assert main(["render", str(proj), "--frames", "0-1", "--chunk", bad, "--out", str(tmp_path / "c.mov")]) != 0
        assert "chunk size must be a whole number of frames, at least 1" in capsys.readouterr().err
    assert not (tmp_path / ".facsimile-jobs").exists() and not (tmp_path / "c.mov").exists()


def test_frames_with_no_curves_are_refused_or_named(tmp_path, caplog):
    """A render of frames the shot was never analysed over exited 0 and verified, with nothing
    re-rendered (the plate re-encoded under a watermark). None analysed: refused; some: named."""
    proj = _edited_project(tmp_path, frames=8)
    assert main(["project", "shots", str(proj), "--range", "0-3", "--name", "early"]) == 0
    assert main(["project", "analyze", str(proj), "--shot", "early"]) == 0
    with pytest.raises(FacsimileError, match="frames 5-7 are outside the frames shot 'early' was analysed over"):
        render_shot(str(proj), str(tmp_path / "none.mov"), shot="early", frames=(5, 7))
    assert not (tmp_path / "none.mov").exists()
    assert main(["render", str(proj), "--shot", "early", "--frames", "5-7", "--out", str(tmp_path / "j.mov"),
                 "--job-only", str(tmp_path / "j.json")]) != 0  # no farm job of plate pass-throughs
    assert not (tmp_path / "j.json").exists()
    res = render_shot(str(proj), str(tmp_path / "some.mov"), shot="early", frames=(2, 5))
    assert any("frames 4-5 have no AU curves" in n for n in res["notes"])
    assert any("frames 4-5 have no AU curves" in n for n in json.loads(sidecar_path(res["output"]).read_text())["notes"])
    # the curves out over the same frames: the rows past the analysis are said to be empty
    assert main(["project", "curves", str(proj), "--shot", "early", "--frames", "2-5", "-o",
                 str(tmp_path / "c.csv")]) == 0
    assert "frames 2-5 are asked for, the curves cover 0-3: 2 frame(s) outside have no value" in caplog.text


def test_a_failed_sidecar_after_an_overwrite_leaves_no_old_sidecar(tmp_path, monkeypatch):
    """--overwrite published the new movie, then the sidecar write failed (a full disk): the new
    movie sat beside the earlier render's sidecar and curves CSV, a matched-looking set. The old
    ones go before the new frames are published; verify then says the sidecar is missing."""
    import core.delivery.sidecar as sidecar
    from core.delivery.sidecar import curves_csv_path

    proj = _edited_project(tmp_path)
    out = tmp_path / "r.mov"
    render_shot(str(proj), str(out), frames=(0, 1))
    old_id = json.loads(sidecar_path(out).read_text())["render_id"]

    def full(*a, **k):  # what a full disk gives at that point (core.util.atomic.describe_os_error)
        raise FacsimileError(f"the disk is full while writing {sidecar_path(out)}: free some space and try again")
    # a cancelled --overwrite render leaves the earlier delivery whole, its sidecars included
    with pytest.raises(FacsimileError, match="cancel"):
        render_shot(str(proj), str(out), frames=(0, 1), overrides={"blend": "gaussian"}, overwrite=True,
                    cancel=lambda: True)
    assert json.loads(sidecar_path(out).read_text())["render_id"] == old_id and curves_csv_path(out).exists()
    monkeypatch.setattr(sidecar, "write_sidecar", full)
    with pytest.raises(FacsimileError, match="disk is full"):
        render_shot(str(proj), str(out), frames=(0, 1), overrides={"blend": "gaussian"}, overwrite=True)
    assert out.exists() and not sidecar_path(out).exists() and not curves_csv_path(out).exists()
    assert not verify(out)["verified"]
    monkeypatch.undo()
    render_shot(str(proj), str(out), frames=(0, 1), overrides={"blend": "gaussian"}, overwrite=True)  # resumes
    assert json.loads(sidecar_path(out).read_text())["render_id"] != old_id and verify(out)["verified"]


def test_a_render_of_a_moved_plate_says_how_to_relink(tmp_path):
    """'file not found; check the path.' gave no way on, where `project info` names relink."""
    proj = _edited_project(tmp_path)
    plate = Path(Project.load(proj).plates[Project.load(proj).shots[0].plate_id].path)
    plate.rename(plate.with_name("renamed.mp4"))
    with pytest.raises(FacsimileError, match="project relink .* --plate .* NEW_PATH"):
        render_shot(str(proj), str(tmp_path / "x.mov"), frames=(0, 1))


def test_render_job_only_refuses_an_existing_job_file(tmp_path, capsys):
    """`render --job-only existing.json` replaced the file silently; now it needs --overwrite,
    and a job file in a folder that is not there is an error naming the folder."""
    proj = _edited_project(tmp_path)
    job = tmp_path / "job.json"
    job.write_text("keep")
    args = ["render", str(proj), "--frames", "0-1", "--out", str(tmp_path / "r.mov"), "--job-only"]
    assert main([*args, str(job)]) == 3
    assert "already exists: pass --overwrite" in capsys.readouterr().err and job.read_text() == "keep"
    assert main([*args, str(tmp_path / "nodir" / "j.json")]) == 3
    assert "nodir does not exist" in capsys.readouterr().err and not (tmp_path / "nodir").exists()
    assert main([*args, str(job), "--overwrite"]) == 0
    assert json.loads(job.read_text())["kind"] == "render"


def test_options_the_output_format_would_ignore_are_refused_up_front(tmp_path, capsys):
    """`render --codec prores422hq --out x.####.exr`, `--compression/--pixel-type/--start-number`
    with a .mov were accepted and ignored, and `--colorspace ACEScg --out x.mov` failed only inside
    the job ("chunk 0 failed ... run again to resume")."""
    from core.project import workflow as wf
    from tests.jobhelpers import make_plate

    proj = str(wf.create_project(tmp_path / "p", plates=[make_plate(tmp_path / "plate.mp4", frames=4)]).path)
    cases = [
        (["--codec", "prores422hq", "--out", str(tmp_path / "x.####.exr")], "ProRes profile"),
        (["--compression", "zip", "--pixel-type", "float", "--start-number", "5", "--out", str(tmp_path / "x.mov")],
         "--compression, --pixel-type and --start-number apply to image sequences"),
        (["--start-number", "5", "--out", str(tmp_path / "x.mov")], "--start-number applies to image sequences"),
        (["--colorspace", "ACEScg", "--out", str(tmp_path / "x.mov")], "'ACEScg' is scene-linear"),
        (["--pixel-type", "float", "--out", str(tmp_path / "x.####.png")], "--pixel-type applies to EXR only"),
        (["--preset", "prores4444-comp", "--pixel-type", "half", "--out", str(tmp_path)], "--pixel-type applies"),
    ]
    for args, message in cases:
        assert main(["render", proj, *args]) == 3, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("x*")) and not (tmp_path / ".facsimile-jobs").exists()
