"""Piecewise-affine warp over the face mesh as one dense map and one `cv2.remap`.

Triangle ids are rasterised in the DESTINATION mesh over the region of interest, each
destination pixel gets the inverse affine map of its triangle (source = A @ [x, y, 1]),
and the source image is resampled once. This is several times faster than warping each
triangle with its own `cv2.warpAffine` (see bench/warp.py) and has no cracks between
triangles because every pixel belongs to exactly one triangle.

Points are (N, 2) or (N, 3) pixels (z ignored). Use `fill_mesh` to add triangles that
close the eye and mouth openings so they warp too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import FacsimileError
from core.facs import mesh
from core.render.backend import is_gpu, like, to_numpy

Roi = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels

_SHIFT = 4  # sub-pixel bits for polygon rasterisation


@dataclass
class WarpMap:
    """A dense inverse map for one ROI: map_x/map_y give the source position of each pixel."""

    roi: Roi
    map_x: np.ndarray  # (h, w) float32
    map_y: np.ndarray  # (h, w) float32
    tri_id: np.ndarray  # (h, w) int32, -1 outside the mesh

    @property
    def valid(self) -> np.ndarray:
        return self.tri_id >= 0


def points_roi(pts: np.ndarray, shape: tuple[int, int], margin: int = 1) -> Roi:
    """Integer bounding box of points (plus margin), clipped to an image of `shape` (h, w)."""
    p = np.asarray(pts, dtype=np.float64)[:, :2]
    h, w = shape[:2]
    x0 = int(np.floor(np.nanmin(p[:, 0]))) - margin
    y0 = int(np.floor(np.nanmin(p[:, 1]))) - margin
    x1 = int(np.ceil(np.nanmax(p[:, 0]))) + 1 + margin
    y1 = int(np.ceil(np.nanmax(p[:, 1]))) + 1 + margin
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def fill_mesh(pts: np.ndarray, triangles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The mesh with its eye and mouth openings closed.

    Appends the centroids of the right eye, left eye and inner mouth loops as three extra
    points (indices N, N+1, N+2) and fans each loop to its centroid. Returns (points,
    triangles); call it on both source and destination points so indices agree.
    """
    p = np.asarray(pts, dtype=np.float32)
    tris = mesh.triangles() if triangles is None else np.asarray(triangles)
    loops = [mesh.eye_loop("right"), mesh.eye_loop("left"), np.asarray(mesh.MOUTH_INNER_LOOP)]
    extra = np.stack([p[loop].mean(axis=0) for loop in loops])
    n = len(p)
    fans = []
    for k, loop in enumerate(loops):
        c = n + k
        fans.append(np.stack([loop, np.roll(loop, -1), np.full(len(loop), c)], axis=1))
    return np.concatenate([p, extra]), np.concatenate([tris, *fans]).astype(np.int64)


# each eye's corners (outer, inner) and MediaPipe's refined iris centre (478-point meshes)
EYES = {"right": ((33, 133), 468), "left": ((263, 362), 473)}


