"""Temporal filters on variable-frame-rate plates: phone footage changes rate (30 fps, then a
stretch at 60 fps) and drops frames (a 100 ms gap in a 30 fps stream). The AU curve filters
(core.facs.filters) and the analyser's landmark stabilisation work in seconds on each sample's
own time, from the plate's timestamps; an evenly sampled shot is filtered exactly as before."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import savgol_filter

from core.errors import FacsimileError
from core.facs.filters import apply_filter, nominal_step, one_euro, sample_steps, savgol


def _vfr_times() -> np.ndarray:
    """1.5 s at 30 fps, 1 s at 60 fps, then 30 fps again with a 100 ms gap (two frames dropped)."""
    steps = np.r_[np.full(45, 1 / 30), np.full(60, 1 / 60), np.full(20, 1 / 30), [0.1], np.full(40, 1 / 30)]
    return np.r_[0.0, np.cumsum(steps)]


def test_even_and_millisecond_timestamps_filter_exactly_as_fps() -> None:
    """A constant-rate shot's timestamps (exact, or rounded to a 1/1000 time base as Matroska
    writes 30 fps: 33, 33, 34 ms) change nothing: bit for bit the fps result."""
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 0.1, (300, 4)), axis=0)
    x[100:110, 1] = np.nan
    for fps in (30.0, 30000 / 1001, 25.0):
        even = np.arange(300) / fps
        rounded = np.round(np.arange(300) * 1000 / fps) / 1000
        for name in ("one_euro", "savgol"):
            ref = apply_filter(x, fps, name)
            for times in (even, rounded, even + 12.5):
                assert sample_steps(times, fps) is None
                np.testing.assert_array_equal(apply_filter(x, fps, name, timestamps=times), ref)


def test_one_euro_takes_each_samples_own_time_step() -> None:
    """A step sampled at 30 fps with a 60 fps stretch and a dropped-frame gap follows, in
    seconds, the same step sampled evenly at 60 fps; read as even 30 fps samples it runs
    twice as fast through the 60 fps stretch and lags across the gap."""
    t = _vfr_times()
    dense = np.arange(int(round(t[-1] * 60)) + 1) / 60  # every sample time above is on this grid

    def step(times: np.ndarray) -> np.ndarray:
        return np.where(times > 1.01, 1.0, 0.0) + np.where(times > 3.21, 1.0, 0.0)  # between samples

    pos = np.rint(t * 60).astype(int)
    ref = one_euro(step(dense), 60.0, beta=0.0, zero_phase=False)[pos]
    got = one_euro(step(t), 30.0, beta=0.0, zero_phase=False, timestamps=t)
    naive = one_euro(step(t), 30.0, beta=0.0, zero_phase=False)
    err, err_naive = np.abs(got - ref).max(), np.abs(naive - ref).max()
    # the same first-order response in seconds (the discretisation differs a little at 30 vs 60 fps)
    assert err < 0.06 and err_naive > 3 * err, (err, err_naive)
    # across the gap: 100 ms pass in one step, so the output moves as far as in 100 ms
    gap = int(np.nonzero(np.diff(t) > 0.09)[0][0]) + 1
    sig = np.where(t >= t[gap], 1.0, 0.0)
    after = one_euro(sig, 30.0, beta=0.0, zero_phase=False, timestamps=t)[gap]
    tau = 1 / (2 * np.pi * 1.5)
    assert after == pytest.approx(1 / (1 + tau / 0.1))
    assert one_euro(sig, 30.0, beta=0.0, zero_phase=False)[gap] == pytest.approx(1 / (1 + tau * 30))
    # zero phase on uneven samples: a symmetric pulse stays centred in seconds
    pulse = np.exp(-0.5 * ((t - 2.0) / 0.05) ** 2) * 4
    out = one_euro(pulse, 30.0, timestamps=t)
    w = np.clip(out - 0.5, 0, None)
    assert abs(float((w * t).sum() / w.sum()) - 2.0) < 0.004


def test_savgol_fits_over_its_window_in_seconds() -> None:
    """Savitzky-Golay on uneven samples: a quadratic in time is kept exactly (the local fit is
    on the real times), the window spans the same seconds at 30 and 60 fps, and on even times
    the uneven machinery is scipy's filter."""
    t = _vfr_times()
    quad = 0.7 - 1.3 * t + 0.4 * t ** 2
    np.testing.assert_allclose(savgol(quad, 30.0, timestamps=t), quad, atol=1e-9)
    assert np.abs(savgol(quad, 30.0) - quad).max() > 1e-3  # read as even samples it is not kept
    # an impulse spreads over the samples within the 0.2 s window: 7 at 30 fps, 13 at 60 fps
    # (order 1: a centred window is a moving average, no weight is zero)
    for at, n in ((20, 7), (75, 13)):
        x = np.zeros(len(t))
        x[at] = 1.0
        out = savgol(x, 30.0, order=1, timestamps=t)
        touched = np.nonzero(np.abs(out) > 1e-12)[0]
        assert len(touched) == n and np.ptp(t[touched]) == pytest.approx(0.2), (at, t[touched])
        assert out[at] == pytest.approx(1 / n)
    # a run longer than the window on even times, through the uneven path: scipy's result
    from core.facs.filters import _savgol_uneven

    rng = np.random.default_rng(2)
    for fps, n in ((24.0, 40), (30.0, 7), (60.0, 13), (25.0, 5)):
        x = rng.normal(size=n)
        ours = _savgol_uneven(x[:, None], np.arange(n) / fps, fps, 0.2, 2)[:, 0]
        win = min(max(4, int(round(0.2 * fps))) | 1, n)
        np.testing.assert_allclose(ours, savgol_filter(x, win, 2, mode="interp"), atol=1e-12)
    # gaps with no face are never bridged, columns sharing a gap share it
    x = np.tile(quad[:, None], (1, 3))
    x[50:60, 0] = np.nan
    out = apply_filter(x, 30.0, "savgol", timestamps=t)
    assert np.isnan(out[50:60, 0]).all() and np.isfinite(out[:, 1:]).all()
    np.testing.assert_allclose(out[:, 1], quad, atol=1e-9)


