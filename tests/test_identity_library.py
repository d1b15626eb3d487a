"""Identity templates: quality gates, folder layout, consent, library operations, CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.errors import FacsimileError, NoFaceError
from core.identity import Consent, Library, QualityError, Template, check_consent
from core.identity.quality import assess, eye_openness


@pytest.fixture(scope="module")
def analyzer():
    from core.analysis.analyzer import Analyzer

    return Analyzer()


@pytest.fixture(scope="module")
def astronaut():
    from skimage.data import astronaut as a

    return a()


@pytest.fixture
def lib(tmp_path, analyzer):
    return Library(tmp_path / "library", analyzer=analyzer)


def _consent(**kw):
    return Consent(**({"consented_by": "Eileen Collins", "use": "Facsimile tests"} | kw))


def test_astronaut_template_layout_and_contents(lib, astronaut):
    t = lib.add("Eileen Collins", [astronaut], consent=_consent(until="2099-12-31"))
    files = sorted(p.name for p in t.path.iterdir())
    assert files == ["embedding.npy", "neutral_mesh.npy", "template.json", "texture.png"]
    meta = json.loads((t.path / "template.json").read_text())
    assert meta["id"] == t.id and meta["name"] == "Eileen Collins" and meta["created"]
    src = meta["sources"][0]
    assert len(src["sha256"]) == 64 and src["used_for_texture"] and src["size"] == [512, 512]
    assert meta["consent"]["consented_by"] == "Eileen Collins" and meta["consent"]["until"] == "2099-12-31"
    assert meta["consent"]["recorded_by"]
    q = meta["quality"]["sources"][0]
    assert q["passed"] and abs(q["yaw_deg"]) < 25 and any("small face" in w for w in q["warnings"])
    # arrays: mesh in texture pixels, eyes level at the agreed place, RGBA texture with a face alpha
    again = Library(lib.path).get(t.id)
    m, tex, emb = again.neutral_mesh, again.texture, again.embedding
    assert m.shape == (478, 3) and m.dtype == np.float32
    assert tex.shape == (1024, 1024, 4) and emb.shape == (128,) and np.isfinite(emb).all()
    eyes_r, eyes_l = m[[33, 133], :2].mean(0), m[[263, 362], :2].mean(0)
    assert abs(eyes_r[1] - eyes_l[1]) < 1.0 and abs(np.linalg.norm(eyes_l - eyes_r) - 0.3 * 1024) < 1.0
    nose = m[1, :2].round().astype(int)
    assert tex[nose[1], nose[0], 3] == 255 and tex[2, 2, 3] == 0
    # the texture really is the source face: colour around the nose tip matches the source's
    src_pts = lib.analyzer.analyze_image(astronaut)[0].landmarks
    sx, sy = src_pts[1, :2].round().astype(int)
    src_patch = astronaut[sy - 2:sy + 3, sx - 2:sx + 3].reshape(-1, 3).mean(0)
    k = 0.3 * 1024 / np.linalg.norm(src_pts[[263, 362], :2].mean(0) - src_pts[[33, 133], :2].mean(0))
    r = int(round(2 * k))
    tex_patch = tex[nose[1] - r:nose[1] + r + 1, nose[0] - r:nose[0] + r + 1, :3].reshape(-1, 3).mean(0)
    assert np.abs(src_patch - tex_patch).max() < 12


def test_library_list_get_rename_remove_and_damage(lib, astronaut):
    a = lib.add("Eileen Collins", [astronaut])
    assert [t.id for t in lib.list()] == [a.id] and lib.ids() == [a.id]
    assert lib.get(a.id[:12]).id == a.id and lib.get("eileen collins").id == a.id
    r = lib.rename(a.id, "E. Collins")
    assert r.id == a.id and Library(lib.path).get(a.id).name == "E. Collins"
    (lib.path / "broken").mkdir()
    (lib.path / "broken" / "template.json").write_text("{not json")
    assert [t.id for t in lib.list()] == [a.id] and "damaged" in lib.problems[0]
    with pytest.raises(FacsimileError, match="no identity template"):
        lib.get("nobody")
    dest = lib.remove(a.id)
    assert dest.parent.name == ".trash" and (dest / "texture.png").is_file()
    assert lib.list() == []
    with pytest.raises(FacsimileError):
        Template(dest.parent / "missing")


def test_damaged_template_records_are_named_not_tracebacks(lib, astronaut):
    """A template.json with schema "1.0" was a ValueError, a consent record that was a string an
    AttributeError, one bad consent date failed `library list` for the whole library without
    naming the template, and a damaged template could not be removed."""
    import json

    from core.identity.consent import check_consent

    good = lib.add("Eileen Collins", [astronaut])
    bad_date = lib.add("Bad Date", [astronaut])
    meta = json.loads((bad_date.path / "template.json").read_text())
    meta["consent"] = {"consented_by": "x", "use": "y", "until": "next spring"}
    (bad_date.path / "template.json").write_text(json.dumps(meta))
    odd = lib.add("Odd Schema", [astronaut])
    meta = json.loads((odd.path / "template.json").read_text())
    meta["schema"] = "1.0"
    (odd.path / "template.json").write_text(json.dumps(meta))
    listed = {t.name: t.summary()["consent_status"] for t in lib.list()}
    assert listed == {"Eileen Collins": "none", "Bad Date": "damaged"}
    assert any("schema is '1.0'" in p and f"library remove {odd.path.name}" in p for p in lib.problems)
    with pytest.raises(FacsimileError, match="'Bad Date'.*consent record is damaged.*library consent"):
        check_consent(lib.get(bad_date.id))
    meta["schema"], meta["consent"] = 1, "yes"
    (odd.path / "template.json").write_text(json.dumps(meta))
    with pytest.raises(FacsimileError, match="consent record is damaged"):
        _ = lib.get(odd.id).consent
    # the damaged consent is recorded again; the damaged folder can be removed by its name
    from core.identity.consent import Consent

    fixed = lib.set_consent(bad_date.id, Consent(consented_by="x", use="y", until="2099-01-01"))
    assert fixed.summary()["consent_status"] == "valid"
    meta["schema"] = "1.0"
    (odd.path / "template.json").write_text(json.dumps(meta))
    assert lib.remove(odd.path.name).parent.name == ".trash"
    assert sorted(t.name for t in lib.list()) == ["Bad Date", "Eileen Collins"] and lib.problems == []
    assert good.id in lib.ids()


def test_consent_required_override_recorded_and_expiry(lib, astronaut):
    t = lib.add("No Consent", [astronaut])
    with pytest.raises(FacsimileError, match="no consent record"):
        check_consent(t)
    with pytest.raises(FacsimileError, match="needs a reason"):
        check_consent(t, override=True, reason="  ")
    rec = check_consent(t, override=True, reason="director approved test render, ticket 42")
    assert rec["override"] and rec["override_reason"].startswith("director") and rec["override_by"]
    assert rec["template_id"] == t.id and rec["consent"] is None
    t2 = lib.set_consent(t.id, _consent(until="2030-01-01"))
    assert check_consent(t2, today=dt.date(2029, 6, 1))["status"] == "consented"
    with pytest.raises(FacsimileError, match="ended on 2030-01-01"):
        check_consent(t2, today=dt.date(2031, 1, 1))
    with pytest.raises(FacsimileError, match="YYYY-MM-DD"):
        _consent(until="next year")
    with pytest.raises(FacsimileError, match="use"):
        Consent("Someone", "")


def test_gates_too_small_blurred_eyes_closed(lib, astronaut, analyzer):
    tiny = cv2.resize(astronaut, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    with pytest.raises(QualityError, match="face too small"):
        lib.add("tiny", [tiny])
    face = analyzer.analyze_image(astronaut)[0]
    blurred = cv2.GaussianBlur(astronaut, (0, 0), face.size / 50)
    with pytest.raises(QualityError, match="blurred") as exc:
        lib.add("blurred", [blurred])
    assert "too small" not in str(exc.value)
    # eyes closed: the upper lid landmarks moved onto the lower lid
    lm = face.landmarks.copy()
    for top, bottom in ((159, 145), (158, 153), (160, 144), (386, 374), (385, 380), (387, 373)):
        lm[top] = lm[bottom]
    closed = dataclasses.replace(face, landmarks=lm)
    assert max(eye_openness(lm)) < 0.05
    rep = assess(astronaut, closed, 1, 0)
    assert not rep.passed and any("eyes closed" in r for r in rep.reasons)
    assert assess(astronaut, face, 1, 0).passed
    assert lib.list() == []  # nothing written for refused sources
    with pytest.raises(NoFaceError, match="no face"):
        lib.add("nobody", [np.full((200, 200, 3), 128, np.uint8)])


def test_multi_face_refused_unless_index_given(lib, shared_media):
    p = shared_media("stills", "multi_face.jpg")
    with pytest.raises(QualityError, match=r"5 faces .*face index"):
        lib.add("group", [p])
    t = lib.add("group, face 0", [p], face_index=0)
    assert t.meta["sources"][0]["face_index"] == 0
    with pytest.raises(FacsimileError, match="does not exist"):
        lib.add("group", [p], face_index=9)


def test_obama_template_embedding_identifies_the_person(lib, shared_media, analyzer):
    from core.analysis.image import load_image

    t = lib.add("Barack Obama", [shared_media("stills", "obama.jpg")])
    same = analyzer.analyze_image(load_image(shared_media("stills", "obama-1080p.jpg")))[0].embedding
    other = analyzer.analyze_image(load_image(shared_media("stills", "biden.jpg")))[0].embedding
    assert np.linalg.norm(t.embedding - same) < 0.6 < np.linalg.norm(t.embedding - other)


def test_two_peoples_stills_are_not_one_template(lib, shared_media):
    """obama.jpg + biden.jpg made a template with Biden's texture and an embedding halfway
    between the two men, which matched both; a still plus another person's plate frames too.
    Sources are checked against each other under the embedder's same-person threshold."""
    with pytest.raises(FacsimileError, match="do not show one person.*biden.jpg|do not show one person.*obama.jpg"):
        lib.add("Obama", [shared_media("stills", "obama.jpg"), shared_media("stills", "biden.jpg")])
    with pytest.raises(FacsimileError, match="do not show one person"):
        lib.add("Mix", [shared_media("stills", "obama.jpg")], from_plate=(shared_media("clips", "d0.mp4"), "0-5"))
    assert lib.list() == []
    t = lib.add("Obama", [shared_media("stills", "obama.jpg"), shared_media("stills", "obama-1080p.jpg")])
    assert t.meta["embedding"]["averaged_over"] == 2


