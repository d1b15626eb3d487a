"""Landmark refinement by image motion: what the landmark network misses, the pixels show.

MediaPipe's face mesh regresses toward an average face, so it reports only part of a
non-rigid movement (measured on image warps of the AU bases: a lid closure at 0.4 of its
size, a cheek raise at 0.1; on real smiles the cheek raise is missed too). Per face track
this keeps anchor frames. Each later frame is warped back onto an anchor's mesh (piecewise
affine from the detected landmarks, so rigid head motion, scale and perspective are the
detector's and cancel), and the optical flow (DIS) from the anchor to that image is the
movement the detector left out; the warp's own map carries it back into the frame. Two rounds:
the first at half resolution, the second, warped with the corrected landmarks, at full
resolution (image round trip r 0.89 -> 0.91). Only the non-rigid residual comes from the flow;
depth (z) and the irises stay the detector's.

Both images are compared in a normalised face crop (CROP px square, IOD_PX between the eye
centres), so faces of any size in the plate cost the same. IOD_PX is 120, about a face's own
resolution in a 512-pixel close-up or a 1080p medium shot: the lid, lip-corner and cheek
movements are a few pixels, and a crop that shrinks the face loses them (image round trip at
IOD_PX 80 / 100 / 120 / 160: r 0.909 / 0.923 / 0.932 / 0.933 on the full set, for 32 / 47 / 59 /
~100 ms a frame; measured before the AU solve left the depth plane out). A landmark's
correction counts only where the forward and backward flows agree (occlusion, new texture such
as teeth, or a lighting change make them disagree) and never exceeds MAX_CORRECTION; the rest
keep the detector's position. A new anchor is taken only when the head has turned further than
REANCHOR_ANGLE from every anchor; it carries its own correction, so curves stay continuous,
and a head that turns back reuses the earlier anchor, so corrections do not drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.facs.geometry import STABLE_POINTS, STABLE_WEIGHTS, similarity

CROP = 384  # side of the normalised face crop, pixels
IOD_PX = 120.0  # inter-ocular distance in the crop, pixels
MAX_CORRECTION = 0.2  # largest correction of one landmark, IOD
FB_TOLERANCE = 0.03  # forward-backward flow disagreement (IOD) at which a correction counts for nothing
REANCHOR_ANGLE = np.deg2rad(12.0)  # head rotation from the anchor beyond which a new anchor is taken
REANCHOR_AGREEMENT = 0.6  # mean landmark agreement a frame needs to become an anchor
MAX_ANCHORS = 32  # per track
ITERATIONS = 2  # flow rounds; each re-warps the frame with the corrected landmarks, the last at full resolution
EDGE_MARGIN = round(0.15 * IOD_PX)  # crop pixels a landmark must lie inside the plate's edge for its flow to count
N_MESH = 468  # the mesh points (the 10 iris points after them follow gaze, not the skin)
PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
FINE_REFINEMENT = 2  # variational refinement rounds of the full-resolution flow (the preset has 5: same accuracy, ~6 ms more)


@dataclass
class _Anchor:
    crop: np.ndarray  # (CROP, CROP) uint8 grey
    pts: np.ndarray  # (478, 2) detector landmarks in the crop
    offset: np.ndarray  # (478, 2) the anchor's own correction, crop pixels
    xyz: np.ndarray  # (478, 3) detector landmarks in the plate (for the head-turn test)
    mesh: np.ndarray  # the anchor's filled mesh in the crop (core.render.warp.fill_mesh)
    tris: np.ndarray
    ids: np.ndarray  # triangle id + 1 of each pixel of the anchor crop's ROI, 0 off the mesh
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1: the mesh's box in the crop, with a margin
    tri_inv: np.ndarray  # (T, 3, 3) inverse of each anchor triangle's [x y 1] corner matrix
    inside: np.ndarray  # (478,) bool: the landmark lies far enough inside the anchor's frame


def _crop_transform(pts: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """2x3 similarity mapping a face's stable points (plate x, y) onto the crop layout: the AU
    solver's weighted Umeyama (core.facs.geometry.similarity) in the image plane."""
    flat = np.zeros((len(STABLE_POINTS), 1))
    s, r, t = similarity(np.hstack([pts[STABLE_POINTS, :2], flat]), np.hstack([layout, flat]),
                         np.asarray(STABLE_WEIGHTS, np.float64))
    return np.hstack([s * r[:2, :2], t[:2, None]])


