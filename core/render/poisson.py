"""Poisson (gradient-domain) blending solved exactly with a DST-I on the face ROI.

The discrete system is the one `cv2.seamlessClone` sets up (Perez et al. 2003, in its
rectangle form): on the ROI rectangle, the unknown image u satisfies the 5-point
Laplacian equation  Lap(u) = div(G)  at every interior pixel, with u equal to the target
(the plate) on the ROI's one-pixel border (Dirichlet). The guidance field G is built from
forward differences: the source's gradient where the mask is set, the target's elsewhere
('normal'), or per edge and channel whichever of the two is stronger inside the mask
('mixed'; keeps plate texture such as wrinkles or hair showing through).

The Dirichlet Laplacian on a rectangle is diagonalised by the DST-I, so the solve is two
DSTs and a division (scipy.fft.dstn type=1; float32). The ROI is grown so that n+1 of each
interior size has only factors 2, 3, 5, which makes the FFTs several times faster.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from core.errors import FacsimileError
from core.render.backend import is_gpu, to_numpy, xp_for

Roi = tuple[int, int, int, int]
MODES = ("normal", "mixed")


def fast_dst1_len(n: int) -> int:
    """The smallest m >= n such that m + 1 has only the factors 2, 3, 5 (fast DST-I of size m)."""
    return scipy.fft.next_fast_len(n + 1, real=True) - 1


def mask_roi(mask: np.ndarray, margin: int = 2) -> Roi:
    """Bounding box of mask > 0 grown by `margin` (clipped to the image)."""
    m = to_numpy(mask)
    ys, xs = np.nonzero(m > 0)
    if len(xs) == 0:
        raise FacsimileError("Poisson blend: the mask is empty (nothing to blend)")
    h, w = m.shape[:2]
    return (max(0, int(xs.min()) - margin), max(0, int(ys.min()) - margin),
            min(w, int(xs.max()) + 1 + margin), min(h, int(ys.max()) + 1 + margin))


def _grow_axis(lo: int, hi: int, size: int, fast: bool) -> tuple[int, int, int, int]:
    """Grow [lo, hi) (lo < 0 or hi > size mean 'beyond the frame edge') so hi - lo - 2 is a
    fast DST-I size, growing inside [0, size) first.

    Returns (lo, hi, pad_lo, pad_hi) with lo, hi clipped to the frame and the pads (rows or
    columns beyond the frame edge, filled by edge replication)."""
    n = hi - lo
    extra = (fast_dst1_len(max(1, n - 2)) + 2 - n) if fast else 0
    room_lo, room_hi = max(0, lo), max(0, size - hi)
    add_hi = min(extra - extra // 2, room_hi)
    add_lo = min(extra - add_hi, room_lo)
    add_hi = min(extra - add_lo, room_hi)
    left = extra - add_lo - add_hi
    lo -= add_lo + left // 2
    hi += add_hi + (left - left // 2)
    return max(lo, 0), min(hi, size), max(0, -lo), max(0, hi - size)


def fast_roi(roi: Roi, shape: tuple[int, int], fast: bool = True) -> tuple[Roi, tuple[int, int, int, int]]:
    """`roi` grown to fast DST sizes within an image of `shape`; also (top, bottom, left, right)
    padding still needed beyond the image edges (edge-replicated).

    A ROI that reaches the frame edge gets one padded row/column there, so the frame's edge
    pixels are solved rather than pinned to the plate (the Dirichlet border lies outside)."""
    x0, y0, x1, y1 = roi
    h, w = shape[:2]
    x0, x1, pl, pr = _grow_axis(x0 - (x0 <= 0), x1 + (x1 >= w), w, fast)
    y0, y1, pt, pb = _grow_axis(y0 - (y0 <= 0), y1 + (y1 >= h), h, fast)
    return (x0, y0, x1, y1), (pt, pb, pl, pr)


def _fwd_diff(xp, a):
    gx = xp.zeros_like(a)
    gy = xp.zeros_like(a)
    gx[:, :-1] = a[:, 1:] - a[:, :-1]
    gy[:-1, :] = a[1:, :] - a[:-1, :]
    return gx, gy


def guidance_divergence(src, dst, mask, mode: str = "normal", edge_rule: str = "inside"):
    """div(G) (float32, HxWxC) of the guidance field for a source/target pair on the ROI.

    Each forward-difference edge (p, p+1) takes the source's gradient with weight
    min(mask[p], mask[p+1]) ('inside': both ends in the mask, so pixels outside the mask,
    e.g. the black surround of a warped face, never leak in) or mask[p] ('forward':
    cv2.seamlessClone's rule, used to compare with it on the same system)."""
    xp = xp_for(dst)
    if mode not in MODES:
        raise FacsimileError(f"unknown Poisson gradient mode {mode!r}; choose 'normal' or 'mixed'")
    if edge_rule not in ("inside", "forward"):
        raise FacsimileError(f"unknown Poisson edge rule {edge_rule!r}; choose 'inside' or 'forward'")
    m = mask.astype(xp.float32)
    mx = m.copy()
    my = m.copy()
    if edge_rule == "inside":
        mx[:, :-1] = xp.minimum(m[:, :-1], m[:, 1:])
        my[:-1, :] = xp.minimum(m[:-1, :], m[1:, :])
    mx, my = mx[..., None], my[..., None]
    sx, sy = _fwd_diff(xp, src)
    tx, ty = _fwd_diff(xp, dst)
    if mode == "mixed":
        sx = xp.where(xp.abs(sx) > xp.abs(tx), sx, tx)
        sy = xp.where(xp.abs(sy) > xp.abs(ty), sy, ty)
    gx = mx * sx + (1.0 - mx) * tx
    gy = my * sy + (1.0 - my) * ty
    div = xp.zeros_like(gx)
    div[:, 1:] += gx[:, 1:] - gx[:, :-1]
    div[:, 0] += gx[:, 0]
    div[1:, :] += gy[1:, :] - gy[:-1, :]
    div[0, :] += gy[0, :]
    return div


def _dst1_fft(xp, a, axis: int):
    """Unnormalised DST-I along `axis` via a real FFT of the odd extension (any backend)."""
    a = xp.moveaxis(a, axis, 0)
    n = a.shape[0]
    z = xp.zeros((1,) + a.shape[1:], a.dtype)
    ext = xp.concatenate([z, a, z, -a[::-1]], axis=0)
    out = -xp.fft.rfft(ext, axis=0)[1:n + 1].imag
    return xp.moveaxis(out.astype(a.dtype), 0, axis)


def _dstn(xp, a, inverse: bool):
    if xp is np:
        f = scipy.fft.idstn if inverse else scipy.fft.dstn
        return f(a, type=1, axes=(0, 1), workers=-1)  # both cores: the transforms dominate the solve
    out = _dst1_fft(xp, _dst1_fft(xp, a, 0), 1)
    if inverse:
        out = out / (4.0 * (a.shape[0] + 1) * (a.shape[1] + 1))
    return out


def _eigenvalues(xp, n: int, m: int):
    """Eigenvalues (n, m, 1) of the 5-point Laplacian with zero Dirichlet border, DST-I basis."""
    ky = 2.0 * xp.cos(xp.pi * xp.arange(1, n + 1, dtype=xp.float64) / (n + 1)) - 2.0
    kx = 2.0 * xp.cos(xp.pi * xp.arange(1, m + 1, dtype=xp.float64) / (m + 1)) - 2.0
    return (ky[:, None] + kx[None, :]).astype(xp.float32)[..., None]


def _solve_normal(src, dst, mask, edge_rule: str):
    """The 'normal' blend as a correction of dst: u = dst + v, v = 0 on the ROI border and
    Lap(v) = div(M grad(src - dst)) (M: the per-edge mask weights). The same system as
    solve_dirichlet(dst, guidance_divergence(...)): the guidance is grad dst + M grad(src - dst)
    and div grad dst is Lap dst on the interior; it needs about a third of the array passes."""
    xp = xp_for(dst)
    h, w = dst.shape[:2]
    if h < 3 or w < 3:
        raise FacsimileError("Poisson blend: the region is too small (needs at least 3x3 pixels)")
    e = src - dst
    if edge_rule == "inside":
        mx = xp.minimum(mask[:, :-1], mask[:, 1:])[..., None]
        my = xp.minimum(mask[:-1, :], mask[1:, :])[..., None]
    else:
        mx, my = mask[:, :-1, None], mask[:-1, :, None]
    gx = mx * (e[:, 1:] - e[:, :-1])  # flux on edge (x, x+1)
    gy = my * (e[1:, :] - e[:-1, :])
    rhs = (gx[1:-1, 1:] - gx[1:-1, :-1]) + (gy[1:, 1:-1] - gy[:-1, 1:-1])
    u = dst.copy()
    u[1:-1, 1:-1] += _dstn(xp, _dstn(xp, rhs, inverse=False) / _eigenvalues(xp, h - 2, w - 2), inverse=True)
    return u


def solve_dirichlet(boundary, div):
    """Solve Lap(u) = div on the interior of the ROI with u = boundary on its border ring.

    boundary: HxWxC float32 (only its border ring is used); div: HxWxC float32. Returns u
    (HxWxC float32) with the border ring copied from `boundary`."""
    xp = xp_for(boundary)
    h, w = boundary.shape[:2]
    if h < 3 or w < 3:
        raise FacsimileError("Poisson blend: the region is too small (needs at least 3x3 pixels)")
    rhs = div[1:-1, 1:-1].copy()
    # known border neighbours move to the right-hand side
    rhs[0] -= boundary[0, 1:-1]
    rhs[-1] -= boundary[-1, 1:-1]
    rhs[:, 0] -= boundary[1:-1, 0]
    rhs[:, -1] -= boundary[1:-1, -1]
    coef = _dstn(xp, rhs, inverse=False) / _eigenvalues(xp, h - 2, w - 2)
    u = boundary.copy()
    u[1:-1, 1:-1] = _dstn(xp, coef, inverse=True)
    return u


def poisson_blend(src, dst, mask, mode: str = "normal", roi: Roi | None = None, pad_fast: bool = True,
                  edge_rule: str = "inside"):
    """Blend `src` into `dst` where `mask` is set, in the gradient domain.

    src, dst: full-frame HxWxC (or HxW) images of the same shape, uint8 or float32 (src is
    the rendered face already placed in frame coordinates). mask: HxW float 0..1 or uint8.
    roi: the rectangle to solve on (default: the mask's bounding box plus 2 pixels), grown to
    a fast size when pad_fast; one replicated row/column is added beyond a frame edge it reaches. Returns a copy of `dst` with the ROI replaced by the solution (the ROI's
    border keeps dst exactly, so there is no seam at its edge), in dst's dtype. edge_rule:
    see guidance_divergence.
    """
    xp = xp_for(dst)
    if src.shape != dst.shape or mask.shape[:2] != dst.shape[:2]:
        raise FacsimileError(f"Poisson blend: source {src.shape}, target {dst.shape} and mask {mask.shape} "
                             "must have the same size")
    gray = dst.ndim == 2
    s3 = src[..., None] if gray else src
    d3 = dst[..., None] if gray else dst
    mk = mask.astype(xp.float32)
    if mask.dtype == xp.uint8:
        mk = mk / 255.0
    r = mask_roi(mk) if roi is None else roi
    r, pads = fast_roi(r, dst.shape, fast=pad_fast)
    x0, y0, x1, y1 = r
    sub_s = s3[y0:y1, x0:x1].astype(xp.float32)
    sub_d = d3[y0:y1, x0:x1].astype(xp.float32)
    sub_m = mk[y0:y1, x0:x1]
    if any(pads):
        pt, pb, pl, pr = pads
        sub_s = xp.pad(sub_s, ((pt, pb), (pl, pr), (0, 0)), mode="edge")
        sub_d = xp.pad(sub_d, ((pt, pb), (pl, pr), (0, 0)), mode="edge")
        sub_m = xp.pad(sub_m, ((pt, pb), (pl, pr)), mode="constant")
    if mode == "normal":
        if edge_rule not in ("inside", "forward"):
            raise FacsimileError(f"unknown Poisson edge rule {edge_rule!r}; choose 'inside' or 'forward'")
        u = _solve_normal(sub_s, sub_d, sub_m, edge_rule)
    else:
        u = solve_dirichlet(sub_d, guidance_divergence(sub_s, sub_d, sub_m, mode, edge_rule))
    pt, pb, pl, pr = pads
    u = u[pt:u.shape[0] - pb, pl:u.shape[1] - pr]
    out = d3.copy()
    if dst.dtype == xp.uint8:
        out[y0:y1, x0:x1] = xp.clip(xp.round(u), 0, 255).astype(xp.uint8)
    else:
        out[y0:y1, x0:x1] = u.astype(dst.dtype)
    return out[..., 0] if gray else out


__all__ = ["poisson_blend", "solve_dirichlet", "guidance_divergence", "fast_dst1_len", "fast_roi", "mask_roi",
           "is_gpu"]
