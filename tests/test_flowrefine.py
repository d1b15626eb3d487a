"""Landmark refinement by optical flow (core.analysis.flowrefine) on images with known motion.

A textured face-sized image carries the canonical mesh; the next frame is the same image
warped by a real AU deformation (core.facs.synthesize + the render's piecewise-affine warp),
and the 'detector' reports only part of it, as MediaPipe does on such warps. The refiner must
put the landmarks back where the texture went, keep rigid head motion, and leave the
detector's landmarks alone where the image gives no evidence (an occluder).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import core.facs as facs
from core.analysis.flowrefine import MAX_CORRECTION, FlowRefiner
from core.facs.model import model
from core.render.warp import fill_mesh, warp_image

IOD = 120.0  # pixels


def _texture(size: int = 640) -> np.ndarray:
    """Smooth random texture at several scales, RGB uint8 (deterministic)."""
    rng = np.random.default_rng(4)
    img = np.zeros((size, size), np.float32)
    for sigma, amp in ((12, 0.5), (4, 0.35), (1.5, 0.15)):
        img += amp * cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma) * sigma
    img = cv2.normalize(img, None, 30, 225, cv2.NORM_MINMAX)
    return cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_GRAY2RGB)


def _mesh(size: int = 640) -> np.ndarray:
    """The canonical neutral mesh in pixels (IOD px, centred a little above the middle)."""
    return model().neutral * IOD + np.array([size / 2, size * 0.42, 0.0])


def _warp(img: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    sp, tris = fill_mesh(src[:, :2])
    dp, _ = fill_mesh(dst[:, :2])
    out, mask = warp_image(img, sp, dp, tris)
    return np.where(mask[..., None] > 0, out, img).astype(np.uint8)


def _moved(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm((a - b)[:468, :2], axis=1) > 2.0


# (case, largest refined error as a share of the detector's). A closing lid squeezes the eye's
# texture into a line, where patch flow is weakest (measured 0.52; the others 0.12-0.20).
@pytest.mark.parametrize(("case", "bound"), [({"AU12": 4.0}, 0.3), ({"AU01": 4.0, "AU02": 3.0}, 0.3),
                                             ({"AU06": 4.0, "AU09": 3.0}, 0.3), ({"AU45L": 4.0}, 0.7)])
def test_refinement_recovers_what_the_detector_missed(case, bound):
    img0, l0 = _texture(), _mesh()
    l1 = facs.synthesize(l0, case)
    img1 = _warp(img0, l0, l1)
    det1 = l0 + 0.4 * (l1 - l0)  # the detector reports 40% of the movement
    ref = FlowRefiner()
    out0, _ = ref.refine(img0, l0)
    np.testing.assert_allclose(out0, l0, atol=1e-3)  # the anchor frame is the detector's
    out1, agree = ref.refine(img1, det1)
    mv = _moved(l1, l0)
    err_det = np.linalg.norm((det1 - l1)[:468, :2][mv], axis=1)
    err_ref = np.linalg.norm((out1 - l1)[:468, :2][mv], axis=1)
    assert agree > 0.8
    # most of what the detector missed is recovered, on nearly every moving point
    assert err_ref.mean() < bound * err_det.mean(), (err_ref.mean(), err_det.mean())
    assert np.mean(err_ref < err_det) > 0.85
    np.testing.assert_allclose(out1[:, 2], det1[:, 2])  # depth stays the detector's


def test_refinement_keeps_rigid_head_motion():
    """A moved, rotated and scaled face with an under-reported smile: the detector's rigid part is kept
    and the missing smile is added."""
    img0, l0 = _texture(), _mesh()
    l1 = facs.synthesize(l0, {"AU12": 4.0, "AU25": 1.0})  # lips just apart
    ang, s, t = np.deg2rad(6.0), 1.08, np.array([14.0, -9.0])
    rot = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    c = np.array([320.0, 270.0])

    def rigid(x: np.ndarray) -> np.ndarray:
        y = x.copy()
        y[:, :2] = (x[:, :2] - c) @ rot.T + c + t
        return y

    m = np.hstack([rot, (c + t - rot @ c)[:, None]])
    img1 = cv2.warpAffine(_warp(img0, l0, l1), m, (640, 640), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    truth = rigid(l1)
    det1 = rigid(l0 + 0.4 * (l1 - l0))
    ref = FlowRefiner()
    ref.refine(img0, l0)
    out1, _ = ref.refine(img1, det1)
    mv = _moved(l1, l0)
    err_det = np.linalg.norm((det1 - truth)[:468, :2][mv], axis=1).mean()
    err_ref = np.linalg.norm((out1 - truth)[:468, :2][mv], axis=1).mean()
    assert err_ref < 0.35 * err_det, (err_ref, err_det)
    still = ~mv
    assert np.median(np.linalg.norm((out1 - truth)[:468, :2][still], axis=1)) < 0.5  # pixels


def test_occluded_region_keeps_the_detector():
    """A flat patch over the mouth gives the flow nothing to follow: no landmark moves by more
    than MAX_CORRECTION from the detector's, and the mean agreement drops."""
    img0, l0 = _texture(), _mesh()
    ref = FlowRefiner()
    ref.refine(img0, l0)
    img1 = img0.copy()
    mouth = l0[[61, 291, 0, 17], :2]
    x0, y0 = (mouth.min(0) - 0.15 * IOD).astype(int)
    x1, y1 = (mouth.max(0) + 0.15 * IOD).astype(int)
    img1[y0:y1, x0:x1] = 128
    out1, agree = ref.refine(img1, l0)
    shift = np.linalg.norm((out1 - l0)[:, :2], axis=1) / IOD
    assert shift.max() <= MAX_CORRECTION + 1e-6
    clear = ref.refine(img0, l0)[1]
    assert agree < clear