def _crop_layout() -> np.ndarray:
    from core.facs.model import model

    return model().neutral[STABLE_POINTS, :2] * IOD_PX + np.array([CROP / 2, CROP * 0.4])


def _rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Head rotation (radians) between two detected meshes (478, 3), on the stable points."""
    from core.facs.model import model

    _, r, _ = similarity(a, b, model().stable_weights)
    return float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))


def _inside_frame(pts: np.ndarray, shape: tuple[int, ...], m: np.ndarray) -> np.ndarray:
    """(N,) bool: landmarks at least EDGE_MARGIN crop pixels inside the plate (past the edge the
    crop repeats the border pixels, which do not move with the face)."""
    margin = EDGE_MARGIN / max(float(np.hypot(m[0, 0], m[1, 0])), 1e-9)  # crop px -> plate px
    h, w = shape[:2]
    x, y = pts[:, 0], pts[:, 1]
    return (x >= margin) & (x <= w - 1 - margin) & (y >= margin) & (y <= h - 1 - margin)


def _sample(flow: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear flow (N, 2) at points (N, 2) of a (H, W, 2) field."""
    x = pts[:, 0].astype(np.float32).reshape(1, -1)
    y = pts[:, 1].astype(np.float32).reshape(1, -1)
    return np.stack([cv2.remap(flow[..., k], x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
                     for k in range(2)], axis=1)


class FlowRefiner:
    """Per-track landmark refinement against anchor frames (see the module doc).

    refine(frame, landmarks) returns the refined (478, 3) landmarks in plate pixels (z kept)
    and the mean agreement of the corrections (0..1); reset() after a cut or a lost track."""

    def __init__(self) -> None:
        self._layout = _crop_layout()
        self._dis = cv2.DISOpticalFlow_create(PRESET)  # half resolution (the preset's finest scale)
        self._dis_fine = cv2.DISOpticalFlow_create(PRESET)
        self._dis_fine.setFinestScale(0)  # the last round at full resolution
        self._dis_fine.setVariationalRefinementIterations(FINE_REFINEMENT)
        grid = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
        self._ys, self._xs = grid[0], grid[1]
        self.anchors = 0  # anchors taken (diagnostics)
        self.failures = 0  # frames the caller could not refine (see core.analysis.analyzer._refine)
        self.reset()

    def reset(self) -> None:
        self._keys: list[_Anchor] = []

    def refine(self, frame: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
        """This frame's landmarks (478, 3, plate pixels) moved with the skin, and the mean
        agreement of the corrections (1.0 on an anchor frame, 0.0 when nothing could be done).

        frame: the plate frame, 8-bit RGB (or grey); landmarks: the detector's, same frame.
        Landmarks with missing mesh points come back unchanged."""
        pts = np.asarray(landmarks, np.float64)
        if not np.isfinite(pts[:N_MESH, :2]).all():
            return np.asarray(landmarks, np.float32), 0.0
        m = _crop_transform(pts, self._layout)
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame[..., :3], cv2.COLOR_RGB2GRAY)
        crop = cv2.warpAffine(grey, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        q = pts[:, :2] @ m[:, :2].T + m[:, 2]
        inside = _inside_frame(pts, grey.shape, m)
        if not self._keys:  # the track's first anchor: the detector's landmarks as they are
            self._take_anchor(crop, q, np.zeros_like(q), pts, inside)
            return self._to_plate(pts, q, m), 1.0
        # the anchor nearest in head rotation; a new one (carrying this frame's correction) once
        # the head has turned further than REANCHOR_ANGLE from all of them
        angles = [_rotation_angle(k.xyz, pts) for k in self._keys]
        a = self._keys[int(np.argmin(angles))]
        corr, mean_agree = self._correction(a, crop, q, inside)
        if min(angles) > REANCHOR_ANGLE and mean_agree >= REANCHOR_AGREEMENT and len(self._keys) < MAX_ANCHORS:
            self._take_anchor(crop, q, corr, pts, inside)
        return self._to_plate(pts, q + corr, m), mean_agree

    def _correction(self, a: _Anchor, crop: np.ndarray, q: np.ndarray, inside: np.ndarray
                    ) -> tuple[np.ndarray, float]:
        """This frame's correction (478, 2) in the crop against anchor a, and its mean agreement.
        inside: which landmarks are far enough inside this frame for the flow to see them."""
        # Compare in the anchor's geometry: the frame is warped back onto the anchor's mesh (whose
        # triangle raster is fixed per anchor), the flow from the anchor to that image is what the
        # detected mesh left out, and the warp's own map carries it back into the frame.
        x0, y0, x1, y1 = a.roi
        origin = np.array([x0, y0], np.float64)
        p = a.pts[:N_MESH] - origin  # flow and maps live in the ROI
        ref = np.ascontiguousarray(a.crop[y0:y1, x0:x1])
        cur = q[:N_MESH].copy()
        agree = np.ones(N_MESH)
        for it in range(ITERATIONS):
            map_x, map_y = self._map(a, cur)
            back = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            fwd = (self._dis_fine if it == ITERATIONS - 1 else self._dis).calc(ref, back, None)
            step = _sample(fwd, p)
            if it == 0:  # how far the two flow directions agree on the whole residual
                bwd = self._dis.calc(back, ref, None)
                err = np.linalg.norm(step + _sample(bwd, p + step), axis=1) / IOD_PX
                agree = np.clip(1.0 - err / FB_TOLERANCE, 0.0, 1.0)
            cur = _sample(np.dstack([map_x, map_y]), p + step)
        r = np.zeros_like(q)
        r[:N_MESH] = cur - q[:N_MESH]
        agree[np.linalg.norm(r[:N_MESH], axis=1) / IOD_PX > MAX_CORRECTION] = 0.0
        agree *= inside[:N_MESH] & a.inside[:N_MESH]  # off the plate the crop is a smeared edge
        corr = a.offset.copy()
        corr[:N_MESH] += agree[:, None] * r[:N_MESH]  # irises keep the detector's (gaze is its own measurement)
        return corr, float(agree.mean())

    def _map(self, a: _Anchor, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel positions in the frame's crop of the anchor crop's pixels (piecewise affine
        over the filled mesh; identity off the mesh)."""
        from core.render.warp import fill_mesh

        src, _ = fill_mesh(cur)
        # per-triangle affine anchor -> frame: [x y 1] @ inv(anchor corners) @ frame corners
        aff = np.einsum("tij,tjk->tki", a.tri_inv, src.astype(np.float64)[a.tris])  # (T, 2, 3)
        tab = np.empty((len(a.tris) + 1, 6), np.float32)
        tab[0] = (1, 0, 0, 0, 1, 0)  # off the mesh: the crops share their frame
        tab[1:] = aff.reshape(len(a.tris), 6)
        c = [np.take(tab[:, k], a.ids) for k in range(6)]
        x0, y0, x1, y1 = a.roi
        xs, ys = self._xs[y0:y1, x0:x1], self._ys[y0:y1, x0:x1]
        return c[0] * xs + c[1] * ys + c[2], c[3] * xs + c[4] * ys + c[5]

    def _take_anchor(self, crop: np.ndarray, q: np.ndarray, offset: np.ndarray, pts: np.ndarray,
                     inside: np.ndarray) -> None:
        from core.render.warp import fill_mesh, rasterise_triangles

        mesh, tris = fill_mesh(q[:N_MESH])
        margin = EDGE_MARGIN  # pixels: the flow's patches and search reach past the mesh outline
        lo = np.maximum(np.floor(mesh.min(axis=0)) - margin, 0).astype(int)
        hi = np.minimum(np.ceil(mesh.max(axis=0)) + margin + 1, CROP).astype(int)
        roi = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
        corners = np.concatenate([mesh.astype(np.float64)[tris], np.ones((len(tris), 3, 1))], axis=2)
        ok = np.abs(np.linalg.det(corners)) > 1e-6
        tri_inv = np.zeros_like(corners)
        tri_inv[ok] = np.linalg.inv(corners[ok])
        ids = rasterise_triangles(mesh.astype(np.float64), tris, roi, skip=~ok) + 1
        self._keys.append(_Anchor(crop=crop, pts=q, offset=offset.copy(), xyz=pts.copy(), mesh=mesh, tris=tris,
                                  ids=ids, roi=roi, tri_inv=tri_inv, inside=inside))
        self.anchors += 1

    @staticmethod
    def _to_plate(pts: np.ndarray, crop_xy: np.ndarray, m: np.ndarray) -> np.ndarray:
        out = pts.copy()
        inv = cv2.invertAffineTransform(m)
        out[:, :2] = crop_xy @ inv[:, :2].T + inv[:, 2]
        return out.astype(np.float32)
