"""`facsimile analyze INPUT --out DIR`: detect, track and measure every face of a clip or still.

Writes DIR/analysis.npz (ShotAnalysis), DIR/INPUT_STEM.csv (OpenFace 2.x layout, one row per
face per frame) and, when the AU engine is installed, DIR/aus.json with AU columns in the CSV.
--neutral FRAME measures every face from its own face at that frame; --filter chooses the
temporal filter (aus.json keeps the raw per-frame solve and the calibration used).
An input with no face at all is not an error: the files are written (every frame marked
success=0) and a note goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from core.errors import FacsimileError, MediaError

log = logging.getLogger("facsimile.analyze")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="track faces, landmarks, head pose and gaze in a clip or still")
    p.add_argument("input", help="video file, image sequence (shot.####.exr) or still image")
    p.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    p.add_argument("--frames", help="inclusive plate frame range A-B (0-based), e.g. 10-120")
    p.add_argument("--max-faces", type=int, default=8, help="most faces tracked at once (default 8)")
    p.add_argument("--detect-every", type=int, default=12,
                   help="frames between full-frame face detections while tracking holds (default 12)")
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="keep the landmark network's own positions: skip the optical-flow refinement that adds "
                        "the small expression movements the network under-reports (analysis about 3x faster; "
                        "AU curves then read weaker)")
    p.add_argument("--neutral", type=int, metavar="FRAME",
                   help="plate frame where every face is at rest: AU curves are measured from it (default: an "
                        "automatic neutral per face and region, or the canonical one for stills and short clips)")
    p.add_argument("--filter", choices=["one_euro", "savgol", "none"], default="one_euro",
                   help="temporal filter of the AU curves (default one_euro; aus.json keeps the raw solve too)")
    p.add_argument("--pixel-aspect", type=_pixel_aspect, metavar="P",
                   help="pixel aspect of an anamorphic plate whose file does not say (e.g. 2 for a 2x squeeze; "
                        "default: the file's tag). Faces are measured desqueezed; landmarks are written in the "
                        "desqueezed picture's pixels (x = plate x * P)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier analysis in the output folder (default: refuse)")
    p.set_defaults(func=_analyze)


def _earlier_analysis(out: Path, overwrite: bool) -> list[Path]:
    """The files of an earlier analysis in `out` (its analysis.npz, aus.json and CSV): refused
    without --overwrite (a second input into the same folder left the first one's aus.json and
    CSV beside the new analysis, mixed); with it, what is to be removed before writing."""
    npz = out / "analysis.npz"
    files = [p for p in (npz, out / "aus.json") if p.exists()]
    if not files:
        return []
    if not overwrite:
        raise MediaError(f"{out} holds an earlier analysis ({', '.join(p.name for p in files)}): pass --overwrite "
                         "to replace it, or choose another folder")
    try:
        from core.analysis.types import ShotAnalysis

        source = ShotAnalysis.load(npz).source if npz.exists() else ""
    except Exception:  # noqa: BLE001 - a damaged earlier analysis is replaced all the same
        source = ""
    if source:
        files.append(out / f"{_csv_stem(Path(source))}.csv")
    return files


def _csv_stem(src: Path) -> str:
    return re.sub(r"[._-]*(#+|@+|%0?\d*d)$", "", src.stem) or "analysis"  # shot.####.exr -> shot


def _pixel_aspect(text: str) -> float:
    """--pixel-aspect: a number or a ratio (2, 1.33, 4/3) between 0.1 and 10."""
    from fractions import Fraction

    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a pixel aspect; give e.g. 2, 1.333 or 4/3") from None
    if not 0.1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"pixel aspect {text} is outside 0.1-10")
    return value


def parse_frame_range(text: str) -> tuple[int, int]:
    """'A-B' (inclusive) -> half-open (A, B + 1); a single 'A' is one frame."""
    try:
        if "-" in text.strip()[1:]:
            a, b = text.split("-", 1) if not text.startswith("-") else (text, "")
            start, end = int(a), int(b)
        else:
            start = end = int(text)
    except ValueError as exc:
        raise MediaError(f"--frames {text!r} is not a range; give A-B, e.g. --frames 0-99") from exc
    if start < 0 or end < start:
        raise MediaError(f"--frames {text!r}: need 0 <= A <= B")
    return start, end + 1


def _analyze_clip(analyzer, reader, src: Path, frames: tuple[int, int] | None, pixel_aspect: float | None = None):
    """Analyse a clip with a tqdm progress bar on a terminal (silent otherwise)."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit="frame", desc=f"analyse {src.name}", disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        return analyzer.analyze(reader, frames=frames, progress=progress, pixel_aspect=pixel_aspect)
    finally:
        bar.close()


