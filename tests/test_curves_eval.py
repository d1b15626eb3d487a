"""Curves: interpolation, tangents, vectorised evaluation and its cache, layers, gains, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.curves import (
    Curve,
    CurveSet,
    Interp,
    Key,
    Layer,
    TangentMode,
    load_preset,
    save_preset,
    validate_preset,
)


def test_constant_linear_bezier_segments() -> None:
    c = Curve([Key(0, 0.0, Interp.CONSTANT), Key(10, 1.0, Interp.LINEAR), Key(20, 3.0, Interp.BEZIER), Key(30, 0.0)])
    v = c.evaluate(np.arange(-5, 36))
    f = np.arange(-5, 36)
    assert np.all(v[f < 0] == 0.0) and np.all(v[f > 30] == 0.0)  # held ends
    assert np.all(v[(f >= 0) & (f < 10)] == 0.0)  # constant until the next key
    assert v[f == 10][0] == 1.0
    assert v[f == 15][0] == pytest.approx(2.0)  # linear midpoint
    assert v[f == 20][0] == 3.0 and v[f == 30][0] == 0.0
    # every key is hit exactly, whatever the interpolation
    assert np.array_equal(c.evaluate(c.frames), c.values)


def test_scalar_and_shapes() -> None:
    c = Curve([Key(0, 0.0, Interp.LINEAR), Key(4, 4.0)])
    assert float(c.evaluate(2)) == pytest.approx(2.0)
    assert c.evaluate(np.array([[1, 2], [3, 4]])).shape == (2, 2)
    assert np.all(Curve().evaluate(np.arange(5)) == 0.0)
    assert np.all(Curve([Key(3, 2.5)]).evaluate(np.arange(5)) == 2.5)


def test_frames_snap_to_whole_frames() -> None:
    k = Key(4.6, 1.0)
    assert k.frame == 5 and isinstance(k.frame, int)
    c = Curve([Key(0, 0.0), Key(10, 1.0)])
    assert c.move_keys([10], 2.4) == [12]
    assert c.frames.tolist() == [0, 12]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 200), st.floats(-5, 5, allow_nan=False)), min_size=2, max_size=12,
                unique_by=lambda t: t[0]))
def test_auto_clamped_never_overshoots(pts: list[tuple[int, float]]) -> None:
    c = Curve(Key(f, v) for f, v in pts)
    f = c.frames
    vals = c.values
    dense = np.linspace(f[0], f[-1], 2000)
    y = c.evaluate(dense)
    seg = np.clip(np.searchsorted(f, dense, side="right") - 1, 0, len(f) - 2)
    lo = np.minimum(vals[seg], vals[seg + 1])
    hi = np.maximum(vals[seg], vals[seg + 1])
    assert np.all(y >= lo - 1e-9) and np.all(y <= hi + 1e-9)
    # monotone within each segment
    for i in range(len(f) - 1):
        s = y[(dense >= f[i]) & (dense <= f[i + 1])]
        d = np.diff(s) * np.sign(vals[i + 1] - vals[i])
        assert np.all(d >= -1e-9)


def test_free_and_broken_tangents() -> None:
    free = Curve([Key(0, 0.0, tangent_mode=TangentMode.FREE, out_tangent=(1.0, 2.0)), Key(10, 0.0)])
    ins, outs = free.slopes()
    assert outs[0] == pytest.approx(2.0) and ins[0] == pytest.approx(2.0)
    y = free.evaluate(np.array([1]))
    assert y[0] > 0.5  # leaves the first key rising with slope 2 (overshoot is allowed for FREE)
    broken = Curve([Key(-10, 0.0), Key(0, 0.0, tangent_mode=TangentMode.BROKEN, in_tangent=(-1.0, 1.0),
                                      out_tangent=(1.0, 3.0)), Key(10, 0.0)])
    ins, outs = broken.slopes()
    assert ins[1] == pytest.approx(-1.0) and outs[1] == pytest.approx(3.0)
    eps = 1e-4
    left = (broken.evaluate(np.array([0.0])) - broken.evaluate(np.array([-eps])))[0] / eps
    right = (broken.evaluate(np.array([eps])) - broken.evaluate(np.array([0.0])))[0] / eps
    assert left == pytest.approx(-1.0, abs=1e-2) and right == pytest.approx(3.0, abs=1e-2)
    assert len(broken.handles()) == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ins", "del", "move", "val", "set", "setadd", "setdel"]), st.integers(0, 120),
                          st.floats(-3, 3, allow_nan=False), st.integers(-7, 7)), min_size=1, max_size=15))
def test_incremental_cache_equals_full_evaluation(edits: list) -> None:
    rng = np.random.default_rng(1)
    c = Curve(Key(int(f), float(v), Interp.BEZIER if f % 3 else Interp.LINEAR)
              for f, v in zip(range(0, 120, 9), rng.uniform(0, 5, 14), strict=False))
    c.evaluate_range(-10, 130)
    for op, frame, value, df in edits:
        frames = c.frames
        if op == "ins":
            c.insert_key(Key(frame, value))
        elif len(frames) == 0:
            continue
        else:
            target = int(frames[frame % len(frames)])
            if op == "del":
                c.remove_frames([target])
            elif op == "move":
                c.move_keys([target], df, value)
            elif op == "set":  # whole key list replaced, one key changed (value and tangents), as undo does
                c.set_keys([k.replace(value=value, tangent_mode=TangentMode.FREE, in_tangent=(-2.0, df / 3),
                                      out_tangent=(2.0, -df / 3)) if k.frame == target else k for k in c.keys])
            elif op == "setadd":
                c.set_keys(list(c.keys) + [Key(frame + df, value)])
            elif op == "setdel":
                c.set_keys([k for k in c.keys if k.frame != target])
            else:
                c.replace_key(target, c.key_at(target).replace(value=value))
        cached = c.evaluate_range(-10, 130).copy()
        fresh = Curve(c.keys)._eval_raw(np.arange(-10, 131))
        np.testing.assert_allclose(cached, fresh, rtol=0, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.sets(st.integers(0, 40), min_size=1, max_size=20), st.data(), st.integers(-6, 6),
       st.floats(-2, 2, allow_nan=False))
def test_moved_keys_matches_the_plain_definition(frames: set, data, df: int, dv: float) -> None:
    """moved_keys (binary search on the sorted keys) gives what its definition says: the selected
    keys shifted, unmoved keys they land on dropped, the rest kept, all sorted by frame."""
    from core.curves import moved_keys

    keys = [Key(f, f * 0.1) for f in sorted(frames)]
    sel = data.draw(st.sets(st.sampled_from(sorted(frames)) | st.integers(-3, 45), max_size=8))
    got, new_frames = moved_keys(keys, sel, df, dv)
    moved = [k.replace(frame=k.frame + df, value=k.value + dv) for k in keys if k.frame in sel]
    landed = {k.frame for k in moved}
    want = sorted([k for k in keys if k.frame not in sel and k.frame not in landed] + moved, key=lambda k: k.frame)
    assert got == want and new_frames == sorted(landed)


def _cs() -> CurveSet:
    n = 50
    base = {"AU12": np.full(n, 2.0), "AU45": np.linspace(0, 4, n), "pose_Ry": np.linspace(-1, 1, n)}
    return CurveSet(list(base), (100, 149), base=base)


def test_layers_gain_clamp() -> None:
    cs = _cs()
    np.testing.assert_array_equal(cs.evaluate("AU12"), np.full(50, 2.0))
    add = Layer("add", "additive", curves={"AU12": Curve([Key(100, 1.0, Interp.LINEAR), Key(149, 1.0)])})
    cs.layers.append(add)
    np.testing.assert_allclose(cs.evaluate("AU12"), 3.0)
    over = Layer("over", "override", weight=0.5, curves={"AU12": Curve([Key(120, 5.0)])})
    cs.layers.append(over)
    np.testing.assert_allclose(cs.evaluate("AU12"), 4.0)  # (1-0.5)*3 + 0.5*5
    over.weight = 1.0
    np.testing.assert_allclose(cs.evaluate("AU12"), 5.0)  # cache sees the weight change
    over.muted = True
    np.testing.assert_allclose(cs.evaluate("AU12"), 3.0)
    cs.set_gain("AU12", 2.0)
    np.testing.assert_allclose(cs.evaluate("AU12"), 5.0)  # 6 clamped to the AU range
    assert any("AU12" in w and "non-physiological" in w for w in cs.warnings())
    cs.set_gain("AU12", 1.4)
    assert not cs.warnings()
    with pytest.raises(ValueError):
        cs.set_gain("AU12", 2.5)
    with pytest.raises(ValueError):
        cs.set_gain("pose_Ry", 1.2)
    # pose curves are neither gained nor clamped
    cs.layers.append(Layer("pose", curves={"pose_Ry": Curve([Key(100, -9.0)])}))
    assert cs.evaluate("pose_Ry")[0] == pytest.approx(-10.0)
    # frames outside the analysed range hold the edge base values; explicit frames match
    v = cs.evaluate("AU45", np.array([90, 100, 149, 160]))
    assert v[0] == v[1] == pytest.approx(0.0) and v[2] == v[3] == pytest.approx(4.0)
    full = cs.evaluate("AU45")
    np.testing.assert_allclose(cs.evaluate("AU45", np.arange(100, 150)), full)
    names, m = cs.evaluate_matrix()
    assert m.shape == (3, 50) and names == cs.names


def test_nan_base_stays_nan() -> None:
    b = np.full(10, 1.0)
    b[3] = np.nan
    cs = CurveSet(["AU01"], (0, 9), base={"AU01": b})
    v = cs.evaluate("AU01")
    assert np.isnan(v[3]) and np.all(v[np.arange(10) != 3] == 1.0)


def test_presets_seed_form_roundtrip(tmp_path) -> None:
    preset = {"enable_smooth": True, "au_gain": {4: 1.2, 12: 0.8, 43: 1.5}}
    cs = CurveSet(["AU04", "AU12L", "AU12R", "AU45", "pose_Rx"], (0, 9))
    cs.apply_preset(preset)
    assert cs.gains == {"AU04": 1.2, "AU12L": 0.8, "AU12R": 0.8, "AU45": 1.5}
    assert cs.enable_smooth
    path = tmp_path / "micro.json"
    save_preset(path, preset)
    assert json.loads(path.read_text())["au_gain"] == {"4": 1.2, "12": 0.8, "43": 1.5}
    assert load_preset(path) == {"enable_smooth": True, "au_gain": {4: 1.2, 12: 0.8, 43: 1.5}}
    with pytest.raises(ValueError, match="au_gain\\['x'\\].*au_gain\\['5'\\]"):
        validate_preset({"au_gain": {"x": 1.0, "5": 3.0}})
    out = cs.to_preset()
    assert out["enable_smooth"] is True and out["au_gain"][12] == 0.8 and out["au_gain"][45] == 1.5


def test_from_face_aus_keeps_plate_frames_and_edits() -> None:
    from dataclasses import dataclass

    @dataclass
    class Face:  # the shape of core.facs.FaceAUs
        names: list
        raw: np.ndarray
        filtered: np.ndarray
        confidence: np.ndarray
        success: np.ndarray

    fi = np.array([100, 101, 103, 104])  # frame 102 was not analysed
    filt = np.array([[1.0, 0.1], [2.0, 0.2], [3.0, 0.3], [4.0, 0.4]])
    face = Face(["AU12", "pose_Rx"], filt + 0.5, filt, np.ones(4), np.array([True, True, False, True]))
    cs = CurveSet.from_face_aus(face, fi)
    assert cs.frame_range == (100, 104)
    v = cs.evaluate("AU12")
    assert v[0] == 1.0 and v[3] == 3.0 and np.isnan(v[2])  # frame N is plate frame N, gap is NaN
    assert cs.base_raw["AU12"][1] == 2.5 and cs.success.tolist() == [True, True, False, False, True]
    cs.layers.append(Layer("edit", curves={"AU12": Curve([Key(101, 1.0)])}))
    cs.set_gain("AU12", 0.5)
    again = CurveSet.from_face_aus(face, fi, keep_edits_from=cs)
    assert again.gains == {"AU12": 0.5} and again.layers[0] == cs.layers[0]
    assert again.layers[0] is not cs.layers[0]
    with pytest.raises(ValueError, match="shape"):
        CurveSet.from_face_aus(face, fi[:3])


# ---------------------------------------------------------------------- animated (keyed) gains
def test_gain_keys_scale_per_frame_and_clamp() -> None:
    cs = _cs()  # AU12 base 2.0 on frames 100..149
    cs.set_gain("AU12", 0.5)  # static gain: used while there are no gain keys
    static = cs.evaluate("AU12")
    np.testing.assert_allclose(static, 1.0)
    np.testing.assert_allclose(cs.gain_at("AU12", [100, 149]), 0.5)
    cs.set_gain_keys("AU12", [Key(110, 0.0, Interp.LINEAR), Key(130, 2.0, Interp.CONSTANT)])
    assert cs.has_gain_keys("AU12") and cs.gain("AU12") == 0.5  # gain() stays the static value
    f = cs.all_frames()
    want_gain = np.clip(np.interp(f, [110, 130], [0.0, 2.0]), 0, 2)
    np.testing.assert_allclose(cs.gain_at("AU12", f), want_gain)
    full = cs.evaluate("AU12")  # cache sees the gain keys
    np.testing.assert_allclose(full, 2.0 * want_gain)
    # explicit (non-contiguous) frames give the same values as the cached whole range
    pick = np.array([149, 100, 120, 125])
    np.testing.assert_allclose(cs.evaluate("AU12", pick), full[pick - 100])
    # layers first, then the keyed gain, then the 0..5 clamp: 2 + 1.5 = 3.5, * 2 -> 7 -> 5
    cs.layers.append(Layer("add", curves={"AU12": Curve([Key(100, 1.5)])}))
    v = cs.evaluate("AU12")
    assert v[f == 140][0] == 5.0 and v[f == 120][0] == pytest.approx(3.5 * 1.0)
    # a key edited in place (same Curve object) invalidates the cache too
    cs.gain_keys["AU12"].replace_key(130, Key(130, 1.0, Interp.CONSTANT))
    assert cs.evaluate("AU12")[f == 140][0] == pytest.approx(3.5)
    # FREE tangents may overshoot between keys: the gain is clamped to 0..2 per frame
    steep = Key(120, 2.0, Interp.BEZIER, TangentMode.FREE, (-1.0, -5.0), (1.0, 5.0))
    cs.set_gain_keys("AU12", [Key(100, 1.0), steep, Key(140, 1.0)])
    g = cs.gain_at("AU12", f)
    assert g.max() == 2.0 and g.min() >= 0.0
    assert Curve(cs.gain_keys["AU12"].keys).evaluate(f).max() > 2.0  # the raw curve does overshoot
    # no keys again: exactly the static behaviour
    cs.layers.clear()
    cs.set_gain_keys("AU12", [])
    assert "AU12" not in cs.gain_keys and not cs.has_gain_keys("AU12")
    np.testing.assert_array_equal(cs.evaluate("AU12"), static)


def test_gain_keys_leave_other_curves_and_nan_alone() -> None:
    b = np.full(10, 2.0)
    b[4] = np.nan
    cs = CurveSet(["AU01", "AU02", "pose_Rx"], (0, 9), base={"AU01": b, "AU02": np.full(10, 1.0),
                                                             "pose_Rx": np.full(10, 3.0)})
    cs.set_gain_keys("AU01", [Key(0, 1.5, Interp.LINEAR), Key(9, 0.5)])
    v = cs.evaluate("AU01")
    assert np.isnan(v[4]) and v[0] == pytest.approx(3.0) and v[9] == pytest.approx(1.0)
    np.testing.assert_array_equal(cs.evaluate("AU02"), 1.0)
    np.testing.assert_array_equal(cs.gain_at("pose_Rx", [0, 5]), 1.0)  # pose curves take no gain
    for bad in (lambda: cs.set_gain_keys("pose_Rx", [Key(0, 1.0)]),
                lambda: cs.set_gain_keys("AU02", [Key(0, 2.5)]),
                lambda: cs.set_gain_keys("AU02", [Key(0, -0.1)])):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(KeyError):
        cs.set_gain_keys("AU99", [Key(0, 1.0)])
    assert list(cs.gain_keys) == ["AU01"]  # refused edits changed nothing


def test_keyed_gain_warnings_name_the_frames() -> None:
    cs = _cs()
    cs.set_gain("AU45", 1.8)
    assert cs.warnings() == ["AU45: gain 1.80 is above 1.5 and may be non-physiological"]
    # keys replace the static gain: warn about the keyed values (and where), and that the static
    # one is not used (not that it is too high)
    cs.set_gain_keys("AU45", [Key(110, 1.0, Interp.CONSTANT), Key(115, 1.9, Interp.CONSTANT),
                              Key(120, 1.0, Interp.CONSTANT), Key(140, 1.6, Interp.CONSTANT)])
    w = cs.warnings()
    assert len(w) == 2
    assert w[0].startswith("AU45: keyed gain up to 1.90 is above 1.5 at frames 115-119, 140-149")
    assert "static gain 1.80" in w[1] and "not used" in w[1]
    cs.set_gain("AU45", 1.0)
    cs.set_gain_keys("AU45", [Key(100, 1.2)])
    assert cs.warnings() == []


def test_from_face_aus_keeps_gain_keys() -> None:
    from types import SimpleNamespace

    face = SimpleNamespace(names=["AU12", "AU45"], raw=np.ones((5, 2)), filtered=np.ones((5, 2)))
    old = CurveSet(["AU12", "AU45"], (0, 4))
    old.set_gain_keys("AU12", [Key(1, 0.5), Key(3, 1.5)])
    cs = CurveSet.from_face_aus(face, np.arange(5), keep_edits_from=old)
    assert cs.gain_keys["AU12"] == old.gain_keys["AU12"] and cs.gain_keys["AU12"] is not old.gain_keys["AU12"]
    np.testing.assert_allclose(cs.evaluate("AU12"), old.gain_at("AU12", np.arange(5)))  # base 1 * keyed gain


def test_static_gain_under_gain_keys_is_reported():
    """A preset's static gain on an AU with gain keys would silently do nothing: it is said."""
    import numpy as np

    from core.curves import CurveSet, Key

    cs = CurveSet(["AU12"], (0, 19), base={"AU12": np.full(20, 2.0)})
    cs.set_gain_keys("AU12", [Key(0, 1.2), Key(19, 1.2)])
    cs.apply_preset({"au_gain": {12: 0.5}})
    assert any("AU12" in w and "not used" in w for w in cs.warnings())
    assert np.allclose(cs.evaluate("AU12", np.arange(20)), 2.4)


