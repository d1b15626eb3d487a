"""AU engine core: catalogue, solver exactness, synthesis/extraction inverse, calibration,
filters, interchange (JSON, OpenFace columns, OpenFace CSV import, import-au CLI)."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import solve_triangular
from scipy.optimize import lsq_linear

import core.facs as facs
from core.analysis.types import ShotAnalysis
from core.errors import FacsimileError
from core.facs.calibrate import calibration_canonical
from core.facs.model import (
    SOLVE_MAX,
    Pose,
    align,
    basis_intensities,
    box_qp,
    lip_gap,
    model,
    parting_gap,
    parting_intensity,
    rendered_parting,
    solve_aligned,
)


def test_catalogue_and_names():
    cat = facs.catalogue()
    assert [a.id for a in cat] == facs.AU_IDS == [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45]
    by = {a.id: a for a in cat}
    assert by[12].friendly == "Smile" and by[45].friendly.startswith("Blink") and by[1].name == "Inner brow raiser"
    assert all(a.description and a.regions for a in cat)
    names = facs.curve_names()
    assert names[:3] == ["AU01", "AU01L", "AU01R"] and names[-5:] == ["pose_Rx", "pose_Ry", "pose_Rz", "gaze_x",
                                                                        "gaze_y"]
    assert "AU45L" in names and "AU26L" not in names and "AU26" in names


def test_bases_are_data_and_separable():
    m = model()
    assert m.bases.shape == (31, 478, 3) and m.neutral.shape == (478, 3)
    # canonical frame: eye centres 1 IOD apart, symmetric
    assert np.allclose(m.neutral[m.mirror] * [-1, 1, 1], m.neutral, atol=1e-6)
    # sided bases are mirror images; every basis is distinct from every other (no collinear pair)
    g = m.gram / np.sqrt(np.outer(np.diag(m.gram), np.diag(m.gram)))
    np.fill_diagonal(g, 0)
    assert g.max() < 0.9
    i, j = m.basis_names.index("AU12L"), m.basis_names.index("AU12R")
    assert np.allclose(m.bases[i][m.mirror] * [-1, 1, 1], m.bases[j], atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_box_qp_matches_lsq_linear(seed):
    m = model()
    rng = np.random.default_rng(seed)
    a0 = np.clip(rng.normal(0, 2.5, len(m.basis_names)), 0, 7) * (rng.random(len(m.basis_names)) < 0.5)
    x = m.neutral + np.tensordot(a0, m.bases, 1) + rng.normal(0, 0.004, (478, 3))
    a, _ = solve_aligned(x, m.neutral)
    # the same QP as a bounded least-squares problem: G = L L', min |L'a - L^-1 (b - penalty)|^2
    res = (x - m.neutral).ravel() * np.sqrt(m.elem_w)
    L = np.linalg.cholesky(m.gram_d)
    y = solve_triangular(L, m.design @ res - m.penalty, lower=True)
    # solved up to SOLVE_MAX (twice E) so a larger movement does not spill onto other AUs; reported up to 5
    ref = np.minimum(lsq_linear(L.T, y, bounds=(0, SOLVE_MAX), method="bvls", tol=1e-12).x, 5.0)
    assert np.abs(a - ref).max() < 1e-6
    assert box_qp(np.eye(3), np.array([-1.0, 2.0, 9.0])).tolist() == [0.0, 2.0, 5.0]


def test_synthesize_is_inverse_of_solve():
    """Geometric round trip (no detector): synthesize then solve recovers the intensities."""
    m = model()
    rng = np.random.default_rng(1)
    # a face in pixels: canonical scaled, rotated, shifted
    r = Pose(np.linalg.qr(rng.normal(size=(3, 3)))[0], 120.0, np.array([300.0, 200.0, 10.0]))
    if np.linalg.det(r.rotation) < 0:
        r = Pose(-r.rotation, r.scale, r.translation)
    face = r.apply(m.neutral)
    for _ in range(10):
        truth = {n: float(v) for n, v in zip(m.basis_names, np.clip(rng.normal(0, 2, len(m.basis_names)), 0, 5), strict=True)}
        out = facs.synthesize(face, truth)
        aligned, _ = align(out, m.neutral)
        got, rms = solve_aligned(aligned, m.neutral, raw=True)
        # the coefficients the curves ask for: each AU's own, AU25's the lip gap still missing
        assert np.abs(got - basis_intensities(truth)).max() < 0.02, (got, truth)
        assert rms < 1e-3
    # bilateral names set both sides, sides override; a pose re-targets the head
    both = facs.synthesize(face, {"AU12": 3})
    assert np.allclose(both, facs.synthesize(face, {"AU12L": 3, "AU12R": 3}))
    posed = facs.synthesize(face, {}, Pose(np.eye(3), 50.0, np.zeros(3)))
    assert np.allclose(posed, 50.0 * align(face, m.neutral)[0], atol=1e-6)
    with pytest.raises(FacsimileError, match="unknown AU"):
        facs.synthesize(face, {"AU99": 1})


def test_a_plane_in_depth_reads_as_no_au():
    """MediaPipe's depth is a guess, and the alignment's pitch and yaw rest on it: an error there
    tilts the residual's z as a plane over the face, which no AU does. Such a plane (offset and
    slopes of 0.15 IOD across the face, the size measured on d12's laughs with the head back)
    added to an expression changes no AU by more than noise, and the fit RMS ignores it."""
    m = model()
    rng = np.random.default_rng(3)
    x, y = m.neutral[:, 0], m.neutral[:, 1]
    for _ in range(5):
        truth = {n: float(v) for n, v in zip(m.basis_names, np.clip(rng.normal(0, 2, len(m.basis_names)), 0, 5),
                                             strict=True)}
        face = facs.synthesize(m.neutral, truth)
        tilted = face.copy()
        tilted[:468, 2] += 0.05 + 0.15 * y[:468] - 0.1 * x[:468]
        a0, rms0 = solve_aligned(face, m.neutral)
        a1, rms1 = solve_aligned(tilted, m.neutral)
        assert np.abs(a1 - a0).max() < 0.05, np.abs(a1 - a0).max()
        assert abs(rms1 - rms0) < 1e-3
    # AU14, the AU with the most depth, keeps its reading: its depth is local, not a plane
    dimple = facs.synthesize(m.neutral, {"AU14": 3})
    dimple[:468, 2] += 0.15 * y[:468]
    got = dict(zip(m.basis_names, solve_aligned(dimple, m.neutral, raw=True)[0], strict=True))
    assert abs(got["AU14L"] - 3) < 0.05 and abs(got["AU14R"] - 3) < 0.05, got


def test_au25_reads_the_lip_gap_and_synthesis_inverts_it():
    """AU25 is FACS' 'lips part': read off the inner-lip gap against the person's neutral, whatever
    parts the lips; synthesis makes the gap a key asks for, and says what it could not."""
    m = model()
    rng = np.random.default_rng(3)
    person = m.neutral + rng.normal(0, 0.004, (478, 3))  # a person's neutral, lips together
    person[m.parting_pairs[:, 1], 1] = person[m.parting_pairs[:, 0], 1]
    face = Pose(np.eye(3), 150.0, np.array([320.0, 240.0, 0.0])).apply(person)
    cal = {"method": "frame", "frame": 0, "neutral": align(face, m.neutral)[0]}
    j = facs.au_curve_names().index("AU25")

    def read(case):
        return facs.solve_frame(facs.synthesize(face, case), cal)[0][j]

    # the scale: 0 within the jitter, 1 where a parting shows, 5 wide open; the inverse is exact
    assert parting_intensity([0.0, 0.01, 0.04, 0.5, 0.9]).tolist() == [0.0, 0.0, 1.0, 5.0, 5.0]
    levels = np.array([0.3, 1.0, 2.5, 5.0])
    assert np.allclose(parting_intensity(parting_gap(levels)), levels) and parting_gap(0.0) == 0.0
    # closed lips read 0, also when pressed (AU23, AU17) or smiling with the lips together
    for case in ({}, {"AU23": 5}, {"AU17": 4}, {"AU12": 3}):
        assert read(case) < 0.05, case
    # a key on closed lips parts them by that much
    for v in (0.5, 1.0, 1.2):
        assert rendered_parting({"AU25": v}) == pytest.approx(v) and read({"AU25": v}) == pytest.approx(v, abs=0.02)
    # a jaw drop parts the lips too, so it reads AU25 beside AU26 (FACS 25+26) ...
    jaw = rendered_parting({"AU26": 4})
    assert jaw > 1.5 and read({"AU26": 4}) == pytest.approx(jaw, abs=0.02)
    # ... a larger key on it parts them further, a smaller one does not close them
    assert read({"AU26": 4, "AU25": 2.2}) == pytest.approx(2.2, abs=0.02)
    assert rendered_parting({"AU26": 4, "AU25": 1}) == pytest.approx(jaw)
    # the lips alone part only so far: a wide key without the jaw falls short, and says so
    assert rendered_parting({"AU25": 5}) < 2.0 and read({"AU25": 5}) == pytest.approx(rendered_parting({"AU25": 5}),
                                                                                     abs=0.02)
    # the reading is the gap beyond the person's own rest: lips apart at rest are not AU25
    apart = person.copy()
    apart[m.parting_pairs[:, 1], 1] += 0.03
    face2 = Pose(np.eye(3), 150.0, np.zeros(3)).apply(apart)
    cal2 = {"method": "frame", "frame": 0, "neutral": align(face2, m.neutral)[0]}
    assert facs.solve_frame(face2, cal2)[0][j] == 0.0
    assert lip_gap(cal2["neutral"]) == pytest.approx(0.03, abs=1e-3)
    # against the canonical neutral (stills) the reference is lips together, not its open average
    assert facs.solve_frame(face2, calibration_canonical())[0][j] == pytest.approx(parting_intensity(0.03), abs=0.05)


def test_an_au25_edit_parts_the_plate_lips_by_the_gap_it_asks_for():
    """The render moves the plate by synthesis differences (core.render.retarget): an AU25 edit
    changes the lip gap by what the key asks for, also where the plate's parting is more than the
    bases' own (a smile over the teeth), and parting_as_rendered says when it cannot."""
    from core.render.retarget import expression_delta, parting_as_rendered

    m = model()
    face = Pose(np.eye(3), 150.0, np.array([320.0, 240.0, 0.0])).apply(m.neutral)
    base = {"AU25": 2.2, "AU26": 1.3, "AU12": 5.0, "AU12L": 5.0, "AU12R": 5.0}
    gap0 = lip_gap(align(face, m.neutral)[0])
    for target, reachable in (({"AU25": 2.8}, True), ({"AU25": 1.5}, True), ({"AU25": 4.5}, False),
                              ({"AU25": 0.0}, False), ({"AU26": 3.0}, True)):
        moved = face + expression_delta(face, base, target)
        dgap = lip_gap(align(moved, m.neutral)[0]) - gap0
        asked, rendered = parting_as_rendered(base, target)
        assert rendered == pytest.approx(float(parting_intensity(parting_gap(2.2) + dgap)), abs=1e-6), target
        assert (abs(rendered - asked) < 0.01) == reachable, (target, asked, rendered)
    assert parting_as_rendered(base, dict(base)) is None  # nothing edited
    # a jaw dropped with the lips kept together (FACS 26 without 25): the bases would part them,
    # the plate does not; a key parts them from there, and raising the jaw alone parts them too
    closed = {"AU25": 0.0, "AU26": 4.5}
    for target, reachable in (({"AU25": 1.0}, True), ({"AU26": 5.0}, False)):
        moved = face + expression_delta(face, closed, target)
        dgap = lip_gap(align(moved, m.neutral)[0]) - gap0
        asked, rendered = parting_as_rendered(closed, target)
        assert rendered == pytest.approx(float(parting_intensity(dgap)), abs=1e-6), target
        assert (abs(rendered - asked) < 0.01) == reachable, (target, asked, rendered)


