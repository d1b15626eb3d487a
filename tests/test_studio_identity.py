"""Studio identity library panel, offscreen, on core.identity's real Library and analysis:
add from files with consent, a no-face picture refused with the reason, rename, withdraw and
record consent, assign to the open shot (the value `facsimile project assign` stores, one
undo step) and add from the viewer's current plate frame. Pictures are skimage's
public-domain astronaut; FACSIMILE_HOME is a per-test folder (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from tests.test_studio import make_plate, make_project, open_window  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    """astronaut.png (one frontal face, ~108 px) and grey.png (no face)."""
    import cv2
    from skimage.data import astronaut

    d = tmp_path_factory.mktemp("pics")
    cv2.imwrite(str(d / "astronaut.png"), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "grey.png"), np.full((256, 256, 3), 128, np.uint8))
    return {"astronaut": d / "astronaut.png", "grey": d / "grey.png"}


@pytest.fixture
def panel(qtbot):
    from studio.app import ensure_app
    from studio.identity_panel import IdentityPanel

    ensure_app()
    p = IdentityPanel()
    qtbot.addWidget(p)
    p.resize(340, 760)
    p.show()
    qtbot.waitExposed(p)
    return p


def _fill_consent(p, by: str = "Eileen Collins", use: str = "Facsimile studio tests", until: str = "2099-12-31",
                  note: str = "NASA public-domain portrait") -> None:
    p.consent_by.setText(by)
    p.consent_use.setText(use)
    p.consent_until.setText(until)
    p.consent_note.setText(note)


def _status(p, tid: str) -> str:
    """The consent badge of a listed template."""
    from studio.identity_panel import ID_ROLE, STATUS_ROLE

    for i in range(p.list.count()):
        it = p.list.item(i)
        if it.data(ID_ROLE) == tid:
            return it.data(STATUS_ROLE)
    raise AssertionError(f"{tid} not listed")


def test_add_from_files_with_consent_is_listed_with_icon_and_warnings(panel, pictures, output_dir):
    from core.identity import Library, default_library_dir

    assert panel.library.path == default_library_dir()
    _fill_consent(panel)
    t = panel.add_from_files([pictures["astronaut"]])
    assert t is not None, panel.last_error
    assert t.name == "astronaut"  # the first file's stem
    assert [x.id for x in Library().list()] == [t.id]  # really written to the user's library
    assert panel.list.count() == 1 and panel.selected_id() == t.id
    item = panel.list.item(0)
    assert not item.icon().isNull()
    assert item.icon().pixmap(56, 56).width() == 56
    assert "astronaut" in item.text() and "consent valid" in item.text()
    assert _status(panel, t.id) == "valid"
    c = Library().get(t.id).consent
    assert (c.consented_by, c.use, c.until, c.note) == ("Eileen Collins", "Facsimile studio tests", "2099-12-31",
                                                        "NASA public-domain portrait")
    # core's quality warning (a ~108 px face is upsampled to the 1024 texture) is shown in the warning style
    assert panel.warnings.isVisible() and panel.warnings.objectName() == "warning"
    assert "small face" in panel.warnings.text()
    assert "consent" not in panel.warnings.text()
    assert t.id in panel.info.text()
    qss = REPO / "resources" / "studio" / "style.qss"
    if qss.is_file():  # the studio's theme on this widget only (the test app is not themed)
        panel.setStyleSheet(qss.read_text(encoding="utf-8"))
    img = panel.grab()
    img.save(str(output_dir / "identity_panel.png"))  # docs/screenshots/identity_panel.png is a copy of it


def test_no_face_picture_is_a_clear_error_and_adds_nothing(panel, pictures):
    assert panel.add_from_files([pictures["grey"]]) is None
    assert "no face found" in panel.status.text() and "grey.png" in panel.status.text()
    assert panel.status.objectName() == "error"
    assert panel.list.count() == 0 and panel.library.list() == []
    # incomplete consent fields: refused before any analysis, with the reason
    panel.consent_by.setText("Someone")
    assert panel.add_from_files([pictures["astronaut"]]) is None
    assert "agreed" in panel.last_error and panel.library.list() == []
    assert panel.btn_files.isEnabled()  # not left busy


def test_rename_withdraw_and_record_consent(panel, pictures):
    _fill_consent(panel)
    t = panel.add_from_files([pictures["astronaut"]], name="astro")
    assert t is not None, panel.last_error
    panel.name.setText("Eileen Collins")
    panel.name.editingFinished.emit()
    assert panel.library.get(t.id).name == "Eileen Collins"
    assert "Eileen Collins" in panel.list.item(0).text() and panel.selected_id() == t.id

    panel.btn_withdraw.click()
    assert panel.library.get(t.id).consent is None
    assert _status(panel, t.id) == "none" and "no consent" in panel.list.item(0).text()
    assert panel.warnings.isVisible() and "no consent record" in panel.warnings.text()
    assert panel.consent_by.text() == "" and not panel.btn_withdraw.isEnabled()

    panel.consent_by.setText("Eileen Collins")
    panel.consent_use.setText("trailer only")
    panel.consent_until.setText("31/12/2099")
    panel.btn_consent.click()
    assert "YYYY-MM-DD" in panel.last_error and panel.library.get(t.id).consent is None
    panel.consent_until.setText("2001-01-01")
    panel.btn_consent.click()
    assert _status(panel, t.id) == "expired" and "ended on 2001-01-01" in panel.warnings.text()
    panel.consent_until.setText("")
    panel.btn_consent.click()
    assert _status(panel, t.id) == "valid" and panel.library.get(t.id).consent.use == "trailer only"
    assert "consent" not in panel.warnings.text()

    # a second template made while the first is selected does not inherit its consent record
    t2 = panel.add_from_files([pictures["astronaut"]], name="second")
    assert t2 is not None and t2.consent is None and _status(panel, t2.id) == "none"


@pytest.fixture
def win(qtbot, tmp_path):
    """The main window on a saved project whose plate is the astronaut at 640 px (4 frames)."""
    plate = make_plate(tmp_path / "astro640.mp4", n=4, size=640)
    with open_window(qtbot, make_project(tmp_path, plate)) as w:
        yield w


def _wait_added(qtbot, w) -> None:
    qtbot.waitUntil(lambda: not w.identities.busy and w.job is None, timeout=60000)


def test_add_from_frame_then_assign_to_shot_as_the_cli_does_and_undo(win, qtbot, pictures):
    from core.cli import main
    from core.identity import default_library_dir
    from core.project.model import Project

    w, s, p = win, win.session, win.identities
    assert p.library.path == default_library_dir()  # the project names no library: the user's
    s.set_frame(2)
    p.btn_frame.click()  # main window: the viewer's current plate frame -> Library.add (background job)
    _wait_added(qtbot, w)
    assert p.last_error == ""
    (t,) = p.library.list()
    assert t.name == "sh010 frame 2"
    assert t.meta["sources"][0]["kind"] == "array" and t.meta["sources"][0]["size"] == [640, 640]
    assert p.selected_id() == t.id and not p.list.item(0).icon().isNull()

    assert s.shot.identity is None
    p.btn_assign.click()
    assert s.shot.identity == t.id
    assert "identity: sh010 frame 2" in w.inspector.shot_label.text() and t.id in w.inspector.shot_label.text()
    assert any("no consent record" in x for x in w.inspector.warnings())

    # the CLI on the project as saved (the studio's edit is not saved yet) stores the same value
    assert Project.load(s.project_path).shot(s.shot.id).identity is None
    assert main(["project", "assign", str(s.project_path), "--shot", "sh010", "--template", t.name]) == 0
    assert Project.load(s.project_path).shot(s.shot.id).identity == s.shot.identity

    w.undo()
    assert s.shot.identity is None
    assert "identity:" not in w.inspector.shot_label.text()
    w.redo()
    assert s.shot.identity == t.id


def test_add_from_frame_refusal_is_shown_in_the_panel(win, qtbot):
    """A frame whose face fails the gates (the plate at 160 px: face too small) is refused with core's reason."""
    w, p = win, win.identities
    small = make_plate(Path(str(w.session.project_path) + "-small.mp4"), n=2, size=160)
    from core.project.model import Plate

    plate = w.session.project.add_plate(Plate.from_media(small))
    shot = w.session.project.new_shot(plate.id, 0, 1, name="small")
    w.session.set_shot(shot.id)
    p.btn_frame.click()
    _wait_added(qtbot, w)
    assert p.library.list() == []
    assert "template not made" in p.last_error and ("too small" in p.last_error or "no face" in p.last_error)
    assert p.status.objectName() == "error"


