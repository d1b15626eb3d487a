"""Shots from cut detection (PySceneDetect ContentDetector) and from editorial cut lists
(OpenTimelineIO: .otio, CMX 3600 .edl), and shot lists back out to OTIO.

Frame numbers are plate frames counted in decode order (frame N is the Nth decoded picture,
whatever the container's timestamps say), so cut detection decodes the plate itself with
PyAV and feeds the detector frame by frame. Cut-list events are matched to a plate by source
timecode: a plate starting at 01:00:00:00 and an event with source in 01:00:02:00 at 24 fps
map to plate frame 48.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import MediaError, ProjectError
from core.project.model import Plate, Project, Shot


# ---------------------------------------------------------------------- cut detection
def _frames_pyav(p: Path) -> Iterator[np.ndarray]:
    """BGR frames in presentation order straight from PyAV (used when core.media.reader is absent)."""
    import av

    try:
        container = av.open(str(p))
    except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
        raise MediaError(f"cannot open {p} for cut detection: {exc}") from exc
    with container:
        if not container.streams.video:
            raise MediaError(f"{p} has no video stream")
        try:
            for frame in container.decode(container.streams.video[0]):
                yield frame.to_ndarray(format="bgr24")
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            raise MediaError(f"{p}: decoding failed: {exc}") from exc


def _frames(p: Path) -> tuple[Fraction, Iterator[np.ndarray]]:
    """(fps, BGR frames) with the same frame numbering as the rest of Facsimile: through
    core.media.reader (videos, image sequences) when it is available."""
    try:
        from core.media.reader import open_media
    except ImportError:
        import av

        with av.open(str(p)) as c:
            st = c.streams.video[0]
            rate = Fraction(st.average_rate or st.guessed_rate or 24)
        return rate, _frames_pyav(p)
    reader = open_media(p)

    def gen() -> Iterator[np.ndarray]:
        with reader:
            for _, rgb in reader.frames(rgb8=True):
                yield np.ascontiguousarray(rgb[:, :, ::-1])

    return Fraction(reader.info.fps), gen()


def detect_cuts(path: str | Path, threshold: float = 27.0, min_scene_len: int = 15, fps: Fraction | None = None,
                progress: Callable[[int], None] | None = None, max_width: int = 320) -> list[tuple[int, int]]:
    """Scenes of a clip as inclusive (first, last) plate frame ranges, found with
    PySceneDetect's ContentDetector (HSV content change above `threshold`, scenes at least
    `min_scene_len` frames). Frames are decoded by Facsimile's reader, so frame N here is
    plate frame N (not a timestamp-derived number, which differs on VFR plates)."""
    import cv2
    from scenedetect import ContentDetector
    from scenedetect.common import FrameTimecode

    p = Path(path)
    if not p.exists() and not any(ch in p.name for ch in "#%@"):
        raise MediaError(f"cannot detect cuts: {p} does not exist")
    rate, frames = _frames(p)
    rate = Fraction(fps) if fps else rate
    det = ContentDetector(threshold=threshold, min_scene_len=int(min_scene_len))
    cuts: list[int] = []
    n = 0
    for img in frames:
        if img.shape[1] > max_width:
            scale = max_width / img.shape[1]
            img = cv2.resize(img, (max_width, max(2, int(round(img.shape[0] * scale)))),
                             interpolation=cv2.INTER_AREA)
        for tc in det.process_frame(FrameTimecode(n, rate), img):
            cuts.append(int(tc.frame_num))
        n += 1
        if progress is not None and n % 50 == 0:
            progress(n)
    if n == 0:
        raise MediaError(f"{p}: no video frames could be decoded")
    for tc in det.post_process(FrameTimecode(n - 1, rate)):
        cuts.append(int(tc.frame_num))
    starts = sorted({c for c in cuts if 0 < c < n})
    bounds = [0, *starts, n]
    return [(a, b - 1) for a, b in zip(bounds, bounds[1:], strict=False)]


def shots_from_ranges(project: Project, plate_id: str, ranges: Iterable[tuple[int, int]], handles: int = 0,
                      name_stem: str | None = None) -> list[Shot]:
    """Add one shot per (first, last) plate frame range; returns the shots added."""
    plate = project.plates[plate_id]
    out = []
    for i, (a, b) in enumerate(ranges, start=1):
        name = f"{name_stem or plate.id}_{i:03d}"
        out.append(project.new_shot(plate_id, a, b, name=name, handles=handles,
                                    timecode=plate.timecode_for_frame(a)))
    return out


def shots_from_cut_detection(project: Project, plate_id: str, threshold: float = 27.0, min_scene_len: int = 15,
                             handles: int = 0) -> list[Shot]:
    plate = project.plates[plate_id]
    ranges = detect_cuts(plate.path, threshold, min_scene_len, fps=plate.fps)
    return shots_from_ranges(project, plate_id, ranges, handles)


# ---------------------------------------------------------------------- cut lists
def _read_timeline(path: Path, fps: Fraction | None) -> object:
    import opentimelineio as otio

    if not path.is_file():
        raise ProjectError(f"cannot import the cut list: {path} does not exist")
    kwargs = {}
    if path.suffix.lower() == ".edl":
        available = {a.name for a in otio.plugins.ActiveManifest().adapters}
        if "cmx_3600" not in available:
            raise ProjectError("reading CMX 3600 EDLs needs the OpenTimelineIO CMX adapter: "
                               "pip install otio-cmx3600-adapter")
        if fps:
            kwargs["rate"] = float(fps)
    try:
        return otio.adapters.read_from_file(str(path), **kwargs)
    except Exception as exc:  # OTIO raises many exception types for bad input
        raise ProjectError(f"cannot read the cut list {path}: {exc}") from exc


def _match_plate(plates: Sequence[Plate], reel: str, src_start: object, duration: int) -> tuple[Plate, int] | None:
    """The plate whose timecode range holds the event's source range (reel/name match first)."""

    def first_frame(pl: Plate) -> int:
        # source time counted at the plate's rate
        return int(round(src_start.rescaled_to(float(pl.fps)).value)) - pl.start_tc_frames  # type: ignore[attr-defined]

    def fits(pl: Plate) -> bool:
        f = first_frame(pl)
        return 0 <= f and f + duration <= pl.frame_count

    def named(pl: Plate) -> bool:
        r = reel.lower()
        return bool(r) and r in (pl.id.lower(), Path(pl.path).stem.lower(), Path(pl.path).name.lower())

    for cands in ([p for p in plates if named(p) and fits(p)], [p for p in plates if fits(p)]):
        if cands:
            return cands[0], first_frame(cands[0])
    return None