def _shot(meshes: np.ndarray, fps: int = 25) -> ShotAnalysis:
    t = len(meshes)
    a = ShotAnalysis.empty(640, 480, Fraction(fps), np.arange(t), np.arange(t) / fps, n_tracks=1)
    a.landmarks[:, 0] = meshes
    a.present[:, 0] = np.isfinite(meshes[:, :, 0]).all(1)
    a.confidence[:, 0] = 0.9
    return a


def _person_track(rng, t=120):
    """A person with naturally low, drawn-together brows (AU4-like identity shape) who smiles
    on frames 40..59 and blinks with the left eye on 80..83; other frames neutral + noise."""
    m = model()
    identity = m.neutral + 2.5 * m.bases[m.basis_names.index("AU04L")] + 2.5 * m.bases[m.basis_names.index("AU04R")]
    truth = np.zeros((t, len(m.basis_names)))
    truth[40:60, m.basis_names.index("AU12L")] = 3
    truth[40:60, m.basis_names.index("AU12R")] = 3
    truth[80:84, m.basis_names.index("AU45L")] = 4
    pose = Pose(np.eye(3), 100.0, np.array([320.0, 240.0, 0.0]))
    meshes = np.array([pose.apply(identity + np.tensordot(truth[i], m.bases, 1) + rng.normal(0, 0.002, (478, 3)))
                       for i in range(t)], np.float32)
    return meshes, truth


