"""Mesh retargeting for the renderer: the edit delta and the identity-shape transfer, posed.

Both are computed in the AU engine's canonical frame (core.facs) and carried into the plate
by the similarity that aligns the canonical neutral to the frame's stable points, so the
renderer moves exactly the displacement the solver would read back.
"""

from __future__ import annotations

import numpy as np

from core.facs.geometry import STABLE_POINTS, STABLE_WEIGHTS, similarity

AU_MAX = 5.0


def _canonical() -> np.ndarray:
    from core.facs.model import model

    return np.asarray(model().neutral, np.float64)


def _pose(pts: np.ndarray, canon: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and rotation taking canonical coordinates to the frame (stable points)."""
    s, r, _ = similarity(canon[STABLE_POINTS], np.asarray(pts, np.float64)[STABLE_POINTS], STABLE_WEIGHTS)
    return s, r


def side_intensities(values: dict[str, float], reference: dict[str, float] | None = None) -> dict[str, float]:
    """Intensities for synthesis: sided AUs as their L/R curves, others as the plain curve.

    An edit of a bilateral curve (e.g. AU12) is carried to both sides additively relative to
    `reference` (the extracted values): side' = side + (AU12' - AU12), clamped to 0..5. A side
    curve that was itself edited (differs from its reference, e.g. a gain applied to AU12,
    AU12L and AU12R alike, as CurveSet gains and presets do) is taken as it is, so the change
    is not counted twice.
    """
    out: dict[str, float] = {}
    sides = {n[:-1] for n in values if n.startswith("AU") and n[-1] in "LR"}
    for name, v in values.items():
        if not name.startswith("AU") or not np.isfinite(v):
            continue
        if name[-1] in "LR":
            bil = name[:-1]
            shift = 0.0
            side_edited = reference is not None and name in reference and abs(v - reference[name]) > 1e-6
            if reference is not None and bil in values and bil in reference and not side_edited:
                shift = values[bil] - reference[bil]
            out[name] = float(np.clip(v + shift, 0.0, AU_MAX))
        elif name not in sides:
            out[name] = float(np.clip(v, 0.0, AU_MAX))
    return out


def edit_coefficients(base: dict[str, float], target: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-basis coefficients (B,) of the extracted and the edited expression, for an edit.

    AU25 is a lip gap (core.facs.model.parting_gap). An edit changes the gap by what its AU25
    key asks beyond the extracted one, less what the other AUs' changes part: the plate's own
    parting is taken as it is, whether the bases explain more of it (a smile over the teeth) or
    less (a jaw dropped with the lips kept together). The AU25 basis stays between 0 (an open jaw
    keeps the lips apart) and one full basis beyond the plate's (the lips alone part only so far)."""
    from core.facs.model import MAX_INTENSITY, PARTING, curve_coefficients, model, parting_gap

    m = model()
    j = m.basis_names.index(PARTING)
    a = curve_coefficients(side_intensities(base))
    b = curve_coefficients(side_intensities({**base, **target}, reference=base))
    was, asked = a[j], b[j]
    a[j] = b[j] = 0.0
    gain = m.parting_gain
    own = max(0.0, float(parting_gap(was) - gain @ a) / gain[j])  # the plate's own-lips part, as the bases see it
    change = float(parting_gap(asked) - parting_gap(was) - gain @ (b - a)) / gain[j]
    a[j], b[j] = own, float(np.clip(own + change, 0.0, own + MAX_INTENSITY))
    return a, b


def expression_delta(pts: np.ndarray, base: dict[str, float], target: dict[str, float]) -> np.ndarray:
    """(478, 3) displacement in plate pixels that takes the extracted expression to the edited one."""
    pts = np.asarray(pts, np.float64)
    if not base or all(abs(target.get(k, v) - v) < 1e-6 for k, v in base.items()):
        return np.zeros_like(pts)
    from core.facs.model import synthesize_coefficients

    a, b = edit_coefficients(base, target)
    # synthesis aligns the mesh on its own stable points, adds the bases in the canonical
    # frame and poses the result back: the difference is the posed edit displacement.
    return synthesize_coefficients(pts, b) - synthesize_coefficients(pts, a)


def parting_as_rendered(base: dict[str, float], target: dict[str, float]) -> tuple[float, float] | None:
    """(asked, rendered): the AU25 (lips part) an edit keys and what the render will read as, or
    None where nothing is edited. The render moves the plate by synthesis differences, so it
    parts the lips by the gap the key asks for, except where the AU25 basis would have to go
    below 0 (an open jaw keeps them apart) or past its reach (edit_coefficients)."""
    from core.facs.model import PARTING, model, parting_gap, parting_intensity

    if PARTING not in base:
        return None
    asked, was = float({**base, **target}[PARTING]), float(base[PARTING])
    if not np.isfinite(asked) or not np.isfinite(was):
        return None
    a, b = edit_coefficients(base, target)
    if abs(asked - was) < 1e-6 and np.allclose(a, b):
        return None
    rendered = parting_intensity(parting_gap(max(was, 0.0)) + model().parting_gain @ (b - a))
    return float(np.clip(asked, 0.0, AU_MAX)), float(rendered)


PARTING_TOLERANCE = 0.5  # how far (AU25 intensity) a render may miss an AU25 key before it is said
PARTING_ADVICE = {"short": "the lips alone part only so far; key AU26 (jaw drop) with it",
                  "apart": "an open jaw keeps the lips apart; lower AU26 to close them"}


def parting_shortfall(base: dict[str, float], target: dict[str, float]) -> tuple[str, float, float] | None:
    """(kind, asked, rendered) where the render misses the AU25 an edit asks for by more than
    PARTING_TOLERANCE: kind 'short' (the lips cannot part so far) or 'apart' (they cannot close
    so far; PARTING_ADVICE says what to do), else None."""
    r = parting_as_rendered(base, target)
    if r is None or abs(r[1] - r[0]) <= PARTING_TOLERANCE:
        return None
    return ("short" if r[1] < r[0] else "apart", *r)


def _to_canonical(mesh_pts: np.ndarray, canon: np.ndarray) -> np.ndarray:
    s, r, t = similarity(np.asarray(mesh_pts, np.float64)[STABLE_POINTS], canon[STABLE_POINTS], STABLE_WEIGHTS)
    return s * np.asarray(mesh_pts, np.float64) @ r.T + t


def identity_delta(pts: np.ndarray, template_neutral: np.ndarray, performer_neutral: np.ndarray | None) -> np.ndarray:
    """(478, 3) displacement in plate pixels toward the template's face shape (strength 1)."""
    pts = np.asarray(pts, np.float64)
    if performer_neutral is None or not np.all(np.isfinite(performer_neutral)):
        return np.zeros_like(pts)
    canon = _canonical()
    d = _to_canonical(template_neutral, canon) - _to_canonical(performer_neutral, canon)
    s, r = _pose(pts, canon)
    return s * d @ r.T