class AlreadyAShot(str):
    """An import_cut_list problem that is no error: the event is a shot of the project already
    (the project's own cut list imported again). The text is what the user reads."""


def import_cut_list(project: Project, path: str | Path, plate_ids: Sequence[str] | None = None,
                    handles: int = 0) -> tuple[list[Shot], list[str]]:
    """Add a shot per clip event of an .otio or CMX 3600 .edl, matched to a plate by source
    timecode (the reel or media name decides between plates that both fit). Returns
    (shots added, problems): events that match no plate are listed, never dropped silently."""
    import opentimelineio as otio

    p = Path(path)
    plates = [project.plates[i] for i in (plate_ids or list(project.plates))]
    if not plates:
        raise ProjectError("add the plate before importing a cut list: the project has no plates")
    tl = _read_timeline(p, plates[0].fps)
    clips = list(tl.find_clips()) if hasattr(tl, "find_clips") else []  # type: ignore[attr-defined]
    added: list[Shot] = []
    problems: list[str] = []
    for i, clip in enumerate(clips, start=1):
        sr = clip.source_range
        if sr is None:
            try:
                sr = clip.trimmed_range()
            except Exception:  # noqa: BLE001
                problems.append(f"event {i} ({clip.name}): no source range")
                continue
        ref = clip.media_reference
        reel = ""
        if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
            reel = Path(ref.target_url.replace("file://", "")).stem
        cmx = clip.metadata.get("cmx_3600", {}) if hasattr(clip, "metadata") else {}
        reel = cmx.get("reel", "") or reel or clip.name or ""
        dur = int(round(sr.duration.value))
        hit = _match_plate(plates, reel, sr.start_time, dur)
        if hit is None:
            tc = otio.opentime.to_timecode(sr.start_time, sr.start_time.rate)
            problems.append(f"event {i} ({clip.name or reel}): source {tc} + {dur} frames is in no plate's "
                            "timecode range")
            continue
        plate, first = hit
        dur_plate = int(round(sr.duration.rescaled_to(float(plate.fps)).value))
        name = clip.name or f"{plate.id}_{i:03d}"
        last = first + dur_plate - 1
        twin = next((s for s in project.shots if (s.plate_id, s.frame_in, s.frame_out) == (plate.id, first, last)), None)
        if twin is not None:  # the project's own cut list imported again: nothing new
            problems.append(AlreadyAShot(f"event {i} ({name}): shot {twin.name!r} covers the same frames already; "
                                         "not added again"))
            continue
        added.append(project.new_shot(plate.id, first, last, name=name, handles=handles,
                                      timecode=plate.timecode_for_frame(first)))
    return added, problems


def shots_to_timeline(project: Project, shots: Sequence[Shot] | None = None, name: str | None = None) -> object:
    """An OTIO Timeline with one clip per shot (source range in plate timecode, media
    reference to the plate), in shot order."""
    import opentimelineio as otio

    tl = otio.schema.Timeline(name=name or project.name)
    track = otio.schema.Track(name="Facsimile shots", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    for s in shots if shots is not None else project.shots:
        pl = project.plates[s.plate_id]
        rate = float(pl.fps)
        ref = otio.schema.ExternalReference(
            target_url=Path(pl.path).resolve().as_uri() if Path(pl.path).is_absolute() else pl.path,
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(pl.start_tc_frames, rate),
                                                    otio.opentime.RationalTime(pl.frame_count, rate)))
        clip = otio.schema.Clip(
            name=s.name, media_reference=ref,
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(pl.start_tc_frames + s.frame_in, rate),
                                                 otio.opentime.RationalTime(s.length, rate)))
        clip.metadata["facsimile"] = {"shot_id": s.id, "plate_id": s.plate_id, "frame_in": s.frame_in,
                                      "frame_out": s.frame_out, "handles": s.handles}
        track.append(clip)
    return tl


def export_otio(project: Project, path: str | Path, shots: Sequence[Shot] | None = None) -> Path:
    """Write the shot list as .otio (or .edl with the CMX adapter), atomically."""
    import opentimelineio as otio

    from core.util.atomic import atomic_path

    p = Path(path)
    tl = shots_to_timeline(project, shots)
    with atomic_path(p) as tmp:
        try:
            adapter = "cmx_3600" if p.suffix.lower() == ".edl" else "otio_json"
            otio.adapters.write_to_file(tl, str(tmp), adapter_name=adapter)
        except Exception as exc:  # noqa: BLE001
            raise ProjectError(f"cannot write the shot list {p}: {exc}") from exc
    return p
