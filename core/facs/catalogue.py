"""The AU catalogue (resources/facs/catalogue.json) and the curve names built from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from core.errors import FacsimileError

AU_IDS = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45]
POSE_GAZE = ["pose_Rx", "pose_Ry", "pose_Rz", "gaze_x", "gaze_y"]


@dataclass(frozen=True)
class AUInfo:
    """One Action Unit: FACS number and name, an artist-friendly name, what it does, where."""

    id: int
    name: str
    friendly: str
    description: str
    regions: tuple[str, ...]
    sided: bool
    muscle: str = ""

    @property
    def code(self) -> str:
        return f"AU{self.id:02d}"


@cache
def _catalogue() -> tuple[AUInfo, ...]:
    from core.paths import resources_dir

    path = resources_dir() / "facs" / "catalogue.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FacsimileError(f"AU catalogue {path} is missing or damaged: {exc}; reinstall Facsimile") from exc
    out = tuple(AUInfo(id=int(a["id"]), name=a["name"], friendly=a["friendly"], description=a["description"],
                       regions=tuple(a["regions"]), sided=bool(a["sided"]), muscle=a.get("muscle", ""))
                for a in data["aus"])
    if [a.id for a in out] != AU_IDS:
        raise FacsimileError(f"AU catalogue {path} does not list the AUs {AU_IDS}")
    return out


def catalogue() -> list[AUInfo]:
    """Every AU the engine extracts and synthesises, in AU_IDS order."""
    return list(_catalogue())


@cache
def au_curve_names() -> tuple[str, ...]:
    """AU curves only: 'AU01', 'AU01L', 'AU01R', ... (side curves only for AUs that can be one-sided)."""
    names: list[str] = []
    for a in _catalogue():
        names.append(a.code)
        if a.sided:
            names += [a.code + "L", a.code + "R"]
    return tuple(names)


def curve_names() -> list[str]:
    """All extracted curves: the AU curves then pose_Rx/Ry/Rz (radians) and gaze_x/y (radians)."""
    return list(au_curve_names()) + POSE_GAZE