def fill_mesh_pair(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fill_mesh for both ends of a warp src -> dst at once: (src points, dst points, triangles).

    The eyeball moves with the eye socket, not with the lids: each eye opening is fanned around
    the source's iris centre (its eye centroid without irises), and in the destination around
    that point carried by the eye corners' similarity, so a lid that rises, tightens or
    half-closes slides over the eyeball. A fan to the lids' centroid, as fill_mesh makes, drags
    the iris with a raised lid (about 1.5 % of the eye's width per FACS E of AU05), which animates
    as a swimming eye. Where that fan would fold a triangle at either end (the iris under a lid,
    an eye closing far), the eye keeps the centroid fan of fill_mesh."""
    sp, tris = fill_mesh(src, triangles)
    dp, _ = fill_mesh(dst, triangles)
    s2, d2 = np.asarray(src, np.float64)[:, :2], np.asarray(dst, np.float64)[:, :2]
    n = len(np.asarray(src))
    for k, side in enumerate(("right", "left")):
        loop = mesh.eye_loop(side)
        (a, b), iris = EYES[side]
        c_src = s2[iris] if n > iris and np.isfinite(s2[iris]).all() else s2[loop].mean(axis=0)
        u, v = complex(*(s2[b] - s2[a])), complex(*(d2[b] - d2[a]))
        if abs(u) < 1e-6 or not np.isfinite(c_src).all():
            continue
        z = complex(*(c_src - s2[a])) * (v / u) + complex(*d2[a])
        c_dst = np.array([z.real, z.imag])
        if _fan_is_valid(s2, loop, c_src) and _fan_is_valid(d2, loop, c_dst):
            sp[n + k, :2] = c_src
            dp[n + k, :2] = c_dst
    return sp, dp, tris


def _fan_is_valid(pts: np.ndarray, loop: np.ndarray, centre: np.ndarray) -> bool:
    """Every triangle of the fan from `centre` to the closed `loop` turns the loop's own way."""
    ring = pts[loop]
    nxt = np.roll(ring, -1, axis=0)
    turn = ((ring[:, 0] - centre[0]) * (nxt[:, 1] - centre[1]) - (ring[:, 1] - centre[1]) * (nxt[:, 0] - centre[0]))
    orient = np.sign((ring[:, 0] * nxt[:, 1] - ring[:, 1] * nxt[:, 0]).sum())
    return bool(orient != 0 and (np.sign(turn) == orient).all())


def _affines(src: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle 2x3 affines mapping destination to source, and which are non-degenerate."""
    d = dst[tris]  # (T, 3, 2)
    s = src[tris]
    dm = np.concatenate([d, np.ones((len(tris), 3, 1))], axis=2)  # (T, 3, 3)
    det = np.linalg.det(dm)
    ok = np.abs(det) > 1e-6
    a = np.zeros((len(tris), 3, 2))
    if ok.any():
        a[ok] = np.linalg.solve(dm[ok], s[ok])  # dm @ a = s
    return np.transpose(a, (0, 2, 1)), ok  # (T, 2, 3)


def rasterise_triangles(dst: np.ndarray, tris: np.ndarray, roi: Roi, skip: np.ndarray | None = None) -> np.ndarray:
    """(h, w) int32 image of triangle ids (-1 = none) for destination triangles over `roi`."""
    x0, y0, x1, y1 = roi
    ids = np.zeros((y1 - y0, x1 - x0), dtype=np.int32)
    fixed = np.round((dst - np.array([x0, y0])) * (1 << _SHIFT)).astype(np.int32)
    for t, tri in enumerate(tris):
        if skip is not None and skip[t]:
            continue
        cv2.fillConvexPoly(ids, fixed[tri], t + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return ids - 1


def compute_warp_map(src_pts: np.ndarray, dst_pts: np.ndarray, triangles: np.ndarray, roi: Roi) -> WarpMap:
    """The dense inverse map from destination pixels in `roi` to source positions."""
    src = np.asarray(src_pts, dtype=np.float64)[:, :2]
    dst = np.asarray(dst_pts, dtype=np.float64)[:, :2]
    tris = np.asarray(triangles, dtype=np.int64)
    if src.shape != dst.shape:
        raise FacsimileError(f"warp: source and destination meshes differ in size ({len(src)} vs {len(dst)} points)")
    finite = np.isfinite(src[tris]).all(axis=(1, 2)) & np.isfinite(dst[tris]).all(axis=(1, 2))
    aff, ok = _affines(np.nan_to_num(src), np.nan_to_num(dst), tris)
    ok &= finite
    ids = rasterise_triangles(np.nan_to_num(dst), tris, roi, skip=~ok)
    x0, y0, x1, y1 = roi
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    # coefficient tables with a zero row 0 for "no triangle" (ids shifted by one)
    tab = np.zeros((len(tris) + 1, 6), np.float32)
    tab[1:] = aff.reshape(len(tris), 6)
    idx = ids + 1
    c = [np.take(tab[:, k], idx) for k in range(6)]
    map_x = c[0] * xs
    map_x += c[1] * ys
    map_x += c[2]
    map_y = c[3] * xs
    map_y += c[4] * ys
    map_y += c[5]
    outside = ids < 0
    map_x[outside] = -1e4
    map_y[outside] = -1e4
    return WarpMap(roi=roi, map_x=map_x, map_y=map_y, tri_id=ids)


def warp_image(
    src_img: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    triangles: np.ndarray | None = None,
    out_shape: tuple[int, int] | None = None,
    roi: Roi | None = None,
    border: int = cv2.BORDER_REPLICATE,
    crop: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp `src_img` so that `src_pts` land on `dst_pts` (piecewise affine over `triangles`).

    out_shape: (h, w) of the destination frame (default: the source's). roi: the
    destination region to compute (default: bounding box of dst_pts). Returns (warped,
    valid_mask): full-frame arrays (zeros outside the mesh), or the ROI crops when `crop`.
    valid_mask is float32 1 inside the destination mesh, 0 outside.
    """
    if is_gpu(src_img):  # OpenCV path: host round trip (see core.render.backend)
        w_img, w_mask = warp_image(to_numpy(src_img), to_numpy(src_pts), to_numpy(dst_pts),
                                   None if triangles is None else to_numpy(triangles), out_shape, roi, border, crop)
        return like(w_img, src_img), like(w_mask, src_img)
    if src_img.ndim not in (2, 3):
        raise FacsimileError(f"warp: expected an HxW or HxWxC image, got shape {src_img.shape}")
    tris = mesh.triangles() if triangles is None else triangles
    if not np.isfinite(np.asarray(dst_pts)[:, :2]).any():
        raise FacsimileError("warp: the destination landmarks are all missing (no face in this frame)")
    h, w = (out_shape if out_shape is not None else src_img.shape)[:2]
    r = points_roi(dst_pts, (h, w)) if roi is None else roi
    if r[2] <= r[0] or r[3] <= r[1]:
        empty = np.zeros(((h, w) if not crop else (0, 0)) + src_img.shape[2:], src_img.dtype)
        return empty, np.zeros(empty.shape[:2], np.float32)
    wm = compute_warp_map(src_pts, dst_pts, tris, r)
    out = cv2.remap(src_img, wm.map_x, wm.map_y, cv2.INTER_LINEAR, borderMode=border)
    inside = wm.valid
    np.copyto(out, 0, where=~(inside[..., None] if out.ndim == 3 else inside))
    valid = inside.astype(np.float32)
    if crop:
        return out, valid
    full = np.zeros((h, w) + src_img.shape[2:], dtype=src_img.dtype)
    full_mask = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = r
    full[y0:y1, x0:x1] = out
    full_mask[y0:y1, x0:x1] = valid
    return full, full_mask


def warp_per_triangle(src_img: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray,
                      triangles: np.ndarray, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Reference implementation: one cv2.warpAffine per triangle (slow; for benchmarks/tests)."""
    h, w = (out_shape if out_shape is not None else src_img.shape)[:2]
    out = np.zeros((h, w) + src_img.shape[2:], src_img.dtype)
    src = np.asarray(src_pts, np.float32)[:, :2]
    dst = np.asarray(dst_pts, np.float32)[:, :2]
    for tri in triangles:
        s, d = src[tri], dst[tri]
        rs = cv2.boundingRect(s)
        rd = cv2.boundingRect(d)
        if rd[2] == 0 or rd[3] == 0:
            continue
        s_local = s - np.array(rs[:2], np.float32)
        d_local = d - np.array(rd[:2], np.float32)
        patch = src_img[rs[1]:rs[1] + rs[3], rs[0]:rs[0] + rs[2]]
        if patch.size == 0:
            continue
        m = cv2.getAffineTransform(s_local, d_local)
        warped = cv2.warpAffine(patch, m, (rd[2], rd[3]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        tmask = np.zeros((rd[3], rd[2]), np.uint8)
        cv2.fillConvexPoly(tmask, np.round(d_local).astype(np.int32), 1)
        x0, y0 = rd[0], rd[1]
        x1, y1 = min(w, x0 + rd[2]), min(h, y0 + rd[3])
        if x1 <= max(x0, 0) or y1 <= max(y0, 0):
            continue
        sub = tmask[max(0, -y0):y1 - y0, max(0, -x0):x1 - x0].astype(bool)
        region = out[max(0, y0):y1, max(0, x0):x1]
        region[sub] = warped[max(0, -y0):y1 - y0, max(0, -x0):x1 - x0][sub]
    return out
