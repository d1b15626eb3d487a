"""The AU model: canonical neutral mesh + one displacement basis per AU side, the per-frame
solver (rigid alignment, then bounded least squares of the residual onto the bases) and
synthesis (the exact inverse: neutral + sum of intensity x basis).

Both directions read the same data, resources/facs/canonical.npz, derived by
resources/facs/derive_bases.py from basis_spec.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import nnls

from core.errors import FacsimileError
from core.facs.catalogue import AU_IDS, au_curve_names
from core.facs.geometry import STABLE_POINTS, STABLE_WEIGHTS, similarity

MODEL_FILE = "facs/canonical.npz"  # the AU model, under resources/ (derive_bases.py writes it)
MAX_INTENSITY = 5.0
# Detector solves may go past E (5), up to twice it, before the curve is clipped to 5: a movement larger
# than a basis's E-level displacement (a forced wide-open mouth is 2-3x AU26 at 5) is still that
# AU at its maximum, and a bound at 5 would push the rest onto whatever other AUs can move that
# way (AU15, AU20, AU25 on an open-mouthed scream).
SOLVE_MAX = 10.0
# weights of the residual per axis: MediaPipe's z is a learned depth guess, much noisier than x, y
AXIS_WEIGHTS = np.array([1.0, 1.0, 0.25])
# fit residual (weighted RMS, in inter-ocular distances) at which the fit confidence is 0.5
RESIDUAL_HALF_CONFIDENCE = 0.03
# landmark noise of the detector (IOD, per coordinate, after alignment) and how many standard
# deviations of it an activation must explain before it counts (an L1 cost on each AU)
LANDMARK_NOISE = 0.01
NOISE_SIGMAS = 3.0
RIDGE = 1e-3  # Tikhonov term (relative to the mean diagonal), keeps overlapping bases well posed


@dataclass(frozen=True)
class Pose:
    """Canonical -> image transform of a face: x_img = scale * x_canon @ rotation.T + translation."""

    rotation: np.ndarray
    scale: float
    translation: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.scale * x @ self.rotation.T + self.translation

    def invert(self, x: np.ndarray) -> np.ndarray:
        return (x - self.translation) @ self.rotation / self.scale


@dataclass(frozen=True)
class Model:
    neutral: np.ndarray  # (478, 3) canonical neutral, IOD units
    bases: np.ndarray  # (B, 478, 3) displacement per unit intensity
    basis_names: tuple[str, ...]
    mirror: np.ndarray
    point_weights: np.ndarray  # (478,)
    stable_weights: np.ndarray  # (478,) zero except the stable points
    design: np.ndarray  # (B, P) weighted-sqrt flattened bases, P = 478*3
    elem_w: np.ndarray  # (P,) residual weights
    gram: np.ndarray  # (B, B) design @ design.T (exact problem, no ridge)
    penalty: np.ndarray  # (B,) activation cost (keeps landmark noise out of the curves)
    gram_d: np.ndarray  # (B, B) gram + ridge: the problem for noisy detector landmarks
    curve_from_basis: np.ndarray  # (n_curves,) index into bases, -1 for bilateral max curves
    bilateral: tuple[tuple[int, int, int], ...]  # (curve index, left basis, right basis)
    # the same problem for a face measured from the canonical neutral (a still: no neutral of its
    # own person), each residual element weighted by noise^2 / (noise^2 + identity spread)
    elem_w_id: np.ndarray
    design_id: np.ndarray
    gram_id: np.ndarray
    penalty_id: np.ndarray
    # AU25 (lips part) is read off the inner-lip gap (basis_spec.json 'parting'): [upper, lower]
    # landmark pairs, the gap scale (IOD at intensity 0, 1, 5) and each basis's gap per unit
    parting_pairs: np.ndarray  # (n, 2)
    parting_scale: np.ndarray  # (3,)
    parting_gain: np.ndarray  # (B,)
    # the depth plane the solve leaves out (_depth_plane) under elem_w, for the fit RMS
    depth_plane: np.ndarray  # (P, 3)


@cache
def model() -> Model:
    """The shipped AU model (loaded once)."""
    path = model_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            neutral = z["neutral"]
            bases = z["bases"]
            names = tuple(str(n) for n in z["basis_names"])
            mirror = z["mirror"]
            identity_var = z["identity_var"]
            parting_pairs = np.asarray(z["parting_pairs"], np.int64).reshape(-1, 2)
            parting_scale = np.asarray(z["parting_scale"], np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise FacsimileError(f"AU basis file {path} is missing or damaged: {exc}; "
                             "run resources/facs/derive_bases.py or reinstall") from exc
    from core.facs.mesh import regions

    pw = np.ones(478)
    pw[468:] = 0.0  # irises follow gaze, not AUs
    pw[regions()["face_oval"]] = 0.5  # the jaw/face outline is the least precise contour
    sw = np.zeros(478)
    sw[STABLE_POINTS] = STABLE_WEIGHTS
    elem_w = (pw[:, None] * AXIS_WEIGHTS[None, :]).ravel()
    flat = bases.reshape(len(bases), -1)
    plane = _depth_plane(neutral, elem_w)
    design, gram, gram_d, penalty = _weighted_problem(_without_plane(flat, elem_w, plane), elem_w)
    # A still measured from the canonical neutral carries the person's identity offset in its
    # residual on top of the detector noise; weighting each element by the inverse of that total
    # variance (relative to the noise alone) is the least-squares fit under both: where neutral
    # faces differ most between people, a displacement is least evidence of an expression.
    elem_w_id = elem_w / (1.0 + np.asarray(identity_var, np.float64).ravel() / LANDMARK_NOISE ** 2)
    design_id, _, gram_id, penalty_id = _weighted_problem(
        _without_plane(flat, elem_w_id, _depth_plane(neutral, elem_w_id)), elem_w_id)
    curves = au_curve_names()
    cfb = np.full(len(curves), -1, np.int64)
    bil = []
    for i, c in enumerate(curves):
        if c in names:
            cfb[i] = names.index(c)
        else:
            left, right = names.index(c + "L"), names.index(c + "R")
            bil.append((i, left, right))
    missing = [f"AU{a:02d}" for a in AU_IDS if not any(n.startswith(f"AU{a:02d}") for n in names)]
    if missing:
        raise FacsimileError(f"AU basis file {path} lacks bases for {missing}")
    lo, knee, full = parting_scale if parting_scale.shape == (3,) else (np.nan,) * 3
    if not (len(parting_pairs) and 0 <= parting_pairs.min() and parting_pairs.max() < 468 and 0 <= lo < knee < full):
        raise FacsimileError(f"AU basis file {path} has no valid lip-parting readout (parting_pairs, "
                             "parting_scale); run resources/facs/derive_bases.py or reinstall")
    gain = (bases[:, parting_pairs[:, 1], 1] - bases[:, parting_pairs[:, 0], 1]).mean(axis=1)
    return Model(neutral, bases, names, mirror, pw, sw, design, elem_w, gram, penalty, gram_d, cfb, tuple(bil),
                 elem_w_id, design_id, gram_id, penalty_id, parting_pairs, parting_scale, gain, plane)


def model_path() -> Path:
    """The shipped AU model file (MODEL_FILE under the resources folder)."""
    from core.paths import resources_dir

    return resources_dir() / MODEL_FILE


@cache
def model_version() -> str:
    """Short content hash (sha256, 12 hex digits) of the shipped AU model file: AU curves are only
    comparable when they were solved with the same bases, so each extraction records it."""
    import hashlib

    path = model_path()
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise FacsimileError(f"AU basis file {path} is missing or unreadable: {exc}") from exc


def _weighted_problem(flat: np.ndarray, elem_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(design, gram, gram_d, penalty) of the bases (B, P) under residual weights (P,).

    gram has no ridge: it is the exact (raw) problem; the bases are linearly independent
    (smallest eigenvalue of the Gram ~1e-4 against a largest ~0.1) and a ridge would bias
    synthesize -> solve. Detector landmarks are fitted with the same geometric bases plus a
    small ridge (gram_d). (Fitting MediaPipe's measured response to warped renders instead made
    real footage read several times too high: the detector under-reports an image warp, e.g. a
    squeezed open eye, not a real closed lid.) penalty: a basis that moves few landmarks a
    little would otherwise soak up noise at high intensity; its activation cost is the noise it
    would explain, so its dead zone is wider."""
    design = flat * np.sqrt(elem_w)[None, :]
    gram = design @ design.T
    gram_d = gram + np.eye(len(gram)) * RIDGE * np.trace(gram) / len(gram)
    penalty = NOISE_SIGMAS * LANDMARK_NOISE * np.sqrt(np.diag(gram_d))
    return design, gram, gram_d, penalty


