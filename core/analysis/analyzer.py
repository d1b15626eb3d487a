"""Face analysis of a plate: detection, tracking with stable identities, 478 landmarks,
temporal stabilisation, head pose and gaze -> ShotAnalysis.

Per frame (see `Analyzer.analyze`):
1. A cheap cut test (thumbnail difference). On a cut every track is released, so faces after
   the cut are matched by identity (embedding), never by position.
2. Each active track is followed WITHOUT the detector: the mesh runs on a crop around the box
   predicted from the previous frame's landmarks (constant velocity). The mesh's own detector
   on the crop confirms the face; a miss, a mesh that jumped to another face, or a mesh
   touching the crop edge asks for detection.
3. The full-frame detector runs every `detect_every` frames, after a cut, when a track was lost
   or needs help, and on every frame while no face is tracked. Detections matching a track's
   predicted box (IoU) recover it; the others are new faces: mesh, then identity embedding,
   then re-identification against tracks not currently visible (mean embedding distance under
   the embedder's threshold) or a new track.
4. Landmarks are refined by image motion (core.analysis.flowrefine: the frame, warped back onto
   an anchor frame's mesh by the detected landmarks, is compared with that anchor by optical
   flow, which adds the non-rigid motion the landmark network under-reports; on a worker
   thread, one frame behind), then stabilised by a motion-adaptive One-Euro filter (both reset
   when a track restarts); pose and gaze come from the stabilised landmarks. An eye whose lids
   are closing is checked for an open eye by appearance (core.analysis.eyestate), which the AU
   solve uses to read a shut eye as shut.
Frames without a face are kept and marked (present=False).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.analysis.defaults import embedding_distance
from core.analysis.eyestate import EyeStateSampler, FrameGray
from core.analysis.filters import LandmarkFilter
from core.analysis.flowrefine import FlowRefiner
from core.analysis.image import to_rgb8
from core.analysis.interfaces import Detection, Detector, Embedder, Landmarker
from core.analysis.landmarks68 import MP_TO_68
from core.analysis.pose import estimate_pose
from core.analysis.types import N_LANDMARKS, ShotAnalysis
from core.errors import MediaError, UserCancelled
from core.facs.filters import nominal_step

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass
class FaceResult:
    """One face in a still (analyze_image)."""

    bbox: np.ndarray  # (4,) x0, y0, x1, y1 of the landmarks
    score: float
    landmarks: np.ndarray  # (478, 3) plate pixels
    pose: np.ndarray  # (3,) pitch, yaw, roll radians (OpenFace)
    translation: np.ndarray  # (3,) mm
    gaze: np.ndarray  # (2,) gaze_angle_x, gaze_angle_y radians
    embedding: np.ndarray | None
    detection: Detection | None = None

    @property
    def size(self) -> float:
        return float(max(self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def landmark_box(points: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1 of the face mesh (first 468 points)."""
    p = points[:468, :2]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], np.float32)


def embed_box(points: np.ndarray) -> np.ndarray:
    """A dlib-style face box (brows to chin) from the landmarks, for the embedder."""
    p = points[MP_TO_68, :2]
    x0, y0 = p[:, 0].min(), p[:, 1].min()
    x1, y1 = p[:, 0].max(), p[:, 1].max()
    return np.array([x0, y0, x1, y1], np.float32)


def face_scale(points: np.ndarray) -> float:
    """Inter-ocular distance in pixels (outer eye corners), the unit of face size."""
    return float(np.linalg.norm(points[33, :2] - points[263, :2])) or 1.0


