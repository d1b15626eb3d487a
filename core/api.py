"""The seed Python API: a few plain functions over the engine, for scripts and notebooks.

    from core.api import get_face_analyser, encode_face, compare_faces, transfer_expression, blend_faces

- `get_face_analyser().get_faces(rgb)` -> [Face] (box, InsightFace 5 key points, score,
  478 landmarks, pose, lazily computed 128-D dlib embedding), largest face first.
- `encode_face(crop)` / `compare_faces(e1, e2)`: dlib identity embeddings and their distance.
- `transfer_expression(source_frame, target_face_image, config)`: the face in
  `target_face_image` performs the expression of the performer in `source_frame` (swap mode
  of core.render.Renderer), with per-AU gains; temporal smoothing over successive calls.
- `blend_faces(warped, target, mask, method, enhance_level)`: Poisson or Gaussian blend of a
  rendered face into a frame, with optional face restoration when a model is installed.

Images are RGB numpy arrays (HxWx3, or HxWx4 where noted), uint8, uint16 or float32 0..1;
results keep the input's size and dtype. Errors are core.errors exceptions (NoFaceError when
no face is found, FacsimileError for bad arguments). See docs/api.md.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import FacsimileError, NoFaceError
from core.render.backend import from_float, to_float

log = logging.getLogger(__name__)

__all__ = ["Face", "FaceAnalyser", "ExpressionTransfer", "get_face_analyser", "encode_face", "compare_faces",
           "transfer_expression", "blend_faces", "DEFAULT_TRANSFER_CONFIG", "ENHANCE_STRENGTH"]

DEFAULT_TRANSFER_CONFIG: dict[str, Any] = {"enable_smooth": True, "au_gain": {4: 1.2, 12: 0.8, 43: 1.5}}
ENHANCE_STRENGTH = {"off": 0.0, "low": 0.3, "high": 0.7}
# Restoration models tried for enhance_level, in order of preference (ids of models/restorers.toml).
ENHANCE_MODELS = ("gpen_bfr_512", "gfpgan_1.4", "codeformer", "gpen_bfr_1024", "gpen_bfr_2048")
GAIN_RANGE = (0.0, 2.0)


# ---------------------------------------------------------------------------------- helpers
def _as_image(image: Any, what: str) -> np.ndarray:
    """A HxWx3|4 array, or a FacsimileError saying what is wrong with it."""
    if not isinstance(image, np.ndarray):
        raise FacsimileError(f"{what}: expected a numpy image array (HxWx3 RGB), got {type(image).__name__}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] < 8 or image.shape[1] < 8:
        raise FacsimileError(f"{what}: expected an HxWx3 (RGB) or HxWx4 (RGBA) image, got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise FacsimileError(f"{what}: unsupported dtype {image.dtype} (use uint8, uint16 or float32)")
    return image


def _rgb8(image: np.ndarray) -> np.ndarray:
    from core.analysis.image import to_rgb8

    return to_rgb8(image)


def _image_hash(image: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(f"{image.shape}{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


# ---------------------------------------------------------------------------------- faces
@dataclass
class Face:
    """One face in an image.

    bbox: (4,) x0, y0, x1, y1 of the face mesh in image pixels; kps: (5, 2) key points in
    InsightFace order (subject's right eye, left eye, nose tip, right and left mouth corner);
    score: detection score times landmark confidence (0..1); landmarks: (478, 3) MediaPipe
    face mesh in image pixels (z in pixel units); pose: (3,) pitch, yaw, roll in radians
    (OpenFace convention). `embedding` (128-D dlib, float32) is computed on first access.
    """

    bbox: np.ndarray
    kps: np.ndarray
    score: float
    landmarks: np.ndarray
    pose: np.ndarray
    gaze: np.ndarray
    _image: np.ndarray | None = field(default=None, repr=False)
    _embedding: np.ndarray | None = field(default=None, repr=False)
    _analyser: FaceAnalyser | None = field(default=None, repr=False)

    @property
    def embedding(self) -> np.ndarray:
        """(128,) float32 dlib descriptor (computed once, then cached; the image is released)."""
        if self._embedding is None:
            if self._image is None or self._analyser is None:
                raise FacsimileError("this Face has no image to compute its embedding from")
            self._embedding = self._analyser.embed(self._image, self.landmarks)
            self._image = None
        return self._embedding

    @property
    def size(self) -> float:
        return float(max(self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]))


class FaceAnalyser:
    """Face detection + 478-point mesh + pose (MediaPipe) and identity embedding (dlib).

    Thread-safe (the models are guarded by locks); build it once and reuse it: loading the
    models takes about a second."""

    def __init__(self, max_faces: int = 8) -> None:
        from core.analysis.analyzer import Analyzer

        self.analyzer = Analyzer(max_faces=max_faces)

    def get_faces(self, image: np.ndarray) -> list[Face]:
        """Every face in `image` (RGB), largest first; [] when there is none."""
        from core.render.renderer import kps5_from_landmarks

        rgb = _rgb8(_as_image(image, "get_faces")[..., :3])
        out = []
        for f in self.analyzer.analyze_image(rgb, embed=False):
            out.append(Face(bbox=np.asarray(f.bbox, np.float32), kps=kps5_from_landmarks(f.landmarks),
                            score=float(f.score), landmarks=np.asarray(f.landmarks, np.float32),
                            pose=np.asarray(f.pose, np.float32), gaze=np.asarray(f.gaze, np.float32),
                            _image=rgb, _analyser=self))
        return out

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """128-D dlib descriptor of the face whose mesh is `landmarks`."""
        from core.analysis.analyzer import embed_box
        from core.analysis.interfaces import Detection

        return self.analyzer.embedder.embed(_rgb8(rgb), Detection(embed_box(landmarks), 1.0))


_ANALYSER: FaceAnalyser | None = None
_ANALYSER_LOCK = threading.Lock()


def get_face_analyser() -> FaceAnalyser:
    """The process-wide FaceAnalyser (built on first call, then shared)."""
    global _ANALYSER
    with _ANALYSER_LOCK:
        if _ANALYSER is None:
            _ANALYSER = FaceAnalyser()
        return _ANALYSER


def encode_face(crop: np.ndarray) -> np.ndarray:
    """The (128,) float32 dlib embedding of the largest face in `crop` (an RGB image).

    A tight crop (little or no margin around the face) is padded before detection. Raises
    NoFaceError when no face is found."""
    import cv2

    rgb = _rgb8(_as_image(crop, "encode_face")[..., :3])
    fa = get_face_analyser()
    faces = fa.get_faces(rgb)
    if not faces:
        pad = max(rgb.shape[:2]) // 2
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        faces = fa.get_faces(padded)
    if not faces:
        raise NoFaceError(f"encode_face: no face found in the {rgb.shape[1]}x{rgb.shape[0]} crop; "
                          "give a picture where the face is clearly visible")
    return faces[0].embedding


def compare_faces(e1: np.ndarray, e2: np.ndarray, threshold: float = 0.6) -> tuple[bool, float]:
    """(same, distance): the Euclidean distance between two dlib embeddings and whether it is
    below `threshold` (0.6 is dlib's published same-person threshold; lower is stricter)."""
    a = np.asarray(e1, np.float64).ravel()
    b = np.asarray(e2, np.float64).ravel()
    if a.shape != b.shape or a.size == 0:
        raise FacsimileError(f"compare_faces: the embeddings differ in size ({a.size} vs {b.size})")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise FacsimileError("compare_faces: an embedding contains NaN or infinity")
    d = float(np.linalg.norm(a - b))
    return bool(d < float(threshold)), d


# ---------------------------------------------------------------------------------- templates
class MemoryTemplate:
    """An identity template built in memory from one picture (what core.identity.Template
    gives the renderer: neutral_mesh, texture RGBA, embedding), for the API only: it is not
    written to the library and has no consent record."""

    def __init__(self, image: np.ndarray, face: Face, size: int = 512) -> None:
        from core.identity.library import align_face
        from core.render.masks import face_mask

        rgb = _rgb8(image[..., :3])
        crop, mesh_pts = align_face(rgb, face.landmarks, size)
        alpha = face_mask(mesh_pts, (size, size), feather_frac=0.02)
        self.texture = np.dstack([crop, np.round(alpha * 255).astype(np.uint8)])
        self.neutral_mesh = mesh_pts.astype(np.float32)
        self.embedding = face.embedding
        self.id = self.name = "memory-" + _image_hash(rgb)[:12]

    def __repr__(self) -> str:
        return f"MemoryTemplate({self.id})"


# ---------------------------------------------------------------------------------- AU solve
class _OneEuro:
    """A One-Euro filter over a vector of values (AU intensities)."""

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.3, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        return 1.0 / (1.0 + 1.0 / (2.0 * np.pi * cutoff * dt))

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = self._x + a * (x - self._x)
        return self._x.copy()


def _au_name(key: int | str) -> str:
    """Gain key -> curve name: 12 / '12' / 'AU12' -> 'AU12'; 43 (held closure) -> 'AU45'."""
    s = str(key).strip().upper()
    if s.startswith("AU"):
        s = s[2:]
    side = ""
    if s and s[-1] in "LR":
        s, side = s[:-1], s[-1]
    if not s.isdigit():
        raise FacsimileError(f"au_gain: {key!r} is not an AU number (e.g. 12 or 'AU12')")
    n = int(s)
    if n == 43:
        n = 45  # AU43 (eyes closed) and AU45 (blink) share the AU45 curve
    return f"AU{n:02d}{side}"


def apply_gains(values: Mapping[str, float], gains: Mapping[int | str, float]) -> dict[str, float]:
    """The edited intensities: each gained AU's curves (AU12 and its sides AU12L/AU12R, as
    CurveSet gains do) multiplied by the gain (0..2) and kept within 0..5. A key with a side
    ('12L') scales that side only."""
    out = dict(values)
    for key, g in gains.items():
        g = float(g)
        if not GAIN_RANGE[0] <= g <= GAIN_RANGE[1]:
            raise FacsimileError(f"au_gain {key}: {g} is outside {GAIN_RANGE[0]}..{GAIN_RANGE[1]}")
        if g > 1.5:
            log.debug("au_gain %s = %.2f: above 1.5 the deformation may look non-physiological", key, g)
        name = _au_name(key)
        hits = [n for n in (name, name + "L", name + "R") if n in values] if name[-1].isdigit() else \
            [name] if name in values else []
        for n in hits:
            out[n] = float(np.clip(g * values[n], 0.0, 5.0))
        if not hits:  # a typo (AU99, AU13) would otherwise be a gain that silently does nothing
            raise FacsimileError(f"au_gain: {name} is not an AU of the engine (AUs: "
                                 f"{', '.join(sorted(n for n in values if n.startswith('AU')))})")
    return out


# ---------------------------------------------------------------------------------- transfer
class ExpressionTransfer:
    """Expression transfer over successive frames: keeps the temporal state (landmark and AU
    smoothing, colour statistics) and a cache of identity templates (by image hash).

    Call `reset()` between unrelated clips; a jump of the performer's face (a cut) resets the
    smoothing by itself."""

    def __init__(self, fps: float = 25.0, cache_size: int = 8) -> None:
        from core.analysis.filters import LandmarkFilter

        self.dt = 1.0 / float(fps)
        self.cache_size = int(cache_size)
        self._templates: OrderedDict[str, MemoryTemplate] = OrderedDict()
        self._lm_filter = LandmarkFilter(min_cutoff=1.0, beta=8.0)
        self._au_filter = _OneEuro()
        self._renderers: dict[tuple, Any] = {}
        self._last_center: np.ndarray | None = None
        self._last_key: tuple | None = None
        self._lock = threading.Lock()
        self.calibration: Any = None
        self.last_info: dict[str, Any] = {}

    def reset(self) -> None:
        """Forget the temporal state (smoothing, colour statistics); templates stay cached."""
        self._lm_filter.reset()
        self._au_filter.reset()
        for r in self._renderers.values():
            r.smoother.reset()
        self._last_center = None

    def template_for(self, image: np.ndarray) -> MemoryTemplate:
        """The identity template of the largest face in `image` (cached by the image's hash)."""
        key = _image_hash(image)
        tpl = self._templates.get(key)
        if tpl is not None:
            self._templates.move_to_end(key)
            return tpl
        faces = get_face_analyser().get_faces(image)
        if not faces:
            raise NoFaceError("transfer_expression: no face found in target_face_image; give a picture where "
                              "the identity's face is clearly visible and near frontal")
        tpl = MemoryTemplate(image, faces[0])
        self._templates[key] = tpl
        while len(self._templates) > self.cache_size:
            self._templates.popitem(last=False)
        return tpl

    def solve(self, landmarks: np.ndarray) -> tuple[dict[str, float], float]:
        """AU intensities of one frame's mesh ({curve: value}, confidence)."""
        from core import facs

        values, conf = facs.solve_frame(landmarks, self.calibration)
        values = np.asarray(values, np.float64).ravel()
        names = list(facs.au_curve_names())  # solve_frame gives the AU curves (no pose/gaze)
        if len(values) != len(names):
            raise FacsimileError(f"AU engine: solve_frame gave {len(values)} values for {len(names)} curves")
        return {n: float(v) for n, v in zip(names, values, strict=True) if np.isfinite(v)}, float(conf)

    def calibrate(self, neutral_frame: np.ndarray | None) -> None:
        """Measure expressions from the performer's own neutral face (a frame where the performer
        shows no expression) instead of the canonical neutral, so that the performer's face
        shape does not read as expression. None goes back to the canonical neutral."""
        if neutral_frame is None:
            self.calibration = None
            return
        from core.facs.calibrate import calibration_from_frames
        from core.facs.model import align, model

        faces = get_face_analyser().get_faces(_as_image(neutral_frame, "calibrate")[..., :3])
        if not faces:
            raise NoFaceError("calibrate: no face found in the neutral frame")
        aligned, _ = align(np.asarray(faces[0].landmarks, np.float64), model().neutral)
        self.calibration = calibration_from_frames(aligned[None])

    def _renderer(self, tpl: MemoryTemplate, blend: str, identity_strength: float, colour: str):
        from core.render.renderer import Renderer, RenderSettings

        key = (tpl.id, blend, float(identity_strength), colour)
        r = self._renderers.get(key)
        if r is None:
            settings = RenderSettings(mode="swap", blend=blend, identity_strength=identity_strength, colour=colour)
            r = Renderer(settings, tpl)
            self._renderers = {key: r}  # one identity at a time: older renderers are dropped
        return r

    def __call__(self, source_frame: np.ndarray, target_face_image: np.ndarray,
                 config: Mapping[str, Any] | None = None) -> np.ndarray:
        return self.transfer(source_frame, target_face_image, config)

    def transfer(self, source_frame: np.ndarray, target_face_image: np.ndarray,
                 config: Mapping[str, Any] | None = None) -> np.ndarray:
        """See `transfer_expression`."""
        cfg = {**DEFAULT_TRANSFER_CONFIG, **(config or {})}
        unknown = set(cfg) - {"enable_smooth", "au_gain", "blend", "identity_strength", "colour", "fps"}
        if unknown:
            raise FacsimileError(f"transfer_expression: unknown config key(s) {', '.join(sorted(unknown))}")
        src = _as_image(source_frame, "transfer_expression source_frame")
        tgt = _as_image(target_face_image, "transfer_expression target_face_image")
        if "fps" in cfg:
            self.dt = 1.0 / float(cfg["fps"])
        gains = dict(cfg.get("au_gain") or {})
        from core.facs.catalogue import AU_IDS

        for key in gains:  # checked now, not only on frames with a face (a typo passed on the others)
            name = _au_name(key)
            if int(name[2:].rstrip("LR")) not in AU_IDS:
                raise FacsimileError(f"au_gain: {name} is not an AU of the engine")
        with self._lock:
            tpl = self.template_for(tgt)
            faces = get_face_analyser().get_faces(src[..., :3])
            if not faces:
                self.reset()
                self.last_info = {"face": False}
                log.info("transfer_expression: no performer face in the source frame; returned unchanged")
                return src.copy()
            face = faces[0]
            lm = np.asarray(face.landmarks, np.float32)
            key = (src.shape, tpl.id)
            center = lm[:468, :2].mean(axis=0)
            if self._last_key != key or (self._last_center is not None
                                         and np.linalg.norm(center - self._last_center) > 0.5 * face.size):
                self.reset()  # another clip, another identity, or a cut
            self._last_key, self._last_center = key, center
            smooth = bool(cfg["enable_smooth"])
            if smooth:
                from core.analysis.analyzer import face_scale

                lm = self._lm_filter(lm, self.dt, face_scale(lm))
            base, conf = self.solve(lm)
            if smooth:
                names = list(base)
                vals = np.clip(self._au_filter(np.array([base[n] for n in names]), self.dt), 0.0, 5.0)
                base = {n: float(v) for n, v in zip(names, vals, strict=True)}
            target = apply_gains(base, gains)
            renderer = self._renderer(tpl, str(cfg.get("blend", "poisson")), float(cfg.get("identity_strength", 0.0)),
                                      str(cfg.get("colour", "reinhard")))
            result = renderer.render(src, lm, base, target)
            self.last_info = {**result.info, "au": base, "au_edited": target, "confidence": conf,
                              "template": tpl.id, "matte": result.matte}
            return result.image


_TRANSFER: ExpressionTransfer | None = None


def default_transfer() -> ExpressionTransfer:
    """The ExpressionTransfer instance that `transfer_expression` uses."""
    global _TRANSFER
    with _ANALYSER_LOCK:
        if _TRANSFER is None:
            _TRANSFER = ExpressionTransfer()
        return _TRANSFER


def transfer_expression(source_frame: np.ndarray, target_face_image: np.ndarray,
                        config: Mapping[str, Any] | None = None) -> np.ndarray:
    """The source frame (the plate: the performance) with the identity of the face in
    `target_face_image` rendered in place of the performer, showing the performer's
    expression with each AU scaled by its gain.

    config (defaults: DEFAULT_TRANSFER_CONFIG):
      enable_smooth (bool, True): One-Euro smoothing of the landmarks and AU intensities over
        successive calls (consecutive frames of one clip; a cut or a new identity resets it);
      au_gain ({AU: gain}, 0..2): e.g. {12: 0.8} damps the smile; 43 means the AU45 blink
        curve; above 1.5 the deformation may look non-physiological;
      blend ('poisson' | 'gaussian' | 'none'), colour ('reinhard' | 'histogram' | 'none'),
      identity_strength (0..1, 0: keep the performer's face shape), fps (25).
    Returns an array of the source frame's shape and dtype; pixels outside the face matte are
    the source's, bit for bit. No performer face: the source frame, unchanged. No face in the
    target image: NoFaceError. The template of a target image is cached by its hash.
    Uses a module-level ExpressionTransfer (`default_transfer()`); make your own per clip
    when several clips are processed at once.
    """
    return default_transfer().transfer(source_frame, target_face_image, config)


# ---------------------------------------------------------------------------------- blending
_ENHANCE_WARNED = False
_ENHANCER: tuple[Any, str] | None = None


def _enhancer() -> tuple[Any, str]:
    """(restorer adapter or None, its id or why there is none), looked up once."""
    global _ENHANCER
    if _ENHANCER is None:
        from core.runtime.factory import available, try_load

        try:
            installed = available("restorer")
        except Exception as exc:  # a broken model store must not break blending
            installed, why = [], f"the model store could not be read ({exc})"
        else:
            why = "no face-restoration model is installed (facsimile models install DIR)"
        ordered = [m for m in ENHANCE_MODELS if m in installed] + [m for m in installed if m not in ENHANCE_MODELS]
        found: tuple[Any, str] = (None, why)
        for model_id in ordered:
            adapter, reason = try_load(model_id)
            if adapter is not None:
                found = (adapter, model_id)
                break
            why = reason
            found = (None, why)
        _ENHANCER = found
    return _ENHANCER


def blend_faces(warped: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, method: str = "poisson",
                enhance_level: str = "off") -> np.ndarray:
    """Blend a rendered face (`warped`, full frame, aligned with `target`) into `target`.

    mask: float 0..1 or uint8 0..255 (H, W), the face matte; None takes warped's alpha when it
    is RGBA, else the feathered face hull of the face found in `warped`. method: 'poisson'
    (gradient domain, seamless, the edge feathered into the target) or 'gaussian' (feathered
    alpha, the fast preview). enhance_level: 'off', 'low' (restoration at strength 0.3) or
    'high' (0.7) with the first installed face-restoration model (GPEN, GFPGAN, CodeFormer);
    with none installed a WARNING is logged once and the unenhanced blend is returned.
    Returns a frame of target's shape and dtype; outside the mask it is target, bit for bit.
    """
    global _ENHANCE_WARNED
    from core.render import blend as blend_mod
    from core.render.masks import face_mask

    if method not in ("poisson", "gaussian"):
        raise FacsimileError(f"blend_faces: method must be 'poisson' or 'gaussian' (got {method!r})")
    if enhance_level not in ENHANCE_STRENGTH:
        raise FacsimileError(f"blend_faces: enhance_level must be one of {', '.join(ENHANCE_STRENGTH)} "
                             f"(got {enhance_level!r})")
    warped = _as_image(warped, "blend_faces warped")
    dst = _as_image(target, "blend_faces target")
    if warped.shape[:2] != dst.shape[:2]:
        raise FacsimileError(f"blend_faces: warped {warped.shape[:2]} and target {dst.shape[:2]} differ in size; "
                             "warp the face into the target's frame first")
    landmarks = None
    if mask is None:
        if warped.shape[2] == 4:
            m, _ = to_float(warped[..., 3])
        else:
            faces = get_face_analyser().get_faces(warped[..., :3])
            if not faces:
                raise NoFaceError("blend_faces: no mask given and no face found in `warped` to make one")
            landmarks = faces[0].landmarks
            m = face_mask(landmarks, dst.shape[:2], feather_frac=0.06)
    else:
        m = np.asarray(mask)
        if m.ndim == 3:
            m = m[..., 0]
        if m.shape != dst.shape[:2]:
            raise FacsimileError(f"blend_faces: mask {m.shape} does not match the target {dst.shape[:2]}")
        m = m.astype(np.float32) / 255.0 if m.dtype == np.uint8 else np.clip(m.astype(np.float32), 0.0, 1.0)
    if not (m > 0).any():
        return dst.copy()
    src_f, _ = to_float(warped[..., :3])
    dst_f, scale = to_float(dst[..., :3])
    if method == "poisson":
        comp = blend_mod.blend(src_f, dst_f, m, method="poisson")
        comp = m[..., None] * comp + (1 - m[..., None]) * dst_f  # feather the solve's edge into the target
    else:
        ys, xs = np.nonzero(m > 0.5)
        size = max(int(np.ptp(xs)) if xs.size else 0, int(np.ptp(ys)) if ys.size else 0, 1)
        comp = blend_mod.feather_blend(src_f, dst_f, m, radius=max(1.0, 0.03 * size))
    if enhance_level != "off":
        restorer, why = _enhancer()
        if restorer is None:
            if not _ENHANCE_WARNED:
                log.warning("blend_faces: enhance_level=%r asked for, but %s; returning the unenhanced blend",
                            enhance_level, why)
                _ENHANCE_WARNED = True
        else:
            from core.render.renderer import kps5_from_landmarks

            comp8 = np.clip(comp * 255 + 0.5, 0, 255).astype(np.uint8)
            if landmarks is None:
                faces = get_face_analyser().get_faces(comp8)
                landmarks = faces[0].landmarks if faces else None
            if landmarks is None:
                log.warning("blend_faces: no face found in the blend to enhance; returning it unenhanced")
            else:
                restored = restorer.restore(comp8, kps5_from_landmarks(landmarks),
                                            strength=ENHANCE_STRENGTH[enhance_level])
                comp = restored.astype(np.float32) / 255.0
    out = from_float(np.clip(comp, 0, 1) if scale != 1.0 else comp, scale, dst.dtype)
    outside = m <= 0
    out[outside] = dst[..., :3][outside]
    if dst.shape[2] == 4:
        out = np.concatenate([out, dst[..., 3:4]], axis=2)
    return out
