"""Project persistence: exact round trip, validation messages, refusal without damage,
backups, autosave and crash recovery, analysis files."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.analysis.types import ShotAnalysis
from core.curves import Curve, CurveSet, Interp, Key, Layer, TangentMode
from core.errors import ProjectError
from core.project import Autosaver, Plate, Project, UndoStack, find_autosave, recovery_candidates
from core.project.commands import AddKey


def _plate(pid: str = "A001", tc: str | None = "01:00:00:00") -> Plate:
    return Plate(pid, f"/plates/{pid}.mov", Fraction(24000, 1001), 500, 1920, 1080, tc, False, "qabc")


def _project(tmp_path: Path, name: str = "show") -> Project:
    proj = Project.create(tmp_path / name)
    proj.add_plate(_plate())
    sh = proj.new_shot("A001", 10, 60, name="sh010", handles=4)
    n = 60 - 10 + 1
    rng = np.random.default_rng(0)
    base = {"AU12": rng.uniform(0, 5, n), "AU45L": rng.uniform(0, 5, n), "pose_Rx": rng.normal(0, 0.2, n)}
    cs = CurveSet(list(base), (10, 60), base=base, base_raw={k: v + 0.1 for k, v in base.items()},
                  confidence=rng.uniform(0, 1, n), success=rng.uniform(0, 1, n) > 0.2)
    cs.layers.append(Layer("edit", curves={"AU12": Curve([Key(12, 0.5), Key(30, -1.25, Interp.LINEAR)])}))
    cs.set_gain("AU12", 1.25)
    sh.curves[0] = cs
    sh.identity = "tmpl-7"
    sh.render_settings = {"enhance": True, "blend": "poisson"}
    return proj


def test_save_load_roundtrip_and_layout(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.library_path = "/lib"
    proj.settings = {"colour": "ACEScg"}
    target = proj.save()
    assert target == tmp_path / "show.facsimile" / "project.json"
    doc = json.loads(target.read_text())
    assert doc["schema"] == 1 and doc["shots"][0]["curves"][0]["arrays"].startswith("arrays/")
    loaded = Project.load(tmp_path / "show.facsimile")
    assert loaded.state() == proj.state()
    assert loaded.shots[0].curves[0] == proj.shots[0].curves[0]
    assert loaded.plates["A001"].fps == Fraction(24000, 1001)
    # every .npz is plain arrays (loads with allow_pickle=False)
    for f in (tmp_path / "show.facsimile" / "arrays").glob("*.npz"):
        with np.load(f, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_key = st.builds(lambda f, v, i, m, a, b: Key(f, v, i, m, (-1.0, a), (1.0, b)),
                 st.integers(-100, 1000), _finite, st.sampled_from(list(Interp)), st.sampled_from(list(TangentMode)),
                 _finite, _finite)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(_key, max_size=20), gain=st.floats(0, 2), weight=st.floats(0, 1),
       base=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=5, max_size=5),
       name=st.text(min_size=1, max_size=12), handles=st.integers(0, 50))
def test_roundtrip_is_exact_property(tmp_path_factory, keys, gain, weight, base, name, handles) -> None:
    d = tmp_path_factory.mktemp("rt")
    proj = Project.create(d / "p")
    proj.add_plate(_plate())
    sh = proj.new_shot("A001", 3, 7, name=name, handles=handles)
    cs = CurveSet(["AU01", "gaze_x"], (3, 7), base={"AU01": np.array(base), "gaze_x": np.arange(5.0)})
    cs.layers.append(Layer("L", "override", weight, curves={"AU01": Curve(keys)}))
    cs.set_gain("AU01", gain)
    sh.curves[2] = cs
    proj.save()
    back = Project.load(d / "p.facsimile")
    assert back.state() == proj.state()


def test_validation_lists_every_problem_and_leaves_file(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.new_shot("A001", 100, 120)
    proj.new_shot("A001", 130, 140)
    proj.save()
    path = tmp_path / "show.facsimile" / "project.json"
    doc = json.loads(path.read_text())
    doc["shots"][2]["frame_in"] = "abc"
    doc["shots"][1]["handles"] = -3
    doc["plates"][0]["fps"] = [24, 0]
    doc["shots"][0]["curves"][0]["layers"][0]["curves"]["AU12"][1][2] = "cubic"
    bad = json.dumps(doc)
    path.write_text(bad)
    with pytest.raises(ProjectError) as err:
        Project.load(tmp_path / "show.facsimile")
    msg = str(err.value)
    assert "shots[2].frame_in: expected an integer, got 'abc'" in msg
    assert "shots[1].handles: must be >= 0, got -3" in msg
    assert "plates[0].fps" in msg
    assert "shots[0].curves[0].layers[0].curves.AU12[1][2] (interp)" in msg
    assert "4 problems" in msg
    assert path.read_text() == bad  # untouched


def test_newer_schema_and_damaged_json_refused_untouched_with_backup_offer(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.save()
    proj.shots[0].name = "renamed"
    proj.save()  # the first save is now a backup
    folder = tmp_path / "show.facsimile"
    path = folder / "project.json"
    doc = json.loads(path.read_text())
    doc["schema"] = 99
    newer = json.dumps(doc)
    path.write_text(newer)
    before = sorted(p.name for p in folder.rglob("*"))
    with pytest.raises(ProjectError, match="newer Facsimile.*schema 99"):
        Project.load(folder)
    assert path.read_text() == newer and sorted(p.name for p in folder.rglob("*")) == before
    path.write_text(newer[: len(newer) // 2])
    with pytest.raises(ProjectError, match="(?s)damaged.*line .*left as it is.*newest recovery option: backup") as err:
        Project.load(folder)
    assert path.read_text() == newer[: len(newer) // 2]
    backup = recovery_candidates(folder)[0]
    assert backup.kind == "backup" and str(backup.path) in str(err.value)
    old = Project.load(folder, document=backup.path)
    assert old.shots[0].name == "sh010" and old.opened_from == backup.path


def test_missing_or_damaged_arrays_are_reported(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.save()
    folder = tmp_path / "show.facsimile"
    arr = next((folder / "arrays").glob("*.npz"))
    arr.write_bytes(b"not a zip")
    with pytest.raises(ProjectError, match="shots\\[0\\].curves\\[0\\].*damaged"):
        Project.load(folder)
    assert arr.read_bytes() == b"not a zip"
    arr.unlink()
    with pytest.raises(ProjectError, match="shots\\[0\\].curves\\[0\\].arrays: the file .* is missing"):
        Project.load(folder)
    doc = json.loads((folder / "project.json").read_text())
    doc["shots"][0]["curves"][0]["arrays"] = "../../etc/passwd.npz"
    (folder / "project.json").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="not a file inside the project"):
        Project.load(folder)


def test_backups_roll_and_keep_their_arrays(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    for i in range(8):
        proj.shots[0].curves[0].set_base("AU12", np.full(51, float(i)))
        proj.save()
    folder = tmp_path / "show.facsimile"
    backs = sorted((folder / "backups").glob("project-*.json"))
    assert len(backs) == 5
    for b in backs:  # every kept backup opens, with its own arrays
        old = Project.load(folder, document=b)
        assert old.shots[0].curves[0].base["AU12"][0] in range(8)
    # only referenced arrays remain: current + 5 backups
    assert len(list((folder / "arrays").glob("*.npz"))) <= 6


def test_autosave_and_recovery(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.save()
    folder = proj.path
    assert find_autosave(folder) is None
    stack = UndoStack()
    auto = Autosaver(proj, interval_s=60, every_n_edits=3)
    auto.attach(stack)
    cs = proj.shots[0].curves[0]
    stack.push(AddKey(cs, "edit", "AU45L", Key(20, 1.0)))
    stack.push(AddKey(cs, "edit", "AU45L", Key(25, 2.0)))
    assert find_autosave(folder) is None  # not yet: 2 edits, no time passed
    assert auto.tick(1000.0) is False  # first tick starts the clock
    assert auto.tick(1061.0) is True  # interval passed with edits pending
    cand = find_autosave(folder)
    assert cand is not None and cand.kind == "autosave"
    stack.push(AddKey(cs, "edit", "AU45L", Key(30, 3.0)))
    stack.push(AddKey(cs, "edit", "AU45L", Key(31, 3.0)))
    stack.push(AddKey(cs, "edit", "AU45L", Key(32, 3.0)))  # third edit since the last autosave
    assert auto.pending == 0
    # "crash": the saved project does not have the edits, the autosave does; nothing applied silently
    saved = Project.load(folder)
    assert "AU45L" not in saved.shots[0].curves[0].layers[0].curves
    cands = saved.recovery_candidates()
    assert cands[0].kind == "autosave"
    recovered = Project.load(folder, document=cands[0].path)
    assert [k.frame for k in recovered.shots[0].curves[0].layers[0].curves["AU45L"].keys] == [20, 25, 30, 31, 32]
    assert recovered.opened_from == cands[0].path and recovered.saved_at == 0.0
    recovered.save()
    assert find_autosave(folder) is None  # saved: the autosave is no longer newer (and was cleared)


def test_analysis_saved_and_lazily_loaded(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    fi = np.arange(10, 61)
    an = ShotAnalysis.empty(64, 48, Fraction(24), fi, fi / 24.0, n_tracks=1, embedding_dim=4, source="A001")
    an.present[:, 0] = True
    an.pose[:, 0, 0] = np.linspace(0, 1, fi.size)
    proj.shots[0].analysis = an
    proj.save()
    rel = json.loads((proj.path / "project.json").read_text())["shots"][0]["analysis"]
    assert rel.startswith("analysis/") and (proj.path / rel).is_file()
    back = Project.load(proj.path)
    assert back.shots[0]._analysis is None and back.shots[0].has_analysis  # not read yet
    got = back.shots[0].analysis
    np.testing.assert_array_equal(got.pose, an.pose)
    np.testing.assert_array_equal(got.frame_indices, fi)
    back.save()  # re-saving does not rewrite or lose the analysis
    assert json.loads((proj.path / "project.json").read_text())["shots"][0]["analysis"] == rel
    assert (proj.path / rel).is_file()


def _analysis(value: float) -> ShotAnalysis:
    fi = np.arange(10, 61)
    an = ShotAnalysis.empty(64, 48, Fraction(24), fi, fi / 24.0, n_tracks=1, embedding_dim=4, source="A001")
    an.present[:, 0] = True
    an.pose[:, 0, 0] = value
    return an


def test_save_as_takes_every_analysis_along(tmp_path: Path) -> None:
    """The studio's Save as moved the project's home and wrote only the analyses it had opened:
    a shot never opened in the session pointed at a file the new folder lacked, and the copy
    could not be opened. Project.save_as copies them; the old folder is left as it was."""
    proj = _project(tmp_path)
    proj.new_shot("A001", 100, 140, name="sh020")
    proj.shots[0].analysis = _analysis(1.0)
    proj.shots[1].analysis = _analysis(2.0)
    proj.save()
    old = Project.load(proj.path)
    _ = old.shots[0].analysis  # only the first shot is opened in this session
    assert old.shots[1]._analysis is None
    new = old.save_as(tmp_path / "show_v002")
    assert new == tmp_path / "show_v002.facsimile" / "project.json"
    copy = Project.load(new)
    assert [float(s.analysis.pose[0, 0, 0]) for s in copy.shots] == [1.0, 2.0]
    assert Project.load(proj.path).state() == proj.state()  # the old folder is untouched
    with pytest.raises(ProjectError, match="holds a project already"):
        Project.load(proj.path).save_as(tmp_path / "show_v002.facsimile")


def test_undoing_a_reanalysis_after_saves_brings_the_old_analysis_back(tmp_path: Path) -> None:
    """A re-analysis, saves until the backups no longer name the old analysis file (the garbage
    collector removes it), then undo and save: the project referred to the removed file and
    could not be opened. The undo holds the old analysis in memory and the save writes it."""
    from core.project.workflow import SetAnalysis

    proj = _project(tmp_path)
    proj.shots[0].analysis = _analysis(1.0)
    proj.save()
    proj = Project.load(proj.path)  # a new session: the analysis is on disk only
    proj.backup_count = 2
    stack = UndoStack()
    stack.push(SetAnalysis(proj.shots[0], _analysis(2.0)))
    for _ in range(4):
        proj.save()
    assert len(list((proj.path / "analysis").glob("*.npz"))) == 1  # the old file was collected
    stack.undo()
    proj.save()
    assert float(Project.load(proj.path).shots[0].analysis.pose[0, 0, 0]) == 1.0
    stack.redo()
    proj.save()
    assert float(Project.load(proj.path).shots[0].analysis.pose[0, 0, 0]) == 2.0


def test_a_save_resets_the_autosave_clock(tmp_path: Path) -> None:
    """After a clean save the autosaver still counted the edits before it and wrote an autosave
    newer than project.json at the next tick: the CLI then refused the project ("a session
    ended without saving") and the next open offered a recovery."""
    proj = _project(tmp_path)
    proj.save()
    stack = UndoStack()
    auto = Autosaver(proj, interval_s=10.0, every_n_edits=0)
    auto.attach(stack)
    stack.push(AddKey(proj.shots[0].curves[0], "edit", "AU12", Key(40, 1.0)))
    auto.tick(0.0)
    proj.save()
    auto.saved(1.0)
    assert not auto.tick(100.0) and find_autosave(proj.path) is None


def test_failed_save_loses_nothing(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.save()
    text = (proj.path / "project.json").read_text()
    # a real failure in the middle of saving: the backups folder is replaced by a file
    import shutil

    shutil.rmtree(proj.path / "backups")
    (proj.path / "backups").write_text("in the way")
    proj.shots[0].name = "x"
    with pytest.raises(ProjectError, match="not saved"):
        proj.save()
    assert (proj.path / "project.json").read_text() == text
    assert Project.load(proj.path).shots[0].name == "sh010"


def test_unrecovered_autosave_is_kept_as_a_backup(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.save()
    proj.shots[0].name = "crashed-session-edit"
    proj.autosave()  # ... and the session crashed
    other = Project.load(proj.path)  # a new session that did not recover
    assert find_autosave(proj.path) is not None
    other.save()
    assert find_autosave(proj.path) is None
    kept = [c for c in recovery_candidates(proj.path) if c.path.name.endswith("-autosave.json")]
    assert len(kept) == 1
    assert Project.load(proj.path, document=kept[0].path).shots[0].name == "crashed-session-edit"


def test_unrecovered_autosave_is_not_written_over_by_the_next_autosave(tmp_path: Path) -> None:
    """A session that declined recovery autosaved into the same slot, so the crashed session's
    work was gone before anything was saved. Its first autosave sets the old one aside."""
    proj = _project(tmp_path)
    proj.save()
    proj.shots[0].name = "crashed-session-edit"
    proj.autosave()  # ... and the session crashed
    other = Project.load(proj.path)  # a new session that did not recover
    other.shots[0].name = "new-session-edit"
    other.autosave()
    other.autosave()  # its own slot from now on: written over, not set aside again
    assert Project.load(proj.path, document=find_autosave(proj.path).path).shots[0].name == "new-session-edit"
    kept = [c for c in recovery_candidates(proj.path) if c.path.name.endswith("-autosave.json")]
    assert len(kept) == 1
    assert Project.load(proj.path, document=kept[0].path).shots[0].name == "crashed-session-edit"


def test_long_key_lists_go_to_npz_exactly(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    rng = np.random.default_rng(5)
    keys = [Key(f, float(v), Interp.BEZIER, TangentMode.BROKEN, (-1.0, float(a)), (2.0, float(b)))
            for f, v, a, b in zip(range(0, 400, 2), rng.normal(size=200), rng.normal(size=200),
                                  rng.normal(size=200), strict=True)]
    proj.shots[0].curves[0].layers.append(Layer("dense", curves={"AU45L": Curve(keys)}))
    proj.save()
    doc = json.loads((proj.path / "project.json").read_text())
    ref = doc["shots"][0]["curves"][0]["layers"][1]["curves"]["AU45L"]
    assert ref["count"] == 200 and ref["npz"].startswith("keys_")
    back = Project.load(proj.path)
    assert back.state() == proj.state()
    assert back.shots[0].curves[0].layer("dense").curves["AU45L"].keys == tuple(keys)


def test_gain_keys_roundtrip_old_files_and_readable_errors(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.save()
    path = tmp_path / "show.facsimile" / "project.json"
    old_doc = json.loads(path.read_text())
    assert "gain_keys" not in old_doc["shots"][0]["curves"][0]  # files without animated gains: as before
    # an older file (no gain_keys field) loads unchanged and evaluates with its static gain
    old = Project.load(tmp_path / "show.facsimile")
    assert old.shots[0].curves[0].gain_keys == {} and old.shots[0].curves[0].gain("AU12") == 1.25
    assert old.state() == proj.state()

    cs = proj.shots[0].curves[0]
    cs.set_gain_keys("AU12", [Key(15, 0.25, Interp.LINEAR), Key(40, 1.75, Interp.BEZIER, TangentMode.FREE,
                                                                (-2.0, -0.5), (3.0, 0.75))])
    cs.set_gain_keys("AU45L", [Key(20, 1.5, Interp.CONSTANT)])
    proj.save()
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1 and set(doc["shots"][0]["curves"][0]["gain_keys"]) == {"AU12", "AU45L"}
    loaded = Project.load(tmp_path / "show.facsimile")
    lcs = loaded.shots[0].curves[0]
    assert loaded.state() == proj.state() and lcs == cs
    assert lcs.gain_keys["AU12"] == cs.gain_keys["AU12"]
    np.testing.assert_array_equal(lcs.evaluate_matrix()[1], cs.evaluate_matrix()[1])
    assert lcs.gain("AU12") == 1.25  # the static gain is kept beside the keys

    # a malformed gain key is named precisely, the file is left untouched
    bad = json.loads(path.read_text())
    gk = bad["shots"][0]["curves"][0]["gain_keys"]
    gk["AU12"][0][1] = 3.5  # out of 0..2
    gk["AU45L"][0] = [20, 1.0, "cubic", "auto", -1, 0, 1, 0]
    gk["pose_Rx"] = [[0, 1.0, "linear", "auto", -1, 0, 1, 0]]
    gk["AU99"] = "fast"
    text = json.dumps(bad)
    path.write_text(text)
    with pytest.raises(ProjectError) as err:
        Project.load(tmp_path / "show.facsimile")
    msg = str(err.value)
    p = "shots[0].curves[0].gain_keys"
    assert f"{p}.AU12[0][1] (value): a gain must be within 0..2, got 3.5" in msg
    assert f"{p}.AU45L[0][2] (interp)" in msg
    assert f"{p}.pose_Rx: gain keys apply to AU curves" in msg
    assert f"{p}.AU99: no curve named 'AU99'" in msg and f"{p}.AU99: expected a list" in msg
    assert path.read_text() == text
    bad["shots"][0]["curves"][0]["gain_keys"] = [1, 2]
    path.write_text(json.dumps(bad))
    with pytest.raises(ProjectError, match=r"gain_keys: expected an object, got a list"):
        Project.load(tmp_path / "show.facsimile")


def test_two_sessions_saving_at_once_never_both_win(tmp_path: Path) -> None:
    """Two edits of one project at once both exited 0 and one was gone, from the backups too (5
    of 12 real races), and one save's garbage collection could delete the arrays the other had
    just written. The check and the save now hold the folder's lock together: the second
    session waits, then is refused, and the first one's edit is on disk."""
    import subprocess
    import sys
    import time

    from core.project.workflow import SavedElsewhere, save_project

    proj = _project(tmp_path)
    proj.save()
    folder = proj.path
    mine = Project.load(folder)  # loaded before the other session saves
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from core.project import Project\n"
        "from core.project.lock import project_lock\n"
        f"p = Project.load({str(folder)!r})\n"
        "p.shots[0].identity = 'theirs'\n"
        "with project_lock(p.path):\n"
        "    print('held', flush=True); time.sleep(1.5); p.save()\n")],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine.shots[0].identity = "mine"
        t0 = time.monotonic()
        with pytest.raises(SavedElsewhere, match="saved by another session"):
            save_project(mine)
        assert time.monotonic() - t0 > 0.5  # it waited for the other save to finish
    finally:
        assert holder.wait(60) == 0
    assert Project.load(folder).shots[0].identity == "theirs"
    arrays = sorted(p.name for p in (folder / "arrays").glob("*.npz"))
    save_project(mine, force=True)  # the user chose to keep theirs in backups/
    assert Project.load(folder).shots[0].identity == "mine"
    backups = [json.loads(b.read_text()) for b in (folder / "backups").glob("project-*.json")]
    assert any(b["shots"][0]["identity"] == "theirs" for b in backups)
    assert arrays and all((folder / "arrays" / a).exists() for a in arrays)  # the backup's arrays stay


def test_an_empty_or_foreign_array_file_is_named_not_an_internal_error(tmp_path: Path) -> None:
    """A 0-byte .npz raised EOFError out of Project.load ('internal error'); a file that is no
    .npz at all repeated numpy's advice to load it 'unsafely' with allow_pickle."""
    proj = _project(tmp_path)
    proj.shots[0].analysis = _analysis(1.0)
    proj.save()
    folder = proj.path
    arr = next((folder / "arrays").glob("*.npz"))
    arr.write_bytes(b"")
    with pytest.raises(ProjectError, match="is damaged: the file is empty or cut short"):
        Project.load(folder)
    arr.write_bytes(b"hello")
    with pytest.raises(ProjectError, match="is damaged: it is not a NumPy .npz file") as err:
        Project.load(folder)
    assert "allow_pickle" not in str(err.value)
    ana = next((folder / "analysis").glob("*.npz"))
    ana.write_bytes(b"")
    with pytest.raises(ProjectError, match="empty or cut short"):
        ShotAnalysis.load(ana)


def test_a_missing_analysis_file_opens_with_curves_and_edits_and_says_so(tmp_path: Path) -> None:
    """A deleted analysis .npz made the project and every backup written since unopenable, and
    the offered recovery ('--use backup 1') failed the same way. The curves and edits do not
    need it: the shot opens without its analysis and the warnings say to analyse again."""
    from core.project.workflow import project_warnings

    proj = _project(tmp_path)
    proj.shots[0].analysis = _analysis(1.0)
    proj.save()
    proj.shots[0].identity = "tmpl-8"
    proj.save()  # a backup that refers to the same analysis file
    folder = proj.path
    for f in (folder / "analysis").glob("*.npz"):
        f.unlink()
    back = Project.load(folder)
    shot = back.shots[0]
    assert not shot.has_analysis and shot.analysis is None
    assert back.shots[0].curves[0] == proj.shots[0].curves[0]  # every key, gain and layer
    assert any("analysis file" in w and "is missing" in w and "project analyze" in w
               for w in project_warnings(back, check_hash=False))
    back.save()
    assert Project.load(folder).shots[0].curves[0] == proj.shots[0].curves[0]
