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
   occlusion: an installed occluder / face parser (models/occluders.toml) masks out what covers
   the face on the plate (a hand): the matte is multiplied by its mask, so the occluder stays
   plate; without one the stage is off and the render's metadata and log say so;
7. output comp (full frame), patch (premultiplied RGBA, alpha = matte) or matte.

Outside the face mask the plate's pixels come through bit-exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from core.errors import FacsimileError
from core.facs import mesh
from core.media.colour import display_rgb8, from_display, srgb_decode, srgb_encode, to_display
from core.media.reader import to_rgb8
from core.render.backend import from_float, to_float
from core.util.report import HANDED_BACK

log = logging.getLogger(__name__)

MODES = ("edit", "swap")
BLENDS = ("poisson", "gaussian", "none")
COLOURS = ("reinhard", "histogram", "none")
OUTPUTS = ("comp", "patch", "matte")

# Eyelid edits (see docs/architecture.md, "Eyes"). Apertures are in eye widths (masks.eye_aperture).
CLOSE_RATIO = (0.25, 0.5)  # edited / source aperture: at or under the first the eye is shut, over the second untouched
CLOSE_MIN_SOURCE = 0.08  # a source eye opening under this shows no eyeball: nothing to cover
OPEN_MISSING = (0.2, 0.4)  # 1 - source / edited aperture: the share of the edited opening the plate cannot show
OPEN_MIN_TARGET = 0.1  # an edited opening under this needs no eyeball
DONOR_OPEN_FRACTION = 0.8  # a donor eye is open: aperture >= this x the shot's (or the seen frames') median

# The occlusion stage's status when no model ran (the sidecar and tests read this wording).
NO_OCCLUDER = ("off: no occlusion (face-parsing) model is installed; occluders in front of the face are not "
               "protected")


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
    occlusion: str = "auto"  # auto: the first installed occluder (models/occluders.toml) if any; off; or a model id
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
        if not isinstance(self.occlusion, str) or not self.occlusion.strip():
            problems.append(f"occlusion must be auto, off or an occluder model id (got {self.occlusion!r})")
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


@dataclass
class EyeDonor:
    """A plate frame (or a crop of one: `landmarks` in its pixel coordinates) where one eye is
    open: the eye texture an edit that opens a closed eye is taken from."""

    image: np.ndarray
    landmarks: np.ndarray
    frame: int | None = None
    aperture: float = float("nan")


EyeDonors = Callable[[str], "EyeDonor | None"]  # side ('right' | 'left', the subject's) -> donor or None


def kps5_from_landmarks(pts: np.ndarray) -> np.ndarray:
    """Five key points in InsightFace order (subject's right eye, left eye, nose tip, right and
    left mouth corners) from the 478-point mesh: iris centres, nose tip, mouth corners."""
    return np.asarray(pts, np.float32)[[mesh.RIGHT_IRIS_CENTER, mesh.LEFT_IRIS_CENTER, 1, 61, 291], :2].copy()


