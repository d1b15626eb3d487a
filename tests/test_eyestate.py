"""Eye state by appearance (core.analysis.eyestate) and the lift of shut eyes' AU45
(core.facs.eyes): the open-eye detector on a real face, the rule that uses it, and the analysis
that stores it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from core.analysis.analyzer import Analyzer
from core.analysis.eyestate import (
    CHECK_FRACTION,
    REFERENCE_EVERY,
    EyeStateSampler,
    lid_aperture,
    open_eye_evidence,
    to_gray,
)
from core.analysis.types import ShotAnalysis
from core.facs.eyes import FULL, MIN_REFERENCE, lift_shut_eyes

# MediaPipe's contour of each eye opening (subject's right, left)
EYE_RINGS = ([33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
             [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398])


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    img = skimage.data.astronaut()
    found = Analyzer().analyze_image(img, embed=False)
    assert found, "MediaPipe finds no face on the astronaut portrait"
    return img, found[0].landmarks


def _painted_shut(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Both eyes painted over with the skin around them (inpainting) and a dark lash line from
    corner to corner through the lower lid: an eye with nothing of the eyeball showing."""
    mask = np.zeros(img.shape[:2], np.uint8)
    for ring in EYE_RINGS:
        cv2.fillPoly(mask, [np.round(pts[ring, :2]).astype(np.int32)], 255)
    out = cv2.inpaint(img, cv2.dilate(mask, np.ones((5, 5), np.uint8)), 5, cv2.INPAINT_TELEA)
    for a, low, b in ((33, 145, 133), (263, 374, 362)):
        cv2.polylines(out, [np.round(pts[[a, low, b], :2]).astype(np.int32)], False, (40, 30, 30), 2, cv2.LINE_AA)
    return out


def test_open_eyes_fire_the_detector_and_shut_ones_do_not(face):
    img, pts = face
    open_ = open_eye_evidence(to_gray(img), pts)
    shut = open_eye_evidence(to_gray(_painted_shut(img, pts)), pts)
    print(f"\nastronaut open-eye windows: open {open_}, painted shut {shut}")
    assert (open_ >= MIN_REFERENCE).all()
    assert (shut <= 0.1 * open_).all()
    # the crop is levelled: the same face turned in the image plane gives the same evidence
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    turned = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    pts_t = np.c_[pts[:, :2] @ m[:, :2].T + m[:, 2], pts[:, 2]]
    turned_ev = open_eye_evidence(to_gray(turned), pts_t)
    assert (turned_ev >= 0.5 * open_).all(), turned_ev