def test_evaluate_frames_in_any_order_and_bit_identical_to_the_range() -> None:
    """Frames not in order ([120, 120, 122], [110, 112, 111, 113]) were read as a contiguous slice;
    and the range evaluation multiplied by 1/h where per-frame evaluation divides by h, so the
    two differed in the last bit on some frames."""
    rng = np.random.default_rng(5)
    cs = CurveSet(["AU01"], (100, 140), base={"AU01": rng.uniform(0, 4, 41)})
    cs.layers.append(Layer("e", curves={"AU01": Curve([Key(103, 0.3), Key(110, -0.7), Key(117, 0.9),
                                                        Key(131, 0.2, Interp.LINEAR), Key(137, -0.4)])}))
    whole = cs.evaluate("AU01")
    for frames in ([120, 120, 122], [110, 112, 111, 113], [130, 125, 128, 126, 127, 129], list(range(140, 99, -1))):
        np.testing.assert_array_equal(cs.evaluate("AU01", frames), whole[np.asarray(frames) - 100])
    for _ in range(50):
        keys = sorted({int(f) for f in rng.integers(0, 300, 8)})
        c = Curve([Key(f, float(rng.normal()), Interp.BEZIER) for f in keys])
        np.testing.assert_array_equal(c.evaluate_range(0, 299), np.array([c.evaluate(f) for f in range(300)]))


