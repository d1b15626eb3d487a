"""Identity comparison of stills (largest face of each), for `facsimile compare-faces` and the studio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.analysis.defaults import embedding_distance
from core.errors import NoFaceError


def largest_face_embedding(image: np.ndarray, analyzer=None, what: str = "image") -> np.ndarray:
    """Embedding of the largest face; NoFaceError when there is none."""
    from core.analysis.analyzer import Analyzer

    analyzer = analyzer or Analyzer()
    faces = analyzer.analyze_image(image)
    if not faces:
        raise NoFaceError(f"no face found in {what}; use a picture where a face is clearly visible")
    return faces[0].embedding


def compare_images(path_a: Path, path_b: Path, analyzer=None) -> dict:
    """{"distance", "same_person", "threshold"} for the largest face in each image."""
    from core.analysis.analyzer import Analyzer
    from core.analysis.image import load_image

    analyzer = analyzer or Analyzer(max_faces=8)
    ea = largest_face_embedding(load_image(path_a), analyzer, str(path_a))
    eb = largest_face_embedding(load_image(path_b), analyzer, str(path_b))
    d = embedding_distance(ea, eb, analyzer.embedder.metric)
    thr = float(analyzer.embedder.threshold)
    return {"distance": round(d, 4), "same_person": bool(d < thr), "threshold": thr}