def test_panel_follows_the_projects_own_library(win, qtbot, pictures, tmp_path):
    """A project assigned from another library (`facsimile project assign --library`) opens
    with that library in the panel, and the inspector names the assigned template."""
    from core.cli import main
    from core.identity import Consent, Library

    lib = Library(tmp_path / "show_library")
    t = lib.add("Eileen", [pictures["astronaut"]], consent=Consent("Eileen Collins", "tests"))
    path = win.session.project_path
    assert main(["project", "assign", str(path), "--shot", "sh010", "--template", "Eileen",
                 "--library", str(lib.path)]) == 0
    win.open_path(path, interactive=False)
    p = win.identities
    assert p.library.path == lib.path.resolve()
    assert [x.id for x in p.library.list()] == [t.id] and p.selected_id() == t.id
    assert win.session.shot.identity == t.id
    assert f"identity: Eileen ({t.id})" in win.inspector.shot_label.text()
    assert not any("consent" in x for x in win.inspector.warnings())


def test_template_from_a_frame_after_analysing_the_shot(qtbot, tmp_path):
    """Analyse a shot, then make a template from one of its frames, both as background jobs of
    the same window: the second job's face descriptor crashed the studio (segfault in dlib,
    whose exception path reused a thread state freed with the first job's task)."""
    from core.project import Plate, Project

    (tmp_path / "p").mkdir()
    plate_path = make_plate(tmp_path / "p" / "astro.mp4", n=4, size=640)
    proj = Project.create(tmp_path / "p" / "h.facsimile")
    plate = proj.add_plate(Plate.from_media(plate_path))
    proj.new_shot(plate.id, 0, 3, name="sh010")
    proj.save()
    with open_window(qtbot, proj.path) as w:
        w.analyse_shot()
        qtbot.waitUntil(lambda: w.job is None, timeout=60000)
        assert w.session.shot.analysis is not None
        w.session.set_frame(2)
        w.identities.btn_frame.click()
        _wait_added(qtbot, w)
        assert w.identities.last_error == ""
        assert [t.name for t in w.identities.library.list()] == ["sh010 frame 2"]