def test_turned_away_still_refused(lib, shared_media):
    with pytest.raises(QualityError, match="frontal"):
        lib.add("profile", [shared_media("stills", "s10.jpg")])


def test_template_from_plate_frames(lib, shared_media):
    clip = shared_media("clips", "d0.mp4")
    t = lib.add("d0 performer", from_plate=(clip, "0-20"), consent=_consent(consented_by="d0 performer"))
    frames = [s["frame"] for s in t.meta["sources"]]
    assert frames and all(0 <= f <= 20 for f in frames) and len(set(frames)) == len(frames)
    assert sum(s["used_for_texture"] for s in t.meta["sources"]) == 1
    assert all(s["kind"] == "plate" and len(s["sha256"]) == 64 for s in t.meta["sources"])
    assert t.meta["embedding"]["averaged_over"] == len(frames)


@pytest.mark.slow
def test_shared_stills_build_or_give_a_reason(lib, shared_media):
    import glob

    stills = sorted(glob.glob(str(shared_media("stills", "obama.jpg").parent / "s*.jpg")))
    built = 0
    for p in stills:
        try:
            lib.add(p, [p])
            built += 1
        except (QualityError, NoFaceError) as exc:
            assert ": " in str(exc) and len(str(exc)) > 30
    assert built >= len(stills) // 2