def test_fractional_frames_go_to_the_nearest_frame_halves_up() -> None:
    """A key at 2.5 snapped to 2 and one at 3.5 to 4 (round half to even); a stored key frame of
    10.7 loaded as 10; CurveSet.evaluate read frame 2.7 as 2. One rule: nearest, halves up."""
    assert [Key(f, 0.0).frame for f in (2.5, 3.5, 2.49, -0.5, 10.7)] == [3, 4, 2, 0, 11]
    assert Key.from_list([10.7, 1.0, "linear", "auto", -1, 0, 1, 0]).frame == 11
    cs = CurveSet(["AU01"], (0, 9), base={"AU01": np.arange(10.0)})
    np.testing.assert_array_equal(cs.evaluate("AU01", np.array([2.7, 3.5, 4.2])), [3.0, 4.0, 4.0])


def test_keys_outside_the_shot_are_said():
    """Keys pasted or dragged past the analysed frames were kept without a word (and Frame all
    did not show them); the curve set's warnings name them."""
    cs = CurveSet(["AU01", "AU12"], (10, 40), base={"AU01": np.zeros(31), "AU12": np.zeros(31)})
    cs.layers.append(Layer("Edit", curves={"AU12": Curve([Key(5, 1.0), Key(20, 1.0), Key(44, 0.0), Key(45, 0.0)]),
                                           "AU01": Curve([Key(12, 1.0)])}))
    (w,) = [w for w in cs.warnings() if "outside" in w]
    assert w == "layer 'Edit' has keys outside the analysed frames 10-40: AU12 frame(s) 5, 44-45"