def test_timestamps_must_match_the_samples() -> None:
    with pytest.raises(FacsimileError, match="do not match"):
        apply_filter(np.zeros((10, 2)), 30.0, "one_euro", timestamps=np.arange(9) / 30)
    with pytest.raises(FacsimileError, match="increasing"):
        apply_filter(np.zeros((3, 1)), 30.0, "savgol", timestamps=np.array([0.0, 0.1, 0.1]))
    assert nominal_step(0.034, 30.0) == 1 / 30 and nominal_step(0.1, 30.0) == 0.1
    assert sample_steps(np.array([0.0]), 30.0) is None and sample_steps(None, 30.0) is None


# ---------------------------------------------------------------------- end to end, real media
TICKS = Fraction(1, 600)  # the time base: 30 fps = 20 ticks, 60 fps = 10, a 100 ms gap = 60
STEPS = [20] * 11 + [10] * 12 + [60] + [20] * 11  # 30 fps, a 60 fps stretch, two frames dropped, 30 fps


@pytest.fixture(scope="module")
def vfr_project(tmp_path_factory: pytest.TempPathFactory):
    """A project on a real VFR H.264 plate (PyAV, irregular pts) of the astronaut drifting
    2 px a frame, one shot over it, analysed through the real reader, with curves."""
    import cv2
    from skimage.data import astronaut

    from core.project import Project
    from core.project import workflow as wf
    from tests.mediagen import make_video

    root = tmp_path_factory.mktemp("vfr")
    img = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    pts = np.r_[0, np.cumsum(STEPS)]
    plate = make_video(root / "phone.mp4", len(pts), 256, 256, fps=30, pts=[int(p) for p in pts],
                       time_base=TICKS, image=lambda i: np.ascontiguousarray(np.roll(img, 2 * i, axis=1)))
    project = Project.load(wf.create_project(root / "vfr", plates=[plate]).path)
    shot = project.shots[0]
    wf.analyze_shot(project, shot)
    wf.extract_shot_curves(shot)
    return project, shot, pts * float(TICKS)


