"""The viewer's render side: core.render's Renderer on the session's in-memory shot, so an edit
shows before it is saved.

Two paths, as the issue asks: while the cursor moves (`fast=True`) the frame is rendered at
half resolution with the Gaussian-feather blend and scaled back up; when the cursor rests the
full path renders at full resolution with the shot's own settings (Poisson by default).
All the pixels come from core (Renderer.render); this module only gathers its inputs
(landmarks of the analysis, extracted and edited AU values of the CurveSet, the shot's
render settings) the way core.render.job.ShotRenderContext does for render jobs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from core.errors import FacsimileError

log = logging.getLogger(__name__)

FAST_SCALE = 0.5


class LivePreview:
    """`render_fn(frame, plate_rgb, fast) -> rgb` for studio.viewer.Viewer over a Session."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._renderers: dict[tuple[str, bool], Any] = {}
        self.last_info: dict = {}
        self._lock = threading.RLock()

    def _settings(self, fast: bool):
        from core.render.renderer import RenderSettings

        s = self.session
        d = dict(getattr(s.shot, "render_settings", None) or {})
        d["track"] = int(s.track or 0)
        if fast:
            d["blend"] = "gaussian" if d.get("blend", "poisson") == "poisson" else d.get("blend", "gaussian")
            d["restore"] = "off"
        return RenderSettings.from_json(d)

    def _renderer(self, settings, identity: str | None, library_path, fast: bool):
        """The cached Renderer for these settings (built on first use: it may load models)."""
        from core.render.renderer import Renderer

        key = (json.dumps(settings.to_json(), sort_keys=True) + f"|{identity}", fast)
        r = self._renderers.get(key)
        if r is None:
            template = None
            if settings.mode == "swap":
                if not identity:
                    raise FacsimileError("swap mode needs an identity: assign one from the Identities tab")
                from core.identity.library import Library

                template = Library(library_path).get(identity)
            r = Renderer(settings, template)
            r.eye_memory = False  # a preview frame must not depend on the scrub history
            # settings changed: drop the old renderer of this path, keep the other path's (scrub and
            # rest alternate; rebuilding a Renderer reloads its restoration/occlusion models)
            self._renderers = {k: v for k, v in self._renderers.items() if k[1] != fast}
            self._renderers[key] = r
        return r

    def _landmarks(self, frame: int) -> np.ndarray | None:
        an = self.session.analysis
        if an is None or an.n_frames == 0:
            return None
        track_ids = [int(t) for t in an.track_ids]
        track = int(self.session.track or 0)
        if track not in track_ids:
            return None
        j = track_ids.index(track)
        t = int(np.searchsorted(an.frame_indices, frame))
        if t >= an.n_frames or int(an.frame_indices[t]) != frame or not an.present[t, j]:
            return None
        return an.landmarks[t, j]

    def _values(self, frame: int) -> tuple[dict[str, float], dict[str, float]]:
        doc = self.session.doc
        if doc is None:
            return {}, {}
        cs = doc.cs
        first, last = cs.frame_range
        if not first <= frame <= last:
            return {}, {}
        arr = np.array([frame])
        base = {n: float(v[frame - first]) for n, v in cs.base.items() if n.startswith("AU")}
        return base, {n: float(cs.evaluate(n, arr)[0]) for n in base}

    def __call__(self, frame: int, plate: np.ndarray, fast: bool) -> np.ndarray:
        return self.prepare(frame, fast)(plate)[0]

    def prepare(self, frame: int, fast: bool) -> Callable[[np.ndarray], tuple[np.ndarray, str]]:
        """Gather frame `frame`'s render inputs now and return `render(plate) -> (rgb, note)`.

        Called on the UI thread, so the curves being dragged and the shot's settings are read
        once and consistently; the returned render (the slow part: decode aside, all of it) is
        what the viewer runs on its worker thread. Renders are serialised by a lock."""
        lm = self._landmarks(frame)
        if lm is None:
            def no_face(plate: np.ndarray) -> tuple[np.ndarray, str]:
                with self._lock:
                    self.last_info = {"face": False}
                return plate, ""

            return no_face
        lm = np.array(lm, np.float32, copy=True)
        par = self.session.analysis.pixel_aspect  # an anamorphic plate's landmarks are desqueezed
        base, edited = self._values(frame)
        note = self._parting_note(base, edited)
        settings = self._settings(fast)
        identity = self.session.shot.identity
        library_path = getattr(self.session.project, "library_path", None) if settings.mode == "swap" else None

        def render(plate: np.ndarray) -> tuple[np.ndarray, str]:
            import cv2

            with self._lock:
                r = self._renderer(settings, identity, library_path, fast)
                r.smoother.reset()
                h, w = plate.shape[:2]
                if fast and w > 640:
                    small = cv2.resize(plate, (int(w * FAST_SCALE), int(h * FAST_SCALE)), interpolation=cv2.INTER_AREA)
                    lm_s = lm.copy()
                    lm_s[:, :2] *= FAST_SCALE
                    res = r.render(small, lm_s, base, edited, pixel_aspect=par)
                    out = cv2.resize(res.image[..., :3], (w, h), interpolation=cv2.INTER_LINEAR)
                else:
                    res = r.render(plate, lm, base, edited, pixel_aspect=par)
                    out = res.image[..., :3]
                self.last_info = {**res.info, "note": note}
            return out, note

        return render

    @staticmethod
    def _parting_note(base: dict[str, float], edited: dict[str, float]) -> str:
        """What the viewer says when this frame's AU25 key cannot be met (core.render.retarget), as
        the render job's notes do for the whole shot; '' otherwise."""
        from core.render.retarget import PARTING_ADVICE, parting_shortfall

        r = parting_shortfall(base, edited) if base else None
        if r is None:
            return ""
        kind, asked, got = r
        return f"AU25 {asked:.1f} renders as {got:.1f} here: {PARTING_ADVICE[kind]}"