class Renderer:
    """Renders frames of one face track; keeps the temporal state (colour smoothing) of a shot.

    template: a core.identity Template (swap mode). consent: the record returned by
    core.identity.consent.check_consent, required in swap mode (the caller decides overrides).
    """

    def __init__(self, settings: RenderSettings | None = None, template: Any = None,
                 performer_neutral: np.ndarray | None = None, plate_colorspace: str | None = None) -> None:
        """plate_colorspace: the plate's colour space when it is not what to_rgb8 assumes (a camera
        log plate, core.media.colour.needs_display_transform): the face networks then see the
        plate as an sRGB display picture and a swap's template texture is put into the plate's
        encoding, as they are for a linear plate."""
        from core.render.colour import ColourSmoother

        self.settings = (settings or RenderSettings()).validate()
        self.plate_colorspace = plate_colorspace or None
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
                log.warning("restoration stage is OFF for this render: %s", reason, extra=HANDED_BACK)
            else:
                self.restore_status = f"on: {self.settings.restore} at strength {self.settings.restore_strength}"
        self.occluder = None
        self.occlusion_model: str | None = None
        self.occlusion_status = NO_OCCLUDER
        self._init_occlusion()
        self._template_canonical: np.ndarray | None = None
        # texture (in the plate's encoding), mesh, fill, and whether that encoding is linear
        self._template_source: tuple[np.ndarray, np.ndarray, bool] | None = None
        # Edit mode without an explicit donor source: remember the last frame with each eye open.
        self.eye_memory = True
        self._eye_seen: dict[str, list[float]] = {"right": [], "left": []}
        self._eye_donor: dict[str, EyeDonor] = {}
        self._no_donor_logged: set[str] = set()
        self._frame_no = 0

    def _init_occlusion(self) -> None:
        """Open the occluder the settings ask for (auto: the first installed one), or say why none runs."""
        choice = self.settings.occlusion.strip()
        if choice == "off":
            self.occlusion_status = ("off: switched off in the render settings (occlusion = off); occluders in front "
                                     "of the face are not protected")
            return
        from core.errors import ModelError
        from core.runtime.factory import try_load

        if choice == "auto":
            from core.runtime.adapters.occlude import available_occluders

            try:
                ids = available_occluders()
            except ModelError as exc:
                self.occlusion_status = f"off: {exc}"
                log.warning("occlusion stage is OFF for this render: %s", exc, extra=HANDED_BACK)
                return
            if not ids:
                self.occlusion_status = NO_OCCLUDER
                return
            choice = ids[0]
        adapter, reason = try_load(choice)
        family = getattr(getattr(adapter, "manifest", None), "family", None)
        if adapter is not None and family != "occluder":
            adapter, reason = None, f"{choice} is a {family}, not an occluder / face parser"
        if adapter is None:
            self.occlusion_status = f"off: {reason}"
            log.warning("occlusion stage is OFF for this render: %s", reason, extra=HANDED_BACK)
            return
        self.occluder, self.occlusion_model = adapter, choice
        self.occlusion_status = f"on: {choice}"

    def occlusion_mask(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        """(H, W) float32: 0 where the occluder model sees something covering the plate's face
        (aligned on `landmarks`), 1 elsewhere; None when no occluder runs."""
        if self.occluder is None:
            return None
        # the networks read 8-bit display-referred crops (a float plate is linear, a log plate log)
        rgb = display_rgb8(frame, self.plate_colorspace) if self.plate_colorspace else to_rgb8(frame)
        return self.occluder.face_mask(rgb, kps5_from_landmarks(landmarks))

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
               target: dict[str, float] | None = None, donors: EyeDonors | None = None,
               pixel_aspect: float = 1.0) -> RenderResult:
        """Render one plate frame (HxWx3/4, uint8 | uint16 | float32). No face: the plate as is.

        donors: where an edit opens an eye that is closed on this frame, the open eye of another
        frame of the shot (`EyeDonor` per side, asked only when needed; render jobs give the
        nearest open-eye frame). None: in edit mode, the last frame this renderer saw with that
        eye open (frames rendered in order, e.g. the API and tests).

        pixel_aspect: an anamorphic plate's (core.media.aspect). `landmarks` (and the donors') are
        then on the desqueezed picture, as an analysis of the plate gives them: the face is rendered
        on the desqueezed face region and only its change is squeezed back onto the plate's pixels,
        so every pixel the face does not change is the plate's, bit for bit."""
        from core.media.aspect import is_square

        h, w = frame.shape[:2]
        if landmarks is None or not np.all(np.isfinite(landmarks)):
            return self._output(frame, np.zeros((h, w), np.float32), {"face": False})
        if not is_square(pixel_aspect):
            return self._render_anamorphic(frame, np.asarray(landmarks, np.float32), base, target, donors,
                                           float(pixel_aspect))
        return self._output(*self._render_square(frame, np.asarray(landmarks, np.float32), base, target, donors))

    def _render_anamorphic(self, frame: np.ndarray, lm: np.ndarray, base: dict[str, float] | None,
                           target: dict[str, float] | None, donors: EyeDonors | None, par: float) -> RenderResult:
        """render() of a plate with non-square pixels: desqueeze the region around the face (with
        room for the occluder's and the restorer's aligned crops: half a face on every side),
        render it there, and add its change, squeezed back, to the plate's own pixels."""
        from core.media.aspect import desqueeze, squeeze, to_plate
        from core.render.warp import points_roi

        h, w = frame.shape[:2]
        m = self.target_mesh(lm, base or {}, target if target is not None else base or {})
        pts = to_plate(np.concatenate([lm[:, :2], m[:, :2]]).astype(np.float64), par)
        face_h = float(np.ptp(lm[:, 1]))
        x0, y0, x1, y1 = points_roi(pts, (h, w), margin=int(np.ceil(0.5 * face_h)) + 4)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return self._output(frame, np.zeros((h, w), np.float32), {"face": False})
        region = frame[y0:y1, x0:x1]
        sq = desqueeze(region, par)
        kx = sq.shape[1] / (x1 - x0)  # square columns per plate column of this crop (par, up to rounding)
        local = lm.copy()
        local[:, 0] = (lm[:, 0] / par - x0) * kx
        local[:, 1] -= y0
        comp, matte_sq, info = self._render_square(sq, local, base, target, donors)
        c = comp.shape[2]
        change = comp.astype(np.float32) - sq[..., :c].astype(np.float32)
        change = squeeze(change, x1 - x0)
        matte = np.clip(squeeze(matte_sq, x1 - x0), 0.0, 1.0)
        change[matte <= 0.0] = 0.0  # nothing the face does not cover moves
        new = region[..., :c].astype(np.float32) + change
        if np.issubdtype(frame.dtype, np.integer):
            top = np.iinfo(frame.dtype).max
            new = np.clip(np.rint(new), 0, top)
        out = frame.copy()
        out[y0:y1, x0:x1, :c] = new.astype(frame.dtype)
        full = np.zeros((h, w), np.float32)
        full[y0:y1, x0:x1] = matte
        return self._output(out, full, {**info, "pixel_aspect": par})

    def _render_square(self, frame: np.ndarray, lm: np.ndarray, base: dict[str, float] | None,
                       target: dict[str, float] | None, donors: EyeDonors | None
                       ) -> tuple[np.ndarray, np.ndarray, dict]:
        """(comp, matte, info) of a frame on square pixels with the face's plate mesh `lm`."""
        from core.render.warp import points_roi

        h, w = frame.shape[:2]
        base = base or {}
        target = target if target is not None else base
        m = self.target_mesh(lm, base, target)
        eye_donors: dict[str, EyeDonor] = {}
        if self.settings.mode == "edit":
            if donors is None and self.eye_memory:
                self._remember_eyes(frame, lm)
                donors = self._remembered_donor
            m, eye_donors = self._open_eyes(lm, m, base, target, donors)
        occ = self.occlusion_mask(frame, lm)
        if self.restorer is not None:  # the restorer aligns and pastes on the whole frame
            full = self._compose(frame, lm, m, eye_donors, occ)
            return full.image, full.matte, full.info
        # Everything the face changes lies within the meshes' bounding box: render that crop
        # (the Poisson solve of a crop that holds the mask is the full frame's solve) and put
        # it back into a copy of the frame, so the cost follows the face, not the frame.
        x0, y0, x1, y1 = points_roi(np.concatenate([lm[:, :2], m[:, :2]]), (h, w), margin=8)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return frame, np.zeros((h, w), np.float32), {"face": False}
        shift = np.zeros(lm.shape[1], np.float32)
        shift[:2] = (x0, y0)
        crop = self._compose(frame[y0:y1, x0:x1], lm - shift, m - shift, eye_donors,
                             None if occ is None else occ[y0:y1, x0:x1])
        out = frame.copy()
        out[y0:y1, x0:x1, :crop.image.shape[2]] = crop.image
        matte = np.zeros((h, w), np.float32)
        matte[y0:y1, x0:x1] = crop.matte
        return out, matte, crop.info

    def _restore(self, comp: np.ndarray, m: np.ndarray, linear: bool) -> np.ndarray:
        """The restorer's change applied to the float comp (0..1, or scene-linear when `linear`).

        The network reads and writes 8-bit sRGB, so only what it changed is taken back: where it
        changes nothing a 16-bit or float plate keeps its own precision (no 8-bit banding in the
        face), and a linear plate's values outside 0..1 (highlights) go around the network."""
        base = np.clip(comp, 0.0, 1.0)
        cs = self.plate_colorspace
        enc = srgb_encode(base) if linear else to_display(base, cs) if cs else base
        comp8 = (enc * 255.0 + 0.5).astype(np.uint8)
        restored = self.restorer.restore(comp8, kps5_from_landmarks(m), strength=self.settings.restore_strength)
        delta = (restored.astype(np.float32) - comp8.astype(np.float32)) * np.float32(1.0 / 255.0)
        out = np.clip(enc + delta, 0.0, 1.0)
        if linear:
            out = srgb_decode(out)
        elif cs:  # back into the log plate's encoding: only the network's change moves a value
            out = base + (from_display(out, cs) - from_display(enc, cs))
        return out + (comp - base)

    def _compose(self, frame: np.ndarray, landmarks: np.ndarray, m: np.ndarray,
                 donors: dict[str, EyeDonor] | None = None, occlusion: np.ndarray | None = None) -> RenderResult:
        """Warp, mask, colour, blend and restore one frame (or crop) with plate mesh
        `landmarks` and target mesh `m` in its coordinates; returns the comp and its matte.
        `occlusion` (the crop's occluder mask, 1 = face visible) multiplies the matte: what
        covers the face stays plate."""
        from core.render import blend as blend_mod
        from core.render.colour import match_colour
        from core.render.masks import Regions, face_mask
        from core.render.warp import fill_mesh, fill_mesh_pair, warp_image

        s = self.settings
        h, w = frame.shape[:2]
        rgb = frame[..., :3]
        plate_f, scale = to_float(rgb)
        linear = np.dtype(rgb.dtype).kind == "f"  # a float plate is scene-linear; textures and networks are sRGB
        pts_fill, tris_fill = fill_mesh(m)
        if s.mode == "edit":
            src_img, src_pts = plate_f, np.asarray(landmarks, np.float32)
        else:
            if self._template_source is None or self._template_source[2] != linear:  # convert it once
                tex, _ = to_float(self.template.texture[..., :3])
                if linear:
                    tex = srgb_decode(tex)
                elif self.plate_colorspace:  # a log plate: the sRGB texture in the plate's encoding
                    from core.media.colour import DEFAULT_INPUT_COLORSPACE, convert_colorspace

                    tex = np.clip(convert_colorspace(np.ascontiguousarray(tex, np.float32), DEFAULT_INPUT_COLORSPACE,
                                                     self.plate_colorspace), 0.0, 1.0)
                pts = self.template.neutral_mesh
                self._template_source = (tex, pts, linear)
            src_img, src_pts, _ = self._template_source
        plan = eye_plan(src_pts, m)
        closing = {side: wt for side, (kind, wt) in plan.items() if kind == "close"}
        if closing:  # no eyeball may be squeezed into closing lids: cover the source opening with lid skin
            src_img = src_img.copy()
            for side, wt in closing.items():
                close_source_eye(src_img, src_pts, side, wt)
        # the eyeballs move with the eye corners, not with the lids (core.render.warp.fill_mesh_pair)
        eyes_src, eyes_dst, _ = fill_mesh_pair(src_pts, m)
        warped, valid = warp_image(src_img, eyes_src, eyes_dst, tris_fill, out_shape=(h, w))
        eye_info = {}
        for side, (kind, wt) in plan.items():
            if kind == "close":
                draw_lash_line(warped, src_img, src_pts, m, side, wt)
                eye_info[side] = f"closed ({wt:.2f})"
            elif kind == "open":
                donor = (donors or {}).get(side)
                if donor is None:
                    eye_info[side] = "opened from the plate (no donor)" if s.mode == "edit" else "opened"
                else:
                    paste_donor_eye(warped, m, pts_fill, tris_fill, donor, side, wt)
                    eye_info[side] = f"opened from frame {donor.frame} ({wt:.2f})"
        regions = Regions(skin=s.skin, brows=s.brows, eyes=s.eyes,
                          mouth_interior=s.mouth_interior and s.mode == "edit")
        matte = face_mask(m, (h, w), regions, feather_frac=s.feather) * valid
        occluded_share = None
        if occlusion is not None:
            face_px = matte > 0.5
            occluded_share = float((face_px & (occlusion < 0.5)).sum() / max(1, int(face_px.sum())))
            matte = matte * occlusion
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
        info = {"face": True, "mode": s.mode, "blend": s.blend, "restore": self.restore_status,
                "occlusion": self.occlusion_status}
        if occluded_share is not None:
            info["occluded"] = round(occluded_share, 4)  # share of the face matte an occluder covers
        if eye_info:
            info["eyes"] = eye_info
        if self.restorer is not None:
            comp = self._restore(comp, m, linear)
        if occlusion is not None:  # the occluder is plate, whatever blended, moved or restored there
            comp = plate_f + occlusion[..., None] * (comp - plate_f)
        out_rgb = from_float(np.clip(comp, 0, 1) if scale != 1.0 else comp, scale, rgb.dtype)
        # Outside the matte (and the moved holes) the plate is untouched, bit for bit; so is a
        # fully occluded pixel.
        outside = matte <= 0
        if through is not None:
            outside &= ~through
        if occlusion is not None:
            outside |= occlusion <= 0
        out_rgb[outside] = rgb[outside]
        if frame.shape[2] == 4:
            out_rgb = np.concatenate([out_rgb, frame[..., 3:4]], axis=2)
        return RenderResult(out_rgb, matte, info)

    def _remember_eyes(self, frame: np.ndarray, lm: np.ndarray) -> None:
        """Keep a crop of this frame around each eye that is open (aperture >= DONOR_OPEN_FRACTION
        x the median of the frames seen so far, last 250), as the donor for later frames."""
        from core.render.masks import SIDES, eye_aperture, eye_width
        from core.render.warp import points_roi

        self._frame_no += 1
        for side in SIDES:
            ap = eye_aperture(lm, side)
            if not np.isfinite(ap):
                continue
            seen = self._eye_seen[side]
            seen.append(ap)
            del seen[:-250]
            if ap < DONOR_OPEN_FRACTION * float(np.median(seen)):
                continue
            ring = _eye_points(side, 3)
            margin = int(np.ceil(0.6 * eye_width(lm, side))) + 4
            x0, y0, x1, y1 = points_roi(lm[ring], frame.shape[:2], margin=margin)
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            shift = np.zeros(lm.shape[1], np.float32)
            shift[:2] = (x0, y0)
            self._eye_donor[side] = EyeDonor(frame[y0:y1, x0:x1, :3].copy(), lm - shift,
                                             frame=self._frame_no, aperture=ap)

    def _remembered_donor(self, side: str) -> EyeDonor | None:
        return self._eye_donor.get(side)

    def _open_eyes(self, lm: np.ndarray, m: np.ndarray, base: dict[str, float], target: dict[str, float],
                   donors: EyeDonors | None) -> tuple[np.ndarray, dict[str, EyeDonor]]:
        """Edit mode: for each eye the edit opens where the plate's is closed, its donor, and the
        target mesh with that eye's lids moved toward the donor's open shape in proportion to the
        closure the edit removes (AU45 of that side: 1 - edited / extracted). The plate's closed
        lids say nothing about the open shape, and the donor's eye is pasted whole."""
        from core.render.retarget import side_intensities

        plan = {side: wt for side, (kind, wt) in eye_plan(lm, m).items() if kind == "open"}
        if not plan:
            return m, {}
        a = side_intensities(base)
        b = side_intensities({**base, **target}, reference=base)
        out, found = m.copy(), {}
        for side in plan:
            donor = donors(side) if donors is not None else None
            if donor is None:
                if side not in self._no_donor_logged:
                    self._no_donor_logged.add(side)
                    log.warning("the edit opens the subject's %s eye where it is closed on the plate, and the shot "
                                "has no frame with that eye open: it is stretched from the plate", side)
                continue
            found[side] = donor
            name = "AU45R" if side == "right" else "AU45L"
            va = a.get(name, a.get("AU45", 0.0))
            vb = b.get(name, b.get("AU45", 0.0))
            removed = float(np.clip((va - vb) / va, 0.0, 1.0)) if va > 0.3 else 0.0
            if removed > 0:
                out = donor_eye_shape(out, donor, side, removed)
        return out, found

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
        comp_f, scale = to_float(comp[..., :3])
        if s.output == "patch":
            rgba = np.concatenate([comp_f * matte[..., None], matte[..., None]], axis=2)
            # premultiplied 8-bit colour loses most of its precision where alpha is low (a soft
            # edge at alpha 0.1 keeps ~25 levels): hand 8-bit plates' patches on as 16-bit
            dtype, scale = (np.dtype(np.uint16), 65535.0) if comp.dtype == np.uint8 else (comp.dtype, scale)
            return RenderResult(from_float(rgba, scale, dtype), matte, {**info, "alpha": "premultiplied"})
        gray = np.repeat(matte[..., None], 3, axis=2)
        return RenderResult(from_float(gray, scale, comp.dtype), matte, info)


