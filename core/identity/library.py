"""The identity library: one folder per template (see core.identity.template).

`Library(path)` adds templates from stills or from frames of a plate, lists, finds, renames
and removes them. Adding analyses each source with the analysis package (MediaPipe face
mesh, dlib embedding), refuses sources that fail the quality gates (with every reason),
builds the aligned texture and neutral mesh from the best source, averages the embedding
over all sources, and writes the folder atomically (built beside, then renamed into place).
Removing moves the folder to `<library>/.trash/` so nothing is lost by a slip.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core import __version__
from core.errors import FacsimileError, MediaError, NoFaceError, ProjectError
from core.identity.consent import Consent
from core.identity.quality import QualityError, QualityLimits, QualityReport, assess
from core.identity.template import SCHEMA_VERSION, Template
from core.paths import user_data_dir
from core.util.atomic import atomic_write_bytes, atomic_write_text, describe_os_error
from core.util.report import HANDED_BACK

log = logging.getLogger(__name__)

TEXTURE_SIZE = 1024
EYE_DISTANCE = 0.30  # inter-ocular distance (eye centres) as a fraction of the texture side
EYE_LINE_Y = 0.40  # height of the eye line as a fraction of the texture side
_PLATE_SAMPLES = 12


def default_library_dir() -> Path:
    """`user_data_dir()/library` (FACSIMILE_HOME overrides the root)."""
    return user_data_dir() / "library"


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (s or "face")[:32]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class _Candidate:
    """One analysed face of one source picture."""

    image: np.ndarray  # uint8 RGB
    face: Any  # core.analysis.analyzer.FaceResult
    report: QualityReport
    source: dict[str, Any]


def parse_frame_range(text: str) -> tuple[int, int]:
    """'A-B' (inclusive) or 'A' -> (A, B); FacsimileError for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[-:]\s*(\d+)\s*)?", str(text))
    if not m:
        raise FacsimileError(f"frame range {text!r} is not A-B (e.g. 10-40) or a single frame number")
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) is not None else a
    if b < a:
        raise FacsimileError(f"frame range {text!r} ends before it starts")
    return a, b


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = TEXTURE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align a face into a size x size crop: eyes level, fixed eye distance.

    Returns (crop RGB uint8, landmarks in crop pixels with z scaled alike)."""
    lm = np.asarray(landmarks, np.float64)
    right = lm[[33, 133], :2].mean(axis=0)  # subject's right eye centre (image left)
    left = lm[[263, 362], :2].mean(axis=0)
    d = left - right
    dist = float(np.hypot(*d))
    if dist < 1.0:
        raise NoFaceError("cannot align the face: the eyes coincide (landmarks are broken)")
    s = EYE_DISTANCE * size / dist
    ang = np.arctan2(d[1], d[0])
    c, si = np.cos(-ang) * s, np.sin(-ang) * s
    rot = np.array([[c, -si], [si, c]])
    mid = (left + right) / 2.0
    t = np.array([size / 2.0, EYE_LINE_Y * size]) - rot @ mid
    m = np.hstack([rot, t[:, None]])
    src = image
    if s < 0.7:  # pre-filter before a large downscale to avoid aliasing
        src = cv2.GaussianBlur(image, (0, 0), sigmaX=0.45 / s)
    crop = cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    pts = np.empty_like(lm)
    pts[:, :2] = lm[:, :2] @ rot.T + t
    pts[:, 2] = lm[:, 2] * s
    return crop, pts.astype(np.float32)


class Library:
    """A folder of identity templates."""

    def __init__(self, path: str | Path | None = None, analyzer: Any = None,
                 limits: QualityLimits = QualityLimits()) -> None:
        self.path = Path(path) if path is not None else default_library_dir()
        self._analyzer = analyzer
        self.limits = limits
        self.problems: list[str] = []  # damaged folders seen by the last list()

    # ------------------------------------------------------------------ analysis
    @property
    def analyzer(self) -> Any:
        if self._analyzer is None:
            from core.analysis.analyzer import Analyzer

            self._analyzer = Analyzer()
        return self._analyzer

    def _candidates(self, image: np.ndarray, source: dict[str, Any], face_index: int | None) -> _Candidate:
        faces = self.analyzer.analyze_image(image, embed=True)
        label = source.get("label") or source.get("path") or "image"
        if not faces:
            raise NoFaceError(f"{label}: no face found; use a picture where the face is clearly visible")
        idx = 0 if face_index is None else int(face_index)
        if not 0 <= idx < len(faces):
            raise FacsimileError(f"{label}: face index {idx} does not exist ({len(faces)} face(s) found, "
                                 f"indices 0..{len(faces) - 1}, largest first)")
        face = faces[idx]
        rep = assess(image, face, len(faces), idx, self.limits, index_given=face_index is not None)
        if face.embedding is None:
            rep.reasons.append("no identity embedding could be computed for this face")
        return _Candidate(image=image, face=face, report=rep, source=source)

    def _from_images(self, images: Iterable[str | Path | np.ndarray], face_index: int | None) -> list[_Candidate]:
        from core.analysis.image import load_image

        out = []
        for i, item in enumerate(images):
            if isinstance(item, np.ndarray):
                from core.analysis.image import to_rgb8

                rgb = to_rgb8(item)
                src = {"kind": "array", "label": f"image #{i}", "path": None,
                       "sha256": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()}
            else:
                p = Path(item).expanduser()
                rgb = load_image(p)
                src = {"kind": "image", "label": p.name, "path": str(p.resolve()), "sha256": _sha256_file(p)}
            src["size"] = [int(rgb.shape[1]), int(rgb.shape[0])]
            out.append(self._candidates(rgb, src, face_index))
        return out

    def _from_plate(self, clip: str | Path, frames: tuple[int, int] | None, face_index: int | None,
                    progress: Callable[[int, int], None] | None) -> list[_Candidate]:
        """Candidates from up to 12 frames of `frames` (None: the whole clip). A range reaching past
        the clip is refused (ProjectError), not quietly cut to the frames there are."""
        from core.media.colour import display_colorspace, display_rgb8
        from core.media.reader import open_media

        p = Path(clip).expanduser()
        out = []
        with open_media(p) as reader:
            cs = display_colorspace(reader.info)  # an HDR or log clip is captured as its display picture
            n = len(reader)
            a, b = frames if frames is not None else (0, n - 1)
            if a < 0 or b >= n or a > b:
                raise ProjectError(f"{p.name}: frames {a}-{b} are outside the clip (frames 0-{n - 1}, 0-based)")
            picks = np.unique(np.linspace(a, b, min(_PLATE_SAMPLES, b - a + 1)).round().astype(int))
            digest = _sha256_file(p) if p.is_file() else None
            for k, fi in enumerate(picks):
                rgb = display_rgb8(reader.read(int(fi)), cs) if cs else reader.read_rgb8(int(fi))
                src = {"kind": "plate", "label": f"{p.name} frame {fi}", "path": str(p.resolve()),
                       "sha256": digest, "frame": int(fi), "size": [int(rgb.shape[1]), int(rgb.shape[0])]}
                try:
                    out.append(self._candidates(rgb, src, face_index))
                except NoFaceError as exc:
                    log.info("plate frame %d skipped: %s", fi, exc)
                if progress:
                    progress(k + 1, len(picks))
        if not out:
            raise NoFaceError(f"{p.name}: no face found in frames {a}-{b}")
        return out

    # ------------------------------------------------------------------ API
    def add(self, name: str, images: Sequence[str | Path | np.ndarray] = (), consent: Consent | dict | None = None,
            from_plate: tuple[str | Path, tuple[int, int] | str] | None = None, face_index: int | None = None,
            texture_size: int = TEXTURE_SIZE, progress: Callable[[int, int], None] | None = None) -> Template:
        """Build a template called `name` from still `images` and/or frames of a plate.

        from_plate: (clip, (first, last)) or (clip, 'A-B'): up to 12 frames of that range are
        analysed; the passing ones all count, the best (frontal, sharp, large) gives the
        texture. Stills must all pass the gates (QualityError lists every reason otherwise).
        face_index picks a face when a picture holds several (largest first).
        """
        name = (name or "").strip()
        if not name:
            raise FacsimileError("a template needs a name")
        self._refuse_taken_name(name)
        if not images and from_plate is None:
            raise FacsimileError("give at least one source image or a plate frame range to build a template from")
        if isinstance(consent, dict):
            consent = Consent(**consent)
        cands = self._from_images(images, face_index)
        failed = [c for c in cands if not c.report.passed]
        if failed:
            lines = "; ".join(f"{c.source['label']}: {', '.join(c.report.reasons)}" for c in failed)
            raise QualityError(f"cannot make template '{name}': {lines}")
        if from_plate is not None:
            clip, rng = from_plate
            if rng is not None:
                rng = parse_frame_range(rng) if isinstance(rng, str) else (int(rng[0]), int(rng[1]))
            plate = self._from_plate(clip, rng, face_index, progress)
            rng = rng or (0, max(c.source["frame"] for c in plate))
            good = [c for c in plate if c.report.passed]
            if not good:
                why = sorted({r for c in plate for r in c.report.reasons})
                raise QualityError(f"cannot make template '{name}': no frame of {Path(clip).name} {rng[0]}-{rng[1]} "
                                   f"passes the quality gates ({'; '.join(why)})")
            cands += good
        self._check_one_person(name, cands)
        best = max(cands, key=lambda c: c.report.score())
        return self._write(name, cands, best, consent, texture_size)

    def _refuse_taken_name(self, name: str, keep: str | None = None) -> None:
        """Refuse a name another template has (case-insensitive): two 'Jane Doe's make every
        later `project assign --template "Jane Doe"` fail as ambiguous. `keep`: the id being renamed."""
        taken = [t for t in self.list() if t.name.lower() == name.lower() and t.id != keep]
        if taken:
            t = taken[0]
            raise FacsimileError(f"a template named {t.name!r} already exists ({t.id}): choose another name, or "
                                 f"rename it (`facsimile library rename {t.id} NEW`) or remove it "
                                 f"(`facsimile library remove {t.id}`) first")

    def _check_one_person(self, name: str, cands: list[_Candidate]) -> None:
        """Refuse sources that are not one person: a template's embedding is their mean and its
        texture the best-scoring source, so obama.jpg + biden.jpg made a template with Biden's face
        that 'matched' both men. Each source is measured against the one nearest all the others
        (the medoid) under the embedder's own same-person threshold."""
        embedder = getattr(self.analyzer, "embedder", None)
        thr = getattr(embedder, "threshold", None)
        embs = [c.face.embedding for c in cands]
        if len(cands) < 2 or thr is None or any(e is None for e in embs):
            return
        from core.analysis.defaults import embedding_distance

        metric = getattr(embedder, "metric", "euclidean")
        d = np.array([[embedding_distance(a, b, metric) for b in embs] for a in embs])
        centre = int(np.argmin(d.sum(axis=1)))
        far = [i for i in range(len(cands)) if d[centre, i] >= float(thr)]
        if far:
            shown = ", ".join(f"{cands[i].source['label']} ({d[centre, i]:.2f})" for i in far[:6])
            raise FacsimileError(
                f"cannot make template '{name}': its sources do not show one person. Measured from "
                f"{cands[centre].source['label']}, these are another face (identity distance, same person under "
                f"{float(thr):g}): {shown}{' …' if len(far) > 6 else ''}. Leave them out, pick the face with --face, "
                "or give a plate range of this person only")

    def _write(self, name: str, cands: list[_Candidate], best: _Candidate, consent: Consent | None,
               size: int) -> Template:
        from core.render.masks import face_mask

        tid = f"{_slug(name)}-{uuid.uuid4().hex[:8]}"
        crop, mesh_pts = align_face(best.image, best.face.landmarks, size)
        alpha = face_mask(mesh_pts, (size, size), feather_frac=0.02)
        rgba = np.dstack([crop, np.round(alpha * 255).astype(np.uint8)])
        emb = np.mean(np.stack([np.asarray(c.face.embedding, np.float32) for c in cands]), axis=0).astype(np.float32)
        an = self.analyzer
        embedder = getattr(an, "embedder", None)
        meta = {
            "schema": SCHEMA_VERSION, "id": tid, "name": name, "created": _now(), "updated": _now(),
            "software": f"facsimile {__version__}",
            "sources": [{k: v for k, v in c.source.items() if k != "label"} | {
                "face_index": c.report.face_index, "used_for_texture": c is best} for c in cands],
            "consent": consent.to_dict() if consent else None,
            "quality": {"limits": dataclasses.asdict(self.limits),
                        "sources": [c.report.to_dict() | {"source": c.source.get("label")} for c in cands],
                        "texture_source": best.source.get("label"),
                        "texture_upsampled": bool(EYE_DISTANCE * size > best.report.inter_ocular_px)},
            "texture": {"file": "texture.png", "size": size, "alignment": "similarity: eyes level, eye distance "
                        f"{EYE_DISTANCE} x size, eye line at {EYE_LINE_Y} x size; not frontalised",
                        "colour": "sRGB display-referred, alpha = feathered face hull"},
            "neutral_mesh": {"file": "neutral_mesh.npy", "points": 478, "units": "texture pixels",
                             "landmarker": getattr(getattr(an, "landmarker", None), "name", "unknown"),
                             "note": "the expression of the texture source, assumed neutral"},
            "embedding": {"file": "embedding.npy", "model": getattr(embedder, "name", "unknown"),
                          "dim": int(emb.shape[0]), "metric": getattr(embedder, "metric", "euclidean"),
                          "threshold": float(getattr(embedder, "threshold", 0.6)), "averaged_over": len(cands)},
        }
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".tmp-{tid}"
        final = self.path / tid
        try:
            tmp.mkdir()
            ok, png = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
            if not ok:
                raise MediaError("could not encode the template texture as PNG")
            atomic_write_bytes(tmp / "texture.png", png.tobytes())
            for fname, arr in (("neutral_mesh.npy", mesh_pts), ("embedding.npy", emb)):
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                atomic_write_bytes(tmp / fname, buf.getvalue())
            atomic_write_text(tmp / "template.json", json.dumps(meta, indent=2))
            os.rename(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ProjectError(describe_os_error(exc, tmp)) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("identity template %s (%s) written to %s", name, tid, final)
        return Template(final)

    def list(self) -> list[Template]:
        """All readable templates, by name; unreadable folders are listed in self.problems."""
        self.problems = []
        out = []
        if not self.path.is_dir():
            return out
        for d in sorted(self.path.iterdir()):
            if not d.is_dir() or d.name.startswith("."):
                continue
            try:
                out.append(Template(d))
            except ProjectError as exc:
                self.problems.append(f"{exc} (`facsimile library remove {d.name}` moves it to the trash)")
                log.warning("%s", exc, extra=HANDED_BACK)
        return sorted(out, key=lambda t: (t.name.lower(), t.id))

    def _folder(self, key: str) -> Path | None:
        """The library's own folder that `key` names (a template id is its folder's name), or None
        for a key that is no plain folder name (empty, a path, the hidden trash)."""
        if not key or "/" in key or key.startswith("."):
            return None
        return self.path / key

    def get(self, key: str) -> Template:
        """A template by id, by its exact name (case-insensitive), or by unique id prefix; an exact
        name wins over id prefixes ('plate' is the template named Plate, not every plate-* id)."""
        d = self._folder(key)
        if d is not None and (d / "template.json").is_file():
            return Template(d)
        all_t = self.list()
        hits = [t for t in all_t if t.name.lower() == key.lower()] or [t for t in all_t if t.id.startswith(key)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise ProjectError(f"no identity template {key!r} in {self.path} (see `facsimile library list`)")
        raise ProjectError(f"{key!r} matches {len(hits)} templates ({', '.join(t.id for t in hits)}); use the id")

    def rename(self, key: str, name: str) -> Template:
        """Change a template's display name (its id and folder stay)."""
        name = (name or "").strip()
        if not name:
            raise FacsimileError("the new name is empty")
        t = self.get(key)
        self._refuse_taken_name(name, keep=t.id)
        meta = dict(t.meta, name=name, updated=_now())
        atomic_write_text(t.path / "template.json", json.dumps(meta, indent=2))
        return Template(t.path)

    def set_consent(self, key: str, consent: Consent | None) -> Template:
        """Record (or, with None, withdraw) a template's consent record."""
        t = self.get(key)
        meta = dict(t.meta, consent=consent.to_dict() if consent else None, updated=_now())
        atomic_write_text(t.path / "template.json", json.dumps(meta, indent=2))
        return Template(t.path)

    def remove(self, key: str) -> Path:
        """Move a template to `<library>/.trash/` (returns where it went). A damaged template
        (listed under problems) is removed by its folder name."""
        folder = self._folder(key)
        if folder is not None and folder.is_dir():
            src, tid = folder, key
        else:
            t = self.get(key)
            src, tid = t.path, t.id
        trash = self.path / ".trash"
        trash.mkdir(exist_ok=True)
        dest = trash / f"{tid}-{_dt.datetime.now(_dt.UTC).strftime('%Y%m%dT%H%M%S')}"
        try:
            os.rename(src, dest)
        except OSError as exc:
            raise ProjectError(describe_os_error(exc, src)) from exc
        return dest

    def ids(self) -> list[str]:
        """Template ids (what a project stores to assign an identity to a track)."""
        return [t.id for t in self.list()]