def test_unusable_eyes_give_no_evidence(face):
    img, pts = face
    tiny = cv2.resize(img, (img.shape[1] // 8, img.shape[0] // 8), interpolation=cv2.INTER_AREA)
    assert np.isnan(open_eye_evidence(to_gray(tiny), pts / 8)).all()  # eyes a few pixels wide
    off = pts.copy()
    off[:, 0] -= pts[33, 0]  # the right eye's outer corner on the frame's edge: its crop leaves it
    assert np.isnan(open_eye_evidence(to_gray(img), off)[0])
    assert np.isnan(open_eye_evidence(to_gray(img), pts, eyes=(True, False))[1])


def test_sampler_checks_closing_eyes_and_a_reference(face):
    img, pts = face
    sampler = EyeStateSampler()
    gray = to_gray(img)
    calls = []

    def gray_fn():
        calls.append(1)
        return gray

    steady = [sampler(gray_fn, pts) for _ in range(2 * REFERENCE_EVERY)]
    checked = [bool(np.isfinite(e).any()) for e in steady]
    assert checked == [i % REFERENCE_EVERY == 0 for i in range(2 * REFERENCE_EVERY)]
    assert len(calls) == 2  # the grayscale is only made for frames that check an eye
    closing = pts.copy()
    mid = (pts[159] + pts[145]) / 2  # the right eye's lids meet in the middle
    closing[[159, 145]] = mid + (pts[[159, 145]] - mid) * (CHECK_FRACTION / 2)
    assert lid_aperture(closing)[0] < CHECK_FRACTION * lid_aperture(pts)[0]
    ev = sampler(gray_fn, closing)  # frame 12 is a reference frame too; the next is not
    ev = sampler(gray_fn, closing)
    assert np.isfinite(ev[0]) and np.isnan(ev[1])


def test_lift_reads_a_shut_eye_as_shut_and_leaves_the_rest():
    t = 40
    rng = np.random.default_rng(3)
    evidence = np.full((t, 2), np.nan)
    evidence[::4] = rng.uniform(150, 250, (10, 2))  # reference frames: open eyes
    au45 = np.zeros((t, 2))
    # frame 5: a blink the landmarks read at 3.8 (right) and 2.0 (left); the detector sees nothing
    au45[5], evidence[5] = [3.8, 2.0], [1, 2]
    # frame 9: lids at 4.0 but the detector still sees an open eye (a third of its level)
    au45[9], evidence[9] = [4.0, 4.0], [70, 70]
    # frame 13: a squint or a sideways look: the detector is quiet, the landmarks read little
    au45[13], evidence[13] = [1.2, 1.5], [0, 0]
    # frame 17: in between: lids at 3.0, the detector at 7.5 % of its open level
    au45[17], evidence[17] = [3.0, 3.0], [0.075 * 230, 0.075 * 230]
    au45[21] = [np.nan, np.nan]  # no face
    out, rec = lift_shut_eyes(au45, evidence)
    assert out[5, 0] == FULL and out[5, 1] == 2.0  # a partial reading is not made a closure
    assert list(out[9]) == [4.0, 4.0] and list(out[13]) == [1.2, 1.5]
    assert 3.0 < out[17, 0] < 4.5
    assert np.isnan(out[21]).all()
    assert rec["frames_lifted"] == [2, 1] and all(r > 200 for r in rec["open_reference"])
    untouched = np.delete(np.arange(t), [5, 17])
    np.testing.assert_array_equal(out[untouched], au45[untouched])
    # a head turned past 30 degrees: the frontal detector is not trusted there
    yaw = np.zeros(t)
    yaw[5] = np.radians(40)
    turned, _ = lift_shut_eyes(au45, evidence, yaw)
    assert list(turned[5]) == [3.8, 2.0] and abs(turned[17, 0] - out[17, 0]) < 0.01
    # a face whose open eyes hardly fire the detector, or too few checked frames: nothing changes
    weak, rec = lift_shut_eyes(au45, np.where(np.isfinite(evidence), evidence / 20, np.nan))
    np.testing.assert_array_equal(weak, au45)
    assert rec["open_reference"] == [None, None]
    few = evidence.copy()
    few[8:] = np.nan
    np.testing.assert_array_equal(lift_shut_eyes(au45, few)[0], au45)


def test_analysis_stores_the_eye_state(face, tmp_path):
    img, _pts = face
    frames = [img] * 8 + [np.zeros_like(img)] * 2
    a = Analyzer(refine=False).analyze(frames, fps=25)
    assert a.eye_open is not None and a.eye_open.shape == (10, 1, 2)
    assert (a.eye_open[0] >= MIN_REFERENCE).all()  # the first frame of a track is a reference
    assert np.isnan(a.eye_open[8:]).all()  # no face
    a.save(tmp_path / "a.npz")
    b = ShotAnalysis.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(a.eye_open, b.eye_open)
    old = ShotAnalysis(**{**a.__dict__, "eye_open": None})  # written before the eye state existed
    old.save(tmp_path / "old.npz")
    assert ShotAnalysis.load(tmp_path / "old.npz").eye_open is None


def test_the_summary_says_when_eyes_were_read_shut():
    """Through the project's extraction record (what the studio inspector and `project calibrate`
    read), from a face's calibration as extract_shot leaves it."""
    from types import SimpleNamespace

    from core.curves.curveset import extraction_of
    from core.project.workflow import calibration_summary

    cal = {"method": "auto", "neutral": np.zeros((478, 3)), "neutral_frames": [],
           "eye_state": {"open_reference": [230.0, 280.0], "frames_lifted": [35, 22]}}
    face = SimpleNamespace(calibration=cal, filter={"name": "one_euro"})
    assert "eyes read shut by appearance on 35 (right) / 22 (left) frames" in calibration_summary(extraction_of(face))
    cal["eye_state"] = {"open_reference": [230.0, None], "frames_lifted": [0, 0]}
    assert "eyes read shut" not in calibration_summary(extraction_of(face))