# ---- eyes ---------------------------------------------------------------------------------------
def _eye_points(side: str, ring: int) -> np.ndarray:
    from core.render.masks import eye_loop_ring

    return eye_loop_ring(side, ring)


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def eye_plan(src_pts: np.ndarray, m: np.ndarray) -> dict[str, tuple[str, float]]:
    """Per eye (subject's side), what the edit does to the lids: ('close', weight) where the edited
    opening is much smaller than the textured source's (cover the eyeball with lid skin),
    ('open', weight) where it is much larger (the source has no eyeball to stretch: take one from
    a donor frame). Eyes the edit leaves about as they are are not listed."""
    from core.render.masks import SIDES, eye_aperture

    plan = {}
    for side in SIDES:
        a_s, a_t = eye_aperture(src_pts, side), eye_aperture(m, side)
        if not (np.isfinite(a_s) and np.isfinite(a_t)):
            continue
        if a_s >= CLOSE_MIN_SOURCE:
            wt = 1.0 - _ramp(a_t / a_s, *CLOSE_RATIO)
            if wt > 0:
                plan[side] = ("close", wt)
                continue
        if a_t >= OPEN_MIN_TARGET and a_t > a_s:
            wt = _ramp(1.0 - a_s / a_t, *OPEN_MISSING)
            if wt > 0:
                plan[side] = ("open", wt)
    return plan


