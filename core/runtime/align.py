"""Five-point face alignment: the templates the common face models were trained on, a
least-squares similarity (Umeyama) fit, crop warping and the feathered paste-back.

Key points are in InsightFace order (subject's right eye, left eye, nose tip, right mouth
corner, left mouth corner), as `core.analysis.interfaces.Detection.kps` holds them.
"""

from __future__ import annotations

import cv2
import numpy as np

# Templates normalised to a unit square; multiply by the crop size. Values as published by
# InsightFace (arcface_dst / 112) and FaceFusion's WARP_TEMPLATES (ffhq_512 is facexlib's
# FFHQ template that GFPGAN, GPEN and CodeFormer were trained on).
TEMPLATES: dict[str, np.ndarray] = {
    "arcface_112": np.array(
        [
            [0.34191607, 0.46157411],
            [0.65653393, 0.45983393],
            [0.50022500, 0.64050536],
            [0.37097589, 0.82469196],
            [0.63151696, 0.82325089],
        ],
        dtype=np.float64,
    ),
    "arcface_128": np.array(
        [
            [0.36167656, 0.40387734],
            [0.63696719, 0.40235469],
            [0.50019687, 0.56044219],
            [0.38710391, 0.72160547],
            [0.61507734, 0.72034453],
        ],
        dtype=np.float64,
    ),
    "ffhq_512": np.array(
        [
            [0.37691676, 0.46864664],
            [0.62285697, 0.46912813],
            [0.50123859, 0.61331904],
            [0.39308822, 0.72541100],
            [0.61150205, 0.72490465],
        ],
        dtype=np.float64,
    ),
}

# InsightFace's arcface_dst in 112x112 pixels (the same template as arcface_112 above).
ARCFACE_DST_112 = TEMPLATES["arcface_112"] * 112.0


def template_points(name: str, size: int) -> np.ndarray:
    """The named template scaled to a `size` x `size` crop, (5, 2) float64 pixels."""
    try:
        return TEMPLATES[name] * float(size)
    except KeyError:
        raise ValueError(f"unknown alignment template {name!r}; known: {', '.join(sorted(TEMPLATES))}") from None


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping
    src points onto dst points (Umeyama 1991, no reflection). Returns a 2x3 float64 matrix."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need matching point sets of at least 2 points, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("degenerate key points (all at one place): cannot align the face")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def alignment_matrix(kps: np.ndarray, template: str, size: int) -> np.ndarray:
    """The 2x3 matrix taking frame pixels to a `size` crop aligned on `template`."""
    return umeyama_similarity(np.asarray(kps, dtype=np.float64)[:5, :2], template_points(template, size))


def warp_face(image: np.ndarray, kps: np.ndarray, template: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop the face aligned on `template` at `size` x `size`; returns (crop, matrix frame->crop)."""
    m = alignment_matrix(kps, template, size)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


def box_mask(size: int, blur: float = 0.3, padding: tuple[float, float, float, float] = (0, 0, 0, 0)) -> np.ndarray:
    """A feathered box mask for a square crop (float32 0..1), as FaceFusion's static box
    mask: zero borders of half the blur width, then a Gaussian of a quarter of it.
    padding is (top, right, bottom, left) in percent of the crop."""
    blur_amount = int(size * 0.5 * blur)
    blur_area = max(blur_amount // 2, 1)
    m = np.ones((size, size), np.float32)
    top, right, bottom, left = padding
    m[: max(blur_area, int(size * top / 100)), :] = 0
    m[-max(blur_area, int(size * bottom / 100)) :, :] = 0
    m[:, : max(blur_area, int(size * left / 100))] = 0
    m[:, -max(blur_area, int(size * right / 100)) :] = 0
    if blur_amount > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur_amount * 0.25)
    return m


def paste_back(
    frame: np.ndarray, crop: np.ndarray, crop_mask: np.ndarray, matrix: np.ndarray, strength: float = 1.0
) -> np.ndarray:
    """Warp `crop` (uint8, aligned with `matrix` frame->crop) back into a copy of `frame`,
    blended by the feathered `crop_mask` times `strength` (0..1).

    Only the bounding box of the warped mask is touched; pixels where the warped mask is 0
    are returned bit-identical to the input frame."""
    out = frame.copy()
    strength = float(np.clip(strength, 0.0, 1.0))
    if strength <= 0.0:
        return out
    h, w = frame.shape[:2]
    size = crop.shape[0]
    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
    pts = corners @ inv[:, :2].T + inv[:, 2]
    x0 = int(max(0, np.floor(pts[:, 0].min()) - 1))
    y0 = int(max(0, np.floor(pts[:, 1].min()) - 1))
    x1 = int(min(w, np.ceil(pts[:, 0].max()) + 2))
    y1 = int(min(h, np.ceil(pts[:, 1].max()) + 2))
    if x1 <= x0 or y1 <= y0:
        return out
    # Inverse warp into the ROI only: shift the translation by the ROI origin.
    inv_roi = inv.copy()
    inv_roi[:, 2] -= (x0, y0)
    rw, rh = x1 - x0, y1 - y0
    face = cv2.warpAffine(crop, inv_roi, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(crop_mask.astype(np.float32), inv_roi, (rw, rh), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = np.clip(mask, 0.0, 1.0) * strength
    roi = out[y0:y1, x0:x1]
    blended = roi.astype(np.float32) * (1.0 - mask[..., None]) + face.astype(np.float32) * mask[..., None]
    blended = np.clip(np.rint(blended), 0, 255).astype(frame.dtype)
    np.copyto(roi, blended, where=(mask > 0)[..., None])
    return out
