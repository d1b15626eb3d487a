"""Render sidecars: a JSON per render (what went in, what settings, which models, the curves
that drove it) and an OpenFace-style CSV of the rendered AU curves, beside the deliverable.

A compositor or a supervisor can answer "what made this file?" from the sidecar alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import platform
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core import __version__
from core.util.atomic import atomic_write_text

_SEQ = re.compile(r"[._]?(#+|@+|%0?\d*d)")


def new_render_id() -> str:
    """A fresh, unique render id (carried by the watermark and the metadata)."""
    return uuid.uuid4().hex


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_sha256(folder: str | Path, skip: tuple[str, ...] = ("backups", "autosave", ".facsimile-jobs")) -> str:
    """SHA-256 over a folder's files (relative names and contents, sorted), skipping `skip` folders."""
    folder = Path(folder)
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder)
        if rel.parts and rel.parts[0] in skip:
            continue
        h.update(rel.as_posix().encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()


def input_entry(path: str | Path) -> dict:
    """{"path", "sha256"} of an input: a file's hash, or a folder's tree hash (None when missing)."""
    p = Path(path)
    digest = file_sha256(p) if p.is_file() else tree_sha256(p) if p.is_dir() else None
    return {"path": str(p), "sha256": digest, "kind": "file" if p.is_file() else "folder" if p.is_dir() else "missing"}


_FRAME = re.compile(r"[._](\d+)\.[A-Za-z0-9]+$")


def sidecar_path(output: str | Path) -> Path:
    """`shot.mov` -> `shot.facsimile.json`; `shot.####.exr` -> `shot.exr.facsimile.json` (a movie
    and a sequence of the same name, as the presets make them, each keep their own); one frame of
    a sequence, `shot.1001.exr`, -> the sequence's sidecar when that exists (a compositor verifies
    the frame in hand, not the pattern), also the `shot.facsimile.json` of renders made before
    sequences had their own when it names that sequence."""
    from core.media.reader import names_image_sequence

    output = Path(output)
    name = output.name
    m = _SEQ.search(name) if names_image_sequence(output) else None
    if m:
        return output.with_name(f"{name[: m.start()]}{output.suffix.lower()}.facsimile.json")
    stem = output.stem
    f = _FRAME.search(name)
    if f and not output.with_name(f"{stem}.facsimile.json").exists():
        head = name[: f.start()]
        seq = output.with_name(f"{head}{output.suffix.lower()}.facsimile.json")
        if seq.exists():
            return seq
        legacy = output.with_name(f"{head}.facsimile.json")
        if legacy.exists() and _names_a_sequence(legacy):
            return legacy
    return output.with_name(f"{stem}.facsimile.json")


def _names_a_sequence(sidecar: Path) -> bool:
    """True when a sidecar records an image-sequence output (a pattern), not a movie."""
    try:
        out = str(json.loads(sidecar.read_text()).get("output", ""))
    except (OSError, ValueError, AttributeError):
        return False
    return bool(_SEQ.search(Path(out).name))


def curves_csv_path(output: str | Path) -> Path:
    p = sidecar_path(output)
    return p.with_name(p.name.replace(".facsimile.json", ".curves.csv"))


def build_sidecar(*, render_id: str, output: str, inputs: Mapping[str, str | Path], frames: tuple[int, int],
                  settings: Mapping, models: list[dict], template: Mapping | None, consent: Mapping | None,
                  curves: Mapping[str, np.ndarray] | None, confidence: np.ndarray | None, fps: str,
                  alpha: str | Mapping, colourspace: str, shot: str | None = None, extra: Mapping | None = None) -> dict:
    """The sidecar document. `curves` maps curve name -> values per rendered frame; `inputs`
    name -> file or folder (hashed: a folder by its tree of files)."""
    doc = {
        "facsimile_sidecar": 1,
        "render_id": render_id,
        "synthetic_media": True,
        "software": {"name": "facsimile", "version": __version__, "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "output": str(output),
        "shot": shot,
        "frames": {"first": int(frames[0]), "last": int(frames[1]), "fps": fps},
        "inputs": {k: input_entry(v) for k, v in inputs.items()},
        "settings": dict(settings),
        "models": models,
        "identity_template": dict(template) if template else None,
        "consent": dict(consent) if consent else None,
        "alpha": dict(alpha) if isinstance(alpha, Mapping) else alpha,
        "colourspace": colourspace,
    }
    if curves is not None:
        doc["curves"] = {k: [None if not np.isfinite(v) else round(float(v), 4) for v in np.asarray(arr)]
                         for k, arr in curves.items()}
    if confidence is not None:
        doc["confidence"] = [round(float(c), 4) for c in np.asarray(confidence)]
    if extra:
        doc.update(extra)
    return doc


def write_sidecar(output: str | Path, doc: Mapping) -> Path:
    """Write the sidecar JSON beside `output`, atomically."""
    path = sidecar_path(output)
    atomic_write_text(path, json.dumps(doc, indent=2, default=str))
    return path


def write_curves_csv(output: str | Path, frames: np.ndarray, fps: float, curves: Mapping[str, np.ndarray],
                     confidence: np.ndarray | None = None, times: np.ndarray | None = None) -> Path:
    """OpenFace-style CSV of the rendered curves: frame, timestamp, confidence, success, AUxx_r...
    times: each frame's seconds from the plate's first frame (a variable-frame-rate plate's own,
    as the analysis CSV and the render's .mov have them); None: frame / fps."""
    path = curves_csv_path(output)
    buf = io.StringIO()
    w = csv.writer(buf)
    names = list(curves)
    from core.curves import openface_column

    cols = [openface_column(n) for n in names]  # OpenFace's names, so import-au and OpenFace readers take it
    w.writerow(["frame", "timestamp", "confidence", "success", *cols])
    for i, f in enumerate(np.asarray(frames)):
        conf = float(confidence[i]) if confidence is not None else 1.0
        vals = [float(curves[n][i]) for n in names]
        ok = int(all(np.isfinite(vals)))
        # 6 decimals: at 29.97 fps a 3-decimal timestamp is off by up to half a millisecond
        t = float(times[i]) if times is not None else int(f) / fps
        w.writerow([int(f) + 1, f"{t:.6f}", f"{conf:.3f}", ok,
                    *[f"{v:.2f}" if n.startswith("AU") else f"{v:.4f}" for n, v in zip(names, vals, strict=True)]])
    atomic_write_text(path, buf.getvalue())
    return path


def read_sidecar(output: str | Path) -> dict | None:
    """The sidecar beside `output`, or None when there is none."""
    path = sidecar_path(output)
    if not path.exists():
        return None
    return json.loads(path.read_text())