def _analyze(args: argparse.Namespace) -> int:
    from core.media.reader import names_image_sequence

    src = Path(args.input)
    if not src.exists() and not names_image_sequence(src):
        raise MediaError(f"input not found: {src}")
    out = Path(args.out)
    if args.max_faces < 1:
        raise FacsimileError("--max-faces must be at least 1")
    if args.detect_every < 1:
        raise FacsimileError(f"--detect-every {args.detect_every}: give a whole number of frames, at least 1 "
                             "(1 detects on every frame)")
    earlier = _earlier_analysis(out, args.overwrite) if out.is_dir() else []
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaError(f"cannot create output folder {out}: {exc}") from exc
    try:
        return _analyze_into(args, src, out, earlier)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed analysis leaves no empty folder behind
        raise


def _analyze_into(args: argparse.Namespace, src: Path, out: Path, earlier: list[Path]) -> int:
    from core.analysis.analyzer import Analyzer
    from core.analysis.openface_csv import write_openface_csv

    analyzer = Analyzer(max_faces=args.max_faces, detect_every=args.detect_every, refine=args.refine)
    from core.media.reader import open_media

    with open_media(src) as reader:
        for note in getattr(reader.info, "notes", []) or []:
            log.info("%s: %s", src.name, note)
        if reader.info.kind == "image":
            if args.frames:
                log.warning("--frames ignored: %s is a still", src)
            from core.media.aspect import desqueeze, is_square

            par = float(args.pixel_aspect or reader.info.pixel_aspect)
            analysis = analyzer.still_analysis(desqueeze(reader.read_rgb8(0), par), source=str(src))
            if not is_square(par):
                analysis.meta["pixel_aspect"] = par
        else:
            frames = parse_frame_range(args.frames) if args.frames else None
            if args.neutral is not None:  # say so before minutes of analysis, not after
                lo, hi = frames or (0, int(reader.info.frame_count))
                if not lo <= args.neutral < hi:
                    raise FacsimileError(f"--neutral {args.neutral} is outside the analysed frames {lo}-{hi - 1}")
            analysis = _analyze_clip(analyzer, reader, src, frames, args.pixel_aspect)
    for old in earlier:  # --overwrite: the earlier analysis goes as a whole
        old.unlink(missing_ok=True)
    npz = out / "analysis.npz"
    analysis.save(npz)
    extra = None
    try:
        from core.facs import extract_shot
    except ImportError as exc:
        extract_shot = None
        log.error("AU engine not available (core.facs.extract_shot: %s): the CSV has no AU columns "
                  "and aus.json is not written", exc)
    if extract_shot is not None and analysis.n_tracks:
        from core.cli import said_by_command
        from core.util.atomic import atomic_write_text

        with said_by_command():  # each face's calibration note is said once, below
            faces = extract_shot(analysis, neutral=args.neutral, filter=args.filter)
        from core.curves.curveset import extraction_of
        from core.project.workflow import calibration_summary

        for face in faces:
            cal = face.calibration
            # a note says something went other than asked (a neutral frame without that face), except
            # for a still's canonical neutral, which is always so and already said
            level = logging.WARNING if cal.get("note") and cal.get("method") != "canonical" else logging.INFO
            log.log(level, "face %d: AU curves measured from: %s", face.track_id,
                    calibration_summary(extraction_of(face), detail=False))
        extra = {i: face.openface_columns() for i, face in enumerate(faces)}
        atomic_write_text(out / "aus.json", json.dumps({"source": str(src), "faces": [f.to_json() for f in faces]},
                                                       indent=1))
    if extra is None and extract_shot is not None:  # no face: the AU columns all the same (0, success 0)
        import numpy as np

        from core.facs.extract import openface_au_columns

        extra = {0: {name: np.zeros(analysis.n_frames, np.float32) for name in openface_au_columns()}}
    csv = write_openface_csv(out / f"{_csv_stem(src)}.csv", analysis, extra_columns=extra)
    if analysis.n_tracks == 0:
        print(f"facsimile: note: no face found in {src} ({analysis.n_frames} frame(s)); "
              f"wrote {npz} and {csv} with every frame marked success=0", file=sys.stderr)
    else:
        present = analysis.present.sum(axis=0).tolist()
        log.info("%d face track(s) in %d frame(s); frames present per track: %s", analysis.n_tracks,
                 analysis.n_frames, present)
    print(json.dumps({"analysis": str(npz), "csv": str(csv), "frames": analysis.n_frames,
                      "faces": analysis.n_tracks,
                      "aus": str(out / "aus.json") if analysis.n_tracks and extra is not None else None}))
    return 0
