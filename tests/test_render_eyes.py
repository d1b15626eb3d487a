"""Eyelid edits in the renderer: closing an eye shows lid skin and a lash line (no eyeball squeezed
between the lids, no brightness shift), opening an eye that is closed on the plate takes the eye
from a donor frame of the shot where it is open (render jobs: the nearest such frame, the same
pixels in any chunk). Real data: the astronaut portrait and a blink of d6 (shared media)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.render.masks import eye_aperture, eye_apertures, eye_ring_mask, face_mask
from core.render.renderer import Renderer, RenderSettings

_ANALYZER = None
D6_FIRST, D6_LAST = 203, 213  # a blink (closed at 208-209) with open eyes on both sides


def analyzer():
    global _ANALYZER
    if _ANALYZER is None:
        from core.analysis.analyzer import Analyzer

        _ANALYZER = Analyzer()
    return _ANALYZER


def luma(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-9))


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    from core.facs import solve_frame
    from core.facs.catalogue import au_curve_names

    still = data.astronaut()
    a = analyzer().still_analysis(still, source="skimage.data.astronaut")
    lm = np.asarray(a.landmarks[0, 0], np.float64)
    values, _ = solve_frame(lm, None)
    base = {n: float(v) for n, v in zip(au_curve_names(), values, strict=True) if np.isfinite(v)}
    return still, lm, base


def eye_box(lm: np.ndarray, side: str, pad: float = 0.35) -> tuple[int, int, int, int]:
    from core.render.masks import eye_loop_ring, eye_width

    p = lm[eye_loop_ring(side, 3), :2]
    e = pad * eye_width(lm, side)
    return (int(p[:, 0].min() - e), int(p[:, 1].min() - e), int(p[:, 0].max() + e) + 1, int(p[:, 1].max() + e) + 1)


def test_closing_an_eye_shows_lid_skin_and_keeps_the_face_brightness(astronaut, output_dir):
    still, lm, base = astronaut
    h, w = still.shape[:2]
    r = Renderer(RenderSettings(mode="edit", blend="poisson"))
    res = r.render(still, lm, base, {**base, "AU45L": 5.0})
    out = res.image
    assert res.info["eyes"] == {"left": "closed (1.00)"}
    m = r.target_mesh(lm, base, {**base, "AU45L": 5.0})
    assert eye_aperture(m, "left") < 0.3 * eye_aperture(lm, "left")
    full = (0, 0, w, h)
    # where the eyeball was: lid skin (and the lash line), no sclera
    opening = eye_ring_mask(lm, "left", 1, full) > 0.5
    lids = (eye_ring_mask(lm, "left", 2, full) > 0.5) & ~(eye_ring_mask(lm, "left", 1, full) > 0)
    skin = luma(still)[lids]  # the lid skin around the plate's open eye
    lum = luma(out)[opening]
    plate_lum = luma(still)[opening]
    white = np.percentile(skin, 95) + 10  # brighter than any lid skin: sclera (or a specular highlight)
    sclera = plate_lum > white
    assert sclera.mean() > 0.03, "the plate's open eye shows sclera (the test needs it)"
    bright = lum > white
    print(f"closed left eye: sclera-bright pixels {100 * sclera.mean():.1f}% on the plate, {100 * bright.mean():.1f}% "
          f"rendered; luma std {plate_lum.std():.1f} -> {lum.std():.1f}; mean {lum.mean():.1f} vs lid skin "
          f"{np.median(skin):.1f}")
    assert bright.mean() < 0.01
    assert lum.std() < 0.6 * plate_lum.std()
    assert abs(np.median(lum) - np.median(skin)) < 25
    # the face outside the eyes keeps its brightness; the other eye is untouched
    eyes = np.zeros((h, w), bool)
    for side in ("left", "right"):
        x0, y0, x1, y1 = eye_box(lm, side, pad=0.15)
        eyes[y0:y1, x0:x1] = True
    face = (face_mask(lm, (h, w), feather_frac=0) > 0.5) & ~eyes
    shift = float(luma(out)[face].mean() - luma(still)[face].mean())
    print(f"face mean shift outside the eyes: {shift:+.3f} levels")
    assert abs(shift) <= 0.3
    x0, y0, x1, y1 = eye_box(lm, "right", pad=0.0)
    assert np.abs(out[y0:y1, x0:x1].astype(int) - still[y0:y1, x0:x1]).max() <= 1
    both = r.render(still, lm, base, {**base, "AU45": 5.0}).image
    x0, y0, _, _ = eye_box(lm, "right", pad=0.6)
    _, _, x1, y1 = eye_box(lm, "left", pad=0.6)
    row = np.concatenate([im[y0:y1, x0:x1] for im in (still, out, both)], axis=0)
    sheet = cv2.resize(row, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(output_dir / "astronaut_au45_plate_left5_both5.png"), sheet[..., ::-1])


def _d6(shared_media):
    from core.facs import extract_shot
    from core.media.reader import open_media

    path = shared_media("clips", "d6.mp4")
    with open_media(path) as rd:
        frames = [f for _, f in rd.frames(D6_FIRST, D6_LAST + 1, rgb8=True)]
    a = analyzer().analyze(str(path), frames=(D6_FIRST, D6_LAST + 1))
    aus = extract_shot(a)[0]
    values = [{n: float(v) for n, v in zip(aus.names, aus.filtered[t], strict=True)
               if n.startswith("AU") and np.isfinite(v)} for t in range(len(frames))]
    return path, frames, a, values


def test_opening_a_closed_eye_takes_it_from_an_open_eye_frame(shared_media, output_dir):
    from core.api import apply_gains

    _, frames, a, values = _d6(shared_media)
    lms = a.landmarks[:, 0]
    assert a.present[:, 0].all()
    ap = (eye_apertures(lms, "right") + eye_apertures(lms, "left")) / 2
    open_ap = float(np.median(ap))
    t = int(np.argmin(ap))
    assert ap[t] < 0.3 * open_ap, f"no blink in d6 {D6_FIRST}-{D6_LAST}: apertures {np.round(ap, 3)}"
    r = Renderer(RenderSettings(mode="edit", blend="poisson"))  # frames in order: the last open-eye frame donates
    renders, infos = [], []
    for k, f in enumerate(frames):
        res = r.render(f, lms[k], values[k], apply_gains(values[k], {43: 0.0}))
        renders.append(res.image)
        infos.append(res.info)
    assert "opened from frame" in infos[t]["eyes"]["right"] and "opened from frame" in infos[t]["eyes"]["left"]
    back = analyzer().analyze([renders[t]], fps=30.0)
    assert back.present[0].any(), "no face found in the render"
    lm_back = back.landmarks[0, 0]
    ap_back = (eye_aperture(lm_back, "right") + eye_aperture(lm_back, "left")) / 2
    # the donor: the last frame before the blink with the eyes open
    donor = max(k for k in range(t) if ap[k] >= 0.8 * open_ap)
    scores = {}
    for side in ("right", "left"):
        x0, y0, x1, y1 = eye_box(lms[t], side, pad=0.0)
        g = [luma(im)[y0:y1, x0:x1] for im in (renders[t], frames[donor], frames[t])]
        scores[side] = (ncc(g[0], g[1]), ncc(g[2], g[1]))
    print(f"d6 frame {D6_FIRST + t}: aperture plate {ap[t] / open_ap:.2f}, render {ap_back / open_ap:.2f} of the "
          f"open-eye aperture; NCC to the donor (frame {D6_FIRST + donor}) render/plate: "
          + ", ".join(f"{s} {a_:.2f}/{b_:.2f}" for s, (a_, b_) in scores.items()))
    assert ap_back >= 0.7 * open_ap
    for side, (rendered, plate) in scores.items():
        assert rendered >= 0.6 and rendered > plate + 0.2, (side, rendered, plate)
    x0, y0, _, _ = eye_box(lms[t], "right", pad=0.6)
    _, _, x1, y1 = eye_box(lms[t], "left", pad=0.6)
    picks = sorted({donor, t - 1, t, t + 1})
    rows = [np.concatenate([frames[k][y0:y1, x0:x1], renders[k][y0:y1, x0:x1]], axis=1) for k in picks]
    sheet = cv2.resize(np.concatenate(rows, axis=0), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(output_dir / "d6_au45_gain0_plate_vs_render.png"), sheet[..., ::-1])


def test_render_job_takes_the_nearest_open_eye_frame_and_renders_the_same_in_any_chunk(shared_media, tmp_path):
    """ShotRenderContext (what render jobs use) finds the donor in the shot's analysis and reads it
    from the plate: a blink frame renders bit-identically alone or after its neighbours."""
    from core.project import Plate, Project, extract_curves
    from core.render.job import ShotRenderContext

    path = shared_media("clips", "d6.mp4")
    project = Project.create(tmp_path / "p.facsimile", name="p")
    plate = project.add_plate(Plate.from_media(path))
    shot = project.new_shot(plate.id, D6_FIRST, D6_LAST, name="blink")
    shot.analysis = analyzer().analyze(str(path), frames=(D6_FIRST, D6_LAST + 1))
    shot.curves = extract_curves(shot)
    cs = shot.curves[int(shot.analysis.track_ids[0])]
    for name in ("AU45", "AU45L", "AU45R"):
        if name in cs.names:
            cs.set_gain(name, 0.0)
    project.save()
    lms = shot.analysis.landmarks[:, 0]
    frames = np.asarray(shot.analysis.frame_indices)
    blink = int(frames[np.argmin(eye_apertures(lms, "right"))])
    ap = eye_apertures(lms, "right")
    open_frames = frames[ap >= 0.8 * np.median(ap)]
    nearest = int(open_frames[np.argmin(np.abs(open_frames - blink) * 2 + (open_frames > blink))])
    ctx = ShotRenderContext(tmp_path / "p.facsimile", None)
    try:
        donor = ctx.eye_donor(blink, "right")
        assert donor is not None and donor.frame == nearest
        assert np.array_equal(donor.image, ctx.reader.read(nearest))
        alone = ctx.render(blink)
        assert "opened from frame" in alone.info["eyes"]["right"]
    finally:
        ctx.close()
    ctx = ShotRenderContext(tmp_path / "p.facsimile", None)
    try:
        for f in range(D6_FIRST, blink):
            ctx.render(f)
        after = ctx.render(blink)
    finally:
        ctx.close()
    assert np.array_equal(alone.image, after.image)
