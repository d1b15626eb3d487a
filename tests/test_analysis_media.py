"""Face analysis on the real shared test media (skipped with a reason when it is absent)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.analysis.analyzer import Analyzer, main_track
from core.analysis.image import load_image
from core.analysis.types import ShotAnalysis
from core.cli import main


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_identity_same_and_different_person(shared_media, capsys):
    obama, obama_hd, biden = (shared_media("stills", n) for n in ("obama.jpg", "obama-1080p.jpg", "biden.jpg"))
    assert main(["compare-faces", str(obama), str(obama_hd)]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["same_person"] is True and same["distance"] < 0.6
    assert main(["compare-faces", str(obama), str(biden)]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["same_person"] is False and diff["distance"] > 0.6


def test_multi_face_still_has_five_faces_largest_first(shared_media, analyzer):
    faces = analyzer.analyze_image(load_image(shared_media("stills", "multi_face.jpg")))
    assert len(faces) == 5
    sizes = [f.size for f in faces]
    assert sizes == sorted(sizes, reverse=True)
    # five different people
    e = np.array([f.embedding for f in faces])
    d = np.linalg.norm(e[:, None] - e[None], axis=2)
    assert (d[np.triu_indices(5, 1)] > 0.45).all()


@pytest.mark.parametrize("name", ["BWPictureHuman.jpg", "Image_with_alpha.png"])
def test_grayscale_and_rgba_stills_analyse(shared_media, tmp_path, name, capsys):
    path = shared_media("stills", name)
    assert main(["analyze", str(path), "--out", str(tmp_path)]) == 0
    a = ShotAnalysis.load(tmp_path / "analysis.npz")
    assert a.n_frames == 1
    assert (tmp_path / f"{path.stem}.csv").exists()
    if name == "Image_with_alpha.png":
        assert a.n_tracks == 1 and np.isfinite(a.landmarks[0, 0]).all()


def test_no_face_clip_exits_zero_with_note(shared_media, tmp_path, capsys):
    path = shared_media("clips", "no_face.mp4")
    assert main(["analyze", str(path), "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "no face found" in err
    a = ShotAnalysis.load(tmp_path / "analysis.npz")
    assert a.n_tracks == 0 and a.n_frames > 90
    with open(tmp_path / "no_face.csv") as fh:
        rows = list(csv.DictReader(fh, skipinitialspace=True))
    assert len(rows) == a.n_frames and all(r["success"] == "0" for r in rows)


def test_face_then_cut_to_no_face(shared_media, analyzer):
    a = analyzer.analyze(shared_media("clips", "face_noface.mov"))
    assert a.n_tracks >= 1 and a.meta["cuts"] >= 1
    m = main_track(a)
    seen = np.flatnonzero(a.present[:, m])
    last = int(seen.max())
    assert seen.min() == 0 and a.present[: last + 1, m].mean() > 0.95
    assert last < a.n_frames - 20
    assert not a.present[last + 3:].any()  # after the cut: no face at all, every frame kept
    assert a.n_frames == 169


def test_hamilton_performer_keeps_one_track(shared_media, analyzer, tmp_path):
    a = analyzer.analyze(shared_media("clips", "short_hamilton_clip.mp4"))
    assert a.n_frames == 275 and a.meta["cuts"] >= 2
    m = main_track(a)
    p = a.present[:, m]
    # the performer: seen in the wide opening shot and again after two cuts, under one id
    assert p[:15].mean() > 0.9, np.flatnonzero(p)
    assert p[90:200].mean() > 0.9, np.flatnonzero(p)
    # and never in the audience shot at the end
    assert not p[215:].any(), np.flatnonzero(p)
    ids_in_closeup = {f for t in range(90, 200) for f in np.flatnonzero(a.present[t]) if f != m}
    assert len(ids_in_closeup) <= 1


def test_pose_convention_matches_openface_reference(shared_media):
    """Our head model fitted to OpenFace's own 3D landmarks reads OpenFace's pose_R* angles."""
    from core.analysis.landmarks68 import MP_TO_68
    from core.analysis.pose import euler_from_matrix, reference_model, umeyama

    with open(shared_media("reference", "OpenFace_Test.csv")) as fh:
        rows = list(csv.DictReader(fh, skipinitialspace=True))
    model = reference_model()[0][MP_TO_68]
    stable = list(range(17, 48))  # brows, nose, eyes: the jaw lines of the two models differ
    for r in rows[::10]:
        pts = np.array([[float(r[f"{c}_{i}"]) for c in "XYZ"] for i in range(68)])
        _, rot, _ = umeyama(model[stable], pts[stable])
        ref = [float(r["pose_Rx"]), float(r["pose_Ry"]), float(r["pose_Rz"])]
        np.testing.assert_allclose(euler_from_matrix(rot), ref, atol=0.03)


def test_cli_analyze_clip_frame_range(shared_media, tmp_path, capsys):
    clip = shared_media("clips", "d0.mp4")
    assert main(["analyze", str(clip), "--out", str(tmp_path), "--frames", "10-29"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["frames"] == 20 and res["faces"] == 1
    a = ShotAnalysis.load(tmp_path / "analysis.npz")
    assert list(a.frame_indices) == list(range(10, 30)) and a.present.all()
    assert abs(a.timestamps[0] - 10 / 25) < 1e-6
    with open(tmp_path / "d0.csv") as fh:
        rows = list(csv.DictReader(fh, skipinitialspace=True))
    assert [int(r["frame"]) for r in rows] == list(range(11, 31))  # OpenFace's 1-based frame numbers
    assert all(r["success"] == "1" and r["face_id"] == "0" for r in rows)
    # --no-refine: the landmark network's own landmarks; the refinement leaves the track's first
    # (anchor) frame as detected and moves the later ones, and the analysis says which it was
    assert a.meta["landmark_refinement"] != "none" and a.meta["refine_failures"] == 0
    assert main(["analyze", str(clip), "--out", str(tmp_path / "raw"), "--frames", "10-29", "--no-refine"]) == 0
    raw = ShotAnalysis.load(tmp_path / "raw" / "analysis.npz")
    assert raw.meta["landmark_refinement"] == "none"
    np.testing.assert_allclose(raw.landmarks[0], a.landmarks[0], atol=1e-3)
    assert np.abs(raw.landmarks[1:, :, :468, :2] - a.landmarks[1:, :, :468, :2]).max() > 0.5  # pixels
    assert main(["analyze", str(clip), "--out", str(tmp_path / "late"), "--frames", "70-99"]) == 3  # past the end
    assert "outside" in capsys.readouterr().err
    assert not (tmp_path / "late").exists()  # a failed analysis leaves no empty folder


def test_close_up_face_found_by_the_short_range_fallback(shared_media, analyzer):
    """A face filling the frame (posed still 45-m7-di-ph.jpg, 512 px, the face ~270 px wide) is
    missed by BlazeFace full-range at any score; the short-range model finds it."""
    from core.analysis.defaults import MediaPipeDetector

    img = load_image(shared_media("stills", "45-m7-di-ph.jpg"))
    assert MediaPipeDetector(close_up_fallback=False).detect(img) == []
    dets = MediaPipeDetector().detect(img)
    assert len(dets) == 1 and dets[0].score > 0.8
    x0, y0, x1, y1 = dets[0].bbox
    assert 200 < x1 - x0 < 350
    faces = analyzer.analyze_image(img, embed=False)
    assert len(faces) == 1 and faces[0].landmarks.shape == (478, 3)


def _eye_angles_x(a, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At plate frame `frame` of track 0: (gaze_angle_x, y), each eye's own x angle (eye 0 the
    subject's right) and the head's (pitch, yaw, roll)."""
    from core.analysis.pose import estimate_pose

    t = int(np.flatnonzero(a.frame_indices == frame)[0])
    hp = estimate_pose(a.landmarks[t, 0], a.width, a.height)
    v = hp.gaze_vectors
    return a.gaze[t, 0], np.arctan2(v[:, 0], -v[:, 2]), a.pose[t, 0]


