"""Undo/redo: exact restoration for any edit sequence, drag merging, clean state, listeners,
and frame accuracy of keys when shots are trimmed."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.curves import Curve, CurveSet, Interp, Key, Layer, TangentMode, copy_keys
from core.project import Plate, Project, UndoStack
from core.project import commands as C

NAMES = ["AU01", "AU12", "AU45", "pose_Ry"]


def _setup() -> tuple[Project, CurveSet]:
    proj = Project("/tmp/never-saved")
    proj.add_plate(Plate("P", "/p.mov", Fraction(24), 400, 64, 64, "01:00:00:00"))
    sh = proj.new_shot("P", 0, 99)
    rng = np.random.default_rng(3)
    base = {n: rng.uniform(0, 4, 100) for n in NAMES}
    cs = CurveSet(NAMES, (0, 99), base=base)
    cs.layers.append(Layer("edit", curves={"AU12": Curve([Key(10, 1.0), Key(20, -0.5), Key(40, 0.25)])}))
    sh.curves[0] = cs
    return proj, cs


def _state(proj: Project) -> tuple:
    """The project's state and, order-sensitive, the curves as saved (layer and curve order make
    the project file and its .npz key-array names; dict equality would not see a reorder)."""
    return proj.state(), [json.dumps(cs.meta_dict()) for sh in proj.shots for _, cs in sorted(sh.curves.items())]


def _make(proj: Project, cs: CurveSet, op: int, a: int, b: int, x: float, drag: int):
    name = NAMES[a % len(NAMES)]
    lay = cs.layers[a % len(cs.layers)].name if cs.layers else "edit"
    keys = {n: [k.frame for k in c.keys] for L in cs.layers for n, c in L.curves.items() if L.name == lay}
    keyed = sorted(n for n, fr in keys.items() if fr)
    if keyed and a % 4:
        name = keyed[a % len(keyed)]
    frames = keys.get(name, [])
    f = frames[b % len(frames)] if frames else b
    au = ["AU01", "AU12", "AU45"][a % 3]
    ops = [
        lambda: C.AddKey(cs, lay, name, Key(b, x, Interp.BEZIER if b % 2 else Interp.LINEAR)),
        lambda: C.DeleteKeys(cs, lay, {name: frames[:2]}),
        lambda: C.MoveKeys(cs, lay, {name: frames[:2]}, (b % 5) - 2, x / 4, merge_id=("drag", drag)),
        lambda: C.SetKeyValue(cs, lay, name, f, x),
        lambda: C.SetInterp(cs, lay, {name: frames}, [Interp.CONSTANT, Interp.LINEAR, Interp.BEZIER][b % 3]),
        lambda: C.SetTangents(cs, lay, name, f, [TangentMode.FREE, TangentMode.BROKEN, TangentMode.AUTO][b % 3],
                              in_tangent=(-1.0, x), out_tangent=(2.0, -x)),
        lambda: C.SetGain(cs, au, (b % 21) / 10, merge_id=("gain", drag)),
        lambda: C.AddLayer(cs, Layer(cs.unique_layer_name(), "override" if b % 2 else "additive", 0.5)),
        lambda: C.RemoveLayer(cs, lay),
        lambda: C.SetLayerWeight(cs, lay, (b % 11) / 10, merge_id=("w", drag)),
        lambda: C.PasteKeys(cs, lay, copy_keys({name: Curve(C._keys(cs, lay, name))}, {name: frames}), b,
                            name_map={name: NAMES[(a + 1) % len(NAMES)]}),
        lambda: C.SmoothKeys(cs, lay, {name: frames}, 0.5),
        lambda: C.ButterworthFilter(cs, [name], 2.0, 24.0),
        lambda: C.ReduceKeys(cs, lay, [name], 0.05),
        lambda: C.BakeLayer(cs, lay),
        lambda: C.ResetToExtracted(cs, [name]),
        lambda: C.BakeToKeys(cs, [name], layer="Baked", tol=0.2, frames=(0, 30)),
        lambda: C.ApplyPreset(cs, {"enable_smooth": bool(b % 2), "au_gain": {12: 0.8, 43: 1.6}}),
        lambda: C.SetShotRange(proj, proj.shots[0].id, b % 50, 50 + b % 50, handles=b % 8),
        lambda: C.SetShotFields(proj, proj.shots[0].id, identity=f"id{b}", render_settings={"k": b}),
        # animated gains: keys (both sides of a pair, values out of range refused), deletes, the slider's edit
        lambda: C.SetGainKey(cs, [au] if b % 3 else ["AU01", "AU12"], b % 100, abs(x) * 0.7,
                             merge_id=("gk", drag)),
        lambda: C.DeleteGainKeys(cs, au, None if b % 4 == 0 else
                                 [k.frame for k in cs.gain_keys[au].keys][:2] if au in cs.gain_keys else [b]),
        lambda: C.EditGain(cs, au, (b % 21) / 10, frame=b % 100, merge_id=("eg", drag)),
        lambda: C.SetLayerProps(cs, lay, muted=bool(b % 2)),
        lambda: C.SetLayerProps(cs, lay, name=f"renamed {b}"),
    ]
    return ops[op % len(ops)]()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24), st.integers(0, 7), st.integers(0, 120),
                          st.floats(-3, 3, allow_nan=False), st.integers(0, 2)), min_size=1, max_size=25))
def test_any_edit_sequence_undoes_and_redoes_exactly(seq) -> None:
    proj, cs = _setup()
    stack = UndoStack()
    states = [_state(proj)]  # state after each undo step
    for op, a, b, x, drag in seq:
        try:
            cmd = _make(proj, cs, op, a, b, x, drag)
        except (KeyError, ValueError):
            continue
        before = _state(proj)
        n = stack.index
        try:
            stack.push(cmd)
        except (KeyError, ValueError):
            assert _state(proj) == before  # a refused edit changes nothing
            assert stack.index == n
            continue
        if drag == 0:
            stack.end_merge()
        if stack.index == n:  # merged into the previous step
            states[-1] = _state(proj)
        else:
            states.append(_state(proj))
    end = _state(proj)
    # evaluation works in every state and the caches stay coherent: the cached whole-range
    # result equals that of a fresh copy rebuilt from the persisted form
    for i in range(len(states) - 1, 0, -1):
        assert _state(proj) == states[i]
        fresh = CurveSet.from_parts(cs.meta_dict(), cs.arrays())
        np.testing.assert_array_equal(cs.evaluate_matrix()[1], fresh.evaluate_matrix()[1])
        assert stack.undo()
    assert _state(proj) == states[0]
    assert not stack.can_undo
    for i in range(1, len(states)):
        assert stack.redo()
        assert _state(proj) == states[i]
    assert _state(proj) == end and not stack.can_redo


def test_drag_is_one_undo_step_and_clean_state() -> None:
    proj, cs = _setup()
    start = _state(proj)
    stack = UndoStack()
    seen: list[int] = []
    stack.add_listener(lambda s: seen.append(s.index))
    assert stack.is_clean
    sel = {"AU12": [10, 20]}
    for _ in range(5):  # five mouse moves of one drag
        cmd = C.MoveKeys(cs, "edit", sel, 1, 0.1, merge_id="drag-1")
        stack.push(cmd)
        sel = cmd.compute.new_selection
    stack.end_merge()
    assert stack.index == 1 and len(seen) == 5 and stack.is_dirty
    assert [k.frame for k in cs.layer("edit").curves["AU12"].keys] == [15, 25, 40]
    assert cs.layer("edit").curves["AU12"].key_at(15).value == pytest.approx(1.5)
    # several curves moving by different value amounts in one command (e.g. divided by gain)
    cs.layer("edit").curves["AU01"] = Curve([Key(15, 0.0)])
    cmd = C.MoveKeys(cs, "edit", {"AU12": [15], "AU01": [15]}, 0, {"AU12": 1.0, "AU01": 0.5}, merge_id="drag-2")
    stack.push(cmd)
    stack.push(C.MoveKeys(cs, "edit", cmd.compute.new_selection, 0, {"AU12": 1.0, "AU01": 0.5}, merge_id="drag-2"))
    stack.end_merge()
    assert cs.layer("edit").curves["AU01"].key_at(15).value == pytest.approx(1.0)
    assert cs.layer("edit").curves["AU12"].key_at(15).value == pytest.approx(3.5)
    stack.undo()
    del cs.layer("edit").curves["AU01"]
    stack.push(C.MoveKeys(cs, "edit", {"AU12": [40]}, 1, merge_id="drag-1"))  # a new drag after mouse-up
    assert stack.index == 2
    stack.set_clean()
    assert stack.is_clean
    stack.undo()
    assert stack.is_dirty
    stack.undo()
    assert _state(proj) == start and not stack.can_undo
    stack.redo()
    stack.redo()
    assert stack.is_clean


def test_drag_over_a_key_does_not_eat_it() -> None:
    proj, cs = _setup()  # AU12 keys on 10, 20, 40
    stack = UndoStack()
    sel = {"AU12": [10]}
    for _ in range(15):  # drag the key on 10 across 20 to 25
        cmd = C.MoveKeys(cs, "edit", sel, 1, 0.0, merge_id="d")
        stack.push(cmd)
        sel = cmd.compute.new_selection
    stack.end_merge()
    assert [k.frame for k in cs.layer("edit").curves["AU12"].keys] == [20, 25, 40]
    assert stack.index == 1
    stack.undo()
    assert [k.frame for k in cs.layer("edit").curves["AU12"].keys] == [10, 20, 40]
    stack.redo()
    assert [k.frame for k in cs.layer("edit").curves["AU12"].keys] == [20, 25, 40]


def test_key_edit_invalidates_only_the_edited_curve() -> None:
    _, cs = _setup()
    before = {n: cs.evaluate(n) for n in NAMES}
    other_cache = {n: cs._cache[n][1] for n in NAMES}
    stack = UndoStack()
    stack.push(C.AddKey(cs, "edit", "AU12", Key(60, 2.0)))
    cs.evaluate_matrix()
    for n in ("AU01", "AU45", "pose_Ry"):
        assert cs._cache[n][1] is other_cache[n]  # not recomputed
        np.testing.assert_array_equal(cs.evaluate(n), before[n])
    assert cs._cache["AU12"][1] is not other_cache["AU12"]


def test_trim_and_retime_keep_keys_on_plate_frames() -> None:
    """VFR plate starting at a non-zero timecode: keys stay on their plate frames when the
    shot is trimmed, extended or re-timed (fps reinterpreted)."""
    proj = Project("/tmp/never-saved-2")
    plate = proj.add_plate(Plate("V", "/vfr.mp4", Fraction(30000, 1001), 1000, 640, 360, "10:00:00;00", vfr=True))
    sh = proj.new_shot("V", 100, 200)
    cs = CurveSet(["AU12"], (100, 200), base={"AU12": np.zeros(101)})
    cs.layers.append(Layer("edit", curves={"AU12": Curve([Key(120, 1.0, Interp.LINEAR), Key(150, 3.0)])}))
    sh.curves[0] = cs
    before = cs.evaluate("AU12", np.arange(100, 201))
    stack = UndoStack()
    stack.push(C.SetShotRange(proj, sh.id, 130, 180, handles=6))
    stack.push(C.SetShotRange(proj, sh.id, 90, 260))
    assert [k.frame for k in cs.layer("edit").curves["AU12"].keys] == [120, 150]
    np.testing.assert_array_equal(cs.evaluate("AU12", np.arange(100, 201)), before)
    assert cs.evaluate("AU12", np.array([135]))[0] == pytest.approx(2.0)
    plate.fps = Fraction(24000, 1001)  # re-timed interpretation: frames are still frames
    assert cs.evaluate("AU12", np.array([135]))[0] == pytest.approx(2.0)
    # timecode <-> frame for a drop-frame plate starting at 10:00:00;00
    p2 = Plate("D", "/d.mov", Fraction(30000, 1001), 5000, 1, 1, "10:00:00;00")
    assert p2.frame_for_timecode("10:00:00;00") == 0
    assert p2.frame_for_timecode("10:01:00;02") == 1800  # 00:01:00;00 does not exist in drop-frame
    assert p2.timecode_for_frame(1800) == "10:01:00;02"


def test_gain_keys_undo_exactly_and_slider_edits_merge() -> None:
    proj, cs = _setup()
    stack = UndoStack()
    s0 = _state(proj)
    v0 = cs.evaluate("AU12").copy()
    stack.push(C.SetGain(cs, "AU12", 0.8))  # static gain first
    s1 = _state(proj)
    # no keys yet: the slider's edit sets the static gain, whatever the frame
    stack.push(C.EditGain(cs, "AU12", 0.6, frame=30))
    assert cs.gain("AU12") == 0.6 and not cs.gain_keys
    stack.undo()
    assert _state(proj) == s1
    # a gain key on both sides of a pair at once; then the slider edits keys at the cursor frame
    stack.push(C.SetGainKey(cs, ["AU01", "AU12"], 20, 1.5))
    assert [k.frame for k in cs.gain_keys["AU01"].keys] == [20] == [k.frame for k in cs.gain_keys["AU12"].keys]
    s2 = _state(proj)
    for g in (1.2, 1.1, 0.4):  # one drag: one undo step
        stack.push(C.EditGain(cs, "AU12", g, frame=60, merge_id=("slider", 1)))
    stack.end_merge()
    assert [(k.frame, k.value) for k in cs.gain_keys["AU12"].keys] == [(20, 1.5), (60, 0.4)]
    assert cs.gain("AU12") == 0.8  # the static gain is untouched while keyed
    assert cs.gain_at("AU12", [0, 20, 60, 99]).tolist() == pytest.approx([1.5, 1.5, 0.4, 0.4])
    stack.push(C.EditGain(cs, "AU12", 0.9, frame=20))  # edits the key on frame 20, keeps its interpolation
    assert cs.gain_keys["AU12"].key_at(20).value == 0.9
    s3 = _state(proj)
    stack.push(C.ResetToExtracted(cs, ["AU12"]))  # back to the extraction: gain keys go too
    assert "AU12" not in cs.gain_keys and cs.gain("AU12") == 1.0 and "AU01" in cs.gain_keys
    stack.push(C.DeleteGainKeys(cs, "AU01"))
    assert not cs.gain_keys
    # a refused key (gain above 2) changes nothing and is not recorded
    n = stack.index
    with pytest.raises(ValueError):
        stack.push(C.SetGainKey(cs, "AU12", 5, 2.5))
    assert stack.index == n
    stack.undo()
    stack.undo()
    assert _state(proj) == s3
    stack.undo()
    stack.undo()
    assert _state(proj) == s2
    stack.undo()
    assert _state(proj) == s1
    stack.undo()
    assert _state(proj) == s0
    np.testing.assert_array_equal(cs.evaluate("AU12"), v0)
    while stack.redo():
        pass
    assert not cs.gain_keys and cs.gain("AU12") == 1.0


def test_bake_keeps_muted_layers_and_refuses_a_muted_one() -> None:
    """Baking a layer took every layer below it away, the muted ones unbaked: their keys were
    lost. A muted layer adds nothing, so it stays (muted) and only what is seen is baked."""
    _, cs = _setup()
    cs.layers.insert(0, Layer("idea", muted=True, curves={"AU01": Curve([Key(5, 2.0), Key(50, 3.0)])}))
    seen = cs.evaluate_matrix()[1]
    stack = UndoStack()
    stack.push(C.BakeLayer(cs, "edit"))
    assert [lay.name for lay in cs.layers] == ["idea"] and len(cs.layer("idea").curves["AU01"]) == 2
    np.testing.assert_allclose(cs.evaluate_matrix()[1], seen, atol=1e-12)
    with pytest.raises(ValueError, match="muted"):
        C.BakeLayer(cs, "idea")
    stack.undo()
    assert [lay.name for lay in cs.layers] == ["idea", "edit"]


def test_reset_to_extracted_undo_restores_the_saved_form() -> None:
    """Undoing a reset put the layer's curves back at the end of its dict: the state compared
    equal but the project file changed (and a long curve's .npz array name with it)."""
    _, cs = _setup()
    lay = cs.layer("edit")
    lay.curves = {"AU01": Curve([Key(1, 0.5)]), "AU12": lay.curves["AU12"], "AU45": Curve([Key(2, 1.0)])}
    before = json.dumps(cs.meta_dict())
    stack = UndoStack()
    stack.push(C.ResetToExtracted(cs, ["AU01"]))
    assert "AU01" not in cs.layer("edit").curves
    stack.undo()
    assert json.dumps(cs.meta_dict()) == before


def test_switching_auto_tangents_to_free_or_broken_keeps_the_shape() -> None:
    """An auto key's stored handles are placeholders (slope 0); unifying or breaking them started
    from those, so the curve's shape jumped (Maya keeps the handles it shows)."""
    _, cs = _setup()
    cs.layer("edit").curves["AU01"] = Curve([Key(0, 0.0), Key(20, 2.0), Key(40, 4.5)])
    frames = np.arange(0, 41)
    shape = cs.layer("edit").curves["AU01"].evaluate(frames)
    for mode in (TangentMode.FREE, TangentMode.BROKEN):
        stack = UndoStack()
        stack.push(C.SetTangents(cs, "edit", "AU01", 20, mode))
        c = cs.layer("edit").curves["AU01"]
        assert c.key_at(20).tangent_mode is mode
        np.testing.assert_allclose(c.evaluate(frames), shape, atol=1e-12)
        stack.undo()


def test_a_layer_can_be_renamed() -> None:
    """SetLayerProps said it renames a layer, but name= clashed with its own parameter."""
    _, cs = _setup()
    stack = UndoStack()
    stack.push(C.SetLayerProps(cs, "edit", name="hero"))
    assert [lay.name for lay in cs.layers] == ["hero"]
    with pytest.raises(ValueError, match="non-empty"):
        C.SetLayerProps(cs, "hero", name=" ")
    stack.undo()
    assert [lay.name for lay in cs.layers] == ["edit"]


def test_a_filter_change_keeps_what_was_baked_into_the_base() -> None:
    """A filter change, a neutral change and re-analysis rebuild the base from the per-frame solve:
    what a baked layer or a Butterworth pass had put into the base was silently dropped. It is
    carried as its change over the old extraction, per plate frame."""
    _, cs = _setup()
    stack = UndoStack()
    stack.push(C.BakeLayer(cs, "edit"))
    edited = cs.evaluate("AU12")
    # a re-extraction: a new base (another filter), one frame more at the start, one face-less frame
    first, last = cs.frame_range
    new_base = {n: np.r_[1.0, cs.base_extracted[n] * 0.9] for n in cs.names}
    new_base["AU12"][50] = np.nan
    new = CurveSet(cs.names, (first - 1, last), base=new_base)
    assert new.take_edits_from(cs) == ["AU12"]
    delta = edited - cs.base_extracted["AU12"]
    got = new.evaluate("AU12")[1:]
    want = np.clip(cs.base_extracted["AU12"] * 0.9 + delta, 0, 5)
    want[49] = np.nan
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert new.evaluate("AU12")[0] == 1.0  # a frame the old range did not hold: no change
    np.testing.assert_array_equal(new.base["AU01"], new_base["AU01"])  # not edited: the new extraction
