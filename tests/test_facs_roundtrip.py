"""AU round trip through images (issue 4, item 7): synthesis -> image warp -> real analyser -> solver.

Known AU intensities are put on a neutral face with core.facs.synthesize, the image is warped
to the synthesised mesh with the render's dense piecewise-affine warp (core.render.warp, eye
and mouth openings filled as the renderer does, the mouth opening painted dark), the warped
image is re-analysed by the real analyser as the second frame of a two-frame shot whose first
frame is the un-deformed render (core.analysis.Analyzer: MediaPipe face mesh, then the
optical-flow refinement against the track's first frame), and the landmarks are solved by
core.facs.solve_frame with that first frame as the neutral. Every AU alone at 1, 3 and 5,
then mixtures.

Per-AU numbers are printed (pytest -s) and written to output_dir/roundtrip_<face>.csv with a
contact sheet. The fast test runs the astronaut at intensities 3 and 5 plus the mixtures;
the slow one adds intensity 1 and a shared still.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

import core.facs as facs
from core.facs.calibrate import calibration_from_frames
from core.facs.model import PARTING, align, model, rendered_parting

MIXTURES = [
    {"AU01": 3, "AU02": 3, "AU05": 2, "AU26": 3},  # surprise
    {"AU06": 3, "AU12": 4, "AU25": 2},  # happy
    {"AU04": 4, "AU07": 3, "AU23": 3},  # anger
    {"AU09": 3, "AU10": 3, "AU17": 2},  # disgust
    {"AU01": 4, "AU04": 2, "AU15": 3},  # sadness
    {"AU12L": 4, "AU45R": 5},  # one-sided smile with a wink of the subject's right eye
    {"AU14": 3, "AU20": 3, "AU25": 3},
]


def resource_script(name: str):
    """A script of resources/facs/ (not a package) loaded as a module, e.g. 'derive_bases'."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "resources" / "facs" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _derive_bases():
    """resources/facs/derive_bases.py: its face crop and AU render (the diagnostic of --response)
    are the round trip's, so both measure the same thing."""
    return resource_script("derive_bases")


_DB = _derive_bases()
face_crop = _DB.face_crop
render = _DB.render_au


@cache
def _analyzer():
    from core.analysis.analyzer import Analyzer

    return Analyzer(max_faces=1)


def landmarks(img: np.ndarray) -> np.ndarray:
    faces = _analyzer().analyze_image(img, embed=False)
    assert faces, "the analyser lost the face"
    return np.asarray(faces[0].landmarks, np.float64)


@cache
def _clip_analyzer():
    from core.analysis.analyzer import Analyzer

    return Analyzer(max_faces=1, smooth=False)