class CutDetector:
    """Hard cuts from a 64x36 thumbnail: contrast-normalised mean absolute difference plus the
    hue/saturation histogram distance. Both jump together on a cut (score > 1 typically) and
    stay low under motion, flashes of one kind only, or low light (score < 0.5 typically)."""

    def __init__(self, threshold: float = 0.8) -> None:
        self.threshold = float(threshold)
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self.last_score = 0.0

    def is_cut(self, rgb: np.ndarray) -> bool:
        h, w = rgb.shape[:2]
        step = max(1, min(h, w) // 144)
        small = cv2.resize(rgb[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
        hist /= max(float(hist.sum()), 1.0)
        prev, self._prev = self._prev, (gray, hist)
        if prev is None:
            return False
        diff = float(np.mean(np.abs(gray - prev[0]))) / ((float(gray.std()) + float(prev[0].std())) / 2 + 1.0)
        hdist = 0.5 * float(np.abs(hist - prev[1]).sum())
        self.last_score = diff + hdist
        return self.last_score > self.threshold


@dataclass
class _Track:
    index: int
    first_t: int
    filter: LandmarkFilter
    active: bool = True
    box: np.ndarray | None = None  # landmark box, last frame (raw landmarks)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    score: float = 0.0
    emb_sum: np.ndarray | None = None
    emb_n: int = 0
    emb_list: list = field(default_factory=list)
    last_embed_t: int = -(10 ** 9)
    last_seen_t: int = -1
    restart: bool = True
    lost_pred: np.ndarray | None = None
    sizes: list = field(default_factory=list)
    refiner: FlowRefiner | None = None
    eyes: EyeStateSampler = field(default_factory=EyeStateSampler)

    def mean_embedding(self) -> np.ndarray | None:
        return None if self.emb_n == 0 else self.emb_sum / self.emb_n

    def add_embedding(self, e: np.ndarray, t: int) -> None:
        self.emb_sum = e.astype(np.float64) if self.emb_sum is None else self.emb_sum + e
        self.emb_n += 1
        self.emb_list.append(np.asarray(e, np.float64))
        self.last_embed_t = t

    def predicted_box(self) -> np.ndarray:
        b = self.box.copy()
        b[[0, 2]] += self.velocity[0]
        b[[1, 3]] += self.velocity[1]
        return b


def first_field(rgb: np.ndarray, field_order: str) -> np.ndarray:
    """An interlaced frame's first field (its even rows for 'tff', odd for 'bff') at the frame's
    height: its rows kept where they are and the other field's rows interpolated between them,
    one instant of the face without the comb of the other field."""
    import cv2

    out = rgb.copy()
    keep = 0 if field_order == "tff" else 1
    field = rgb[keep::2]
    if len(field) < 2:
        return out
    between = cv2.addWeighted(field[:-1], 0.5, field[1:], 0.5, 0.0)  # midway rows
    other = out[1 - keep::2]
    if keep == 0:  # rows 1, 3, ...: between rows 0 and 2, 2 and 4 ...; the last copies its neighbour
        other[:len(between)] = between
        other[len(between):] = field[-1]
    else:  # rows 0, 2, ...: row 0 copies row 1; row 2 is between rows 1 and 3 ...
        other[0] = field[0]
        other[1:1 + len(between)] = between[:len(other) - 1]
    return out


class _Source:
    """Frames from a path, a media Reader or a sequence of arrays, with plate indices and times."""

    def __init__(self, source: Any, frames: tuple[int, int] | None, fps: Fraction | float | None,
                 pixel_aspect: float | None = None, colorspace: str | None = None) -> None:
        self.colorspace = colorspace
        self.colorspace_setting = colorspace  # the plate's interpretation as asked (None: as the files say)
        self._close: Callable[[], None] | None = None
        self.name = ""
        self.first_frame_number = 0  # the plate's own number of frame index 0 (e.g. 1001 in a sequence)
        if isinstance(source, (str, Path)):
            self.name = str(source)
            from core.media.reader import open_media

            self._reader = open_media(source)  # clips, image sequences and stills
            self._close = self._reader.close
            self._arrays: Sequence[np.ndarray] | None = None
        elif hasattr(source, "info") and hasattr(source, "frames"):
            self._reader, self._arrays = source, None
            self.name = str(getattr(source.info, "path", ""))
        else:
            self._reader, self._arrays = None, list(source) if not isinstance(source, np.ndarray) else [source]
            if source is not None and isinstance(source, np.ndarray) and source.ndim == 4:
                self._arrays = list(source)
        self.pixel_aspect = 1.0
        self.field_order: str | None = None
        if self._reader is not None:
            from core.media.aspect import is_square, square_width

            info = self._reader.info
            self.field_order = getattr(info, "field_order", None)  # interlaced: measured on one field
            from core.media.colour import display_colorspace

            # a log, HDR or tagged-ACEScg plate is measured as its display picture
            self.colorspace = display_colorspace(info, colorspace)
            par = float(pixel_aspect or getattr(info, "pixel_aspect", 1.0) or 1.0)
            self.pixel_aspect = 1.0 if is_square(par) else par
            # an anamorphic plate is measured desqueezed: its faces on square pixels
            self.width, self.height = square_width(int(info.width), self.pixel_aspect), int(info.height)
            self.fps = Fraction(info.fps)
            total = int(info.frame_count)
            self.first_frame_number = int(getattr(info, "first_frame_number", 0) or 0)
        else:
            if not self._arrays:
                raise MediaError("nothing to analyse: the frame sequence is empty")
            first = to_rgb8(self._arrays[0])
            self.height, self.width = first.shape[:2]
            self.fps = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
            total = len(self._arrays)
        start, stop = (0, total) if frames is None else (int(frames[0]), int(frames[1]))
        if start < 0 or stop > total or start >= stop:
            self.close()
            raise MediaError(f"frame range {start}-{stop - 1} is outside the source's frames 0-{total - 1}; "
                             "give a range inside it")
        self.start, self.stop = start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def time(self, i: int) -> float:
        if self._reader is not None and hasattr(self._reader, "frame_time"):
            return float(self._reader.frame_time(i))
        return float(i / self.fps)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self._reader is not None:
            if self.pixel_aspect == 1.0 and not self.colorspace and not self.field_order:
                yield from self._reader.frames(self.start, self.stop, rgb8=True)
                return
            from core.media.aspect import desqueeze
            from core.media.colour import display_rgb8

            # a log plate is measured as a display picture, an interlaced one on its first field,
            # an anamorphic one desqueezed
            for i, img in self._reader.frames(self.start, self.stop, rgb8=not self.colorspace):
                rgb = display_rgb8(img, self.colorspace) if self.colorspace else img
                if self.field_order:
                    rgb = first_field(rgb, self.field_order)
                yield i, desqueeze(rgb, self.pixel_aspect)
        else:
            for i in range(self.start, self.stop):
                yield i, self._arrays[i]

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


class Analyzer:
    """Detect, track, landmark and measure every face of a plate.

    detector/landmarker/embedder default to the embedded MediaPipe and dlib models.
    detect_every: frames between full-frame detections while tracking holds (new faces show
    up at most this late). max_faces: most faces tracked at once (largest first).
    smooth=False keeps the per-frame landmarks (no One-Euro stabilisation); refine=False keeps
    the landmark network's own positions (no optical-flow refinement); eye_state=False skips
    the appearance check of closing eyes (analysis.eye_open stays None, shut eyes keep the
    landmark reading)."""

    def __init__(self, detector: Detector | None = None, landmarker: Landmarker | None = None,
                 embedder: Embedder | None = None, detect_every: int = 12, max_faces: int = 8,
                 filter_min_cutoff: float = 1.0, filter_beta: float = 8.0, cut_threshold: float = 0.8,
                 embed_refresh: int = 48, smooth: bool = True, refine: bool = True,
                 eye_state: bool = True) -> None:
        if detector is None:
            from core.analysis.defaults import MediaPipeDetector

            detector = MediaPipeDetector()
        if landmarker is None:
            from core.analysis.defaults import MediaPipeLandmarker

            landmarker = MediaPipeLandmarker()
        if embedder is None:
            from core.analysis.defaults import DlibEmbedder

            embedder = DlibEmbedder()
        if getattr(landmarker, "n_points", N_LANDMARKS) != N_LANDMARKS:
            raise ValueError(f"the analyzer needs a {N_LANDMARKS}-point landmarker, got {landmarker.n_points}")
        self.detector, self.landmarker, self.embedder = detector, landmarker, embedder
        self.detect_every = max(1, int(detect_every))
        self.max_faces = max(1, int(max_faces))
        self.filter_min_cutoff, self.filter_beta = float(filter_min_cutoff), float(filter_beta)
        self.cut_threshold = float(cut_threshold)
        self.embed_refresh = int(embed_refresh)
        self.smooth = bool(smooth)
        self.refine = bool(refine)
        self.eye_state = bool(eye_state)

    # ----------------------------------------------------------------- stills
    def analyze_image(self, image: np.ndarray, embed: bool = True) -> list[FaceResult]:
        """Every face in one still, largest first (at most max_faces)."""
        rgb = to_rgb8(image)
        h, w = rgb.shape[:2]
        out: list[FaceResult] = []
        for det in self.detector.detect(rgb):
            res = self.landmarker.landmarks(rgb, det)
            if res is None:
                continue
            pts, conf = res
            box = landmark_box(pts)
            if iou(box, det.bbox) < 0.2 or any(iou(box, f.bbox) > 0.5 for f in out):
                continue
            hp = estimate_pose(pts, w, h)
            emb = None
            if embed:
                emb = self.embedder.embed(rgb, Detection(embed_box(pts), det.score))
            out.append(FaceResult(bbox=box, score=float(det.score) * conf, landmarks=pts,
                                  pose=hp.euler.astype(np.float32), translation=hp.translation.astype(np.float32),
                                  gaze=hp.gaze_angles.astype(np.float32), embedding=emb, detection=det))
        out.sort(key=lambda f: -f.size)
        return out[: self.max_faces]

    def still_analysis(self, image: np.ndarray, source: str = "") -> ShotAnalysis:
        """A one-frame ShotAnalysis of a still, tracks ordered by face size."""
        rgb = to_rgb8(image)
        faces = self.analyze_image(rgb)
        h, w = rgb.shape[:2]
        a = ShotAnalysis.empty(w, h, Fraction(25), np.array([0]), np.array([0.0]), n_tracks=len(faces),
                               embedding_dim=int(self.embedder.dim), source=source)
        for f, face in enumerate(faces):
            a.present[0, f] = True
            a.confidence[0, f] = face.score
            a.bbox[0, f] = face.bbox
            a.landmarks[0, f] = face.landmarks
            a.pose[0, f] = face.pose
            a.translation[0, f] = face.translation
            a.gaze[0, f] = face.gaze
            if face.embedding is not None:
                a.embeddings[f] = face.embedding
        a.meta.update(self._meta())
        a.meta.update({"still": True, "faces": len(faces)})
        return a

    def _meta(self) -> dict:
        return {"detector": self.detector.name, "landmarker": self.landmarker.name,
                "embedder": self.embedder.name, "embedding_metric": self.embedder.metric,
                "embedding_threshold": float(self.embedder.threshold), "detect_every": self.detect_every,
                "max_faces": self.max_faces,
                "landmark_refinement": "optical flow against a per-track anchor (DIS)" if self.refine else "none",
                "eye_state": "OpenCV open-eye cascade (haarcascade_eye) on closing eyes" if self.eye_state else "none",
                "pose_convention": "OpenFace 2.x: R = Rx(pitch) Ry(yaw) Rz(roll), camera x right, y down, "
                                   "z away; pitch > 0 head down; focal 500*W/640, 500*H/480 averaged"}

    # ----------------------------------------------------------------- clips
    def analyze(self, source: str | Path | Any | Sequence[np.ndarray], frames: tuple[int, int] | None = None,
                progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                fps: Fraction | float | None = None, pixel_aspect: float | None = None,
                colorspace: str | None = None) -> ShotAnalysis:
        """Analyse a clip (path or Reader) or a sequence of frames; frames=(start, stop) is a
        half-open range of plate frame numbers. Raises UserCancelled when cancel() says so.
        pixel_aspect: the plate's pixel aspect when its file does not say (an untagged anamorphic
        plate); None: the file's tag. A clip of non-square pixels is measured desqueezed.
        colorspace: the plate's colour space when it is not what to_rgb8 assumes (a camera log
        plate): frames are then measured as sRGB display pictures (core.media.colour.display_rgb8)."""
        src = _Source(source, frames, fps, pixel_aspect, colorspace)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow-refine") if self.refine else None
        try:
            return self._run(src, progress, cancel, pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            src.close()

    def _run(self, src: _Source, progress: ProgressFn | None, cancel: CancelFn | None,
             pool: ThreadPoolExecutor | None) -> ShotAnalysis:
        total = len(src)
        w, h = src.width, src.height
        fps = float(src.fps) if src.fps else 25.0
        tracks: list[_Track] = []
        rec_idx: list[int] = []
        rec_time: list[float] = []
        per_frame: list[dict[int, tuple]] = []
        cuts = CutDetector(self.cut_threshold)
        last_detect = -(10 ** 9)
        want_detect = True
        stats = {"detections_run": 0, "cuts": 0, "embeddings": 0, "reidentified": 0, "new_tracks": 0,
                 "identity_splits": 0}
        t0 = time.perf_counter()
        if progress:
            progress(0, total)
        pending: list[tuple] = []
        done_waiting: list[tuple] = []

        def finish(rows: dict, ti: int, tr: _Track, restart: bool, pts, conf: float, eyes: np.ndarray | None,
                   dt: float) -> None:
            if not isinstance(pts, np.ndarray):
                pts = pts.result()
            if restart:
                tr.filter.reset()
            smooth = tr.filter(pts, dt, face_scale(pts)) if self.smooth else pts
            hp = estimate_pose(smooth, w, h)
            rows[ti] = (conf, landmark_box(smooth), smooth, hp.euler, hp.translation, hp.gaze_angles, pts, eyes)

        for t, (index, frame) in enumerate(src):
            if cancel is not None and cancel():
                raise UserCancelled(f"analysis cancelled at frame {index} ({t}/{total} done)")
            rgb = frame if (frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3) else to_rgb8(frame)
            if rgb.shape[0] != h or rgb.shape[1] != w:
                raise MediaError(f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]}, the plate is {w}x{h}")
            rec_idx.append(int(index))
            rec_time.append(src.time(index))
            # seconds since the previous frame, which a followed track was last filtered on (a
            # track missing for a frame restarts): a VFR plate's own step, the nominal one when
            # within a time base's rounding of it (core.facs.filters.nominal_step)
            dt = nominal_step(rec_time[-1] - rec_time[-2], fps) if t else 1.0 / fps
            # 1. cut test
            cut = cuts.is_cut(rgb)
            if cut:
                stats["cuts"] += 1
                for tr in tracks:
                    if tr.active:
                        tr.active, tr.restart = False, True
                want_detect = True
            found: dict[int, tuple[np.ndarray, float]] = {}
            # 2. follow active tracks without the detector
            for tr in tracks:
                if not tr.active:
                    continue
                pred = tr.predicted_box()
                res = self.landmarker.landmarks(rgb, Detection(pred, tr.score, extra={"crop_scale": 1.6}))
                ok = False
                if res is not None:
                    pts, conf = res
                    box = landmark_box(pts)
                    ok = iou(box, pred) > 0.3 and not any(iou(box, landmark_box(p)) > 0.5 for p, _ in found.values())
                    if ok:
                        found[tr.index] = (pts, conf)
                        if conf < 0.98:
                            want_detect = True
                if not ok:
                    want_detect = True
                    tr.active = False  # recovered below if the detector finds it where predicted
                    tr.restart = True
                    tr.lost_pred = pred
            # 3. detection
            n_active = sum(tr.active for tr in tracks)
            if want_detect or n_active == 0 or t - last_detect >= self.detect_every:
                want_detect = False
                last_detect = t
                stats["detections_run"] += 1
                dets = self.detector.detect(rgb)
                dets.sort(key=lambda d: -float((d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1])))
                followed = list(found)  # the tracks whose boxes lead `taken`
                taken = [landmark_box(p) for p, _ in found.values()]
                just_lost = [tr for tr in tracks if not tr.active and tr.last_seen_t == t - 1 and not cut]
                for det in dets:
                    over = [k for k, b in enumerate(taken) if iou(det.bbox, b) > 0.25]
                    if over:  # a face we already follow: the detector's fresh score is its confidence
                        if over[0] < len(followed):
                            tracks[followed[over[0]]].score = float(det.score)
                        continue
                    res = self.landmarker.landmarks(rgb, det)
                    if res is None:
                        continue
                    pts, conf = res
                    box = landmark_box(pts)
                    if iou(box, det.bbox) < 0.2 or any(iou(box, b) > 0.4 for b in taken):
                        continue
                    # a track lost this very frame, detected where it was predicted: same face
                    match = max(just_lost, key=lambda tr: iou(box, tr.lost_pred), default=None)
                    tr = None
                    if match is not None and iou(box, match.lost_pred) > 0.3:
                        tr = match
                        just_lost.remove(match)
                    else:
                        if sum(x.active for x in tracks) + 0 >= self.max_faces:
                            continue
                        emb = self.embedder.embed(rgb, Detection(embed_box(pts), det.score))
                        stats["embeddings"] += 1
                        tr = self._reidentify(tracks, found, emb)
                        if tr is not None:
                            stats["reidentified"] += 1
                            log.debug("frame %d: face re-identified as track %d", index, tr.index)
                        else:
                            tr = _Track(index=len(tracks), first_t=t,
                                        filter=LandmarkFilter(self.filter_min_cutoff, self.filter_beta))
                            tracks.append(tr)
                            stats["new_tracks"] += 1
                        tr.add_embedding(emb, t)
                    tr.active = True
                    tr.score = float(det.score)
                    found[tr.index] = (pts, conf)
                    taken.append(box)
                # periodic identity refresh of followed faces (a better mean for re-identification)
                for ti, (pts, _c) in list(found.items()):
                    tr = tracks[ti]
                    # identity refresh, backing off (48, 96, 192, 384 frames...) once the mean is solid
                    if t - tr.last_embed_t >= self.embed_refresh * 2 ** min(max(tr.emb_n - 1, 0), 3):
                        e = self.embedder.embed(rgb, Detection(embed_box(pts), tr.score))
                        stats["embeddings"] += 1
                        m = tr.mean_embedding()
                        if m is not None and tr.emb_n >= 2 and embedding_distance(m, e, self.embedder.metric) > \
                                1.25 * float(self.embedder.threshold):
                            # an unseen cut or a swap: this is someone else. Hand the face over.
                            stats["identity_splits"] += 1
                            tr.active, tr.restart = False, True
                            new = self._reidentify(tracks, found, e, exclude=tr)
                            if new is None:
                                new = _Track(index=len(tracks), first_t=t,
                                             filter=LandmarkFilter(self.filter_min_cutoff, self.filter_beta))
                                tracks.append(new)
                                stats["new_tracks"] += 1
                            new.add_embedding(e, t)
                            new.active, new.score = True, tr.score
                            del found[ti]
                            found[new.index] = (pts, _c)
                        elif tr.emb_n < 16:
                            tr.add_embedding(e, t)
                        else:
                            tr.last_embed_t = t
            # 4. refine, stabilise, measure, record. The optical-flow refinement of this frame runs on
            # a worker thread while the next frame is decoded and landmarked; the rest waits for it,
            # in frame order, one frame later. (On 2 cores this hides little: MediaPipe and the flow
            # each use both cores, and MediaPipe's result conversion needs the GIL.)
            rows: dict[int, tuple] = {}
            frame_gray = FrameGray(rgb)  # converted once, and only when an eye is checked
            for ti, (pts, conf) in found.items():
                tr = tracks[ti]
                raw_box = landmark_box(pts)
                restart = tr.restart
                if restart:
                    tr.velocity[:] = 0
                elif tr.box is not None:
                    c_new = (raw_box[:2] + raw_box[2:]) / 2
                    c_old = (tr.box[:2] + tr.box[2:]) / 2
                    tr.velocity = 0.5 * tr.velocity + 0.5 * (c_new - c_old)
                tr.restart = False
                tr.box = raw_box
                tr.active = True
                tr.last_seen_t = t
                tr.sizes.append(float(raw_box[2] - raw_box[0]))
                if restart:
                    tr.eyes = EyeStateSampler()
                eyes = tr.eyes(frame_gray, pts) if self.eye_state else None
                if self.refine:
                    if tr.refiner is None:
                        tr.refiner = FlowRefiner()
                    pts = pool.submit(_refine, tr.refiner, restart, rgb, pts)
                pending.append((rows, ti, tr, restart, pts, float(min(1.0, tr.score) * conf), eyes, dt))
            for item in done_waiting:
                finish(*item)
            done_waiting, pending = pending, []
            per_frame.append(rows)
            if progress:
                progress(t + 1, total)
        for item in done_waiting:
            finish(*item)
        elapsed = time.perf_counter() - t0
        stats["refine_anchors"] = sum(tr.refiner.anchors for tr in tracks if tr.refiner is not None)
        stats["refine_failures"] = sum(tr.refiner.failures for tr in tracks if tr.refiner is not None)
        tracks, per_frame = self._merge_tracks(tracks, per_frame, stats)
        # order tracks by first appearance, then size
        order = sorted(range(len(tracks)), key=lambda i: (tracks[i].first_t, -float(np.median(tracks[i].sizes or [0]))))
        remap = {tracks[old].index: new for new, old in enumerate(order)}
        a = ShotAnalysis.empty(w, h, src.fps, np.array(rec_idx, np.int64), np.array(rec_time, np.float64),
                               n_tracks=len(tracks), embedding_dim=int(self.embedder.dim), source=src.name)
        if self.smooth:  # the AU solve reads the landmarks before stabilisation (see ShotAnalysis)
            a.solve_landmarks = np.full_like(a.landmarks, np.nan)
        if self.eye_state:
            a.eye_open = np.full(a.present.shape + (2,), np.nan, np.float32)
        for t, rows in enumerate(per_frame):
            for ti, (conf, box, pts, euler, trans, gaze, solve, eyes) in rows.items():
                f = remap[ti]
                a.present[t, f] = True
                a.confidence[t, f] = conf
                a.bbox[t, f] = box
                a.landmarks[t, f] = pts
                if a.solve_landmarks is not None:
                    a.solve_landmarks[t, f] = solve
                a.pose[t, f] = euler
                a.translation[t, f] = trans
                a.gaze[t, f] = gaze
                if a.eye_open is not None:
                    a.eye_open[t, f] = eyes
        for tr in tracks:
            e = tr.mean_embedding()
            new = remap[tr.index]
            if e is not None:
                a.embeddings[new] = e
        a.meta.update(self._meta())
        a.meta.update(stats)
        if src.pixel_aspect != 1.0:  # landmarks are on the desqueezed picture: x = plate x * pixel_aspect
            a.meta["pixel_aspect"] = src.pixel_aspect
        if src.field_order:
            a.meta["fields"] = f"interlaced ({src.field_order}): measured on the first field, line-doubled"
        # the reading the faces were measured on (None: as the files say), so a later change of the
        # plate's interpretation can tell which analyses it makes stale
        a.meta["colorspace"] = src.colorspace_setting
        a.meta.update({"first_frame_number": src.first_frame_number, "analysis_seconds": round(elapsed, 3),
                       "analysis_fps": round(total / elapsed, 2) if elapsed > 0 else None})
        log.info("analysed %d frames in %.1f s (%.1f fps): %d track(s), %d detector runs, %d cut(s)",
                 total, elapsed, total / max(elapsed, 1e-9), len(tracks), stats["detections_run"], stats["cuts"])
        return a

    def _merge_tracks(self, tracks: list[_Track], per_frame: list[dict], stats: dict
                      ) -> tuple[list[_Track], list[dict]]:
        """Join tracks that are never on screen together and whose mean identities (over the whole
        track, more reliable than the single embedding the online re-identification had) are
        within the embedder's threshold: the same person seen again after a cut or a miss."""
        thr = float(self.embedder.threshold)
        alive = {tr.index: tr for tr in tracks}
        frames_of = {tr.index: {t for t, rows in enumerate(per_frame) if tr.index in rows} for tr in tracks}
        while True:
            best = None
            for a in alive.values():
                for b in alive.values():
                    if a.index >= b.index or a.emb_n == 0 or b.emb_n == 0:
                        continue
                    if frames_of[a.index] & frames_of[b.index]:
                        continue
                    # average linkage: the mean distance over all pairs of samples (stricter than
                    # the distance of the means, so poor samples cannot chain identities together)
                    d = float(np.mean([embedding_distance(x, y, self.embedder.metric)
                                       for x in a.emb_list for y in b.emb_list]))
                    if d < thr and (best is None or d < best[0]):
                        best = (d, a, b)
            if best is None:
                break
            _, keep, gone = best if best[1].first_t <= best[2].first_t else (best[0], best[2], best[1])
            for rows in per_frame:
                if gone.index in rows:
                    rows[keep.index] = rows.pop(gone.index)
            keep.emb_sum = keep.emb_sum + gone.emb_sum
            keep.emb_n += gone.emb_n
            keep.emb_list += gone.emb_list
            keep.first_t = min(keep.first_t, gone.first_t)
            keep.sizes += gone.sizes
            frames_of[keep.index] |= frames_of.pop(gone.index)
            del alive[gone.index]
            stats["merged_tracks"] = stats.get("merged_tracks", 0) + 1
            log.debug("track %d joined to track %d (identity distance %.3f)", gone.index, keep.index, best[0])
        return list(alive.values()), per_frame

    def _reidentify(self, tracks: list[_Track], found: dict, emb: np.ndarray,
                    exclude: _Track | None = None) -> _Track | None:
        """The nearest track not visible in this frame whose mean embedding is within threshold."""
        best, best_d = None, math.inf
        for tr in tracks:
            if tr.index in found or tr.active or tr is exclude:
                continue
            m = tr.mean_embedding()
            if m is None:
                continue
            d = embedding_distance(m, emb, self.embedder.metric)
            if d < best_d:
                best, best_d = tr, d
        # online, one fresh embedding against a mean: be stricter than the pairwise threshold
        # (blurred or tiny faces drift); _merge_tracks joins the rest with whole-track means.
        if best is not None and best_d < 0.8 * float(self.embedder.threshold):
            return best
        return None


def _refine(refiner: FlowRefiner, restart: bool, rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """One track's refinement step (on the worker thread): reset on a restart, then refine.

    A frame the refinement cannot handle keeps the detector's landmarks (counted in the
    analysis meta as refine_failures, logged once per track): one odd frame must not cost a
    long analysis."""
    if restart:
        refiner.reset()
    try:
        return refiner.refine(rgb, pts)[0]
    except (cv2.error, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        refiner.failures += 1
        if refiner.failures == 1:
            log.warning("landmark refinement failed on a frame (%s); that frame keeps the detector's landmarks", exc)
        return np.asarray(pts, np.float32)


def main_track(analysis: ShotAnalysis) -> int:
    """Index of the main performer's track: most frames present, then largest face; -1 if none."""
    if analysis.n_tracks == 0:
        return -1
    counts = analysis.present.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sizes = np.nan_to_num(np.nanmedian(analysis.bbox[..., 2] - analysis.bbox[..., 0], axis=0))
    score = counts * (1.0 + sizes / (1.0 + sizes.max()))
    return int(np.argmax(score))