def test_calibration_removes_identity_shape():
    rng = np.random.default_rng(2)
    meshes, truth = _person_track(rng)
    meshes[100] = np.nan  # a frame with no face
    a = _shot(meshes)
    face_auto = facs.extract_shot(a, filter="none")[0]
    face_frame = facs.extract_shot(a, neutral=5, filter="none")[0]
    assert face_auto.calibration["method"] == "auto" and face_frame.calibration["frame"] == 5
    neutral_frames = np.r_[0:40, 60:80, 84:100]
    canon = np.array([facs.solve_frame(meshes[i], calibration_canonical())[0] for i in neutral_frames])
    i4 = face_auto.names.index("AU04")
    # the canonical neutral reads the identity shape as a frown (coded present: intensity >= 1)
    assert canon[:, facs.curve_names().index("AU04")].mean() > facs.extract.PRESENCE_THRESHOLD
    for face in (face_auto, face_frame):
        assert np.nanmax(face.raw[neutral_frames, i4]) < 0.5
        assert np.nanmean(face.raw[40:60, face.names.index("AU12")]) > 2.0
        assert np.nanmean(face.raw[neutral_frames, face.names.index("AU12")]) < 0.3
        assert np.nanmean(face.raw[80:84, face.names.index("AU45L")]) > 2.5
        assert np.nanmax(face.raw[80:84, face.names.index("AU45R")]) < 0.5
        assert not face.success[100] and np.isnan(face.raw[100]).all() and face.confidence[100] == 0
        assert face.confidence[0] > 0.5


