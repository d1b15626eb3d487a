"""Studio background work across project switches (offscreen, real jobs): a render still running
when another project is opened records its end in its own project's queue; Save as takes the
queue along; a damaged queue file is set aside, not written over, and the project still opens
and autosaves; an analysis finishing after another project was opened is dropped; a second
analysis while one runs is refused with a message; the end of an analysis leaves the artist on
the shot they moved to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from tests.test_studio import N_FRAMES, make_plate, make_project, open_window  # noqa: E402


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return make_plate(tmp_path_factory.mktemp("plate") / "astro.mp4")


def _two_projects(tmp_path: Path, plate: Path) -> tuple[Path, Path]:
    for n in ("a", "b"):
        (tmp_path / n).mkdir()
    return make_project(tmp_path / "a", plate), make_project(tmp_path / "b", plate)


def _export(tmp_path: Path, plate: Path, name: str):
    from core.jobs import JobSpec
    from studio.render_queue import QueueItem

    out = tmp_path / f"out_{name}"
    out.mkdir()
    spec = JobSpec.create(kind="convert", source=str(plate), output=str(out / "astro.####.exr"),
                          frames=(0, N_FRAMES - 1), chunk_size=5)
    return QueueItem("convert", f"export {name}", spec.to_json())


def test_a_running_job_ends_in_its_own_projects_queue(qtbot, tmp_path, plate):
    """Opening another project emptied the queue under a running job: each of its progress and end
    signals raised KeyError, the queue stayed busy for good and the first project's file kept
    saying 'running'."""
    a, b = _two_projects(tmp_path, plate)
    with open_window(qtbot, a) as w:
        item = w.queue.add(_export(tmp_path, plate, "a"))
        qtbot.waitUntil(lambda: item.done >= 1, timeout=30000)
        w.open_path(b, interactive=False)
        assert w.queue.items == [] and w.queue.busy
        qtbot.waitUntil(lambda: not w.queue.busy, timeout=120000)
        saved = json.loads((a / "render_queue.json").read_text())["items"]
        assert [(i["label"], i["state"]) for i in saved] == [("export a", "done")]
        assert not (b / "render_queue.json").exists() or json.loads((b / "render_queue.json").read_text())["items"] == []
        # the queue works on for the project now open
        nxt = w.queue.add(_export(tmp_path, plate, "b"))
        qtbot.waitUntil(lambda: nxt.state in ("done", "failed"), timeout=120000)
        assert nxt.state == "done", nxt.message


def test_save_as_takes_the_queue_along(qtbot, tmp_path, plate):
    project = make_project(tmp_path, plate)
    with open_window(qtbot, project) as w:
        item = w.queue.add(_export(tmp_path, plate, "x"))
        qtbot.waitUntil(lambda: item.done >= 1, timeout=30000)
        assert w.save_to(tmp_path / "copy")
        qtbot.waitUntil(lambda: not w.queue.busy, timeout=120000)
        saved = json.loads((tmp_path / "copy.facsimile" / "render_queue.json").read_text())["items"]
        assert [(i["label"], i["state"]) for i in saved] == [("export x", "done")]


def test_a_damaged_queue_file_is_set_aside_and_the_project_still_autosaves(qtbot, tmp_path, plate):
    project = make_project(tmp_path, plate)
    (project / "render_queue.json").write_text('{"schema": 1, "items": [')
    with open_window(qtbot, project) as w:
        assert w.session.project is not None and w.autosaver is not None
        aside = list(project.glob("render_queue.json.damaged-*"))
        assert len(aside) == 1 and aside[0].read_text() == '{"schema": 1, "items": ['
        assert "moved aside" in w.status_msg.text() and w.queue.items == []
        w.session.doc.add_keys(["AU01"], 3)
        w.autosaver.tick(0.0)
        assert w.autosaver.tick(1e9)  # the interval passed: it autosaves


def test_an_analysis_is_dropped_when_another_project_was_opened(qtbot, tmp_path, plate):
    a, b = _two_projects(tmp_path, plate)
    with open_window(qtbot, a) as w:
        w.analyse_shot()
        job = w.job
        assert job is not None
        w.analyse_shot()  # a second one while it runs: refused with a message, nothing raised
        assert w.job is job and "still running" in w.status_msg.text()
        w.open_path(b, interactive=False)
        qtbot.waitUntil(lambda: w.job is None, timeout=180000)
        assert "dropped" in w.status_msg.text()
        assert not w.session.shot.has_analysis and not w.session.dirty


def test_the_end_of_an_analysis_leaves_the_artist_on_their_shot(qtbot, tmp_path, plate):
    from core.project.model import Project

    project = make_project(tmp_path, plate)
    proj = Project.load(project)
    proj.new_shot(proj.shots[0].plate_id, 10, 20, name="sh020")
    proj.save()
    with open_window(qtbot, project) as w:
        first = w.session.shot.id
        w.analyse_shot()
        w._pick_shot(w.session.project.shots[1].id)
        w.session.set_frame(15)
        qtbot.waitUntil(lambda: w.job is None, timeout=180000)
        assert w.session.shot.name == "sh020" and w.session.frame == 15
        assert w.session.project.shot(first).has_analysis


def test_an_output_folder_that_cannot_be_made_is_a_message(qtbot, tmp_path, plate):
    """On a read-only project, Ctrl+R and the plate export raised OSError out of the slot (the
    folder was made outside the error handling). A file in the folder's place fails the same way
    here (the tests run as a user that may write anywhere)."""
    project = make_project(tmp_path, plate)
    (project / "renders").write_text("in the way")
    (project / "exports").write_text("in the way")
    with open_window(qtbot, project) as w:
        assert w.queue_render() is None and "Render not queued: cannot create" in w.status_msg.text()
        assert w.queue_convert("exr") is None and "Export not queued: cannot create" in w.status_msg.text()
        assert w.queue.items == []


def test_closing_during_a_job_cancels_and_waits_for_it(qtbot, tmp_path, plate):
    """Closing cancelled the running jobs without waiting: their threads emitted into deleted
    objects ("Signal source has been deleted") and the queue file could stay 'running'."""
    project = make_project(tmp_path, plate)
    with open_window(qtbot, project) as w:
        item = w.queue.add(_export(tmp_path, plate, "c"))
        qtbot.waitUntil(lambda: item.done >= 1, timeout=30000)
        worker = w.queue.worker
        w.session.mark_dirty(False)
        w.close()
        assert worker._over.is_set()
        qtbot.waitUntil(lambda: item.state != "running", timeout=10000)
    saved = json.loads((project / "render_queue.json").read_text())["items"]
    assert [i["state"] for i in saved] in (["cancelled"], ["done"])
