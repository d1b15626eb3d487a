"""Derive the canonical neutral mesh and the AU displacement bases (resources/facs/canonical.npz).

Run from the repository root:  .venv/bin/python resources/facs/derive_bases.py [--media DIR]

1. Canonical neutral mesh: MediaPipe Face Mesh (478 points, refined irises) on real faces with
   a neutral expression: the public-domain NASA portrait in scikit-image (astronaut) and the
   neutral portraits among the shared test stills (NEUTRAL_STILLS below, when --media holds
   them). The meshes are put in a common frame by generalised Procrustes (similarity
   transforms, all mesh points), averaged, and symmetrised (the mean and its mirror image,
   matched point to point by the left/right landmark correspondence found here, are
   averaged). The frame: origin midway between the two eye-opening centres, +x toward the
   subject's left (image right), +y down, +z away from the camera, unit = inter-ocular
   distance (IOD) between the eye-opening centres.
   With it, the identity spread (identity_var): per landmark and axis, the mean squared
   distance of the source faces (and their mirror images) from the canonical neutral after
   the solver's own alignment on the stable points, smoothed over each point's mesh
   neighbours. A still has no neutral of its own person, so the solver weights its residual
   by 1 / (landmark noise^2 + identity_var): what people's neutral faces differ in most (mouth
   height, lip fullness) counts least (see core.facs.model).
2. Bases: basis_spec.json (authored from FACS descriptions) is turned into one smooth
   displacement field per AU side, per unit intensity (the spec gives intensity 5), by
   geodesic interpolation on the mesh surface (see the spec's doc). The rigid/similarity part
   of each field on the stable points is removed, so what the solver sees after its own
   alignment is exactly the basis: extraction is the inverse of synthesis.

The solver fits these geometric bases to real landmarks directly. (An earlier version fitted
MediaPipe's measured response to warped renders of each basis instead; real footage then read
several times too high, because the detector under-reports warped renders, not real faces.
`--response` still prints that response as a diagnostic.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from core.facs.geometry import STABLE_POINTS, STABLE_WEIGHTS, similarity  # noqa: E402

NEUTRAL_STILLS = ["s0.jpg", "s3.jpg", "s4.jpg", "s5.jpg", "s11.jpg", "s12.jpg"]
MIDLINE = [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 164, 0, 13, 14, 17, 18, 200, 199, 175, 152]


def face_landmarks(images: list[np.ndarray]) -> list[np.ndarray]:
    """MediaPipe 478-point meshes in pixels (x*W, y*H, z*W) of the first face in each image."""
    import mediapipe as mp

    out = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                         max_num_faces=1) as fm:
        for img in images:
            h, w = img.shape[:2]
            res = fm.process(np.ascontiguousarray(img))
            if not res.multi_face_landmarks:
                raise SystemExit("no face found in a neutral source image")
            out.append(np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark]))
    return out


def eye_centres(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from core.facs.mesh import eye_loop

    return x[eye_loop("right")].mean(0), x[eye_loop("left")].mean(0)


def to_frame(x: np.ndarray) -> np.ndarray:
    """Put a mesh in the canonical frame: eyes on the x axis, midpoint at 0, IOD 1, midline at x=0."""
    r, left = eye_centres(x)
    ex = (left - r) / np.linalg.norm(left - r)
    mid = x[MIDLINE] - x[MIDLINE].mean(0)
    # up-down axis: the midline's main direction, made orthogonal to the eye axis
    ey = np.linalg.svd(mid, full_matrices=False)[2][0]
    ey -= ex * (ey @ ex)
    ey /= np.linalg.norm(ey)
    if ey @ (x[152] - x[10]) < 0:
        ey = -ey
    ez = np.cross(ex, ey)
    rot = np.stack([ex, ey, ez])
    y = (x - (r + left) / 2) @ rot.T / np.linalg.norm(left - r)
    return y


def mirror_map(x: np.ndarray) -> np.ndarray:
    """perm[i] = the landmark at the mirror position of i (an involution), from the mesh itself."""
    from scipy.optimize import linear_sum_assignment

    m = x * np.array([-1.0, 1.0, 1.0])
    perm = np.arange(len(x))
    for lo, hi in ((0, 468), (468, 478)):
        d = np.linalg.norm(x[lo:hi, None, :2] - m[None, lo:hi, :2], axis=2)
        _, col = linear_sum_assignment(d)
        # row i of x is matched to mirrored point col[i]: mirror of i is col[i]
        perm[lo:hi] = col + lo
    bad = np.nonzero(perm[perm] != np.arange(len(x)))[0]
    if len(bad):
        raise SystemExit(f"mirror map is not an involution at {bad[:10]}")
    return perm


def canonical_neutral(meshes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    xs = [to_frame(m) for m in meshes]
    mean = np.mean(xs, axis=0)
    w = np.ones(478)
    w[468:] = 0
    for _ in range(5):  # generalised Procrustes
        aligned = []
        for x in xs:
            s, r, t = similarity(x, mean, w)
            aligned.append(s * x @ r.T + t)
        mean = to_frame(np.mean(aligned, axis=0))
    perm = mirror_map(mean)
    mirrored = mean[perm] * np.array([-1.0, 1.0, 1.0])
    sym = to_frame((mean + mirrored) / 2)
    return sym, perm


def identity_spread(meshes: list[np.ndarray], neutral: np.ndarray, perm: np.ndarray, graph) -> np.ndarray:
    """(478, 3) mean squared offset of the neutral source faces from the canonical neutral, as the
    solver sees it (similarity on the stable points), mirror images included, smoothed twice
    over the one-ring of the mesh so a handful of faces gives a field, not speckle."""
    sw = np.zeros(478)
    sw[STABLE_POINTS] = STABLE_WEIGHTS
    offsets = []
    for x in meshes:
        s, r, t = similarity(x, neutral, sw)
        a = s * x @ r.T + t
        offsets += [a - neutral, a[perm] * np.array([-1.0, 1.0, 1.0]) - neutral]
    var = np.mean(np.square(offsets), axis=0)
    adj = (graph > 0).astype(np.float64)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    for _ in range(2):
        var = (var + adj @ var) / (1.0 + deg)[:, None]
    var[468:] = 0.0  # irises carry no weight in the solve
    return var


def mesh_graph(x: np.ndarray):
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    e = np.array(sorted({tuple(sorted(e)) for e in FACEMESH_TESSELATION}))
    d = np.linalg.norm(x[e[:, 0]] - x[e[:, 1]], axis=1)
    g = coo_matrix((np.r_[d, d], (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(478, 478))
    return g.tocsr()


def author_field(x: np.ndarray, geo: np.ndarray, perm: np.ndarray, spec: dict, defaults: dict,
                 mirror_side: bool, symmetric: bool) -> np.ndarray:
    """One displacement field (478, 3) at intensity 5 from a basis spec (authored for the right side)."""
    sigma = spec.get("sigma", defaults["sigma"])
    h = spec.get("h", defaults["h"])
    anchors: dict[int, list[np.ndarray]] = {}

    def add(i: int, d: np.ndarray) -> None:
        anchors.setdefault(int(i), []).append(d)

    for mv in spec["movers"]:
        pts = mv["points"]
        if "move" in mv:
            out, up, fwd = mv["move"]
            d = np.array([-out, -up, -fwd], float)  # right side: outward = -x; up = -y; forward = -z
            for p in pts:
                add(p, d)
        else:
            for p, q in zip(pts, mv["toward"], strict=True):
                add(p, mv["fraction"] * (x[q] - x[p]))
    for p in spec.get("fixed", []):
        add(p, np.zeros(3))
    if symmetric:
        for p, ds in [(p, list(ds)) for p, ds in anchors.items()]:
            for d in ds:
                add(perm[p], d * np.array([-1.0, 1.0, 1.0]))
    idx = np.array(sorted(anchors))
    disp = np.array([np.mean(anchors[i], axis=0) for i in idx])
    g = geo[idx][:, :468]  # (A, 468) geodesic distances anchor -> point
    gmin = g.min(0)
    k = np.exp(-(g ** 2 - gmin ** 2) / (2 * h * h))
    field = np.zeros((478, 3))
    field[:468] = (k.T @ disp) / k.sum(0)[:, None] * np.exp(-(gmin ** 2) / (2 * sigma * sigma))[:, None]
    field[idx] = disp  # anchors exactly as authored
    if mirror_side:
        field = field[perm] * np.array([-1.0, 1.0, 1.0])
    return field


def remove_rigid(neutral: np.ndarray, field: np.ndarray) -> np.ndarray:
    """The field as the solver sees it after aligning the deformed mesh back onto the neutral."""
    w = np.zeros(478)
    w[STABLE_POINTS] = STABLE_WEIGHTS
    deformed = neutral + field
    s, r, t = similarity(deformed, neutral, w)
    return s * deformed @ r.T + t - neutral


def face_crop(img: np.ndarray, lm: np.ndarray, size: int = 512) -> np.ndarray:
    """The face scaled to fill a size x size image (IOD ~ size/4), so landmark noise is small."""
    import cv2

    x0, y0 = lm[:, :2].min(0)
    x1, y1 = lm[:, :2].max(0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.8 * max(x1 - x0, y1 - y0)
    k = size / (2 * half)
    m = np.array([[k, 0, -(cx - half) * k], [0, k, -(cy - half) * k]])
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def render_au(img: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp of the face (eye and mouth openings filled) with a dark mouth interior."""
    import cv2

    from core.facs.mesh import MOUTH_INNER_LOOP
    from core.render.warp import fill_mesh_pair, warp_image

    sp, dp, tris = fill_mesh_pair(src, dst)  # the eyeballs stay with the eye corners, as the renderer's
    out, mask = warp_image(img, sp, dp, tris)
    comp = np.where(mask[..., None] > 0, out, img).astype(np.uint8)
    cv2.fillPoly(comp, [np.round(dst[MOUTH_INNER_LOOP, :2]).astype(np.int32)], (40, 20, 20), lineType=cv2.LINE_AA)
    return comp


