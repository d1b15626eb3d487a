"""Topology of the 478-point face mesh (MediaPipe Face Mesh with refined irises).

Shared by the AU engine (regions a basis moves), the renderer (triangles for the
piecewise-affine warp, region masks) and the studio (overlays). Left/right are the
SUBJECT's, as in FACS: the subject's left eye is on the image's right in an unmirrored
picture (landmark 263 is the subject's left outer eye corner, 33 the right one).
"""

from __future__ import annotations

import itertools
from collections import Counter
from functools import cache

import numpy as np

N_POINTS = 478
N_MESH = 468  # points 468..477 are the iris rings (refine_landmarks=True)

RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473


def _indices(connections: frozenset) -> np.ndarray:
    return np.array(sorted({i for edge in connections for i in edge}), dtype=np.int64)


@cache
def triangles() -> np.ndarray:
    """(852, 3) int64 triangles of the 468-point surface (eye and mouth openings are holes).

    Derived from MediaPipe's tessellation edge list: every 3-clique of edges is a candidate
    triangle; the two cliques that bridge a hole use only edges already shared by two real
    triangles, so they are dropped. Euler's formula for a disc with three holes checks it.
    """
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    use = Counter(e for t in tris for e in itertools.combinations(t, 2))
    real = [t for t in tris if not all(use[e] > 2 for e in itertools.combinations(t, 2))]
    out = np.array(sorted(real), dtype=np.int64)
    # chi = V - E + F = 2 - boundaries (outer rim, two eyes, mouth) = -2
    assert len(adj) - len(edges) + len(out) == -2, "unexpected face mesh topology"
    return out


@cache
def regions() -> dict[str, np.ndarray]:
    """Named landmark index sets: face_oval, lips, left/right eye, brow, iris, nose, and
    mouth_inner (the inner lip contour, the outline of the mouth opening)."""
    from mediapipe.python.solutions import face_mesh_connections as c

    out = {
        "face_oval": _indices(c.FACEMESH_FACE_OVAL),
        "lips": _indices(c.FACEMESH_LIPS),
        "left_eye": _indices(c.FACEMESH_LEFT_EYE),
        "right_eye": _indices(c.FACEMESH_RIGHT_EYE),
        "left_brow": _indices(c.FACEMESH_LEFT_EYEBROW),
        "right_brow": _indices(c.FACEMESH_RIGHT_EYEBROW),
        "left_iris": _indices(c.FACEMESH_LEFT_IRIS),
        "right_iris": _indices(c.FACEMESH_RIGHT_IRIS),
        "nose": _indices(c.FACEMESH_NOSE),
    }
    out["mouth_inner"] = np.array(MOUTH_INNER_LOOP, dtype=np.int64)
    return out


def _ordered_loop(connections: frozenset) -> list[int]:
    """The closed polygon of an edge set that forms one loop, in walking order."""
    adj: dict[int, list[int]] = {}
    for a, b in connections:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    start = min(adj)
    loop, prev, cur = [start], None, start
    while True:
        nxt = [n for n in adj[cur] if n != prev]
        if not nxt or nxt[0] == start:
            break
        prev, cur = cur, nxt[0]
        loop.append(cur)
    return loop


@cache
def face_oval_loop() -> np.ndarray:
    """Face outline landmark indices in polygon order (for hull masks)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL

    return np.array(_ordered_loop(FACEMESH_FACE_OVAL), dtype=np.int64)


@cache
def eye_loop(side: str) -> np.ndarray:
    """The eye opening outline ('left' or 'right', subject's side) in polygon order."""
    from mediapipe.python.solutions import face_mesh_connections as c

    conn = c.FACEMESH_LEFT_EYE if side == "left" else c.FACEMESH_RIGHT_EYE
    return np.array(_ordered_loop(conn), dtype=np.int64)


# Inner lip contour (the mouth opening), in polygon order: upper inner lip from the right
# mouth corner (78) to the left (308), then the lower inner lip back.
MOUTH_INNER_LOOP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
