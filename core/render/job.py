"""The `render` job kind: frames of a shot rendered from its project (for core.jobs).

A job renders plate frames of one shot and one face track: it evaluates the shot's curves
(extracted base + edit layers + gains), renders each frame with core.render.renderer, tags it
with the render id (invisible watermark) and hands it to the writer with the matte as an
extra channel (`mask.Y` in EXR). Chunks are independent: the temporal colour smoothing uses
a finite window that each chunk warms up on the frames before it, so a resumed or farmed
render equals an uninterrupted one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.errors import FacsimileError, NoFaceError
from core.jobs.run import register_producer
from core.jobs.spec import JobSpec

log = logging.getLogger(__name__)

COLOUR_WINDOW = 9


class ShotRenderContext:
    """What rendering a shot needs, loaded once: project, plate reader, analysis, curves, renderer."""

    def __init__(self, project_path: str | Path, shot_id: str | None, settings: dict | None = None,
                 content: str = "", template_id: str | None = None, consent: dict | None = None) -> None:
        from core.project import Project
        from core.project.plates import open_fitting_plate
        from core.render.renderer import Renderer, RenderSettings

        self.project = Project.load(project_path)
        if not self.project.shots:
            raise FacsimileError(f"project {project_path} has no shots")
        self.shot = self.project.shot(shot_id) if shot_id else self.project.shots[0]
        plate = self.project.plate_of(self.shot)
        # moved (said with the way on: relink), or replaced since the job was made (its frames are
        # not the analysed ones): refused
        self.reader = open_fitting_plate(plate, f"render shot {self.shot.name}")
        info = self.reader.info
        self.width, self.height, self.fps, self.timecode = info.width, info.height, info.fps, info.timecode
        self.settings = RenderSettings.from_json({**(self.shot.render_settings or {}), **(settings or {})})
        analysis = self.shot.analysis
        if analysis is None:
            raise FacsimileError(f"shot {self.shot.name!r} has not been analysed: run the analysis first")
        self.analysis = analysis
        track_ids = [int(t) for t in analysis.track_ids]
        if self.settings.track not in track_ids:
            if not track_ids:  # no face anywhere in the shot: exit code 6, as the docs say
                raise NoFaceError(f"shot {self.shot.name!r}: no face was found in its analysis; nothing to render")
            raise FacsimileError(f"shot {self.shot.name!r} has no face track {self.settings.track} "
                                 f"(tracks: {track_ids})")
        self.track_index = track_ids.index(self.settings.track)
        self.frame_to_t = {int(f): t for t, f in enumerate(analysis.frame_indices)}
        self.curves = self.shot.curves.get(self.settings.track)
        template = None
        if self.settings.mode == "swap":
            from core.identity.library import Library

            tid = template_id or self.shot.identity  # a render's one-off --template, else the shot's
            if not tid:
                raise FacsimileError(f"shot {self.shot.name!r} has no identity template assigned (swap mode)")
            template = Library(self.project.library_path).get(tid)
        self.template = template
        if template is not None and consent is not None and not consent.get("override"):
            # the job was made with the person's consent: it must still stand when the job (a resume,
            # a farm chunk) runs; a withdrawn or lapsed consent stops it, saying so
            from core.identity.consent import check_consent

            try:
                check_consent(template)
            except FacsimileError:
                self.reader.close()
                raise
        if content:  # the job's fingerprint of the shot: an edit since it was made would mix two performances
            from core.render.delivery import shot_fingerprint, template_fingerprint

            if shot_fingerprint(self.project, self.shot, template_fingerprint(template)) != content:
                self.reader.close()
                raise FacsimileError(f"shot {self.shot.name!r} changed since this render job was made (its curves, "
                                     "analysis, settings or plate): its frames would not match the ones already "
                                     "rendered; render it again (a new job)")
        from core.media.colour import display_colorspace

        # a camera log plate (the project says its colour space), an HDR video or a tagged EXR: the
        # face networks see it as a display picture and a swap's texture goes into its encoding
        cs = display_colorspace(info, plate.colorspace)
        self.renderer = Renderer(self.settings, template, performer_neutral=self._performer_neutral(),
                                 plate_colorspace=cs)
        # Eye donors come from the shot's analysis (the nearest open-eye frame), never from what
        # this process rendered before: a frame renders the same in any chunk.
        self.renderer.eye_memory = False
        self._open_eye_frames = self._open_eyes()
        self._donor_cache: dict[int, np.ndarray] = {}

    def _open_eyes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per eye (subject's side): (frames, apertures) of the track's frames where that eye is
        open, i.e. its aperture is >= DONOR_OPEN_FRACTION x the shot's median."""
        from core.render.masks import SIDES, eye_apertures
        from core.render.renderer import DONOR_OPEN_FRACTION

        present = np.asarray(self.analysis.present[:, self.track_index], bool)
        frames = np.asarray(self.analysis.frame_indices, np.int64)
        out = {}
        for side in SIDES:
            ap = eye_apertures(self.analysis.landmarks[:, self.track_index], side)
            ok = present & np.isfinite(ap)
            if not ok.any():
                out[side] = (np.zeros(0, np.int64), np.zeros(0))
                continue
            keep = ok & (ap >= DONOR_OPEN_FRACTION * float(np.median(ap[ok])))
            out[side] = (frames[keep], ap[keep])
        return out

    def eye_donor(self, frame: int, side: str):
        """EyeDonor for plate frame `frame`: the nearest frame of the shot (earlier wins a tie)
        where that eye is open, read from the plate; None if the shot has none."""
        from core.render.renderer import EyeDonor

        frames, aps = self._open_eye_frames.get(side, (np.zeros(0, np.int64), np.zeros(0)))
        if len(frames) == 0:
            return None
        dist = np.abs(frames - frame) * 2 + (frames > frame)  # nearest, then earlier
        k = int(np.argmin(dist))
        f = int(frames[k])
        image = self._donor_cache.get(f)
        if image is None:
            from core.media.aspect import desqueeze

            image = desqueeze(self.reader.read(f), self.analysis.pixel_aspect)  # where its landmarks are
            self._donor_cache = {**dict(list(self._donor_cache.items())[-3:]), f: image}
        return EyeDonor(image, self.landmarks_at(f), frame=f, aperture=float(aps[k]))

    def _performer_neutral(self) -> np.ndarray | None:
        """The performer's neutral mesh (frame of least expression, by the extracted curves)."""
        if self.curves is None:
            return None
        names = [n for n in self.curves.names if n.startswith("AU") and n[-1].isdigit()]
        if not names:
            return None
        first = self.curves.frame_range[0]
        activity = np.nansum(np.stack([self.curves.base[n] for n in names]), axis=0)
        present = self.analysis.present[:, self.track_index]
        best, best_val = None, np.inf
        for i, val in enumerate(activity):
            t = self.frame_to_t.get(first + i)
            if t is not None and present[t] and val < best_val:
                best, best_val = t, val
        return None if best is None else self.analysis.landmarks[best, self.track_index]

    def values_at(self, frame: int) -> tuple[dict[str, float], dict[str, float]]:
        """(extracted, edited) AU intensities of plate frame `frame`."""
        if self.curves is None:
            return {}, {}
        first, last = self.curves.frame_range
        if not first <= frame <= last:
            return {}, {}
        arr = np.array([frame])
        base = {n: float(v[frame - first]) for n, v in self.curves.base.items() if n.startswith("AU")}
        edited = {n: float(self.curves.evaluate(n, arr)[0]) for n in base}
        return base, edited

    def landmarks_at(self, frame: int) -> np.ndarray | None:
        t = self.frame_to_t.get(frame)
        if t is None or not self.analysis.present[t, self.track_index]:
            return None
        return self.analysis.landmarks[t, self.track_index]

    def render(self, frame: int):
        """RenderResult of plate frame `frame`."""
        plate = self.reader.read(frame)
        base, edited = self.values_at(frame)
        return self.renderer.render(plate, self.landmarks_at(frame), base, edited,
                                    donors=lambda side: self.eye_donor(frame, side),
                                    pixel_aspect=self.analysis.pixel_aspect)

    def close(self) -> None:
        self.reader.close()