def detector_response(images: list[np.ndarray], level: float = 4.0) -> np.ndarray:
    """How MediaPipe sees each basis: the mean landmark displacement (478, 3) per unit intensity
    that the detector reports when the basis is rendered into real neutral faces.

    The landmark network regresses toward an average face, so it reports only part of a real
    deformation and spreads a little of it onto neighbouring features; the solver fits these
    observed responses, so what synthesis renders is what extraction reads back."""
    import core.facs.model as fm

    fm.model.cache_clear()
    m = fm.model()
    resp = []
    for img in images:
        img = face_crop(img, face_landmarks([img])[0])
        lm0 = face_landmarks([img])[0]
        neutral, _ = fm.align(face_landmarks([render_au(img, lm0, lm0)])[0], m.neutral)
        r = []
        for name in m.basis_names:
            im = render_au(img, lm0, fm.synthesize(lm0, {name: level}))
            r.append((fm.align(face_landmarks([im])[0], neutral)[0] - neutral) / level)
        resp.append(r)
    return np.mean(resp, axis=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media",
                    help="shared test media folder with the neutral stills (optional)")
    ap.add_argument("--out", type=Path, default=HERE / "canonical.npz")
    ap.add_argument("--response", action="store_true",
                    help="also measure and print MediaPipe's response to each basis rendered by an image warp")
    args = ap.parse_args(argv)
    import cv2
    import skimage.data

    images, sources = [skimage.data.astronaut()], ["skimage.data.astronaut"]
    for name in NEUTRAL_STILLS:
        p = args.media / "stills" / name
        if p.exists():
            images.append(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))
            sources.append(f"shared/media/stills/{name}")
        else:
            print(f"note: {p} not found; canonical mesh made without it")
    meshes = face_landmarks(images)
    neutral, perm = canonical_neutral(meshes)
    graph = mesh_graph(neutral)
    geo = dijkstra(graph, directed=False)
    identity_var = identity_spread(meshes, neutral, perm, graph)
    spec = json.loads((HERE / "basis_spec.json").read_text())
    names, fields = [], []
    for au, bs in spec["bases"].items():
        if bs["sided"]:
            for side, mirror in (("L", True), ("R", False)):
                f = author_field(neutral, geo, perm, bs, spec["defaults"], mirror, False)
                names.append(au + side)
                fields.append(remove_rigid(neutral, f) / 5.0)
        else:
            f = author_field(neutral, geo, perm, bs, spec["defaults"], False, True)
            names.append(au)
            fields.append(remove_rigid(neutral, f) / 5.0)
    bases = np.array(fields)
    arrays = dict(neutral=neutral.astype(np.float64), bases=bases.astype(np.float64),
                  basis_names=np.array(names), mirror=perm.astype(np.int64), sources=np.array(sources),
                  identity_var=identity_var.astype(np.float64),
                  parting_pairs=np.array(spec["parting"]["pairs"], np.int64),
                  parting_scale=np.array(spec["parting"]["scale"], np.float64))
    np.savez_compressed(args.out, **arrays)
    if args.response:
        # Diagnostic only (not saved, not used by the solver): how much of each basis MediaPipe
        # reports when the basis is rendered into a still by an image warp. Warped renders read
        # low (a stretched open eye is no closed lid), real faces do not: see docs/architecture.md.
        response = detector_response(images)
        for k, n in enumerate(names):
            g = (response[k] * bases[k]).sum() / (bases[k] ** 2).sum()
            print(f"  {n:6s} detector gain on warped renders (projection on its own basis) {g:.2f}")
    mags = np.abs(bases).max(axis=(1, 2)) * 5
    print(f"wrote {args.out}: {len(names)} bases from {len(sources)} neutral faces; identity spread (RMS, IOD) "
          f"x {np.sqrt(identity_var[:468, 0].mean()):.3f} y {np.sqrt(identity_var[:468, 1].mean()):.3f} "
          f"z {np.sqrt(identity_var[:468, 2].mean()):.3f}")
    for n, m in zip(names, mags, strict=True):
        print(f"  {n:6s} max displacement at 5: {m:.3f} IOD")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