def shot_landmarks(neutral_img: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Landmarks of img analysed as the second frame of a two-frame shot after neutral_img: the
    clip path (tracking, optical-flow refinement against the track's first frame) without the
    One-Euro stabilisation, which would lag a one-frame jump."""
    a = _clip_analyzer().analyze([neutral_img, img])
    assert a.present[:, 0].all() and a.meta["cuts"] == 0, "the analyser lost the face"
    return np.asarray(a.landmarks[1, 0], np.float64)


def cases(levels: tuple[int, ...]) -> list[dict[str, float]]:
    return [{a.code: float(v)} for a in facs.catalogue() for v in levels] + [dict(m) for m in MIXTURES]


def truth_curves(case: dict[str, float]) -> np.ndarray:
    """The bilateral AU curve values a case sets (max of the sides), in catalogue order. AU25 is
    the lips' parting as FACS scores it, whatever parts them: what the synthesised face shows
    (core.facs.model.rendered_parting; a jaw drop parts the lips too)."""
    out = []
    for a in facs.catalogue():
        vals = [v for k, v in case.items() if k == a.code or k in (a.code + "L", a.code + "R")]
        out.append(rendered_parting(case) if a.code == PARTING else max(vals) if vals else 0.0)
    return np.array(out)


def run_face(img: np.ndarray, levels: tuple[int, ...], name: str, out_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Truth and recovered bilateral AU values (cases x AUs); writes a CSV and a contact sheet."""
    img = face_crop(img, landmarks(img))
    lm0 = landmarks(img)
    neutral_img = render(img, lm0, lm0)
    aligned, _ = align(landmarks(neutral_img), model().neutral)
    cal = calibration_from_frames(aligned[None])
    names = facs.curve_names()
    cols = [names.index(a.code) for a in facs.catalogue()]
    truth, got, tiles = [], [], []
    for case in cases(levels):
        im = render(img, lm0, facs.synthesize(lm0, case))
        vals, conf = facs.solve_frame(shot_landmarks(neutral_img, im), cal)
        truth.append(truth_curves(case))
        got.append(vals[cols])
        if len(tiles) < 64:
            t = cv2.resize(im, (192, 192), interpolation=cv2.INTER_AREA)
            lbl = " ".join(f"{k}={v:g}" for k, v in case.items())
            top = sorted(((v, a.code) for v, a in zip(vals[cols], facs.catalogue(), strict=True)), reverse=True)[:2]
            cv2.putText(t, lbl[:30], (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
            cv2.putText(t, " ".join(f"{c}:{v:.1f}" for v, c in top), (3, 186), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (0, 255, 0), 1, cv2.LINE_AA)
            tiles.append(t)
    truth, got = np.array(truth), np.array(got)
    while len(tiles) % 8:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[i:i + 8]) for i in range(0, len(tiles), 8)])
    cv2.imwrite(str(out_dir / f"roundtrip_{name}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    with open(out_dir / f"roundtrip_{name}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case"] + [f"{a.code}_true" for a in facs.catalogue()] + [f"{a.code}_got" for a in facs.catalogue()])
        for case, t, g in zip(cases(levels), truth, got, strict=True):
            w.writerow([" ".join(f"{k}={v:g}" for k, v in case.items())] + t.tolist() + np.round(g, 3).tolist())
    return truth, got


def report(truth: np.ndarray, got: np.ndarray, title: str) -> tuple[float, float]:
    """Print per-AU Pearson r / MAE (over every case, the AU's own curve) and return the overall pair."""
    print(f"\n{title}: {len(truth)} cases x {truth.shape[1]} AUs")
    print(f"{'AU':6s} {'r':>6s} {'MAE':>6s} {'gain':>5s}  recovered when alone at 1/3/5 (or the levels run)")
    codes = [a.code for a in facs.catalogue()]
    for j, code in enumerate(codes):
        t, g = truth[:, j], got[:, j]
        r = float(np.corrcoef(t, g)[0, 1]) if g.std() > 0 else float("nan")
        gain = float(t @ g / (t @ t)) if t.any() else float("nan")  # least-squares slope through 0
        alone = [f"{g[i]:.2f}" for i in range(len(truth)) if t[i] > 0 and np.count_nonzero(truth[i]) == 1]
        print(f"{code:6s} {r:6.3f} {np.abs(t - g).mean():6.3f} {gain:5.2f}  {' '.join(alone)}")
    r_all = float(np.corrcoef(truth.ravel(), got.ravel())[0, 1])
    mae = float(np.abs(truth - got).mean())
    print(f"overall Pearson r {r_all:.3f}  MAE {mae:.3f}")
    # cross-talk: AUs read where the case sets none; with the per-AU gains, what caps the pooled r
    spill = sorted(((got[i, j], i, j) for i, j in zip(*np.nonzero((truth == 0) & (got > 0.5)), strict=True)),
                   reverse=True)
    r_clean = float(np.corrcoef(truth.ravel(), np.where(truth > 0, got, 0.0).ravel())[0, 1])
    print(f"cross-talk: {len(spill)} readings above 0.5 where the case sets 0 (pooled r without them "
          f"{r_clean:.3f}); largest: " + "; ".join(
              f"{codes[j]} {v:.1f} in " + "+".join(f"{codes[k]}={truth[i, k]:g}" for k in np.flatnonzero(truth[i]))
              for v, i, j in spill[:6]))
    return r_all, mae


# AUs the round trip recovers well today (astronaut, levels 3 and 5 + mixtures: r 0.96..1.00); a
# per-AU regression guard beside the issue's pooled target (the next test). Not here: AU14 (r
# 0.78: most of its basis is depth, which a 2-D image warp cannot show) and AU20 (r 0.95: an
# under-read chin puts it beside a jaw drop). AU25, read off the lip gap, is (r 0.98).
RECOVERED = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU15", "AU17", "AU23", "AU25",
             "AU26", "AU45")


AT_THRESHOLD = pytest.mark.xfail(
    reason="issue 4 item 7 sits at its threshold, not past it: this machine measures r 0.955 (fast set) and 0.952 "
           "(full set), but with +-1 grey level of noise on the warped renders the full set reads 0.947-0.953 "
           "(mean 0.950 over 5 draws; resources/facs/roundtrip_noise.py), so another CPU's MediaPipe may land either side. What still costs most: "
           "AU14 (r 0.78-0.85, gain 0.3), whose basis is mostly depth, which a 2-D image warp cannot render; "
           "per-AU gains differ (0.28-0.89); AU15 reads 1.8 beside a jaw drop.",
    strict=False)


@cache
def _astronaut(out_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    import skimage.data

    out_dir.mkdir(parents=True, exist_ok=True)
    truth, got = run_face(skimage.data.astronaut(), (3, 5), "astronaut", out_dir)
    report(truth, got, "round trip, astronaut, levels 3 and 5 + mixtures")
    return truth, got


def test_roundtrip_astronaut(output_dir):
    """Astronaut, each AU alone at 3 and 5, plus the mixtures (fast version): the well-recovered AUs
    stay recovered (RECOVERED: r >= 0.95 measured). Contact sheet checked by eye: the AU01/AU02
    tiles raise the brows, AU12 lifts the corners, AU26 drops the jaw with a dark mouth, AU45
    closes the lids."""
    truth, got = _astronaut(output_dir.parent / "roundtrip")
    codes = [a.code for a in facs.catalogue()]
    for code in RECOVERED:
        j = codes.index(code)
        assert np.corrcoef(truth[:, j], got[:, j])[0, 1] >= 0.9, code
        assert np.abs(truth[:, j] - got[:, j]).mean() <= 0.5, code


@AT_THRESHOLD
def test_roundtrip_issue_target(output_dir):
    """The issue's target over the fast set: Pearson r >= 0.95 and MAE <= 0.5 over every case x AU.

    Measured 2026-11-30: r 0.955, MAE 0.117 (0.937 / 0.135 with the flow refinement's crop at
    80 px between the eyes and the depth plane in the fit; 0.60 / 0.28 without the refinement).
    What still costs most: AU14 (r 0.78, gain 0.28), whose basis is mostly depth, which a 2-D
    image warp cannot render; per-AU gains differ (0.28-0.89)."""
    truth, got = _astronaut(output_dir.parent / "roundtrip")
    r = float(np.corrcoef(truth.ravel(), got.ravel())[0, 1])
    mae = float(np.abs(truth - got).mean())
    assert r >= 0.95 and mae <= 0.5, (r, mae)


@pytest.mark.slow
@AT_THRESHOLD
def test_roundtrip_full(output_dir, shared_media):
    """Astronaut and a shared neutral still (s11.jpg), each AU alone at 1, 3, 5, plus the mixtures:
    the issue's r >= 0.95 and MAE <= 0.5 over the whole set. Measured 2026-11-30: r 0.952, MAE
    0.087 (astronaut 0.952, s11 0.956); 0.909 before the flow refinement kept the faces' own
    resolution and the fit left the depth plane out (s11's smiles read AU14 2.5-3.0). See
    AT_THRESHOLD for how far that is from the line."""
    import skimage.data

    still = cv2.cvtColor(cv2.imread(str(shared_media("stills", "s11.jpg"))), cv2.COLOR_BGR2RGB)
    ta, ga = run_face(skimage.data.astronaut(), (1, 3, 5), "astronaut_full", output_dir)
    ts, gs = run_face(still, (1, 3, 5), "s11", output_dir)
    report(ta, ga, "astronaut")
    report(ts, gs, "s11.jpg")
    r, mae = report(np.vstack([ta, ts]), np.vstack([ga, gs]), "round trip, both faces, levels 1, 3, 5 + mixtures")
    assert r >= 0.95 and mae <= 0.5, (r, mae)
