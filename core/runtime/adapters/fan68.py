"""2DFAN4 68-point landmark adapter. The face box is scaled so its larger side is 195 px
and centred in a 256x256 crop (FaceFusion's 2dfan4 preparation), RGB / 255; the 64x64
heatmaps are decoded by arg-max plus a sub-pixel refinement (a parabola through the log of
the peak and its neighbours, exact for a Gaussian peak), mapped to the crop and back to the
frame with the inverse crop transform.

Coordinate convention (as face-alignment's get_preds_fromhm + transform): heatmap cell i
covers crop pixels [4i, 4i+4), so a peak at cell position p is crop pixel (p + 0.5) * 4 - 0.5
in OpenCV's pixel-centre coordinates. Dark crops (mean L < 30) get CLAHE on the L channel
first, as FaceFusion does for 2dfan4."""

from __future__ import annotations

import os

import cv2
import numpy as np

from core.analysis.interfaces import Detection
from core.runtime.adapters import open_model, ort_dtype, to_blob
from core.runtime.registry import ModelStore

CROP = 256
BOX_SIDE = 195.0


def crop_matrix(bbox: np.ndarray, crop: int = CROP, side: float = BOX_SIDE) -> np.ndarray:
    """2x3 matrix frame -> crop: the box's larger side becomes `side` pixels, centred."""
    x0, y0, x1, y1 = [float(v) for v in bbox[:4]]
    extent = max(x1 - x0, y1 - y0)
    if extent <= 0:
        raise ValueError(f"empty face box {bbox}")
    s = side / extent
    tx = (crop - (x0 + x1) * s) * 0.5
    ty = (crop - (y0 + y1) * s) * 0.5
    return np.array([[s, 0.0, tx], [0.0, s, ty]], np.float64)


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, H, W) heatmaps -> ((K, 2) sub-pixel peak positions (x, y) in heatmap cells,
    with cell i centred at i; (K,) peak values)."""
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1)
    idx = flat.argmax(1)
    peak = flat[np.arange(k), idx]
    py, px = np.divmod(idx, w)
    out = np.stack([px, py], 1).astype(np.float64)
    eps = 1e-12
    for j in range(k):
        hm = heatmaps[j]
        x, y = int(px[j]), int(py[j])
        for axis, (lo, hi) in enumerate((((y, x - 1), (y, x + 1)), ((y - 1, x), (y + 1, x)))):
            if not (0 <= lo[0] < h and 0 <= lo[1] < w and 0 <= hi[0] < h and 0 <= hi[1] < w):
                continue
            a, b, c = float(hm[lo]), float(hm[y, x]), float(hm[hi])
            if a > eps and b > eps and c > eps:
                la, lb, lc = np.log(a), np.log(b), np.log(c)
                denom = la - 2 * lb + lc
                off = 0.5 * (la - lc) / denom if denom < -eps else 0.0
            else:  # face-alignment's quarter-pixel nudge toward the larger neighbour
                off = 0.25 * np.sign(c - a)
            out[j, axis] += float(np.clip(off, -0.5, 0.5))
    return out, peak


class Fan68Landmarker:
    """Landmarker protocol over 2dfan4.onnx: 68 points (z = 0) and a confidence (mean
    heatmap peak)."""

    n_points = 68

    def __init__(self, path: str | os.PathLike[str] | None = None, *, model_id: str = "2dfan4",
                 store: ModelStore | None = None, min_confidence: float = 0.0, use_model_points: bool = False,
                 device: str | None = None) -> None:
        self.manifest, self.runner = open_model(model_id, path, store, device)
        self.name = model_id
        self.min_confidence = float(min_confidence)
        self.dtype = ort_dtype(self.runner.inputs[0].type)
        shapes = [tuple(o.shape) for o in self.runner.outputs]
        self.heatmap_index = next((i for i, s in enumerate(shapes) if len(s) == 4), None)
        self.points_index = next((i for i, s in enumerate(shapes) if len(s) == 3), None)
        if self.heatmap_index is None and self.points_index is None:
            raise ValueError(f"{model_id}: no heatmap (N,68,64,64) or landmark (N,68,3) output in {shapes}")
        # Decode the heatmaps ourselves (sub-pixel) unless asked to trust the graph's own points.
        self.use_model_points = bool(use_model_points and self.points_index is not None) or self.heatmap_index is None

    @staticmethod
    def prepare_crop(crop: np.ndarray) -> np.ndarray:
        """CLAHE on the L channel of a dark crop (mean L < 30), else the crop unchanged."""
        lab = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
        if float(lab[..., 0].mean()) >= 30:
            return crop
        lab[..., 0] = cv2.createCLAHE(clipLimit=2).apply(lab[..., 0])
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)

    def landmarks(self, image: np.ndarray, detection: Detection) -> tuple[np.ndarray, float] | None:
        """68 landmarks (68, 3) float32 in frame pixels and a confidence, or None when the
        confidence is below min_confidence."""
        m = crop_matrix(np.asarray(detection.bbox))
        crop = cv2.warpAffine(image, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        blob = to_blob(self.prepare_crop(crop), 0.0, 255.0, self.dtype)
        outs = self.runner.run({self.runner.input_names[0]: blob})
        if not self.use_model_points:
            hm = np.asarray(outs[self.heatmap_index], np.float32)[0]
            cells, peaks = decode_heatmaps(hm)
            ratio = CROP / hm.shape[-1]
            pts_crop = (cells + 0.5) * ratio - 0.5
            confidence = float(np.clip(peaks, 0.0, 1.0).mean())
        else:  # FaceFusion's reading of the graph's own (x, y, score) on the 64 grid
            raw = np.asarray(outs[self.points_index], np.float32)[0]
            pts_crop = raw[:, :2].astype(np.float64) / 64.0 * CROP
            if self.heatmap_index is not None:
                hm = np.asarray(outs[self.heatmap_index], np.float32)[0]
                confidence = float(np.clip(hm.reshape(len(hm), -1).max(1), 0.0, 1.0).mean())
            else:
                confidence = float(np.clip(raw[:, 2], 0.0, 1.0).mean()) if raw.shape[1] > 2 else 1.0
        if confidence < self.min_confidence:
            return None
        inv = cv2.invertAffineTransform(m)
        pts = pts_crop @ inv[:, :2].T + inv[:, 2]
        out = np.zeros((len(pts), 3), np.float32)
        out[:, :2] = pts
        return out, confidence