def _roi_of(pts: np.ndarray, loop: np.ndarray, shape: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    from core.render.warp import points_roi

    return points_roi(np.asarray(pts)[loop], shape, margin=margin)


def _band_colour(img: np.ndarray, band: np.ndarray) -> np.ndarray | None:
    """Mean colour of the skin in `band` (bool mask): the pixels between the 35th and 95th
    luminance percentiles (no lashes, shadows or highlights)."""
    px = img[band]
    if len(px) < 4:
        return None
    lum = px.mean(axis=1)
    lo, hi = np.percentile(lum, [35, 95])
    keep = (lum >= lo) & (lum <= hi)
    return px[keep].mean(axis=0) if keep.any() else px.mean(axis=0)


def close_source_eye(img: np.ndarray, pts: np.ndarray, side: str, weight: float) -> None:
    """Cover one eye's opening in the (float RGB) source texture with its lid skin, in place: the
    upper lid's colour at the top blending to the lower lid's at the bottom, so the closed lids
    warp from skin and no sclera or iris is squeezed between them."""
    import cv2

    from core.render.masks import eye_ring_mask, eye_width

    h, w = img.shape[:2]
    ew = eye_width(pts, side)
    x0, y0, x1, y1 = _roi_of(pts, _eye_points(side, 3), (h, w), margin=int(0.2 * ew) + 3)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    roi = (x0, y0, x1, y1)
    sub = img[y0:y1, x0:x1]
    opening = eye_ring_mask(pts, side, 1, roi)
    inner = eye_ring_mask(pts, side, 2, roi)
    p = np.asarray(pts, np.float64)
    centre_y = float(np.mean(p[_eye_points(side, 1), 1])) - y0
    ys = np.arange(y1 - y0, dtype=np.float64)[:, None] * np.ones((1, x1 - x0))
    skin = (inner > 0.5) & (opening < 0.05)
    upper = _band_colour(sub, skin & (ys < centre_y))
    lower = _band_colour(sub, skin & (ys >= centre_y))
    if upper is None or lower is None:
        return
    # a vertical ramp over the opening: upper-lid skin above, lower-lid skin below
    rows = np.nonzero(opening.max(axis=1) > 0)[0]
    if len(rows) == 0:
        return
    # the upper lid comes down over the eye: its skin (a little shaded toward the lashes) fills most of the
    # opening, the lower lid's only its bottom fifth
    t = np.clip(((ys - rows[0]) / max(1.0, rows[-1] - rows[0]) - 0.8) / 0.2, 0, 1)[..., None].astype(np.float32)
    fill = (1 - t) * 0.93 * upper.astype(np.float32) + t * lower.astype(np.float32)
    grow = max(1, int(round(0.03 * ew)))
    a = cv2.dilate(opening, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    a = cv2.GaussianBlur(a, (0, 0), max(0.5, grow / 2)) * np.float32(weight)
    sub += a[..., None] * (fill - sub)


def draw_lash_line(warped: np.ndarray, src_img: np.ndarray, src_pts: np.ndarray, m: np.ndarray, side: str,
                   weight: float) -> None:
    """Draw the lash line of a closing eye, in place, on the warped (float RGB) texture: a dark
    curve where the edited lids meet, thickest mid-lid and tapering to the corners, in the colour
    of the source's darkest upper-margin pixels (the lashes)."""
    import cv2

    from core.render.masks import EYE_RINGS, eye_ring_mask, eye_width

    h, w = warped.shape[:2]
    r = EYE_RINGS[side]
    c0, c1 = r["corners"]
    ew_t = eye_width(m, side)
    if ew_t < 3:
        return
    # lash colour: the darkest pixels along the source's upper lid margin
    ew_s = eye_width(src_pts, side)
    sx0, sy0, sx1, sy1 = _roi_of(src_pts, _eye_points(side, 2), src_img.shape[:2], margin=2)
    if sx1 - sx0 < 3 or sy1 - sy0 < 3:
        return
    sroi = (sx0, sy0, sx1, sy1)
    band = np.zeros((sy1 - sy0, sx1 - sx0), np.uint8)
    up = np.round(np.asarray(src_pts, np.float64)[[c0, *r["upper"], c1], :2] - (sx0, sy0)).astype(np.int32)
    cv2.polylines(band, [up], False, 1, thickness=max(2, int(round(0.12 * ew_s))))
    band = band.astype(bool) & (eye_ring_mask(src_pts, side, 2, sroi) > 0.5)
    px = src_img[sy0:sy1, sx0:sx1][band]
    if len(px) < 4:
        return
    lum = px.mean(axis=1)
    dark = px[lum <= np.percentile(lum, 15)].mean(axis=0).astype(np.float32)
    # where the lids meet: the upper lid's edge comes down to the lower one; the line covers the gap left
    p = np.asarray(m, np.float64)[:, :2]
    line = np.concatenate([p[[c0]], 0.6 * p[r["lower"]] + 0.4 * p[r["upper"]], p[[c1]]])
    gap = float(np.median(np.linalg.norm(p[r["upper"]] - p[r["lower"]], axis=1)))
    x0, y0, x1, y1 = _roi_of(m, _eye_points(side, 2), (h, w), margin=int(0.1 * ew_t) + 3)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    ss = 4  # supersampled, then area-averaged: a smooth sub-pixel line at 512 px as at 1080p
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    thick = max(1.0, 0.05 * ew_t) + 0.8 * gap
    poly = np.round((line - (x0, y0)) * ss + (ss - 1) / 2).astype(np.int32)
    cv2.polylines(canvas, [poly], False, 255, thickness=max(1, int(round(thick * ss))), lineType=cv2.LINE_AA)
    a = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    # taper: 0 at the corners, full from a third of the way in
    axis = p[c1] - p[c0]
    xs, ys = np.meshgrid(np.arange(x0, x1) - p[c0, 0], np.arange(y0, y1) - p[c0, 1])
    s = np.clip((xs * axis[0] + ys * axis[1]) / float(axis @ axis), 0, 1)
    a *= np.clip(np.sin(np.pi * s) * 1.6, 0, 1).astype(np.float32) * np.float32(0.9 * weight)
    sub = warped[y0:y1, x0:x1]
    sub += a[..., None] * (dark - sub)


def donor_eye_shape(m: np.ndarray, donor: EyeDonor, side: str, amount: float) -> np.ndarray:
    """`m` with one eye's lid points (rings 1 and 2, corners kept) moved by `amount` (0..1) toward
    the donor's, carried onto this face by the 2-D similarity that fits the donor's crease / cheek
    ring and eye corners to m's."""
    import cv2

    from core.render.masks import EYE_RINGS

    r = EYE_RINGS[side]
    anchors = np.array([*r["corners"], *r["upper3"], *r["lower3"]])
    moving = np.array([*r["upper"], *r["lower"], *r["upper2"], *r["lower2"]])
    d = np.asarray(donor.landmarks, np.float64)[:, :2]
    t = np.asarray(m, np.float64)[:, :2]
    sim, _ = cv2.estimateAffinePartial2D(d[anchors].astype(np.float32), t[anchors].astype(np.float32),
                                         method=cv2.LMEDS)
    if sim is None or not np.all(np.isfinite(sim)):
        return m
    carried = d[moving] @ sim[:, :2].T + sim[:, 2]
    out = np.array(m, np.float32, copy=True)
    out[moving, :2] = (t[moving] + amount * (carried - t[moving])).astype(np.float32)
    return out


def paste_donor_eye(warped: np.ndarray, m: np.ndarray, pts_fill: np.ndarray, tris_fill: np.ndarray,
                    donor: EyeDonor, side: str, weight: float) -> None:
    """Warp the donor's eye (opening and lids, up to the crease / cheek ring) onto the edited mesh
    and blend it into the warped (float RGB) texture, in place: full inside the lid-skin ring,
    feathered out to the crease ring, its colour shifted to the warped texture's skin there."""
    import cv2

    from core.render.masks import eye_ring_mask, eye_width, feather
    from core.render.poisson import poisson_blend
    from core.render.warp import fill_mesh, warp_image

    h, w = warped.shape[:2]
    ew = eye_width(m, side)
    grow = max(1, int(round(0.12 * ew)))  # past the crease ring: eyeliner and lash wings belong to the eye
    roi = _roi_of(m, _eye_points(side, 3), (h, w), margin=grow + 3)
    x0, y0, x1, y1 = roi
    if x1 - x0 < 3 or y1 - y0 < 3 or ew < 3:
        return
    d_img, _ = to_float(np.asarray(donor.image)[..., :3])
    d_fill, _ = fill_mesh(np.asarray(donor.landmarks, np.float32))
    dw, dvalid = warp_image(d_img, d_fill, pts_fill, tris_fill, out_shape=(h, w), roi=roi, crop=True)
    outer = cv2.dilate(eye_ring_mask(m, side, 3, roi),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    inner = eye_ring_mask(m, side, 2, roi)
    sub = warped[y0:y1, x0:x1]
    # in the gradient domain (a Poisson solve over the eye's box, the boundary from this frame): the
    # donor frame's light may differ, its eye is not pasted as a patch but as the donor's detail
    hard = (outer > 0.5) & (dvalid > 0)
    if hard.sum() < 9:
        return
    solved = poisson_blend(dw, sub, hard.astype(np.float32), roi=(0, 0, x1 - x0, y1 - y0), pad_fast=False)
    a = np.maximum(feather(outer, max(1.0, 0.08 * ew)), inner) * hard * np.float32(weight)
    sub += a[..., None] * (solved - sub)
