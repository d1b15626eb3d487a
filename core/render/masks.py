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
    return cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)


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
