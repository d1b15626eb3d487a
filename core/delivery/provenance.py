"""Synthetic-media provenance: the tags every deliverable carries, and `verify`.

Every render is tagged in its container (MOV metadata keys, EXR header attributes) as
synthetic media with its render id; the pixels carry the same id in an invisible watermark
(core.delivery.watermark); a JSON sidecar beside the file records how it was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core import __version__
from core.curves.curveset import frame_ranges
from core.delivery import watermark
from core.delivery.sidecar import read_sidecar, sidecar_path
from core.errors import MediaError

TAG_SYNTHETIC = "facsimile/synthetic"
TAG_RENDER_ID = "facsimile/renderId"
TAG_SOFTWARE = "facsimile/software"


def provenance_tags(render_id: str) -> dict[str, str]:
    """String attributes for a deliverable (EXR header / MOV metadata)."""
    return {
        TAG_SYNTHETIC: "true",
        TAG_RENDER_ID: render_id,
        TAG_SOFTWARE: f"facsimile {__version__}",
        "comment": f"Synthetic media: face re-rendered by Facsimile {__version__} (render {render_id})",
    }


def source_provenance(path: str | Path, reader: Any) -> dict[str, str]:
    """The synthetic-media tags the file `path`, open as `reader`, carries (TAG_* and the comment:
    a movie's container metadata, or an EXR's header), so a conversion of a render keeps them;
    {} for a plate that is no render."""
    from core.media.reader import names_image_sequence

    path = Path(path)
    tags = {str(k): str(v) for k, v in (reader.info.metadata or {}).items()}
    if path.suffix.lower() == ".exr":
        first = Path(reader.file_of(0)) if names_image_sequence(path) else path
        try:
            tags.update({k: _text(v) for k, v in _exr_header(first).items()})
        except (OSError, RuntimeError):
            pass  # the reader has said what is wrong with the file already
    if tags.get(TAG_SYNTHETIC) != "true":
        return {}
    # the marking only: the file's other keys (its source, a VFR movie's nominal rate) are its own
    return {k: tags[k] for k in (TAG_SYNTHETIC, TAG_RENDER_ID, TAG_SOFTWARE, "comment") if k in tags}


def carry_sidecar(source: str | Path, output: str | Path, how: str) -> Path | None:
    """Write beside `output` the sidecar of the render `source` (a conversion of it: the same
    render, another file), with `output` and a `converted` record of `how`; None when the source
    has no sidecar."""
    from core.delivery.sidecar import write_sidecar

    doc = read_sidecar(source)
    if doc is None:
        return None
    doc = {**doc, "output": str(output), "converted": {"from": str(source), "by": f"facsimile {__version__} convert",
                                                       "how": how}}
    return write_sidecar(output, doc)


def _opaque_mask(img: np.ndarray) -> np.ndarray | None:
    """Where an RGBA picture is opaque (alpha >= 0.99), or None when it is opaque everywhere."""
    if img.ndim != 3 or img.shape[2] != 4:
        return None
    a = img[..., 3].astype(np.float32)
    if img.dtype.kind in "ui":
        a /= np.iinfo(img.dtype).max
    opaque = a >= 0.99
    return None if opaque.all() else opaque


def _sample_frames(path: Path) -> tuple[dict[str, str], list[tuple[np.ndarray, np.ndarray | None]],
                                        dict[str, list[int]] | None]:
    """Container tags, a few decoded frames (first, middle, last) of a movie or sequence, each as
    (8-bit RGB, opaque mask or None), and for an EXR sequence pattern each frame file's render id
    -> the frame numbers that carry it (headers only, cheap: a sequence whose frames came from two
    renders, a shorter render over a longer one, is no one render's output, which the sampled
    frames did not show)."""
    from core.media.reader import names_image_sequence, open_media, to_rgb8

    tags: dict[str, str] = {}
    ids: dict[str, list[int]] | None = None
    with open_media(path) as reader:
        info = reader.info
        tags.update({str(k): str(v) for k, v in (info.metadata or {}).items()})
        n = info.frame_count
        picks = sorted({0, n // 2, max(0, n - 1)})
        frames = []
        for i in picks:
            img = reader.read(i)
            frames.append((to_rgb8(img), _opaque_mask(img)))
        if path.suffix.lower() == ".exr":  # a file, or a pattern of EXR files: their headers
            pattern = names_image_sequence(path)
            files = [(reader.frame_number(i), Path(reader.file_of(i))) for i in range(n)] if pattern else [(0, path)]
            headers = [(number, _exr_header(f)) for number, f in files]
            tags.update({k: _text(v) for k, v in headers[0][1].items() if k.startswith("facsimile") or k == "comment"})
            if pattern:
                ids = {}
                for number, header in headers:
                    ids.setdefault(_text(header.get(TAG_RENDER_ID, "")), []).append(number)
    return tags, frames, ids


def _exr_header(file: Path) -> dict:
    import OpenEXR

    with OpenEXR.File(str(file), header_only=True) as f:
        return dict(f.header())


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def verify(path: str | Path) -> dict:
    """What `facsimile verify` reports: the synthetic tag, the watermark, the matching sidecar."""
    path = Path(path)
    from core.media.reader import names_image_sequence

    if not path.exists() and not names_image_sequence(path):
        raise MediaError(f"{path}: no such file")
    tags, frames, ids = _sample_frames(path)
    tag = {k: v for k, v in tags.items() if "facsimile" in k.lower() or k == "comment"}
    render_id = tags.get(TAG_RENDER_ID) or next((v for k, v in tags.items() if k.lower().endswith("renderid")), None)
    marks = [watermark.detect(f, render_id, mask) for f, mask in frames]
    sidecar = read_sidecar(path)
    report = {
        "file": str(path),
        "synthetic_tag": tags.get(TAG_SYNTHETIC) == "true" or any(k.lower().endswith("synthetic") for k in tags),
        "tags": tag,
        "render_id": render_id,
        "watermark": {
            "present": any(m["present"] for m in marks),
            "matches_render_id": any(bool(m["matches"]) for m in marks) if render_id else None,
            "payload": next((m["payload"] for m in marks if m["present"]), None),
            "frames_checked": len(marks),
        },
        "sidecar": {
            "path": str(sidecar_path(path)),
            "found": sidecar is not None,
            "matches_render_id": (sidecar or {}).get("render_id") == render_id if sidecar and render_id else None,
        },
    }
    mixed = False
    if ids is not None:
        others = sorted(n for rid, numbers in ids.items() if rid != render_id for n in numbers)
        mixed = bool(others)
        report["sequence"] = {"frames": sum(len(v) for v in ids.values()), "render_ids": len(ids),
                              "frames_of_other_renders": frame_ranges(others) if others else ""}
    report["verified"] = bool(report["synthetic_tag"] and report["watermark"]["present"] and sidecar is not None
                              and report["sidecar"]["matches_render_id"] and not mixed)
    return report