def test_the_landmark_stabilisation_steps_by_a_vfr_plates_own_times(vfr_project) -> None:
    """Through the real reader and analyser: the analysis carries the plate's own frame times,
    and the landmark One-Euro stepped by them, not by the nominal rate's frame."""
    from core.analysis.analyzer import face_scale
    from core.analysis.filters import LandmarkFilter
    from core.media.reader import open_media

    project, shot, seconds = vfr_project
    with open_media(project.plate_of(shot).path) as r:
        assert r.info.vfr and r.info.fps == 30  # nominal: the typical step (r_frame_rate said 60)
        fps = float(r.info.fps)
        assert [r.frame_time(i) for i in range(len(seconds))] == pytest.approx(seconds, abs=1e-9)
    a = shot.analysis
    np.testing.assert_allclose(a.timestamps, seconds, atol=1e-9)
    assert float(a.fps) == fps
    assert a.n_tracks == 1 and a.present[:, 0].all()

    # the landmark One-Euro, run again here on the pre-stabilisation landmarks the analysis kept
    def stabilise(dts: np.ndarray) -> np.ndarray:
        f = LandmarkFilter()
        return np.array([f(p, dt, face_scale(p)) for p, dt in zip(a.solve_landmarks[:, 0], dts, strict=True)])

    own = np.r_[1 / fps, [nominal_step(s, fps) for s in np.diff(seconds)]]
    np.testing.assert_allclose(a.landmarks[:, 0], stabilise(own), atol=1e-3)
    assert np.abs(a.landmarks[:, 0] - stabilise(np.full(len(own), 1 / fps))).max() > 0.05


def test_the_curve_filters_get_a_vfr_plates_own_times(vfr_project) -> None:
    """The extracted AU and pose curves, a filter changed later without re-analysis (the
    studio's and `project calibrate --filter`'s path) and a FaceAUs read back from aus.json
    and filtered again are all filtered on the plate's frame times, not at the nominal rate."""
    import json

    from core.facs import FaceAUs, extract_shot, filter_curves
    from core.project import workflow as wf

    _project, shot, seconds = vfr_project
    fps = float(shot.analysis.fps)
    cs = shot.curves[0]
    names = [n for n in cs.names if n in cs.base_raw]
    raw = np.stack([cs.base_raw[n] for n in names], axis=1)

    def filtered(c) -> np.ndarray:
        return np.stack([c.base[n] for n in names], axis=1)

    for name in ("one_euro", "savgol"):
        if name == "savgol":
            wf.set_curve_filter(shot, "savgol")
            cs = shot.curves[0]
        assert cs.extraction["filter"] == name
        on_times = filter_curves(raw, names, fps, name, timestamps=seconds)
        np.testing.assert_allclose(filtered(cs), on_times, atol=1e-5, equal_nan=True)
        assert np.nanmax(np.abs(filtered(cs) - filter_curves(raw, names, fps, name))) > 2e-4, name  # the 60 fps stretch and the gap (the rest is at the nominal 30)

    face = extract_shot(shot.analysis)[0]
    back = FaceAUs.from_json(json.loads(json.dumps(face.to_json())))
    np.testing.assert_allclose(back.timestamps, seconds, atol=1e-6)
    face.refilter("savgol")
    back.refilter("savgol")
    np.testing.assert_allclose(back.filtered, face.filtered, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(face.filtered, filter_curves(face.raw, face.names, fps, "savgol", timestamps=seconds),
                               atol=1e-5, equal_nan=True)
