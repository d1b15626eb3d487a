"""Where the shipped data lives (resources/, models/) and where user data goes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shipped_root() -> Path:
    """Where resources/ and models/ were shipped: the checkout, or a frozen bundle's data folder.

    A PyInstaller bundle (installer/build_bundle.py) sets sys.frozen and unpacks its data into
    sys._MEIPASS (the bundle's `_internal/` folder), beside the frozen `core` package.
    """
    if getattr(sys, "frozen", False) and getattr(sys, "_MEIPASS", None):
        return Path(sys._MEIPASS)
    return REPO_ROOT


def resources_dir() -> Path:
    """The shipped resources/ folder (AU catalogue, mesh data, OCIO config, icons)."""
    return Path(os.environ.get("FACSIMILE_RESOURCES", _shipped_root() / "resources"))


def manifests_dir() -> Path:
    """The shipped models/ folder of model manifests (*.toml)."""
    return Path(os.environ.get("FACSIMILE_MANIFESTS", _shipped_root() / "models"))


def user_data_dir() -> Path:
    """Per-user data root: model store, identity library, caches. FACSIMILE_HOME overrides."""
    env = os.environ.get("FACSIMILE_HOME")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facsimile"


def model_store_dir() -> Path:
    """Where `facsimile models install` copies verified model files."""
    return Path(os.environ.get("FACSIMILE_MODELS", user_data_dir() / "models"))


def cache_dir() -> Path:
    """Caches that can be thrown away (TensorRT engines, thumbnails)."""
    env = os.environ.get("FACSIMILE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facsimile"