def box_qp(gram: np.ndarray, rhs: np.ndarray, lo: float = 0.0, hi: float = MAX_INTENSITY,
           max_iter: int = 100) -> np.ndarray:
    """min 1/2 a'Ga - rhs'a subject to lo <= a <= hi (G positive definite), exactly.

    Most frames leave every AU below its upper bound, so the problem is a non-negative least
    squares in Cholesky form, which scipy solves in compiled code (~25 us for 31 bases, 20x
    faster than the Python active set below). AUs that come out above `hi` are clamped there and
    the rest re-solved; the KKT conditions are checked at the end and the active-set method
    takes over in the rare case they do not hold.
    """
    n = len(rhs)
    width = hi - lo
    shifted = rhs - gram @ np.full(n, lo) if lo else np.asarray(rhs, float)
    scale = 1.0 + float(np.abs(shifted).max(initial=0.0))
    tol = 1e-9 * scale
    upper = np.zeros(n, bool)
    factors = _cholesky(gram)
    if factors is not None:
        # the common case, every AU under its upper bound: one NNLS on the cached factor; AUs
        # above it start the loop below clamped
        chol, chol_inv = factors
        z = nnls(chol.T, chol_inv @ shifted)[0]
        upper = z > width
        if not upper.any():
            g = gram @ z - shifted
            pos = z > 0.0
            if g[~pos].min(initial=0.0) >= -tol and np.abs(g[pos]).max(initial=0.0) <= 1e-6 * scale:
                return lo + z
    for _ in range(2 * n + 2):
        free = ~upper
        z = np.where(upper, width, 0.0)
        if free.any():
            r = shifted[free] - gram[np.ix_(free, upper)] @ z[upper] if upper.any() else shifted
            gf = gram[np.ix_(free, free)] if upper.any() else gram
            try:
                chol = np.linalg.cholesky(gf)
            except np.linalg.LinAlgError:
                break
            y = solve_triangular(chol, r, lower=True, check_finite=False)  # chol @ y = r, so |chol.T z - y|^2 is the QP
            z[free] = nnls(chol.T, y)[0]
        over = free & (z > width)
        if over.any():
            upper |= over
            continue
        g = gram @ z - shifted  # KKT: free at 0 need g >= 0, at the upper bound need g <= 0
        viol = np.where(upper, g, 0.0)
        if viol.max(initial=0.0) > tol:
            upper[int(np.argmax(viol))] = False
            continue
        low = free & (z <= 0.0)
        if (g[low] >= -tol).all() and (np.abs(g[free & (z > 0)]) <= 1e-6 * (1.0 + np.abs(shifted).max())).all():
            return lo + np.clip(z, 0.0, width)
        break
    return _box_qp_active_set(gram, rhs, lo, hi, max_iter)