def test_auto_neutral_takes_open_eyes_from_a_shot_of_lowered_lids():
    """A person whose eyes open wider than the canonical face and whose brows sit higher (both
    identity shape) looks down for 60 of 120 frames: lids half lowered (AU45 3) and brows
    relaxed onto the canonical's. Those frames are nearer the canonical in the eye regions, yet
    the 'auto' neutral must take each eye's rest from the frames where it is open, so the
    resting eye reads neither AU05 nor AU45 and a wink closes fully (d3.mp4: the left eye's
    neutral came from a downward look; her ordinary open eye read AU05 2-4, her wink AU45 2.5)."""
    m = model()
    rng = np.random.default_rng(4)

    def basis(*names: str) -> np.ndarray:
        return sum(m.bases[m.basis_names.index(n)] for n in names)

    brows, lids = basis("AU01L", "AU01R", "AU02L", "AU02R"), basis("AU45L", "AU45R")
    identity = m.neutral + 2.0 * brows - 1.0 * lids
    t = 120
    shape = np.repeat(identity[None], t, axis=0)
    shape[20:80] += 3.0 * lids - 2.0 * brows  # the held downward look
    shape[100:106] += 5.0 * basis("AU45L")  # a wink
    pose = Pose(np.eye(3), 100.0, np.array([320.0, 240.0, 0.0]))
    meshes = np.array([pose.apply(x + rng.normal(0, 0.002, (478, 3))) for x in shape], np.float32)
    face = facs.extract_shot(_shot(meshes), filter="none")[0]
    rest = np.r_[0:20, 80:100, 106:120]
    for name in ("AU05L", "AU05R", "AU45L", "AU45R"):
        assert np.nanmax(face.raw[rest, face.names.index(name)]) < 0.5, name
    assert np.nanmean(face.raw[100:106, face.names.index("AU45L")]) > 4.0
    left_eye = face.calibration["neutral_frames"][0]
    assert not set(left_eye) & set(range(20, 80)), left_eye


def test_each_frame_is_solved_from_its_own_landmarks():
    """With solve_landmarks (the analyzer's unstabilised per-frame landmarks), each frame is solved
    from them, while the neutral is still found on the stabilised `landmarks`: a blink that the
    stabilisation halved reads at its full height, and a one-frame glitch in the per-frame
    landmarks of a resting frame does not move the neutral."""
    rng = np.random.default_rng(5)
    meshes, truth = _person_track(rng)
    a = _shot(meshes)
    a.solve_landmarks = a.landmarks.copy()
    smoothed = a.landmarks.copy()
    start = meshes[79].astype(np.float64)
    smoothed[80:84, 0] = start + 0.5 * (meshes[80:84] - start)  # the stabilised blink: half its height
    a.landmarks = smoothed
    a.solve_landmarks[10, 0, :468] += rng.normal(0, 2.0, (468, 3)).astype(np.float32)  # a glitch at rest
    face = facs.extract_shot(a, filter="none")[0]
    old = facs.extract_shot(ShotAnalysis(**{**a.__dict__, "solve_landmarks": None}), filter="none")[0]
    blink = face.raw[80:84, face.names.index("AU45L")]
    assert blink.mean() > 3.0 and blink.mean() > old.raw[80:84, old.names.index("AU45L")].mean() + 1.0
    np.testing.assert_allclose(face.calibration["neutral"], old.calibration["neutral"])
    assert np.nanmax(face.raw[20:40, face.names.index("AU12")]) < 0.3