def test_cli_library_round_trip(tmp_path, capsys, astronaut, shared_media):
    libdir = tmp_path / "lib"
    img = tmp_path / "astronaut.png"
    cv2.imwrite(str(img), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    rc = main(["library", "add", "Eileen Collins", str(img), "--library", str(libdir),
               "--consent-by", "Eileen Collins", "--consent-use", "tests", "--consent-until", "2099-01-01"])
    out = capsys.readouterr().out
    assert rc == 0 and "added " in out
    tid = out.split()[1]
    assert main(["library", "list", "--json", "--library", str(libdir)]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["templates"][0]["id"] == tid and listing["templates"][0]["consent_status"] == "valid"
    assert main(["library", "show", tid, "--library", str(libdir)]) == 0
    shown = capsys.readouterr().out
    assert "Eileen Collins" in shown and "sha256" in shown and "2099-01-01" in shown
    assert main(["library", "rename", tid, "Commander Collins", "--library", str(libdir)]) == 0
    assert main(["library", "consent", tid, "--withdraw", "--library", str(libdir)]) == 0
    capsys.readouterr()
    assert main(["library", "list", "--library", str(libdir)]) == 0
    assert "Commander Collins" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["library", "add", "Again", str(img), "--library", str(libdir), "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["name"] == "Again" and added["consent"] is False and Path(added["path"]).is_dir()
    assert main(["library", "remove", tid, "--library", str(libdir)]) == 0
    capsys.readouterr()
    rc = main(["library", "add", "group", str(shared_media("stills", "multi_face.jpg")), "--library", str(libdir)])
    err = capsys.readouterr().err
    assert rc == NoFaceError.exit_code and "5 faces" in err and err.startswith("facsimile: error:")
    assert main(["library", "add", "x", "--library", str(libdir)]) != 0


def test_a_taken_name_is_refused_and_an_exact_name_wins_over_id_prefixes(lib, astronaut):
    """A second `library add "Jane Doe"` made a second Jane Doe (every later `--template "Jane Doe"`
    then failed as ambiguous); `library remove plate` said "matches 2 templates" though one is
    named exactly Plate."""
    plate = lib.add("Plate", [astronaut])
    other = lib.add("Plate two", [astronaut])
    assert plate.id.startswith("plate") and other.id.startswith("plate")
    with pytest.raises(FacsimileError, match=f"a template named 'Plate' already exists \\({plate.id}\\).*rename"):
        lib.add("plate", [astronaut])
    with pytest.raises(FacsimileError, match="already exists"):
        lib.rename(other.id, "PLATE")
    assert lib.rename(plate.id, "plate").name == "plate"  # its own name in another case is fine
    assert lib.get("PLATE").id == plate.id
    assert lib.remove("plate").name.startswith(plate.id)
    assert [t.id for t in lib.list()] == [other.id]


def test_plate_frames_past_the_clip_are_refused(tmp_path, capsys, shared_media):
    """`library add N --from-plate d0.mp4 --frames 70-99` on a 78-frame clip quietly used 8 frames."""
    rc = main(["library", "add", "d0", "--from-plate", str(shared_media("clips", "d0.mp4")), "--frames", "70-99",
               "--library", str(tmp_path / "lib")])
    assert rc == 4 and "frames 70-99 are outside the clip (frames 0-77" in capsys.readouterr().err
