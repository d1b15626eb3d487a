"""One identity template: a folder the library keeps per person.

Layout (DESIGN.md section 9):
    <library>/<id>/template.json     name, id, created, sources (with sha256), consent, quality
    <library>/<id>/neutral_mesh.npy  (478, 3) float32, in texture pixels (z in the same units)
    <library>/<id>/texture.png       RGBA uint8 face texture (alpha = feathered face hull)
    <library>/<id>/embedding.npy     (D,) float32 identity embedding (dlib 128-D), computed once

The texture is the source picture cropped and similarity-aligned (eyes level, fixed eye
distance); it is not frontalised beyond that, which is why sources must be near frontal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import FacsimileError, ProjectError
from core.identity.consent import Consent

SCHEMA_VERSION = 1
FILES = ("template.json", "neutral_mesh.npy", "texture.png", "embedding.npy")


class Template:
    """A template folder, loaded lazily; arrays are read on first use."""

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.meta = meta if meta is not None else self._read_meta()
        self._mesh: np.ndarray | None = None
        self._texture: np.ndarray | None = None
        self._embedding: np.ndarray | None = None

    def _read_meta(self) -> dict[str, Any]:
        p = self.path / "template.json"
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ProjectError(f"{self.path} is not an identity template (no template.json)") from exc
        except (OSError, ValueError) as exc:
            raise ProjectError(f"identity template {self.path} is damaged: cannot read template.json ({exc})") from exc
        if not isinstance(meta, dict) or "id" not in meta or "name" not in meta:
            raise ProjectError(f"identity template {self.path} is damaged: template.json lacks id/name")
        schema = meta.get("schema", 1)
        if isinstance(schema, bool) or not isinstance(schema, int):
            raise ProjectError(f"identity template {self.path} is damaged: template.json's schema is {schema!r}, "
                               "not a whole number")
        if schema > SCHEMA_VERSION:
            raise ProjectError(f"identity template {self.path} was written by a newer Facsimile "
                               f"(schema {meta.get('schema')}); update Facsimile to use it")
        missing = [f for f in FILES if not (self.path / f).is_file()]
        if missing:
            raise ProjectError(f"identity template {self.path} is incomplete: missing {', '.join(missing)}")
        return meta

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def created(self) -> str:
        return str(self.meta.get("created", ""))

    @property
    def consent(self) -> Consent | None:
        """The consent record; ProjectError naming the template (and the fix) when it is damaged
        (the template itself still opens, so its consent can be recorded again)."""
        raw = self.meta.get("consent")
        try:
            if raw is not None and not isinstance(raw, dict):
                raise TypeError(f"a {type(raw).__name__}, not a record")
            c = Consent.from_dict(raw)
            if c is not None and c.until is not None:
                import datetime as _dt

                _dt.date.fromisoformat(str(c.until))
        except (TypeError, ValueError, FacsimileError) as exc:
            raise ProjectError(f"identity template '{self.name}' ({self.id}): its consent record is damaged ({exc}); "
                               f"record it again: facsimile library consent {self.id} --by WHO --use TEXT") from exc
        return c

    @property
    def neutral_mesh(self) -> np.ndarray:
        """(478, 3) float32 landmarks of the neutral face in texture pixels."""
        if self._mesh is None:
            try:
                m = np.load(self.path / "neutral_mesh.npy", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ProjectError(f"identity template {self.id}: neutral_mesh.npy is damaged ({exc})") from exc
            if m.shape != (478, 3):
                raise ProjectError(f"identity template {self.id}: neutral_mesh.npy has shape {m.shape}, not (478, 3)")
            self._mesh = m.astype(np.float32)
        return self._mesh

    @property
    def texture(self) -> np.ndarray:
        """RGBA uint8 texture (H, W, 4)."""
        if self._texture is None:
            img = cv2.imread(str(self.path / "texture.png"), cv2.IMREAD_UNCHANGED)
            if img is None or img.ndim != 3 or img.shape[2] != 4:
                raise ProjectError(f"identity template {self.id}: texture.png is missing, damaged or has no alpha")
            self._texture = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
        return self._texture

    @property
    def embedding(self) -> np.ndarray:
        """The cached identity embedding (float32)."""
        if self._embedding is None:
            try:
                self._embedding = np.load(self.path / "embedding.npy", allow_pickle=False).astype(np.float32)
            except (OSError, ValueError) as exc:
                raise ProjectError(f"identity template {self.id}: embedding.npy is damaged ({exc})") from exc
        return self._embedding

    def summary(self) -> dict[str, Any]:
        """A short JSON-able description (what `library list --json` prints)."""
        try:
            c = self.consent
            status = "none" if c is None else "expired" if c.expired() else "valid"
        except ProjectError:  # listed as damaged; a render names the problem and the fix
            c, status = None, "damaged"
        return {"id": self.id, "name": self.name, "created": self.created, "path": str(self.path),
                "sources": len(self.meta.get("sources", [])), "consent_status": status,
                "consent": c.to_dict() if c else None,
                "texture_size": self.meta.get("texture", {}).get("size")}

    def __repr__(self) -> str:
        return f"Template(id={self.id!r}, name={self.name!r})"
