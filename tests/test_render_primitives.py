"""Render primitives: warp, masks, colour, Poisson blend (vs an exact sparse solve), seams."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import FacsimileError
from core.facs import mesh
from core.render import backend, blend, colour, masks, poisson, warp

REPO = Path(__file__).resolve().parent.parent


@cache
def _bench_poisson():
    spec = importlib.util.spec_from_file_location("bench_poisson", REPO / "bench" / "poisson.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@cache
def astronaut_and_landmarks() -> tuple[np.ndarray, np.ndarray]:
    import mediapipe as mp
    from skimage.data import astronaut

    img = astronaut()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
        res = fm.process(img)
    h, w = img.shape[:2]
    lm = np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark], np.float32)
    return img, lm


# ---------------------------------------------------------------- backend

def test_backend_numpy_and_missing_cupy_is_clear():
    assert backend.get_backend("numpy") is np
    assert backend.xp_for(np.zeros(3)) is np
    with pytest.raises(FacsimileError, match="unknown render backend"):
        backend.get_backend("opencl")
    if not backend.cupy_available():
        with pytest.raises(FacsimileError, match="not available"):
            backend.get_backend("cupy")


# ---------------------------------------------------------------- warp

def test_warp_identity_leaves_image_unchanged():
    img, lm = astronaut_and_landmarks()
    out, valid = warp.warp_image(img, lm, lm)
    inside = valid > 0
    assert inside.sum() > 5000
    assert np.array_equal(out[inside], img[inside])
    assert (out[~inside] == 0).all()


def test_warp_known_affine_equals_warpaffine():
    img, lm = astronaut_and_landmarks()
    m = np.array([[0.9, 0.12, 30.0], [-0.08, 1.05, -12.0]])
    dst = lm.copy()
    dst[:, :2] = lm[:, :2] @ m[:, :2].T + m[:, 2]
    out, valid = warp.warp_image(img, lm, dst)
    ref = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.erode(valid, np.ones((3, 3), np.uint8)) > 0
    diff = np.abs(out.astype(int) - ref.astype(int))[inside]
    assert diff.max() <= 1, diff.max()


def test_warp_fill_mesh_covers_eyes_and_mouth_and_matches_per_triangle():
    img, lm = astronaut_and_landmarks()
    dst = lm.copy()
    dst[:, 1] += 3.0 * np.sin(lm[:, 0] / 20.0)
    p, t = warp.fill_mesh(lm)
    q, _ = warp.fill_mesh(dst)
    assert len(p) == mesh.N_POINTS + 3 and len(t) > len(mesh.triangles())
    out_fill, v_fill = warp.warp_image(img, p, q, t)
    _, v_hole = warp.warp_image(img, lm, dst)
    eye = masks.region_mask(dst, img.shape, masks.Regions(skin=False, brows=False, mouth_interior=False)) > 0.9
    assert v_fill[eye].all() and v_hole[eye].mean() < 0.6  # small eyes: rasterised edges cover some
    ref = warp.warp_per_triangle(img, p, q, t)
    inner = cv2.erode(v_fill, np.ones((5, 5), np.uint8)) > 0
    assert np.abs(out_fill.astype(int) - ref.astype(int))[inner].mean() < 0.5


def _source_of(lm: np.ndarray, dst: np.ndarray, at: np.ndarray, eyeball: bool) -> np.ndarray:
    """How far from `at` in the source the warp to `dst` samples the destination point `at`."""
    if eyeball:
        p, q, t = warp.fill_mesh_pair(lm, dst)
    else:
        (p, t), (q, _) = warp.fill_mesh(lm), warp.fill_mesh(dst)
    x, y = int(np.floor(at[0])), int(np.floor(at[1]))
    wm = warp.compute_warp_map(p, q, t, (x, y, x + 2, y + 2))
    fx, fy = at[0] - x, at[1] - y  # bilinear between the 2x2 pixels around the exact point
    wts = np.array([[(1 - fx) * (1 - fy), fx * (1 - fy)], [(1 - fx) * fy, fx * fy]])
    return np.array([(wm.map_x * wts).sum(), (wm.map_y * wts).sum()]) - at[:2]


def _fan_folds(p: np.ndarray, q: np.ndarray, t: np.ndarray) -> int:
    """Fan triangles of the eye and mouth openings whose orientation the warp p -> q reverses."""
    f = t[len(mesh.triangles()):]

    def area(x: np.ndarray) -> np.ndarray:
        a, b = x[f[:, 1], :2] - x[f[:, 0], :2], x[f[:, 2], :2] - x[f[:, 0], :2]
        return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]

    return int((np.sign(area(p)) != np.sign(area(q))).sum())


@pytest.mark.parametrize("case", [{"AU05R": 5, "AU05L": 5}, {"AU05R": 3, "AU07L": 3}, {"AU07R": 2, "AU07L": 2}])
def test_warp_keeps_the_eyeball_still_under_moving_lids(case):
    """A lid that rises or tightens slides over the eyeball (fill_mesh_pair): the point at each
    iris centre still shows the source's iris centre, where a fan to the moving lids' centroid
    (fill_mesh on each end) drags it with a raised lid (0.7 px on this small face; it animates
    as a swimming eye), and no fan triangle folds."""
    from core.facs import synthesize

    _img, lm = astronaut_and_landmarks()
    dst = synthesize(lm.astype(np.float64), case).astype(np.float32)
    for iris, side in ((468, "R"), (473, "L")):
        assert np.allclose(dst[iris, :2], lm[iris, :2], atol=1e-3)  # the AUs leave the irises where they are
        still = np.hypot(*_source_of(lm, dst, lm[iris], eyeball=True))
        dragged = np.hypot(*_source_of(lm, dst, lm[iris], eyeball=False))
        assert still < 0.15, (case, iris, still)  # bilinear across the fan triangles meeting there
        if case.get("AU05" + side, 0) >= 5:
            assert dragged > 0.5, (case, iris, dragged)
    assert _fan_folds(*warp.fill_mesh_pair(lm, dst)) == 0


def test_warp_pair_keeps_the_centroid_fan_for_a_closing_eye():
    """A closing eye has no room around the eyeball's centre: fill_mesh_pair then fans that eye
    to its lids' centroid at both ends, exactly as fill_mesh does, and the open eye keeps its
    eyeball."""
    from core.facs import synthesize

    _img, lm = astronaut_and_landmarks()
    dst = synthesize(lm.astype(np.float64), {"AU45R": 5, "AU05L": 5}).astype(np.float32)
    p, q, t = warp.fill_mesh_pair(lm, dst)
    (p0, t0), (q0, _) = warp.fill_mesh(lm), warp.fill_mesh(dst)
    n = len(lm)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(q[n], q0[n])  # right eye (shut): the centroid fan
    np.testing.assert_array_equal(p[n], p0[n])
    np.testing.assert_allclose(p[n + 1, :2], lm[473, :2])  # left eye (raised lid): around the iris
    assert np.hypot(*_source_of(lm, dst, lm[473], eyeball=True)) < 0.15


def test_warp_crop_and_bad_input():
    img, lm = astronaut_and_landmarks()
    crop, v = warp.warp_image(img, lm, lm, crop=True)
    x0, y0, x1, y1 = warp.points_roi(lm, img.shape)
    assert crop.shape[:2] == (y1 - y0, x1 - x0) == v.shape
    with pytest.raises(FacsimileError):
        warp.warp_image(img, lm, lm[:100])


# ---------------------------------------------------------------- masks

def test_masks_sane():
    img, lm = astronaut_and_landmarks()
    hard = masks.region_mask(lm, img.shape)
    soft = masks.face_mask(lm, img.shape)
    assert hard.dtype == np.float32 and hard.shape == img.shape[:2]
    assert 0 <= soft.min() and soft.max() <= 1.0
    # the hull contains the nose tip and not the image corner; feathering stays inside the hull
    nose = lm[1, :2].round().astype(int)
    assert hard[nose[1], nose[0]] == 1.0 and soft[nose[1], nose[0]] > 0.99 and hard[0, 0] == 0
    assert soft.sum() < hard.sum() and (soft[hard == 0] < 0.05).all()
    no_eyes = masks.region_mask(lm, img.shape, masks.Regions(eyes=False, mouth_interior=False))
    eyes = masks.region_mask(lm, img.shape, masks.Regions(skin=False, brows=False, mouth_interior=False))
    assert eyes.sum() > 50 and (no_eyes[eyes > 0.99] < 0.01).all()
    brows = masks.region_mask(lm, img.shape, masks.Regions(skin=False, eyes=False, mouth_interior=False))
    assert brows.sum() > 50 and not (brows * eyes > 0.5).any()
    roi = warp.points_roi(lm, img.shape, margin=8)
    sub = masks.face_mask(lm, img.shape, roi=roi)
    assert np.allclose(sub, soft[roi[1]:roi[3], roi[0]:roi[2]], atol=1e-3)
    dist = masks.face_mask(lm, img.shape, mode="distance")
    assert dist.max() == 1.0 and (dist[hard == 0] == 0).all()


# ---------------------------------------------------------------- colour

def test_colour_transfer_moves_stats():
    img, lm = astronaut_and_landmarks()
    m = masks.region_mask(lm, img.shape)
    tinted = np.clip(img.astype(np.float32) * np.array([0.7, 0.9, 1.25]) + 20, 0, 255).astype(np.uint8)
    target = colour.lab_stats(tinted, m)
    before = colour.lab_stats(img, m)
    out = colour.match_colour(img, m, tinted, m, "reinhard")
    after = colour.lab_stats(out, m)
    assert np.abs(after.mean - target.mean).max() < 0.25 * np.abs(before.mean - target.mean).max()
    assert np.abs(after.std - target.std).max() < 1.5
    hist = colour.match_colour(img, m, tinted, m, "histogram")
    assert np.abs(colour.lab_stats(hist, m).mean - target.mean).max() < 1.5
    assert np.array_equal(colour.match_colour(img, m, tinted, m, "none"), img)
    f = colour.match_colour(img.astype(np.float32) / 255, m, tinted, m)
    assert f.dtype == np.float32 and np.abs(f * 255 - out).mean() < 1.0
    with pytest.raises(FacsimileError, match="empty"):
        colour.lab_stats(img, np.zeros(img.shape[:2], np.float32))


def test_colour_transfer_scene_linear_keeps_highlights():
    img, lm = astronaut_and_landmarks()
    m = masks.region_mask(lm, img.shape)
    lin = (img.astype(np.float32) / 255.0) ** 2.2 * 4.0  # scene-linear, highlights up to 4.0
    ref = lin * np.array([0.8, 1.0, 1.3], np.float32)
    assert colour.colour_space(lin, ref) == "lalphabeta"
    out = colour.match_colour(lin, m, ref, m)
    assert out.dtype == np.float32 and out.max() > 1.5  # nothing clipped to 1.0
    sel = m > 0.5
    for c in range(3):  # channel ratios of the reference come back inside the face
        ratio = np.median(out[..., c][sel]) / np.median(lin[..., c][sel])
        assert abs(ratio - [0.8, 1.0, 1.3][c]) < 0.08
    back = colour.from_lalphabeta(colour.to_lalphabeta(lin), np.float32)
    assert np.allclose(back, np.maximum(lin, 0), atol=1e-3)


def test_colour_smoother_damps_flicker():
    rng = np.random.default_rng(1)
    for mode in ("ema", "window"):
        sm = colour.ColourSmoother(mode, alpha=0.2, window=8)
        outs = []
        for _ in range(60):
            noisy = colour.ColourStats(np.array([50.0, 0, 0]) + rng.normal(0, 3, 3), np.ones(3) * 10)
            s, d = sm.update(noisy, noisy)
            outs.append(s.mean[0])
        assert np.std(outs[20:]) < 0.5 * 3.0
        assert abs(np.mean(outs[20:]) - 50) < 1.5


# ---------------------------------------------------------------- Poisson

def _random_problem(h=34, w=45, seed=0):
    rng = np.random.default_rng(seed)
    src = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32) * 255, (0, 0), 2)
    dst = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32) * 255, (0, 0), 3) + 40
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 1.0, -1)
    return src, dst, mask


@pytest.mark.parametrize("mode,rule", [("normal", "inside"), ("mixed", "inside"), ("normal", "forward")])
def test_poisson_dst_matches_exact_sparse_solve(mode, rule):
    src, dst, mask = _random_problem()
    roi = (1, 1, dst.shape[1] - 1, dst.shape[0] - 1)  # inside the frame: no edge padding
    ours = poisson.poisson_blend(src, dst, mask, mode=mode, roi=roi, pad_fast=False, edge_rule=rule)
    exact = _bench_poisson().exact_blend(src, dst, mask, roi, mode, rule)
    assert np.abs(ours[1:-1, 1:-1] - exact).max() < 1e-3
    assert np.array_equal(ours[1, 1:-1], dst[1, 1:-1]) and np.array_equal(ours[1:-1, -2], dst[1:-1, -2])  # border
    assert np.array_equal(ours[0], dst[0])  # outside the ROI: untouched


def test_poisson_mixed_keeps_stronger_target_texture():
    h, w = 64, 64
    yy, xx = np.mgrid[0:h, 0:w]
    dst = np.dstack([128 + 60 * np.sin(xx / 1.5)] * 3).astype(np.float32)  # strong stripes
    src = np.full((h, w, 3), 90.0, np.float32)  # flat
    mask = np.zeros((h, w), np.float32)
    mask[16:48, 16:48] = 1
    normal = poisson.poisson_blend(src, dst, mask, "normal")
    mixed = poisson.poisson_blend(src, dst, mask, "mixed")
    inner = (slice(24, 40), slice(24, 40), 0)
    assert np.std(np.diff(normal[inner], axis=1)) < 5  # flat source gradients
    want = np.std(np.diff(dst[inner], axis=1))
    assert abs(np.std(np.diff(mixed[inner], axis=1)) - want) < 0.05 * want  # target stripes kept


def test_poisson_pads_to_fast_sizes_and_handles_frame_edges():
    assert poisson.fast_dst1_len(388) == 399 and poisson.fast_dst1_len(399) == 399
    src, dst, mask = _random_problem(60, 70)
    mask[:, :] = 0
    mask[0:30, 0:25] = 1  # touches the frame corner: padding must go beyond the edge
    out = poisson.poisson_blend(src.astype(np.uint8), dst.astype(np.uint8), mask)
    assert out.dtype == np.uint8 and out.shape == dst.shape
    # the frame's edge pixels inside the mask are solved (take the source's structure), not pinned
    stripes = np.dstack([128 + 60 * np.sin(np.arange(70) / 1.5)[None, :].repeat(60, 0)] * 3).astype(np.float32)
    flat = np.full_like(stripes, 100.0)
    edge = poisson.poisson_blend(stripes, flat, mask)
    assert np.std(np.diff(edge[0, 2:20, 0])) > 8 and np.allclose(edge[40:, 40:], flat[40:, 40:], atol=2)
    roi, pads = poisson.fast_roi((0, 0, 27, 32), dst.shape)
    for n in (roi[2] - roi[0] + pads[2] + pads[3], roi[3] - roi[1] + pads[0] + pads[1]):
        k = n - 1  # n - 2 interior, n - 1 = interior + 1
        while k % 2 == 0:
            k //= 2
        for f in (3, 5):
            while k % f == 0:
                k //= f
        assert k == 1
    with pytest.raises(FacsimileError, match="empty"):
        poisson.poisson_blend(src, dst, np.zeros_like(mask))


def test_poisson_error_no_larger_than_seamless_clone():
    bp = _bench_poisson()
    rng = np.random.default_rng(3)
    h, w = 160, 200
    dst = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 4)
    src = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 2)
    src = cv2.add(src, 40)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (100, 80), (55, 45), 0, 0, 360, 1.0, -1)
    roi, _ = poisson.fast_roi(poisson.mask_roi(mask, margin=6), dst.shape)
    sc, eff = bp.seamless_clone_same_problem(src, dst, mask, roi)
    ours = poisson.poisson_blend(src, dst, eff, roi=roi, pad_fast=False, edge_rule="forward")
    exact = np.clip(bp.exact_blend(src, dst, eff, roi, edge_rule="forward"), 0, 255)
    x0, y0, x1, y1 = roi

    def rms(img):
        return float(np.sqrt(np.mean((img[y0:y1, x0:x1].astype(np.float64) - exact) ** 2)))

    assert rms(ours) <= rms(sc) + 1e-9
    assert rms(ours) < 0.35  # uint8 rounding only


def test_seam_energy_poisson_below_paste():
    img, lm = astronaut_and_landmarks()
    # another face-like source: the same face, brightened and tinted, shifted into place
    src = np.clip(img.astype(np.float32) * np.array([1.3, 1.1, 0.8]) + 25, 0, 255).astype(np.uint8)
    m = masks.region_mask(lm, img.shape)
    pasted = blend.blend(src, img, m, "none")
    feathered = blend.blend(src, img, m, "feather", feather_radius=6)
    pois = blend.blend(src, img, m, "poisson")
    e_paste = blend.seam_energy(pasted, m)
    assert blend.seam_energy(pois, m) < 0.5 * e_paste
    assert blend.seam_energy(feathered, m) < e_paste
    with pytest.raises(FacsimileError, match="unknown blend"):
        blend.blend(src, img, m, "magic")


def test_backend_generic_dst_path_matches_scipy():
    """The FFT-based DST-I used for CuPy arrays, run here on numpy, equals scipy's DST-I solve."""
    src, dst, mask = _random_problem(30, 41)
    div = poisson.guidance_divergence(src, dst, mask)
    rhs = div[1:-1, 1:-1]

    class FakeXp:  # numpy namespace that is not `np` itself, to force the generic path
        def __getattr__(self, name):
            return getattr(np, name)

    generic = poisson._dstn(FakeXp(), rhs, inverse=False)
    assert np.allclose(generic, poisson._dstn(np, rhs, inverse=False), rtol=1e-4, atol=1e-2)
    back = poisson._dstn(FakeXp(), generic, inverse=True)
    assert np.allclose(back, rhs, atol=1e-2)
