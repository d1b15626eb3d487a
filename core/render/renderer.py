"""The per-frame renderer: plate + landmarks + (extracted, edited) AU intensities -> pixels.

DESIGN.md §7, the classical path:
1. geometry: M = L + pose(sum_i (a'_i - a_i) B_i) [+ identity-shape transfer in swap mode],
   where L is the plate mesh, a the extracted and a' the edited intensities, B the AU bases
   of core.facs (the same bases the solver uses, so an edit is the inverse of extraction);
2. texture: edit mode warps the plate itself from L to M; swap mode warps the identity
   template's neutral texture from its mesh to M;
3. masks (face hull, regions; the mouth interior from the plate when the texture has none);
4. colour match (Reinhard LAB inside the mask, smoothed over frames);
5. blend (Poisson with a DST, Gaussian feather, or none);
6. enhance (an installed GPEN/GFPGAN/CodeFormer ONNX model; otherwise off, and the render's
   metadata says so);
7. output comp (full frame), patch (premultiplied RGBA, alpha = matte) or matte.

Outside the face mask the plate's pixels come through bit-exactly.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from core.errors import FacsimileError
from core.facs import mesh

log = logging.getLogger(__name__)

MODES = ("edit", "swap")
BLENDS = ("poisson", "gaussian", "none")
COLOURS = ("reinhard", "histogram", "none")
OUTPUTS = ("comp", "patch", "matte")


@dataclass
class RenderSettings:
    """Everything that decides the pixels of a render (saved with the shot, written to the sidecar)."""

    mode: str = "edit"  # edit: the performer's own face re-shaped; swap: the template's face
    blend: str = "poisson"
    gradients: str = "normal"  # Poisson guidance: normal | mixed
    colour: str = "reinhard"
    colour_smoothing: float = 0.25  # EMA weight of a new frame's colour statistics
    skin: bool = True
    brows: bool = True
    eyes: bool = True
    mouth_interior: bool = True  # False: the plate's mouth interior shows through
    feather: float = 0.06  # feather radius as a fraction of the face size
    identity_strength: float = 0.0  # swap: 0 keeps the performer's face shape, 1 the template's
    restore: str = "off"  # restoration model id (gpen_bfr_512, gfpgan_1.4, codeformer) or off
    restore_strength: float = 0.5
    output: str = "comp"
    track: int = 0

    def validate(self) -> RenderSettings:
        """Raise a FacsimileError naming each bad field."""
        problems = []
        for name, allowed in (("mode", MODES), ("blend", BLENDS), ("colour", COLOURS), ("output", OUTPUTS),
                              ("gradients", ("normal", "mixed"))):
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)} (got {getattr(self, name)!r})")
        for name, lo, hi in (("identity_strength", 0, 1), ("restore_strength", 0, 1), ("feather", 0, 0.5),
                             ("colour_smoothing", 0.01, 1)):
            v = getattr(self, name)
            if not lo <= v <= hi:
                problems.append(f"{name} must be within {lo}..{hi} (got {v})")
        if problems:
            raise FacsimileError("render settings: " + "; ".join(problems))
        return self

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> RenderSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known}).validate()


@dataclass
class RenderResult:
    """One rendered frame: `image` (comp RGB, patch RGBA premultiplied, or matte), the matte
    (H, W) float32 0..1, and what happened (for logs and metadata)."""

    image: np.ndarray
    matte: np.ndarray
    info: dict = field(default_factory=dict)


def kps5_from_landmarks(pts: np.ndarray) -> np.ndarray:
    """Five key points in InsightFace order (subject's right eye, left eye, nose tip, right and
    left mouth corners) from the 478-point mesh: iris centres, nose tip, mouth corners."""
    return np.asarray(pts, np.float32)[[mesh.RIGHT_IRIS_CENTER, mesh.LEFT_IRIS_CENTER, 1, 61, 291], :2].copy()


def _to_float(img: np.ndarray) -> tuple[np.ndarray, float]:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0, 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0, 65535.0
    return img.astype(np.float32), 1.0


def _from_float(img: np.ndarray, scale: float, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return img.astype(dtype)
    return np.clip(np.round(img * scale), 0, scale).astype(dtype)


class Renderer:
    """Renders frames of one face track; keeps the temporal state (colour smoothing) of a shot.

    template: a core.identity Template (swap mode). consent: the record returned by
    core.identity.consent.check_consent, required in swap mode (the caller decides overrides).
    """

    def __init__(self, settings: RenderSettings | None = None, template: Any = None,
                 performer_neutral: np.ndarray | None = None) -> None:
        from core.render.colour import ColourSmoother

        self.settings = (settings or RenderSettings()).validate()
        self.template = template
        if self.settings.mode == "swap" and template is None:
            raise FacsimileError("swap mode needs an identity template: assign one to the shot "
                                 "(`facsimile library add`, then the studio's identity panel or --template)")
        self.performer_neutral = performer_neutral
        self.smoother = ColourSmoother("ema", alpha=self.settings.colour_smoothing)
        self.restorer = None
        self.restore_status = "off"
        if self.settings.restore != "off":
            from core.runtime.factory import try_load

            self.restorer, reason = try_load(self.settings.restore)
            if self.restorer is None:
                self.restore_status = f"off: {reason}"
                log.warning("restoration stage is OFF for this render: %s", reason)
            else:
                self.restore_status = f"on: {self.settings.restore} at strength {self.settings.restore_strength}"
        self._template_canonical: np.ndarray | None = None

    # ---- geometry ------------------------------------------------------------------------
    def target_mesh(self, landmarks: np.ndarray, base: dict[str, float], target: dict[str, float]) -> np.ndarray:
        """M: the plate mesh moved by the edit (and, in swap mode, toward the template's shape)."""
        from core.render.retarget import expression_delta, identity_delta

        pts = np.asarray(landmarks, np.float64)
        out = pts + expression_delta(pts, base, target)
        if self.settings.mode == "swap" and self.settings.identity_strength > 0:
            out = out + self.settings.identity_strength * identity_delta(
                pts, self.template.neutral_mesh, self.performer_neutral)
        return out.astype(np.float32)

    # ---- one frame -----------------------------------------------------------------------
    def render(self, frame: np.ndarray, landmarks: np.ndarray | None, base: dict[str, float] | None = None,
               target: dict[str, float] | None = None) -> RenderResult:
        """Render one plate frame (HxWx3/4, uint8 | uint16 | float32). No face: the plate as is."""
        from core.render.warp import points_roi

        h, w = frame.shape[:2]
        if landmarks is None or not np.all(np.isfinite(landmarks)):
            return self._output(frame, np.zeros((h, w), np.float32), {"face": False})
        base = base or {}
        target = target if target is not None else base
        lm = np.asarray(landmarks, np.float32)
        m = self.target_mesh(lm, base, target)
        if self.restorer is not None:  # the restorer aligns and pastes on the whole frame
            full = self._compose(frame, lm, m)
            return self._output(full.image, full.matte, full.info)
        # Everything the face changes lies within the meshes' bounding box: render that crop
        # (the Poisson solve of a crop that holds the mask is the full frame's solve) and put
        # it back into a copy of the frame, so the cost follows the face, not the frame.
        x0, y0, x1, y1 = points_roi(np.concatenate([lm[:, :2], m[:, :2]]), (h, w), margin=8)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return self._output(frame, np.zeros((h, w), np.float32), {"face": False})
        shift = np.zeros(lm.shape[1], np.float32)
        shift[:2] = (x0, y0)
        crop = self._compose(frame[y0:y1, x0:x1], lm - shift, m - shift)
        out = frame.copy()
        out[y0:y1, x0:x1, :crop.image.shape[2]] = crop.image
        matte = np.zeros((h, w), np.float32)
        matte[y0:y1, x0:x1] = crop.matte
        return self._output(out, matte, crop.info)

    def _compose(self, frame: np.ndarray, landmarks: np.ndarray, m: np.ndarray) -> RenderResult:
        """Warp, mask, colour, blend and restore one frame (or crop) with plate mesh
        `landmarks` and target mesh `m` in its coordinates; returns the comp and its matte."""
        from core.render import blend as blend_mod
        from core.render.colour import match_colour
        from core.render.masks import Regions, face_mask
        from core.render.warp import fill_mesh, warp_image

        s = self.settings
        h, w = frame.shape[:2]
        rgb = frame[..., :3]
        plate_f, scale = _to_float(rgb)
        pts_fill, tris_fill = fill_mesh(m)
        if s.mode == "edit":
            src_img, src_pts = plate_f, np.asarray(landmarks, np.float32)
        else:
            tex, _ = _to_float(self.template.texture[..., :3])
            src_img, src_pts = tex, self.template.neutral_mesh
        src_fill, _ = fill_mesh(src_pts)
        warped, valid = warp_image(src_img, src_fill, pts_fill, tris_fill, out_shape=(h, w))
        regions = Regions(skin=s.skin, brows=s.brows, eyes=s.eyes,
                          mouth_interior=s.mouth_interior and s.mode == "edit")
        matte = face_mask(m, (h, w), regions, feather_frac=s.feather) * valid
        dst_f = plate_f
        through = None  # where the plate shows through a switched-off region, moved by the edit
        if s.mode == "swap" and not np.array_equal(m, landmarks):
            through = self._plate_through(m, regions, (h, w))
        if through is not None:
            # The plate shows through the holes (the mouth opening): move it with the edit (as
            # edit mode does) so the performer's teeth follow the edited lips instead of staying put.
            moved, moved_valid = warp_image(plate_f, fill_mesh(landmarks)[0], pts_fill, tris_fill, out_shape=(h, w))
            through &= moved_valid > 0
            dst_f = np.where(through[..., None], moved, plate_f)
        if s.colour != "none" and s.mode == "swap":
            hard = (matte > 0.5).astype(np.float32)
            warped = match_colour(warped, hard, plate_f, hard, method=s.colour, smoother=self.smoother)
        method = {"poisson": "poisson", "gaussian": "feather", "none": "none"}[s.blend]
        if method == "poisson":
            comp = blend_mod.blend(warped, dst_f, matte, method="poisson", mode=s.gradients)
            # The solve covers the hard mask; feather its edge into the plate.
            comp = matte[..., None] * comp + (1 - matte[..., None]) * dst_f
        else:
            comp = blend_mod.blend(warped, dst_f, matte, method=method,
                                   feather_radius=max(1.0, s.feather * 100))
        info = {"face": True, "mode": s.mode, "blend": s.blend, "restore": self.restore_status}
        if self.restorer is not None:
            comp8 = np.clip(comp * 255 + 0.5, 0, 255).astype(np.uint8)
            restored = self.restorer.restore(comp8, kps5_from_landmarks(m), strength=s.restore_strength)
            comp = restored.astype(np.float32) / 255.0
        out_rgb = _from_float(np.clip(comp, 0, 1) if scale != 1.0 else comp, scale, rgb.dtype)
        # Outside the matte (and the moved holes) the plate is untouched, bit for bit.
        outside = matte <= 0
        if through is not None:
            outside &= ~through
        out_rgb[outside] = rgb[outside]
        if frame.shape[2] == 4:
            out_rgb = np.concatenate([out_rgb, frame[..., 3:4]], axis=2)
        return RenderResult(out_rgb, matte, info)

    def _plate_through(self, m: np.ndarray, regions: Any, shape: tuple[int, int]) -> np.ndarray | None:
        """bool (H, W): the switched-off regions inside the face (the plate shows through them),
        grown past the matte's feather so the moved plate fills the whole ramp; None if none."""
        import cv2

        from core.render.masks import Regions, face_size, region_mask
        from core.render.warp import points_roi

        off = Regions(skin=False, brows=not regions.brows, eyes=not regions.eyes,
                      mouth_interior=not regions.mouth_interior)
        if not (off.brows or off.eyes or off.mouth_interior):
            return None
        grow = max(2, int(round(3 * self.settings.feather * face_size(m))))
        x0, y0, x1, y1 = points_roi(m, shape, margin=grow + 2)
        hole = region_mask(m, shape, off, roi=(x0, y0, x1, y1)) > 0
        if not hole.any():
            return None
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        out = np.zeros(shape, bool)
        out[y0:y1, x0:x1] = cv2.dilate(hole.astype(np.uint8), k).astype(bool)
        return out

    def _output(self, comp: np.ndarray, matte: np.ndarray, info: dict) -> RenderResult:
        s = self.settings
        if s.output == "comp":
            return RenderResult(comp, matte, info)
        comp_f, scale = _to_float(comp[..., :3])
        if s.output == "patch":
            rgba = np.concatenate([comp_f * matte[..., None], matte[..., None]], axis=2)
            return RenderResult(_from_float(rgba, scale, comp.dtype), matte, {**info, "alpha": "premultiplied"})
        gray = np.repeat(matte[..., None], 3, axis=2)
        return RenderResult(_from_float(gray, scale, comp.dtype), matte, info)
