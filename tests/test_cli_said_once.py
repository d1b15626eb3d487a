"""A warning reaches the terminal once: a command that prints a note or a problem itself keeps
the WARNING log line of the same fact off stderr (the record stays in the log, the sidecar and
the studio's notes). Run as a real process, so stderr is the CLI's own logging set-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.delivery.sidecar import read_sidecar


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A 6-frame astronaut plate whose shot is analysed over frames 0-3 only."""
    from tests.mediagen import analysed_astronaut_project

    path = analysed_astronaut_project(tmp_path_factory.mktemp("said"), 6, shot_frames=4)
    assert main(["project", "analyze", str(path), "--extract-only"]) == 0
    return path


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_render_with_a_missing_restoration_model_says_so_once(project, tmp_path, quiet):
    """The missing model was said six times (the model loader, two renderers, the render's log
    and its note); the occlusion note twice."""
    out = tmp_path / "r.mov"
    proc = _cli(*quiet, "render", str(project), "--out", str(out), "--handles", "0", "--restore", "gpen_bfr_512")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("gpen_bfr_512 is not installed") == 1, proc.stderr
    assert proc.stderr.count("no occlusion model ran") == 1, proc.stderr
    assert "note: restoration is OFF: model gpen_bfr_512 is not installed" in proc.stderr
    doc = read_sidecar(out)
    assert any("gpen_bfr_512 is not installed" in n for n in doc["notes"]), doc["notes"]
    stages = {m["stage"]: m for m in doc["models"]}
    assert "gpen_bfr_512 is not installed" in stages["restoration"]["status"]


def test_render_of_frames_beyond_the_analysis_says_so_once(project, tmp_path):
    out = tmp_path / "p.####.png"
    proc = _cli("render", str(project), "--out", str(out), "--frames", "0-5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("have no AU curves") == 1, proc.stderr


def test_render_debug_still_shows_the_log_lines(project, tmp_path):
    """--debug is the full log: the WARNING records are on stderr as well as the note."""
    proc = _cli("--debug", "render", str(project), "--out", str(tmp_path / "d.mov"), "--handles", "0",
                "--restore", "gpen_bfr_512")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING core.render.delivery: restoration is OFF" in proc.stderr
    assert proc.stderr.count("note: restoration is OFF") == 1, proc.stderr


def test_library_list_says_a_damaged_template_once(tmp_path):
    lib = tmp_path / "lib"
    (lib / "broken").mkdir(parents=True)
    (lib / "broken" / "template.json").write_text("{bad")
    proc = _cli("library", "list", "--library", str(lib))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("is damaged") == 1, proc.stderr
    assert "facsimile library remove broken" in proc.stderr  # the line kept is the one that says what to do


def test_job_run_of_a_render_says_its_notes_once(project, tmp_path):
    """`job run` of a render job (a farm's or `render --job-only`'s) said its notes only as log
    lines (twice for the missing model); now as `render` does: each note once."""
    job = tmp_path / "job.json"
    assert main(["render", str(project), "--out", str(tmp_path / "j.mov"), "--handles", "0", "--restore",
                 "gpen_bfr_512", "--job-only", str(job)]) == 0
    proc = _cli("job", "run", str(job))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("gpen_bfr_512 is not installed") == 1, proc.stderr
    assert "note: restoration is OFF" in proc.stderr


def test_analyze_says_a_calibration_note_once(tmp_path):
    """A neutral frame the face is absent from: the AU engine's WARNING and analyze's own
    per-face line both said it (the note was on stderr twice)."""
    import cv2
    from skimage.data import astronaut

    from tests.mediagen import make_video

    face = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    plate = make_video(tmp_path / "face_then_none.mp4", 8, 256, 256,
                       image=lambda i: face if i < 6 else np.zeros_like(face))
    proc = _cli("analyze", str(plate), "-o", str(tmp_path / "out"), "--neutral", "7")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("nearest present frame used") == 1, proc.stderr


def test_a_moved_projects_plate_is_named_once(tmp_path):
    """A project moved with its plate: `render` named the plate found beside it five times (a
    WARNING at each of the four loads, and the render's note), `project info` twice (the WARNING
    and its own warning line)."""
    import shutil

    from tests.mediagen import analysed_astronaut_project

    (tmp_path / "a").mkdir()
    analysed_astronaut_project(tmp_path / "a", 3)
    shutil.move(tmp_path / "a", tmp_path / "b")
    project = tmp_path / "b" / "p.facsimile"
    proc = _cli("project", "info", str(project))
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout + proc.stderr).count("found beside the moved project") == 1, proc.stdout + proc.stderr
    proc = _cli("render", str(project), "--out", str(tmp_path / "r.mov"), "--frames", "0-1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("found beside the moved project") == 1, proc.stderr
    assert f"rendered from {tmp_path / 'b' / 'plate.mp4'}" in proc.stderr
    proc = _cli("project", "analyze", str(project), "--extract-only")  # says it itself only in the log: kept
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("found beside the moved project") == 1, proc.stderr