def test_filters_refilter_json_openface_columns():
    rng = np.random.default_rng(3)
    meshes, _ = _person_track(rng)
    meshes[70:72] = np.nan
    face = facs.extract_shot(_shot(meshes), filter="one_euro")[0]
    raw = face.raw.copy()
    i12 = face.names.index("AU12")
    noisy = np.nanstd(np.diff(face.raw[43:57, i12]))
    assert noisy > 0  # the held smile carries landmark noise
    assert face.filter["name"] == "one_euro" and np.nanstd(np.diff(face.filtered[43:57, i12])) <= noisy
    face.refilter("savgol", window_s=0.3)
    assert np.array_equal(face.raw, raw, equal_nan=True) and face.filter["name"] == "savgol"
    assert np.isnan(face.filtered[70:72]).all() and np.isfinite(face.filtered[69, i12])
    assert np.all((face.filtered[:, :-5] >= 0) | np.isnan(face.filtered[:, :-5]))
    face.refilter("none")
    assert np.allclose(face.filtered[:, i12], np.clip(raw[:, i12], 0, 5), equal_nan=True)
    with pytest.raises(FacsimileError):
        face.refilter("kalman")
    cols = face.openface_columns()
    assert list(cols)[:2] == ["AU01_r", "AU02_r"] and "AU45_c" in cols and "AU12L_r" in cols and "AU26L_r" not in cols
    assert cols["AU12_c"][45] == 1.0 and cols["AU12_c"][10] == 0.0 and np.isnan(cols["AU12_r"][70])
    data = json.loads(json.dumps(face.to_json()))
    back = facs.FaceAUs.from_json(data)
    assert np.allclose(back.filtered, face.filtered, atol=1e-3, equal_nan=True)
    assert np.allclose(back.calibration["neutral"], face.calibration["neutral"], atol=1e-5)
    assert data["success"][70] is False and data["raw"]["AU12"][70] is None


def test_solve_frame_speed_budget():
    """One face-frame solve stays well under a few ms even on a loaded CI core (bench/au.py measures 1 ms)."""
    import time

    m = model()
    x = 100 * m.neutral + np.random.default_rng(0).normal(0, 0.3, (478, 3))
    cal = calibration_canonical()
    facs.solve_frame(x, cal)
    t0 = time.perf_counter()
    for _ in range(200):
        facs.solve_frame(x, cal)
    assert (time.perf_counter() - t0) / 200 < 5e-3


