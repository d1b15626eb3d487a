"""project.json schema (version 1) and its validator.

The validator never stops at the first problem: it returns one readable line per problem
("shots[2].frame_in: expected an integer, got 'abc'") so a damaged or hand-edited file can be
fixed in one go.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

SCHEMA_VERSION = 1
APP = "facsimile"
#: curve sets may hold an optional "gain_keys" {AU name: [key, ...]} (animated gains) and an
#: optional "extraction" {filter, neutral_frame, calibration}; files without them are read as
#: before, so the schema version stays 1
EXTRACTION_FILTERS = ("one_euro", "savgol", "none")
_AU_NAME = re.compile(r"^AU\d+[LR]?$")


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, int | float):
        return repr(v)
    return {"list": "a list", "dict": "an object"}.get(type(v).__name__, type(v).__name__)


class _V:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, path: str, expected: str, got: Any) -> None:
        self.problems.append(f"{path}: expected {expected}, got {_tname(got)}")

    def field(self, obj: dict, key: str, path: str, check: Callable[[Any, str], bool], optional: bool = False) -> Any:
        p = f"{path}.{key}" if path else key
        if key not in obj:
            if not optional:
                self.problems.append(f"{p}: missing")
            return None
        v = obj[key]
        return v if check(v, p) else None

    # --- checks (return True when valid, recording problems otherwise)
    def int_(self, v: Any, p: str, minimum: int | None = None) -> bool:
        if isinstance(v, bool) or not isinstance(v, int):
            self.bad(p, "an integer", v)
            return False
        if minimum is not None and v < minimum:
            self.problems.append(f"{p}: must be >= {minimum}, got {v}")
            return False
        return True

    def num(self, v: Any, p: str) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.bad(p, "a (finite) number", v)  # json reads NaN and Infinity; they are no values here
            return False
        return True

    def num_in(self, v: Any, p: str, lo: float, hi: float) -> bool:
        if not self.num(v, p):
            return False
        if not lo <= v <= hi:
            self.problems.append(f"{p}: must be between {lo:g} and {hi:g}, got {v}")
            return False
        return True

    def str_(self, v: Any, p: str) -> bool:
        if not isinstance(v, str):
            self.bad(p, "a string", v)
            return False
        return True

    def opt_str(self, v: Any, p: str) -> bool:
        return v is None or self.str_(v, p)

    def bool_(self, v: Any, p: str) -> bool:
        if not isinstance(v, bool):
            self.bad(p, "true or false", v)
            return False
        return True

    def obj(self, v: Any, p: str) -> bool:
        if not isinstance(v, dict):
            self.bad(p, "an object", v)
            return False
        return True

    def list_(self, v: Any, p: str) -> bool:
        if not isinstance(v, list):
            self.bad(p, "a list", v)
            return False
        return True

    def fps(self, v: Any, p: str) -> bool:
        if (not isinstance(v, list) or len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in v)
                or v[0] <= 0 or v[1] <= 0):
            self.bad(p, "a frame rate [numerator, denominator] of positive integers", v)
            return False
        return True


def _check_key(v: _V, k: Any, p: str) -> None:
    if not isinstance(k, list) or len(k) != 8:
        v.bad(p, "a key [frame, value, interp, tangent_mode, in_dx, in_dy, out_dx, out_dy]", k)
        return
    v.int_(k[0], f"{p}[0] (frame)")
    v.num(k[1], f"{p}[1] (value)")
    if k[2] not in ("constant", "linear", "bezier"):
        v.bad(f"{p}[2] (interp)", "'constant', 'linear' or 'bezier'", k[2])
    if k[3] not in ("auto", "free", "broken"):
        v.bad(f"{p}[3] (tangent mode)", "'auto', 'free' or 'broken'", k[3])
    for j in range(4, 8):
        v.num(k[j], f"{p}[{j}] (tangent)")


def _check_curveset(v: _V, c: Any, p: str) -> None:
    if not v.obj(c, p):
        return
    v.field(c, "track", p, lambda x, q: v.int_(x, q, 0))
    v.field(c, "arrays", p, v.str_)
    names = v.field(c, "names", p, v.list_)
    if names is not None:
        for i, n in enumerate(names):
            v.str_(n, f"{p}.names[{i}]")
    fr = v.field(c, "frame_range", p, v.list_)
    if fr is not None:
        if len(fr) != 2 or not all(v.int_(x, f"{p}.frame_range[{i}]") for i, x in enumerate(fr)):
            if len(fr) != 2:
                v.bad(f"{p}.frame_range", "[first, last]", fr)
        elif fr[1] < fr[0]:
            v.problems.append(f"{p}.frame_range: last frame {fr[1]} is before first frame {fr[0]}")
    v.field(c, "enable_smooth", p, v.bool_)
    gains = v.field(c, "gains", p, v.obj)
    if gains is not None:
        for name, g in gains.items():
            if v.num(g, f"{p}.gains.{name}") and not 0.0 <= g <= 2.0:
                v.problems.append(f"{p}.gains.{name}: gain must be within 0..2, got {g}")
    ext = v.field(c, "extraction", p, v.obj, optional=True)
    if ext is not None:
        ep = f"{p}.extraction"
        filt = v.field(ext, "filter", ep, v.str_, optional=True)
        if filt is not None and filt not in EXTRACTION_FILTERS:
            v.problems.append(f"{ep}.filter: must be one of {', '.join(EXTRACTION_FILTERS)}, got {filt!r}")
        v.field(ext, "neutral_frame", ep, lambda x, q: x is None or v.int_(x, q), optional=True)
        v.field(ext, "calibration", ep, v.obj, optional=True)
    gain_keys = v.field(c, "gain_keys", p, v.obj, optional=True)
    for name, keys in (gain_keys or {}).items():
        kp = f"{p}.gain_keys.{name}"
        if not _AU_NAME.match(str(name)):
            v.problems.append(f"{kp}: gain keys apply to AU curves (AU12, AU12L, ...) only")
        elif names is not None and all(isinstance(n, str) for n in names) and name not in names:
            v.problems.append(f"{kp}: no curve named {name!r} in this curve set")
        if not v.list_(keys, kp):
            continue
        frames = []
        for j, k in enumerate(keys):
            _check_key(v, k, f"{kp}[{j}]")
            if isinstance(k, list) and len(k) == 8:
                val = k[1]
                if isinstance(val, int | float) and not isinstance(val, bool) and not 0.0 <= val <= 2.0:
                    v.problems.append(f"{kp}[{j}][1] (value): a gain must be within 0..2, got {val}")
                if isinstance(k[0], int) and not isinstance(k[0], bool):
                    frames.append(k[0])
        if frames != sorted(set(frames)) and len(frames) == len(keys):
            v.problems.append(f"{kp}: key frames must be increasing and unique")
    layers = v.field(c, "layers", p, v.list_)
    for i, lay in enumerate(layers or []):
        lp = f"{p}.layers[{i}]"
        if not v.obj(lay, lp):
            continue
        v.field(lay, "name", lp, v.str_)
        mode = v.field(lay, "mode", lp, v.str_)
        if mode is not None and mode not in ("additive", "override"):
            v.bad(f"{lp}.mode", "'additive' or 'override'", mode)
        w = v.field(lay, "weight", lp, v.num)
        if w is not None and not 0.0 <= w <= 1.0:
            v.problems.append(f"{lp}.weight: must be within 0..1, got {w}")
        v.field(lay, "muted", lp, v.bool_)
        curves = v.field(lay, "curves", lp, v.obj)
        for name, keys in (curves or {}).items():
            kp = f"{lp}.curves.{name}"
            if isinstance(keys, dict):  # long key lists live in the curve arrays .npz
                ref = v.field(keys, "npz", kp, v.str_)
                if ref is not None and not ref.startswith("keys_"):
                    v.bad(f"{kp}.npz", "a key array name 'keys_...'", ref)
                v.field(keys, "count", kp, lambda x, q: v.int_(x, q, 0))
                continue
            if not v.list_(keys, kp):
                continue
            frames = []
            for j, k in enumerate(keys):
                _check_key(v, k, f"{kp}[{j}]")
                if isinstance(k, list) and k and isinstance(k[0], int):
                    frames.append(k[0])
            if frames != sorted(set(frames)) and len(frames) == len(keys):
                v.problems.append(f"{kp}: key frames must be increasing and unique")


def validate(doc: Any) -> list[str]:
    """Every problem found in a project.json document (empty list: valid)."""
    v = _V()
    if not isinstance(doc, dict):
        return [f"the document: expected an object, got {_tname(doc)}"]
    v.field(doc, "schema", "", lambda x, q: v.int_(x, q, 1))
    app = doc.get("app", APP)  # optional (early documents lack it); another program's JSON is not a project
    if app != APP:
        v.problems.append(f"app: this document was written by {app!r}, not {APP}: it is not a Facsimile project")
    v.field(doc, "name", "", v.str_)
    v.field(doc, "saved_at", "", v.num)
    v.field(doc, "library_path", "", v.opt_str, optional=True)
    v.field(doc, "settings", "", v.obj, optional=True)
    plate_ids: set[str] = set()
    plates = v.field(doc, "plates", "", v.list_)
    for i, pl in enumerate(plates or []):
        p = f"plates[{i}]"
        if not v.obj(pl, p):
            continue
        pid = v.field(pl, "id", p, v.str_)
        if pid is not None:
            if pid in plate_ids:
                v.problems.append(f"{p}.id: duplicate plate id {pid!r}")
            plate_ids.add(pid)
        v.field(pl, "path", p, v.str_)
        v.field(pl, "fps", p, v.fps)
        v.field(pl, "frame_count", p, lambda x, q: v.int_(x, q, 0))
        v.field(pl, "width", p, lambda x, q: v.int_(x, q, 0))
        v.field(pl, "height", p, lambda x, q: v.int_(x, q, 0))
        v.field(pl, "timecode", p, v.opt_str)
        v.field(pl, "vfr", p, v.bool_)
        v.field(pl, "hash", p, v.str_)
        v.field(pl, "relative_path", p, v.opt_str, optional=True)
        v.field(pl, "pixel_aspect", p, lambda x, q: v.num_in(x, q, 0.1, 10.0), optional=True)
        v.field(pl, "colorspace", p, v.opt_str, optional=True)
    shot_ids: set[str] = set()
    shots = v.field(doc, "shots", "", v.list_)
    for i, sh in enumerate(shots or []):
        p = f"shots[{i}]"
        if not v.obj(sh, p):
            continue
        sid = v.field(sh, "id", p, v.str_)
        if sid is not None:
            if sid in shot_ids:
                v.problems.append(f"{p}.id: duplicate shot id {sid!r}")
            shot_ids.add(sid)
        v.field(sh, "name", p, v.str_)
        pid = v.field(sh, "plate_id", p, v.str_)
        if pid is not None and plates is not None and pid not in plate_ids:
            v.problems.append(f"{p}.plate_id: no plate with id {pid!r}")
        fi = v.field(sh, "frame_in", p, lambda x, q: v.int_(x, q, 0))
        fo = v.field(sh, "frame_out", p, v.int_)
        if fi is not None and fo is not None and fo < fi:
            v.problems.append(f"{p}.frame_out: {fo} is before frame_in {fi}")
        v.field(sh, "handles", p, lambda x, q: v.int_(x, q, 0))
        v.field(sh, "timecode", p, v.opt_str, optional=True)
        v.field(sh, "identity", p, v.opt_str)
        v.field(sh, "render_settings", p, v.obj)
        v.field(sh, "analysis", p, v.opt_str)
        curves = v.field(sh, "curves", p, v.list_)
        for j, c in enumerate(curves or []):
            _check_curveset(v, c, f"{p}.curves[{j}]")
    return v.problems
