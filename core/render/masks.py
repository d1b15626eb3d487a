"""Face masks: the face hull with a feather, and selectable regions.

Masks are float32 0..1, either full frame or over an ROI (x0, y0, x1, y1). Regions are the
subject's skin (the face hull), brows, eyes (the eye openings) and the mouth interior (the
inner lip contour); switching a region off cuts it out of the hull so the plate shows
through there (e.g. keep the performer's own eyes or mouth interior).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from core.errors import FacsimileError
from core.facs import mesh

Roi = tuple[int, int, int, int]

_SHIFT = 4


@dataclass(frozen=True)
class Regions:
    """Which parts of the face the mask covers."""

    skin: bool = True
    brows: bool = True
    eyes: bool = True
    mouth_interior: bool = True


def _chains(connections: frozenset) -> list[list[int]]:
    """Open polylines of an edge set (each component walked from one end)."""
    adj: dict[int, list[int]] = {}
    for a, b in connections:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen: set[int] = set()
    out = []
    for start in sorted(n for n, nb in adj.items() if len(nb) == 1):
        if start in seen:
            continue
        chain, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            chain.append(cur)
            seen.add(cur)
        out.append(chain)
    return out


@cache
def brow_loop(side: str) -> np.ndarray:
    """The closed outline of one brow (subject's side): lower edge then upper edge reversed."""
    from mediapipe.python.solutions import face_mesh_connections as c

    conn = c.FACEMESH_LEFT_EYEBROW if side == "left" else c.FACEMESH_RIGHT_EYEBROW
    a, b = _chains(conn)[:2]
    return np.array(a + b[::-1], dtype=np.int64)


def _fill(mask: np.ndarray, pts: np.ndarray, loop: np.ndarray, origin: tuple[int, int], value: float) -> None:
    poly = np.round((pts[loop, :2] - np.array(origin)) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [poly], float(value), lineType=cv2.LINE_AA, shift=_SHIFT)


def face_size(pts: np.ndarray) -> float:
    """A robust face scale in pixels: the face oval's bounding-box diagonal / sqrt(2)."""
    p = np.asarray(pts)[mesh.face_oval_loop(), :2]
    span = np.nanmax(p, axis=0) - np.nanmin(p, axis=0)
    return float(np.hypot(*span) / np.sqrt(2.0))


def region_mask(pts: np.ndarray, shape: tuple[int, int], regions: Regions = Regions(), roi: Roi | None = None,
                brow_grow: float = 0.02) -> np.ndarray:
    """Hard (anti-aliased edge) float32 mask of the selected regions, full frame or over `roi`.

    brow_grow: brows are thin; their polygon is dilated by this fraction of the face size.
    """
    p = np.asarray(pts, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < mesh.N_MESH or not np.isfinite(p[:mesh.N_MESH, :2]).all():
        raise FacsimileError("mask: need finite (478, 2|3) face landmarks")
    h, w = shape[:2]
    x0, y0, x1, y1 = roi if roi is not None else (0, 0, w, h)
    origin = (x0, y0)
    m = np.zeros((y1 - y0, x1 - x0), np.float32)
    if regions.skin:
        _fill(m, p, mesh.face_oval_loop(), origin, 1.0)
    parts = {
        "brows": [brow_loop("left"), brow_loop("right")],
        "eyes": [mesh.eye_loop("left"), mesh.eye_loop("right")],
        "mouth_interior": [np.asarray(mesh.MOUTH_INNER_LOOP)],
    }
    for name, loops in parts.items():
        part = np.zeros_like(m)
        for loop in loops:
            _fill(part, p, loop, origin, 1.0)
        if name == "brows" and brow_grow > 0:
            r = max(1, int(round(brow_grow * face_size(p))))
            part = cv2.dilate(part, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        on = getattr(regions, name)
        m = np.maximum(m, part) if on else m * (1.0 - part)
    return m


def feather(mask: np.ndarray, radius: float, mode: str = "gaussian", inward: bool = True) -> np.ndarray:
    """Soften a 0..1 mask edge over about `radius` pixels.

    gaussian: blur (inward=True erodes first so the feathered mask stays inside the hull);
    distance: a linear ramp from 0 at the edge to 1 at `radius` inside (distance transform).
    """
    if radius <= 0:
        return mask.astype(np.float32, copy=True)
    m = mask.astype(np.float32)
    if mode == "distance":
        binary = (m >= 0.5).astype(np.uint8)
        d = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
        return np.clip(d / float(radius), 0.0, 1.0).astype(np.float32) * np.minimum(1.0, m * 2)
    if mode != "gaussian":
        raise FacsimileError(f"unknown feather mode {mode!r}; use 'gaussian' or 'distance'")
    sigma = radius / 2.0
    if inward:
        # Erode by a disk of `radius`: keep what lies further than that from the outside (a
        # distance transform, linear in the pixels, instead of a min-filter with a large kernel).
        r = float(round(radius))
        inside = (m >= 0.5).astype(np.uint8)
        d = cv2.distanceTransform(cv2.copyMakeBorder(inside, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                  cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        m = np.minimum(m, np.clip(d - r, 0.0, 1.0)).astype(np.float32)
    return _gaussian(m, sigma)


def _gaussian(m: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a mask (zero outside). A wide feather (sigma >= 8 px) is blurred at 1/k
    size and scaled back: a mask edge blurred that much has no detail a k-times coarser grid
    loses (max alpha difference 0.007 at sigma 15, k 4), and it is 20x cheaper than the full-size
    kernel, which was the largest cost of the matte at 1080p."""
    k = min(4, int(sigma // 4)) if sigma >= 8 else 1
    if k <= 1:
        return cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)
    h, w = m.shape
    hs, ws = -(-h // k), -(-w // k)
    padded = cv2.copyMakeBorder(m, 0, hs * k - h, 0, ws * k - w, cv2.BORDER_CONSTANT, value=0)
    small = cv2.resize(padded, (ws, hs), interpolation=cv2.INTER_AREA)
    s = float(np.sqrt(max(sigma ** 2 - (k ** 2 - 1) / 12.0, 1e-6))) / k  # the box average already blurred a bit
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(cv2.resize(small, (ws * k, hs * k), interpolation=cv2.INTER_LINEAR)[:h, :w])


def face_mask(pts: np.ndarray, shape: tuple[int, int], regions: Regions = Regions(), feather_frac: float = 0.06,
              mode: str = "gaussian", roi: Roi | None = None) -> np.ndarray:
    """The feathered face mask (float32 0..1), feather radius as a fraction of the face size.

    Computed over the face's bounding box (plus the feather's reach) and placed in the frame
    or `roi`: the cost follows the face, not the frame."""
    radius = feather_frac * face_size(pts)
    h, w = shape[:2]
    x0, y0, x1, y1 = roi if roi is not None else (0, 0, w, h)
    p = np.asarray(pts, dtype=np.float64)[:, :2]
    reach = int(np.ceil(3 * radius)) + 4  # the Gaussian's tail beyond the hull
    bx0 = max(x0, int(np.floor(np.nanmin(p[:, 0]))) - reach)
    by0 = max(y0, int(np.floor(np.nanmin(p[:, 1]))) - reach)
    bx1 = min(x1, int(np.ceil(np.nanmax(p[:, 0]))) + 1 + reach)
    by1 = min(y1, int(np.ceil(np.nanmax(p[:, 1]))) + 1 + reach)
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    if bx1 <= bx0 or by1 <= by0:
        region_mask(pts, shape, regions, (x0, y0, x0 + 1, y0 + 1))  # validates the points
        return out
    m = region_mask(pts, shape, regions, (bx0, by0, bx1, by1))
    # the frame edge stays an edge of the mask (as in a full-frame blur with a constant border)
    out[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] = feather(m, radius, mode)
    return out


# ---- eyes -----------------------------------------------------------------------------------
# Rings of the MediaPipe mesh around each eye (subject's side), outer corner to inner corner:
# the lid margins (the eye opening), the second ring (lid skin) and the third ring (the crease /
# brow-lower line above, the cheek line below). Checked on the astronaut portrait.
EYE_RINGS: dict[str, dict[str, list[int]]] = {
    "right": {
        "corners": [33, 133],
        "upper": [246, 161, 160, 159, 158, 157, 173], "lower": [7, 163, 144, 145, 153, 154, 155],
        "upper2": [247, 30, 29, 27, 28, 56, 190], "lower2": [25, 110, 24, 23, 22, 26, 112],
        "upper3": [113, 225, 224, 223, 222, 221, 189], "lower3": [226, 31, 228, 229, 230, 231, 232, 233, 244],
    },
    "left": {
        "corners": [263, 362],
        "upper": [466, 388, 387, 386, 385, 384, 398], "lower": [249, 390, 373, 374, 380, 381, 382],
        "upper2": [467, 260, 259, 257, 258, 286, 414], "lower2": [255, 339, 254, 253, 252, 256, 341],
        "upper3": [342, 445, 444, 443, 442, 441, 413], "lower3": [446, 261, 448, 449, 450, 451, 452, 453, 464],
    },
}
SIDES = ("right", "left")
# upper / lower lid margin points facing each other (for the aperture)
_APERTURE_PAIRS = {"right": [(160, 144), (159, 145), (158, 153)], "left": [(387, 373), (386, 374), (385, 380)]}


def eye_aperture(pts: np.ndarray, side: str) -> float:
    """Eyelid opening of one eye (subject's side) in eye widths: mean distance between facing
    upper and lower lid margin points over the corner-to-corner width (about 0.25..0.35 for an
    open eye, under 0.1 for a closed one). NaN where the points are missing."""
    p = np.asarray(pts, np.float64)[:, :2]
    a, b = EYE_RINGS[side]["corners"]
    width = float(np.linalg.norm(p[a] - p[b]))
    if not np.isfinite(width) or width < 1e-6:
        return float("nan")
    gaps = [np.linalg.norm(p[u] - p[lo]) for u, lo in _APERTURE_PAIRS[side]]
    return float(np.mean(gaps) / width)


def eye_apertures(landmarks: np.ndarray, side: str) -> np.ndarray:
    """(T,) eye_aperture of one eye over a (T, 478, 2|3) landmark array (NaN where absent)."""
    lm = np.asarray(landmarks, np.float64)
    a, b = EYE_RINGS[side]["corners"]
    width = np.linalg.norm(lm[:, a, :2] - lm[:, b, :2], axis=1)
    gaps = np.mean([np.linalg.norm(lm[:, u, :2] - lm[:, lo, :2], axis=1) for u, lo in _APERTURE_PAIRS[side]], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(width > 1e-6, gaps / width, np.nan)


def eye_width(pts: np.ndarray, side: str) -> float:
    """Corner-to-corner width of one eye in pixels."""
    a, b = EYE_RINGS[side]["corners"]
    p = np.asarray(pts, np.float64)
    return float(np.linalg.norm(p[a, :2] - p[b, :2]))


def eye_loop_ring(side: str, ring: int) -> np.ndarray:
    """Closed outline of one eye's ring (1 = the opening, 2 = lid skin, 3 = crease / cheek line)."""
    r = EYE_RINGS[side]
    if ring == 1:
        up, lo = [r["corners"][0], *r["upper"], r["corners"][1]], r["lower"]
    else:
        sfx = str(ring)
        up, lo = r["upper" + sfx], r["lower" + sfx]
    return np.array(list(up) + list(lo[::-1]), np.int64)


def eye_ring_mask(pts: np.ndarray, side: str, ring: int, roi: Roi) -> np.ndarray:
    """Hard (anti-aliased edge) float32 mask of the area inside one eye ring, over `roi`."""
    x0, y0, x1, y1 = roi
    m = np.zeros((y1 - y0, x1 - x0), np.float32)
    _fill(m, np.asarray(pts, np.float64), eye_loop_ring(side, ring), (x0, y0), 1.0)
    return m