_FACTORS: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []


def _cholesky(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Cholesky factor of a Gram matrix and its inverse, kept for the model's few constant Grams
    (the solver reuses the same one every frame); None if it is not positive definite."""
    for g, chol, inv in _FACTORS:
        if g is gram:
            return chol, inv
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return None
    inv = solve_triangular(chol, np.eye(len(gram)), lower=True, check_finite=False)
    if len(_FACTORS) >= 8:  # callers with ad-hoc Grams (tests) must not grow this without bound
        _FACTORS.pop(0)
    _FACTORS.append((gram, chol, inv))
    return chol, inv


def _box_qp_active_set(gram: np.ndarray, rhs: np.ndarray, lo: float, hi: float, max_iter: int) -> np.ndarray:
    """The same QP by a primal active set in numpy (the fallback of box_qp)."""
    # start with every AU at its lower bound (most AUs are inactive in most frames, so the
    # active set grows by a few variables instead of shrinking from all of them)
    a = np.full(len(rhs), float(lo))
    state = np.full(len(rhs), -1)  # -1 at lower, +1 at upper, 0 free
    for _ in range(max_iter):
        free = state == 0
        # solve on the free set with the bound variables held
        a_b = np.where(state < 0, lo, hi)
        a_b[free] = 0.0
        if free.any():
            r = rhs[free] - gram[np.ix_(free, ~free)] @ a_b[~free]
            z = np.linalg.solve(gram[np.ix_(free, free)], r)
        else:
            z = np.zeros(0)
        cand = a_b.copy()
        cand[free] = z
        if np.all(z >= lo - 1e-12) and np.all(z <= hi + 1e-12):
            a = np.clip(cand, lo, hi)
            g = gram @ a - rhs  # KKT: at lower need g >= 0, at upper need g <= 0
            viol = np.where(state < 0, -g, np.where(state > 0, g, 0.0))
            k = int(np.argmax(viol))
            if viol[k] <= 1e-10 * (1.0 + np.abs(rhs).max()):
                return a
            state[k] = 0
            continue
        # step from the feasible a toward cand until the first bound is hit
        d = cand - a
        with np.errstate(divide="ignore", invalid="ignore"):
            t_lo = np.where(free & (d < 0), (lo - a) / d, np.inf)
            t_hi = np.where(free & (d > 0), (hi - a) / d, np.inf)
        t = min(1.0, float(min(t_lo.min(), t_hi.min())))
        a = np.clip(a + t * d, lo, hi)
        a[state < 0] = lo
        a[state > 0] = hi
        hit_lo = free & (a <= lo + 1e-12)
        hit_hi = free & (a >= hi - 1e-12)
        state[hit_lo] = -1
        state[hit_hi] = 1
    return np.clip(a, lo, hi)  # pragma: no cover - max_iter is far above what the bases need


def _depth_plane(neutral: np.ndarray, elem_w: np.ndarray) -> np.ndarray:
    """(P, 3) orthonormal basis, in the weighted residual space, of a plane in depth over the mesh:
    a z offset and z slopes along x and y (irises and zero-weight elements excluded).

    MediaPipe's depth is a learned guess, and the alignment's pitch and yaw rest on it (the
    stable points' z): an error there tilts the whole residual's z as a plane, which no AU does
    (they move parts of the face). The solve leaves that plane out, so a pitched or turned head
    does not read as the AUs with the most depth (AU14 on d12's laughs with the head back; on the
    image round trip, a smile's corners guessed 1.5x deeper than AU12 moves them read AU14 2-3).
    x and y are measured and stay whole."""
    n = np.zeros((3, 478, 3))
    n[0, :468, 2] = 1.0
    n[1, :468, 2] = neutral[:468, 0]
    n[2, :468, 2] = neutral[:468, 1]
    q, _ = np.linalg.qr((n.reshape(3, -1) * np.sqrt(elem_w)[None, :]).T)
    return q


def _without_plane(flat: np.ndarray, elem_w: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """The bases (B, P) less their (weighted) part in the depth plane: fitting these to a
    residual is the fit with the plane's three coefficients free and eliminated."""
    sw = np.sqrt(elem_w)
    d = flat * sw[None, :]
    d = d - (d @ plane) @ plane.T
    return np.divide(d, sw[None, :], out=np.zeros_like(d), where=sw[None, :] > 0)


def align(landmarks: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, Pose]:
    """Landmarks (pixels) rigidly aligned onto target (canonical frame) on the stable points.

    Returns the aligned mesh and the canonical -> image pose of the face.
    """
    m = model()
    s, r, t = similarity(landmarks, target, m.stable_weights)
    aligned = s * landmarks @ r.T + t
    # inverse: x_img = (x_c - t) @ r / s
    pose = Pose(rotation=r.T.copy(), scale=1.0 / s, translation=-(t @ r) / s)
    return aligned, pose


def solve_aligned(aligned: np.ndarray, neutral: np.ndarray, raw: bool = False,
                  identity: bool = False, noise: float = LANDMARK_NOISE) -> tuple[np.ndarray, float]:
    """AU intensities per basis (B,) of an aligned mesh's displacement from neutral, and the fit RMS (IOD).

    Default (landmarks from the detector): the residual is fitted with the bases under a small
    ridge and an activation cost (L1) that keeps landmark noise out of the curves and prefers
    the fewest AUs that explain a movement. raw=True: the plain bounded least-squares
    coefficients (for meshes made by synthesize, no detector involved). identity=True: the
    neutral is the canonical one, not the person's own (stills): the residual is also weighted
    by the identity spread, so face shape reads less as expression. noise: the landmarks' noise
    (IOD per coordinate) when it is known to be above LANDMARK_NOISE (a small or dim face,
    core.facs.extract.landmark_noise): the activation cost grows with it, so an AU must explain
    more than that noise. In every case a plane in depth over the face (an error of the
    alignment's pitch or yaw; see _depth_plane) is left out of the fit and of the RMS.
    """
    m = model()
    res = (aligned - neutral).ravel()
    res[~np.isfinite(res)] = 0.0  # missing irises (a 468-point mesh): they carry no weight in the fit
    sw = np.sqrt(m.elem_w)
    cost = max(float(noise), LANDMARK_NOISE) / LANDMARK_NOISE
    if identity and not raw:
        a = box_qp(m.gram_id, m.design_id @ (res * np.sqrt(m.elem_w_id)) - cost * m.penalty_id, hi=SOLVE_MAX)
    elif raw:
        a = box_qp(m.gram, m.design @ (res * sw))
    else:
        a = box_qp(m.gram_d, m.design @ (res * sw) - cost * m.penalty, hi=SOLVE_MAX)
    # the fit residual, less the depth plane the solve leaves out (an alignment error, not a misfit)
    fit = (res - m.bases.reshape(len(a), -1).T @ a) * sw
    fit -= m.depth_plane @ (m.depth_plane.T @ fit)
    rms = float(np.sqrt((fit * fit).sum() / m.elem_w.sum()))
    return np.minimum(a, MAX_INTENSITY), rms


def basis_to_curves(coef: np.ndarray) -> np.ndarray:
    """Per-basis coefficients (..., B) -> AU curve values (..., n_curves); bilateral = max(L, R)."""
    m = model()
    coef = np.asarray(coef)
    out = np.empty(coef.shape[:-1] + (len(m.curve_from_basis),), coef.dtype)
    direct = m.curve_from_basis >= 0
    out[..., direct] = coef[..., m.curve_from_basis[direct]]
    bil = np.asarray(m.bilateral, np.int64).reshape(-1, 3)
    out[..., bil[:, 0]] = np.maximum(coef[..., bil[:, 1]], coef[..., bil[:, 2]])
    # side curves are named AUxxL/AUxxR and are direct bases; nothing else to fill
    return out


PARTING = "AU25"  # the curve read off the lip gap, not off its basis coefficient


def lip_gap(aligned: np.ndarray) -> np.ndarray:
    """Mean vertical gap (IOD) between the inner lips of aligned meshes (..., 478, 3): about 0 where
    the lips touch, negative where they press, whatever moved them."""
    m = model()
    x = np.asarray(aligned, np.float64)
    pairs = m.parting_pairs
    return (x[..., pairs[:, 1], 1] - x[..., pairs[:, 0], 1]).mean(axis=-1)


def parting_intensity(gap: np.ndarray | float) -> np.ndarray:
    """AU25 intensity (0..5) of a lip gap beyond the neutral's (IOD): 0 within the detector's jitter,
    1 (trace) where a parting just shows, 5 for a wide-open mouth, linear between (the scale is
    basis_spec.json's 'parting')."""
    lo, knee, full = model().parting_scale
    g = np.asarray(gap, np.float64)
    out = np.where(g <= knee, (g - lo) / (knee - lo), 1.0 + 4.0 * (g - knee) / (full - knee))
    return np.clip(out, 0.0, MAX_INTENSITY)


def parting_gap(intensity: np.ndarray | float) -> np.ndarray:
    """The lip gap beyond the neutral's (IOD) that an AU25 intensity asks for: parting_intensity's
    inverse, 0 for 0 and extrapolated past 5 (gains)."""
    lo, knee, full = model().parting_scale
    i = np.asarray(intensity, np.float64)
    out = np.where(i <= 1.0, lo + i * (knee - lo), knee + (i - 1.0) * (full - knee) / 4.0)
    return np.where(i > 0, out, 0.0)


def neutral_gap(neutral: np.ndarray, canonical: bool) -> float:
    """The gap AU25 is read against: the person's own neutral (FACS scores a change from the
    person's rest), or 0, lips together, for the canonical neutral (an average face, lips apart)."""
    return 0.0 if canonical else float(lip_gap(neutral))


def fit_curves(coef: np.ndarray, aligned: np.ndarray, rest_gap: float) -> np.ndarray:
    """AU curve values (n_curves,) of one solved frame: the bases' coefficients, with AU25 read
    off the aligned mesh's lip gap beyond rest_gap (neutral_gap)."""
    out = basis_to_curves(coef)
    out[_parting_curve()] = parting_intensity(lip_gap(aligned) - rest_gap)
    return out


@cache
def _parting_curve() -> int:
    return au_curve_names().index(PARTING)


def fit_confidence(rms: float) -> float:
    """Confidence 0..1 from the fit residual: 1 for a perfect fit, 0.5 at RESIDUAL_HALF_CONFIDENCE."""
    return float(np.exp(-np.log(2.0) * (rms / RESIDUAL_HALF_CONFIDENCE) ** 2))


def basis_intensities(intensities: Mapping[str | int, float], parting_max: float = MAX_INTENSITY) -> np.ndarray:
    """Map {'AU12': 3, 'AU45L': 5, 26: 2, ...} to per-basis intensities; a bilateral name sets both
    sides unless a side is also given. Unknown names raise FacsimileError.

    AU25 is a lip gap (see parting_intensity): its basis makes up the gap the curve asks for
    beyond what the other AUs part, never negative (the jaw drop's parting is not undone) and
    at most parting_max (5: the lips' own parting; a wider one needs AU26). rendered_parting
    says what the result reads as."""
    a = curve_coefficients(intensities)
    m = model()
    j = m.basis_names.index(PARTING)
    want, a[j] = a[j], 0.0
    if want > 0:
        a[j] = np.clip((parting_gap(want) - m.parting_gain @ a) / m.parting_gain[j], 0.0, parting_max)
    return a


def rendered_parting(intensities: Mapping[str | int, float]) -> float:
    """The AU25 a face synthesised from these intensities reads as: the curve asked for, or more
    where the other AUs part the lips further (a jaw drop), or less past the lips' own reach."""
    return float(parting_intensity(model().parting_gain @ basis_intensities(intensities)))


def curve_coefficients(intensities: Mapping[str | int, float]) -> np.ndarray:
    """Per-basis values (B,) of AU intensities as given, AU25's slot still holding its curve value
    (a lip gap, not a coefficient: basis_intensities resolves it)."""
    m = model()
    a = np.zeros(len(m.basis_names))
    items = sorted(intensities.items(), key=lambda kv: len(_code(kv[0])))  # bilateral first, sides override
    for key, val in items:
        code = _code(key)
        v = max(0.0, float(val))
        if code in m.basis_names:
            a[m.basis_names.index(code)] = v
        elif code + "L" in m.basis_names:
            a[m.basis_names.index(code + "L")] = v
            a[m.basis_names.index(code + "R")] = v
        else:
            raise FacsimileError(f"unknown AU curve {key!r}; known: {', '.join(au_curve_names())}")
    return a


def _code(key: str | int) -> str:
    if isinstance(key, int | np.integer):
        return f"AU{int(key):02d}"
    k = str(key).strip().upper()
    if k.endswith("_R"):
        k = k[:-2]
    if k.startswith("AU") and len(k) >= 3 and k[2:3].isdigit():
        digits = "".join(ch for ch in k[2:] if ch.isdigit())
        side = k[2 + len(digits):]
        return f"AU{int(digits):02d}{side}"
    return k


def synthesize(neutral: np.ndarray, intensities: Mapping[str | int, float],
               pose: Pose | Mapping | None = None) -> np.ndarray:
    """Deform a neutral face mesh (478, 3) by AU intensities with the solver's own bases.

    The neutral (image pixels, or any frame) is aligned to the canonical frame on the stable
    points, the bases are added there, and the result is mapped back with the neutral's own
    pose, or with `pose` (a Pose or {'rotation','scale','translation'}, canonical -> image)
    to drive the face with another frame's head pose. Intensities above 5 extrapolate
    linearly (gains); negative values count as 0.
    """
    return synthesize_coefficients(neutral, basis_intensities(intensities), pose)


def synthesize_coefficients(neutral: np.ndarray, coef: np.ndarray, pose: Pose | Mapping | None = None) -> np.ndarray:
    """synthesize with per-basis coefficients (B,) instead of curve intensities (basis_intensities)."""
    m = model()
    neutral = np.asarray(neutral, np.float64)
    if neutral.shape != (478, 3) or not np.isfinite(neutral[:468]).all():
        raise FacsimileError(f"synthesize needs a complete (478, 3) neutral mesh, got {neutral.shape}")
    aligned, own = align(neutral, m.neutral)
    deformed = aligned + np.tensordot(np.asarray(coef, np.float64), m.bases, axes=1)
    if pose is None:
        p = own
    elif isinstance(pose, Pose):
        p = pose
    else:
        p = Pose(np.asarray(pose["rotation"], float), float(pose["scale"]), np.asarray(pose["translation"], float))
    return p.apply(deformed)