def watermarked(image: np.ndarray, render_id: str) -> np.ndarray:
    """`image` carrying the render id's watermark where `facsimile verify` reads it: in display
    (sRGB) values. A float frame is scene-linear (a linear plate), so its mark is embedded in its
    sRGB encoding and decoded back; values outside 0..1 (highlights) and NaN are left as they
    are (a NaN used to spread over its 8x8 block of the mark)."""
    from core.delivery.watermark import embed

    if image.dtype.kind != "f":
        return embed(image, render_id)
    import cv2

    from core.media.colour import srgb_decode, srgb_encode

    if image.dtype == np.float32 and image.ndim == 3 and image.shape[2] in (3, 4):
        # a whole frame, on OpenCV (a 4K RGBA frame: 1.1-2.7 s in numpy, under half that now)
        h, w = image.shape[:2]
        frame = np.ascontiguousarray(image)
        rgb = cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB) if image.shape[2] == 4 else frame.copy()
        flat = rgb.reshape(h, w * 3)
        inside = cv2.inRange(flat, 0.0, 1.0)  # per value: 0..1 takes the mark; the rest (and NaN) stays
        # what is marked is finite: a NaN would make its whole 8x8 block NaN through the DCT
        work = flat.copy()
        cv2.patchNaNs(work, 0.0)
        work = cv2.min(cv2.max(work, 0.0), 1.0)
        marked = srgb_decode(embed(srgb_encode(work.reshape(h, w, 3)), render_id))
        if image.shape[2] == 4:
            # premultiplied colour: the mark is scaled by alpha, as embed() does for RGBA, so a soft
            # edge (alpha 0.002-0.2) does not carry it tens of times louder once unpremultiplied
            a = np.clip(np.nan_to_num(frame[..., 3]), 0.0, 1.0)[..., None]
            marked = work.reshape(h, w, 3) + (marked - work.reshape(h, w, 3)) * a
        cv2.copyTo(np.ascontiguousarray(marked, np.float32).reshape(h, w * 3), inside, flat)
        if image.shape[2] == 3:
            return rgb
        return cv2.merge([*cv2.split(rgb), cv2.extractChannel(frame, 3)])
    rgb = image[..., :3].astype(np.float32)
    finite = np.clip(np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    marked = srgb_decode(embed(srgb_encode(finite), render_id))
    if image.ndim == 3 and image.shape[2] == 4:  # premultiplied: scaled by alpha (see above)
        marked = finite + (marked - finite) * np.clip(np.nan_to_num(image[..., 3].astype(np.float32)), 0, 1)[..., None]
    out = image.copy()
    out[..., :3] = np.where((rgb >= 0.0) & (rgb <= 1.0), marked, rgb).astype(image.dtype)
    return out


class RenderProducer:
    """FrameProducer for jobs of kind "render"."""

    def __init__(self, spec: JobSpec) -> None:
        settings = dict(spec.settings)
        self.render_id = settings.pop("render_id", None)
        consent = settings.pop("consent", None)
        template_id = settings.pop("template", None)
        self.ctx = ShotRenderContext(spec.source, spec.shot, settings, content=spec.content, template_id=template_id,
                                     consent=consent)
        self.width, self.height, self.fps, self.timecode = self.ctx.width, self.ctx.height, self.ctx.fps, self.ctx.timecode
        from core.render.colour import ColourSmoother

        # A finite window (not an EMA) so that any chunking gives the same pixels.
        self.ctx.renderer.smoother = ColourSmoother("window", window=COLOUR_WINDOW)
        self._last: int | None = None
        self.first = spec.first

    def frame(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self._last is None or index != self._last + 1:
            self.ctx.renderer.smoother.reset()
            for f in range(max(self.first, index - (COLOUR_WINDOW - 1)), index):
                self.ctx.render(f)  # warm the colour window; pixels discarded
        self._last = index
        result = self.ctx.render(index)
        image = result.image
        if self.render_id and self.ctx.settings.output != "matte":
            image = watermarked(image, self.render_id)
        return image, {"mask.Y": result.matte}

    def timing(self, first: int, last: int):  # noqa: ANN201 - FrameTiming | None
        """A VFR plate's own times of frames first..last, so a .mov keeps them (None: constant rate)."""
        from core.media.timing import plate_timing

        return plate_timing(self.ctx.reader, first, last)

    def close(self) -> None:
        self.ctx.close()


register_producer("render", RenderProducer)
