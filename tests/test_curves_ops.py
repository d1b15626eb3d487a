"""Curve operations: box select, copy/paste, smoothing, Butterworth, key reduction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.curves import (
    Curve,
    Interp,
    Key,
    box_select,
    butterworth,
    copy_keys,
    paste_keys,
    reduce_keys,
    smooth_array,
    smooth_keys,
)


def test_box_select() -> None:
    c = Curve([Key(0, 0.0), Key(5, 2.0), Key(10, 4.0), Key(15, 1.0)])
    assert box_select(c, 3, 12, 1.5, 4.5) == [5, 10]
    assert box_select(c, 12, 3, 4.5, 1.5) == [5, 10]  # any corner order
    assert box_select(c, 16, 20, 0, 5) == []


def test_copy_paste_across_aus_relative_to_target() -> None:
    a = Curve([Key(10, 1.0), Key(12, 2.0), Key(20, 3.0)])
    b = Curve([Key(14, 0.5)])
    clip = copy_keys({"AU12": a, "AU06": b}, {"AU12": [12, 20], "AU06": [14]})
    assert clip.curves["AU12"][0].frame == 0 and clip.curves["AU06"][0].frame == 2
    target = Curve([Key(100, 9.0), Key(108, 7.0)])
    keys = paste_keys(target, clip.curves["AU12"], 100)
    assert [(k.frame, k.value) for k in keys] == [(100, 2.0), (108, 3.0)]  # pasted keys replace
    keys = paste_keys(Curve([Key(103, 1.0), Key(200, 1.0)]), clip.curves["AU12"], 100, replace_range=True)
    assert [k.frame for k in keys] == [100, 108, 200]


def test_smooth_keys_and_array() -> None:
    c = Curve([Key(0, 0.0), Key(1, 4.0), Key(2, 0.0), Key(3, 4.0), Key(4, 0.0)])
    keys = smooth_keys(c, [1, 2, 3], strength=1.0)
    vals = [k.value for k in keys]
    assert vals[0] == 0.0 and vals[-1] == 0.0  # ends unchanged
    assert np.ptp(vals[1:4]) < np.ptp([4.0, 0.0, 4.0])
    x = np.r_[np.zeros(20), np.ones(20)]
    s = smooth_array(x, 3)
    assert s.shape == x.shape and np.all(np.diff(s) >= -1e-12) and s[0] == pytest.approx(0) and s[-1] == pytest.approx(1)


def test_butterworth_zero_phase_lowpass() -> None:
    fps = 24.0
    t = np.arange(480) / fps
    slow = np.sin(2 * np.pi * 0.5 * t)
    fast = 0.5 * np.sin(2 * np.pi * 9.0 * t)
    y = butterworth(slow + fast, cutoff_hz=2.0, fps=fps, order=4)
    inner = slice(48, -48)
    assert np.max(np.abs(y[inner] - slow[inner])) < 0.05  # high band removed, no phase lag
    with pytest.raises(ValueError, match="half the frame rate"):
        butterworth(slow, cutoff_hz=12.0, fps=fps)
    gap = slow.copy()
    gap[100:110] = np.nan
    out = butterworth(gap, 2.0, fps)
    assert np.isnan(out[100:110]).all() and not np.isnan(out[:100]).any()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.01, 0.05, 0.2]))
def test_reduce_keys_within_tolerance(seed: int, tol: float) -> None:
    rng = np.random.default_rng(seed)
    f = np.arange(0, 240)
    v = np.cumsum(rng.normal(0, 0.05, f.size)) + np.sin(f / 15.0)
    keys = reduce_keys(f, v, tol)
    c = Curve(keys)
    assert np.max(np.abs(c.evaluate(f) - v)) <= tol + 1e-9
    assert len(keys) < f.size


def test_reduce_keys_smooth_curve_needs_few_keys() -> None:
    src = Curve([Key(0, 0.0), Key(40, 3.0), Key(90, 1.0), Key(120, 4.0, Interp.LINEAR), Key(200, 0.0)])
    f = np.arange(0, 201)
    v = src.evaluate(f)
    keys = reduce_keys(f, v, 0.01)
    assert np.max(np.abs(Curve(keys).evaluate(f) - v)) <= 0.01 + 1e-9
    assert len(keys) <= 25
    assert reduce_keys(f, np.full(f.size, 2.0), 0.01) == [Key(0, 2.0, Interp.LINEAR)]


def test_butterworth_leaves_short_lines_alone() -> None:
    """On spans shorter than the filter's own padding, filtfilt bent them: a 2-sample ramp 0..3
    came back as -0.42, 0.25. The ends are padded by odd reflection until the filter settles."""
    for n in (2, 3, 4, 6, 8, 20):
        ramp = np.linspace(0.0, 3.0, n)
        np.testing.assert_allclose(butterworth(ramp, 3.0, 25.0), ramp, atol=2e-3)
    np.testing.assert_array_equal(butterworth(np.array([2.0]), 3.0, 25.0), [2.0])