def test_read_openface_csv_and_cli(shared_media, tmp_path, capsys):
    from core.cli import main
    from core.facs.openface import read_openface_csv

    path = shared_media("reference", "OpenFace_Test.csv")
    cur = read_openface_csv(path)
    face = cur["faces"][0]
    assert len(face["frame"]) == 100 and face["frame"][0] == 1 and face["success"].all()
    assert face["AU45"].max() == pytest.approx(1.405) and "AU45_c" in face and face["pose_Rx"].shape == (100,)
    assert np.isfinite(face["gaze_x"]).all()
    out = tmp_path / "curves.json"
    assert main(["import-au", str(path), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["faces"]["0"]["AU01"][0] == pytest.approx(face["AU01"][0])
    capsys.readouterr()
    assert main(["import-au", str(path), "--out", str(out), "--json", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out) == {"output": str(out),
                                                   "faces": [{"face_id": 0, "frames": 100, "success": 100}]}
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(FacsimileError, match="not an OpenFace CSV"):
        read_openface_csv(bad)
    assert main(["import-au", str(bad)]) != 0


def test_openface_csv_variants_read_as_the_files_mean(tmp_path):
    """Found by a compositor's probe: an empty face_id made a face -9223372036854775808; failed
    rows (zeros, as OpenFace writes them) read a 180-degree gaze and a pose facing the camera;
    a tool's own text column or glibc's '-nan' failed the whole file; `project curves` CSVs lost
    their gaze (named gaze_x, not gaze_angle_x); x.curves.csv became x.curves.curves.json."""
    from core.cli import main
    from core.facs.openface import read_openface_csv

    head = "frame, face_id, timestamp, confidence, success, input, gaze_0_x, gaze_0_y, gaze_0_z, gaze_1_x, gaze_1_y, " \
           "gaze_1_z, pose_Rx, AU12_r\n"
    rows = [f"{f}, 0, {(f - 1) / 25:.3f}, 0.9, 1, shot010.mov, 0.1, 0.05, -0.99, 0.1, 0.05, -0.99, 0.2, -nan"
            for f in range(1, 6)] + ["6, 0, 0.2, 0, 0, shot010.mov, 0, 0, -0, 0, 0, -0, 0, 0"]
    path = tmp_path / "of.curves.csv"
    path.write_text(head + "\n".join(rows) + "\n")
    face = read_openface_csv(path)["faces"][0]
    assert np.isnan(face["AU12"]).all()  # -nan is missing, and the text column is not read
    assert face["gaze_x"][:5] == pytest.approx([np.arctan2(0.1, 0.99)] * 5) and np.isnan(face["gaze_x"][5])
    assert np.isnan(face["pose_Rx"][5]) and face["pose_Rx"][0] == pytest.approx(0.2) and face["confidence"][5] == 0
    assert main(["import-au", str(path)]) == 0
    data = json.loads((tmp_path / "of.curves.json").read_text())
    assert data["faces"]["0"]["plate_frame"] == [0, 1, 2, 3, 4, 5] and data["fps"] == pytest.approx(25.0)
    assert data["source"] == str(path.absolute())
    from core.facs.openface import _rate  # OpenFace rounds timestamps to the millisecond

    for fps, want in ((30000 / 1001, 29.97003), (60000 / 1001, 59.94006), (120, 120.0), (24, 24.0)):
        f = np.arange(1, 301)
        assert _rate(f, np.round((f - 1) / fps, 3)) == pytest.approx(want, abs=1e-5), fps
    path.write_text(head + "\n".join(rows).replace("6, 0, 0.2", "6, , 0.2") + "\n")
    with pytest.raises(FacsimileError, match="line 7: face_id \\(empty\\)"):
        read_openface_csv(path)
    ours = tmp_path / "ours.csv"  # the layout `project curves` writes
    ours.write_text("frame,timestamp,AU12_r,gaze_x,gaze_y\n1,0.0,2.5,0.1,-0.2\n2,0.04,3.0,0.15,-0.1\n")
    face = read_openface_csv(ours)["faces"][0]
    assert face["gaze_x"].tolist() == [0.1, 0.15] and face["gaze_y"].tolist() == [-0.2, -0.1]


def test_one_euro_is_zero_phase_offline():
    """A blink-like pulse keeps its timing through the default (offline) One-Euro filter; the
    causal filter, kept for live use, puts the onset late."""
    from core.facs.filters import one_euro

    rng = np.random.default_rng(5)
    x = np.zeros(100)
    x[50:54] = 5.0
    x += rng.normal(0, 0.05, 100)
    off, causal = one_euro(x, 25.0), one_euro(x, 25.0, zero_phase=False)

    def centre(y):
        w = np.clip(y - 0.5, 0, None)
        return float((w * np.arange(len(y))).sum() / w.sum())

    assert abs(centre(off) - centre(x)) < 0.25
    assert centre(causal) - centre(x) > 0.25
    assert off.max() > 3.0


def test_damaged_au_model_is_a_clear_error(tmp_path, monkeypatch):
    """A model file without the lip-parting readout, or with a scale out of order, or missing
    altogether, names itself and the fix instead of failing somewhere in a solve."""
    import shutil

    import core.facs.model as fm
    from core.paths import resources_dir

    src = resources_dir() / fm.MODEL_FILE
    shutil.copytree(resources_dir(), tmp_path, dirs_exist_ok=True)  # the catalogue and mesh data beside it
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    cases = {"no readout": {k: v for k, v in arrays.items() if not k.startswith("parting")},
             "scale out of order": {**arrays, "parting_scale": np.array([0.5, 0.04, 0.01])}}
    monkeypatch.setenv("FACSIMILE_RESOURCES", str(tmp_path))
    try:
        for data in cases.values():
            np.savez(tmp_path / fm.MODEL_FILE, **data)
            fm.model.cache_clear()
            with pytest.raises(FacsimileError, match="derive_bases.py or reinstall"):
                fm.model()
        (tmp_path / fm.MODEL_FILE).unlink()
        fm.model.cache_clear()
        with pytest.raises(FacsimileError, match="missing or damaged"):
            fm.model()
        shutil.copy(src, tmp_path / fm.MODEL_FILE)  # the shipped file loads from there
        fm.model.cache_clear()
        assert fm.model().parting_scale.tolist() == [0.01, 0.04, 0.5]
    finally:
        monkeypatch.undo()
        fm.model.cache_clear()


def _looking_up(neutral: np.ndarray, g: float) -> np.ndarray:
    """The neutral with the eyes turned up by g IOD: the irises up by g, the lid margins (and the
    lid skin they carry) up by LID_FOLLOW of it, as core.facs.gaze models lids riding the eye."""
    from core.facs import gaze

    pts, share, _ = gaze._field()
    out = neutral.copy()
    out[468:478, 1] -= g
    out[pts, 1] -= gaze.LID_FOLLOW * g * share
    return out


def test_an_upward_look_is_not_au05_or_au07():
    """The lids ride on the eyeball: an upward look raises both with the iris, which the solve
    read as AU05 and AU07 (5 on d12's eye-rolls). The lids' share of the look (read off the iris
    edge no lid moved) is taken back first, so the look reads neither, while the same lid rises
    over a still eye keep their readings: AU05 (the detector's iris top and centre follow the
    uncovered iris, its bottom stays), AU07 (the bottom follows the lower lid, the top a little).
    A blink, whose lids drag every iris point down, is untouched, and nothing gains closure."""
    from core.facs import gaze
    from core.facs.calibrate import calibration_from_frames
    from core.facs.model import basis_to_curves

    m = model()
    cal = calibration_from_frames(m.neutral[None])
    names = facs.au_curve_names()

    def au(x: np.ndarray, code: str) -> float:
        return float(facs.solve_frame(x, cal)[0][names.index(code)])

    def plain(x: np.ndarray, code: str) -> float:
        return float(basis_to_curves(solve_aligned(x, m.neutral)[0])[names.index(code)])

    look = _looking_up(m.neutral, 0.08)
    assert plain(look, "AU05") > 2.0 and plain(look, "AU07") > 2.0  # what the solve read before
    assert au(look, "AU05") < 0.5 and au(look, "AU07") < 0.5

    (rt, rb), (lt, lb) = gaze._field()[2]
    raised = facs.synthesize(m.neutral, {"AU05": 4})
    lid = float(m.neutral[159, 1] - raised[159, 1])
    raised[[rt, lt], 1] -= 0.7 * lid  # as the round trip's renders show the detector's iris
    raised[[468, 473], 1] -= 0.35 * lid
    assert abs(au(raised, "AU05") - plain(raised, "AU05")) < 1e-9
    squint = facs.synthesize(m.neutral, {"AU07": 4})
    lid = float(squint[145, 1] - m.neutral[145, 1]) * -1
    squint[[rb, lb], 1] -= 0.8 * lid
    squint[[rt, lt], 1] -= 0.008
    assert abs(au(squint, "AU07") - plain(squint, "AU07")) < 1e-9

    blink = facs.synthesize(m.neutral, {"AU45": 5})
    blink[468:478, 1] += 0.03  # dragged down by the closing lids
    assert au(blink, "AU45") == pytest.approx(plain(blink, "AU45"), abs=1e-9)
    no_iris = look.copy()
    no_iris[468:] = np.nan  # a 468-point mesh padded to 478: no turn can be read, the lids stay as measured
    assert au(no_iris, "AU05") == pytest.approx(plain(no_iris, "AU05"), abs=1e-9)
    squint_up = _looking_up(facs.synthesize(m.neutral, {"AU07": 4}), 0.04)
    assert au(squint_up, "AU45") <= plain(squint_up, "AU45") + 0.5
    assert au(squint_up, "AU07") > 1.0  # the squint beyond the look stays


def test_a_noisy_face_needs_a_larger_movement_to_read_as_an_au():
    """A small or dim face jitters more (in IOD) than the solve's LANDMARK_NOISE assumes (stage
    faces of short_hamilton_clip, 16-35 px between the eyes: 0.012-0.03 IOD), and that jitter read
    as AUs on every frame. Each track's noise is measured from its own landmarks (second
    differences over consecutive frames) and recorded; the activation cost grows with it, so the
    resting frames of a jittery face read fewer AUs, while a quiet face is solved as before and a
    smile far above the noise still reads."""
    from core.facs.extract import landmark_noise
    from core.facs.model import LANDMARK_NOISE

    rng = np.random.default_rng(7)
    quiet, _ = _person_track(rng)
    face_q = facs.extract_shot(_shot(quiet), filter="none")[0]
    assert face_q.calibration["landmark_noise"] == pytest.approx(LANDMARK_NOISE)

    jitter = 0.03  # IOD per coordinate
    noisy = quiet + rng.normal(0, jitter * 100.0, quiet.shape).astype(np.float32)  # the track's scale is 100 px/IOD
    a = _shot(noisy)
    face = facs.extract_shot(a, filter="none")[0]
    assert face.calibration["landmark_noise"] == pytest.approx(jitter, rel=0.25)
    assert "small movements do not read" in face.calibration["note"]  # said in the record and the log
    assert "note" not in face_q.calibration
    m = model()
    aligned = np.array([align(np.asarray(x, np.float64), m.neutral)[0] for x in noisy])
    # (the extraction measures it on the frames aligned onto the track's own neutral)
    assert landmark_noise(aligned, np.arange(len(noisy))) == pytest.approx(face.calibration["landmark_noise"], rel=0.02)
    au = [i for i, n in enumerate(face.names) if n in facs.au_curve_names() and n != "AU25"]
    rest = np.r_[0:40, 60:80, 90:120]
    quiet_cal = {**face.calibration, "landmark_noise": None}  # solved as if the noise were LANDMARK_NOISE
    assumed = [facs.solve_frame(noisy[t], quiet_cal)[0][au] for t in rest]
    # solve_frame (the streaming API) honours the track's measured noise, as the extraction does
    np.testing.assert_allclose(facs.solve_frame(noisy[5], face.calibration)[0][au], face.raw[5][au], atol=1e-5)
    summed_now = np.nansum(face.raw[rest][:, au], axis=1).mean()
    summed_before = np.nansum(np.array(assumed), axis=1).mean()
    print(f"resting frames, summed AUs: {summed_before:.2f} as if quiet -> {summed_now:.2f}")
    assert summed_now < 0.5 * summed_before, (summed_now, summed_before)
    assert np.nanmean(face.raw[45:55, face.names.index("AU12")]) > 1.5  # the smile (3) still reads


def test_a_damaged_openface_csv_names_its_line(tmp_path):
    """import-au took every one of these without a word: text and inf became null, AU -7 and 99
    were kept, frame 3.5 became 3 (a duplicate), -5 was taken, a duplicated row made 103 frames,
    and a header-only file exit 0 with no faces. Reversed rows are put in frame order."""
    from core.facs.openface import read_openface_csv

    head = "frame, face_id, timestamp, confidence, success, AU01_r, AU12_r, AU45_c\n"
    rows = [f"{f}, 0, {f / 25:.3f}, 0.98, 1, 0.5, {f / 10:.2f}, 0" for f in range(1, 11)]

    def write(lines: list[str]) -> Path:
        p = tmp_path / "of.csv"
        p.write_text(head + "\n".join(lines) + "\n")
        return p

    for lines, says in ((rows[:3] + ["4, 0, 0.16, 0.98, 1, abc, 0.4, 0"], "line 5, column AU01_r: 'abc'"),
                        (rows[:3] + ["4, 0, 0.16, 0.98, 1, inf, 0.4, 0"], "'inf' is not a number"),
                        (rows[:3] + ["4, 0, 0.16, 0.98, 1, 99, 0.4, 0"], "line 5, column AU01_r: 99 is outside"),
                        (rows[:3] + ["3.5, 0, 0.16, 0.98, 1, 1, 0.4, 0"], "frame '3.5'"),
                        (["-5, 0, 0.16, 0.98, 1, 1, 0.4, 0"], "frame '-5'"),
                        (rows[:3] + rows[2:3], "frame 3 of face 0 appears twice"), ([], "no rows")):
        with pytest.raises(FacsimileError, match=re.escape(says)):
            read_openface_csv(write(lines))
    face = read_openface_csv(write(rows[::-1] + ["11, 0, 0.44, 0.98, 1, -0.2, 5.3, 0", "12, 0, 0.48, 0, 0, nan, , 0"]))["faces"][0]
    assert face["frame"].tolist() == list(range(1, 13))
    assert face["AU12"][:10].tolist() == pytest.approx([f / 10 for f in range(1, 11)])
    assert face["AU01"][10] == 0.0 and face["AU12"][10] == 5.0  # overshoot clipped
    assert np.isnan(face["AU12"][11])  # an empty cell is missing