def test_gaze_follows_the_eyes_on_a_real_clip(shared_media, analyzer):
    """d0.mp4 (a level head, the eyes moving), frames checked by eye on crops with the gaze drawn
    (bench/gaze.py --draw): 4 and 72 look into the lens, 18 to the image right, 38 far to the
    image left. Each eye is read on its own and both agree on the direction."""
    a = analyzer.analyze(shared_media("clips", "d0.mp4"), frames=(0, 73))
    for frame in (4, 72):
        gaze, eyes, _ = _eye_angles_x(a, frame)
        assert np.abs(gaze).max() < 0.1 and np.abs(eyes).max() < 0.15, (frame, gaze, eyes)
    gaze, eyes, _ = _eye_angles_x(a, 18)
    assert gaze[0] > 0.4 and eyes.min() > 0.3, (gaze, eyes)
    gaze, eyes, _ = _eye_angles_x(a, 38)
    assert gaze[0] < -0.5 and eyes.max() < -0.3, (gaze, eyes)


@pytest.mark.xfail(strict=True, reason=(
    "d3.mp4 frame 277 (checked by eye): the head turned 0.38-0.40 rad, the eyes back on the lens. Gaze "
    "reads 0.17 here (a track begun at frame 270; 0.29 in a whole-clip analysis, whose flow refinement "
    "moves the corners but not the irises; the former head-frame iris offset read 0.33). The near eye "
    "reads 0.09 (0.01 without the refinement); eye 1 (her left, the far one here) 0.26-0.45: its "
    "landmarked outer corner sits inside the visible one on every frame (0.24 on frontal frame 300 too), "
    "so its eyeball centre is placed too far in"))
def test_turned_head_looking_into_the_lens_reads_near_zero(shared_media, analyzer):
    a = analyzer.analyze(shared_media("clips", "d3.mp4"), frames=(270, 285))
    gaze, eyes, pose = _eye_angles_x(a, 277)
    assert pose[1] < -0.3
    assert abs(gaze[0]) < 0.1, (gaze, eyes)