def test_anchor_per_head_turn_and_bad_input():
    """A head turn beyond the re-anchor angle adds an anchor; returning reuses the first; missing
    landmarks come back untouched."""
    img0, l0 = _texture(), _mesh()
    ref = FlowRefiner()
    ref.refine(img0, l0)
    assert ref.anchors == 1
    ang = np.deg2rad(20.0)
    ry = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    c = l0[:468].mean(0)
    turned = (l0 - c) @ ry.T + c
    ref.refine(_warp(img0, l0, turned), turned)
    assert ref.anchors == 2
    ref.refine(img0, l0)
    assert ref.anchors == 2
    bad = l0.copy()
    bad[5] = np.nan
    out, agree = ref.refine(img0, bad)
    assert agree == 0.0 and np.isnan(out[5]).all()
    ref.reset()
    ref.refine(img0, l0)
    assert ref.anchors == 3


def test_a_frame_the_refinement_cannot_take_keeps_the_detector(caplog):
    """The analyzer's worker step: a frame OpenCV refuses (float64 RGB) keeps its landmarks, is
    counted and logged, and the next good frame is refined again."""
    from core.analysis.analyzer import _refine

    img0, l0 = _texture(), _mesh()
    ref = FlowRefiner()
    _refine(ref, True, img0, l0)
    with caplog.at_level("WARNING"):
        out = _refine(ref, False, img0.astype(np.float64), l0 + 1.0)
    np.testing.assert_allclose(out, l0 + 1.0, atol=1e-4)
    assert ref.failures == 1 and "keeps the detector's landmarks" in caplog.text
    assert np.isfinite(_refine(ref, False, img0, l0)).all()


def test_face_cut_by_the_frame_edge():
    """Half the face is outside the plate and the head moves: past the edge the crop repeats the
    border pixels, which do not move with the face, so landmarks there (and near it) keep the
    detector's position instead of following the smeared edge."""
    img, l0 = _texture(), _mesh()
    cut = int(l0[:468, 0].mean())  # the plate starts at the middle of the face
    shift = np.float32([[1, 0, 6.0], [0, 1, 3.0]])
    moved = cv2.warpAffine(img, shift, (640, 640), borderMode=cv2.BORDER_REFLECT)
    f0, f1 = np.ascontiguousarray(img[:, cut:]), np.ascontiguousarray(moved[:, cut:])
    det0 = l0 - np.array([cut, 0.0, 0.0])
    det1 = det0 + np.array([6.0, 3.0, 0.0])  # the detector follows the rigid move exactly
    ref = FlowRefiner()
    ref.refine(f0, det0)
    out, _ = ref.refine(f1, det1)
    err = np.linalg.norm((out - det1)[:468, :2], axis=1)
    off = det1[:468, 0] < 0
    assert off.sum() > 100 and err[off].max() < 1e-3  # off the plate: the detector's, untouched
    assert np.median(err[~off]) < 0.5  # pixels
