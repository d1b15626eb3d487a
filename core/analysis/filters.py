"""Temporal landmark stabilisation: a One-Euro filter (Casiez et al., CHI 2012) per point.

Speeds are measured in face sizes per second (the inter-ocular distance), so one setting
works for small and large faces: still points are smoothed hard (cutoff `min_cutoff` Hz),
fast-moving ones (a blink, a jaw drop, a head turn) get a cutoff that rises with their speed,
so real motion is not lagged.
"""

from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class LandmarkFilter:
    """One-Euro filter over an (N, 3) point set; reset() after a cut or a lost track."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 8.0, d_cutoff: float = 2.0) -> None:
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, points: np.ndarray, dt: float, scale: float) -> np.ndarray:
        """Filtered copy of points (N, 3); dt in seconds, scale the face size in pixels."""
        x = np.asarray(points, np.float64)
        if self._x is None or dt <= 0:
            self._x = x.copy()
            self._dx = np.zeros(len(x))
            return x.astype(np.float32)
        scale = max(float(scale), 1e-6)
        speed = np.linalg.norm((x[:, :2] - self._x[:, :2]), axis=1) / (dt * scale)
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = self._dx + a_d * (speed - self._dx)
        cutoff = self.min_cutoff + self.beta * self._dx
        a = _alpha(cutoff, dt)[:, None]
        self._x = self._x + a * (x - self._x)
        return self._x.astype(np.float32)
