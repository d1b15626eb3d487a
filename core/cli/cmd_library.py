"""`facsimile library`: identity templates (add from stills or a plate, list, show, rename, remove)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from core.errors import FacsimileError

log = logging.getLogger("facsimile")


def _library(args: argparse.Namespace, create: bool = False):
    """The library of --library (else the user's). A folder named by hand must be a library
    folder: a mistyped one listed "no templates" with exit 0 (`add` creates a new one)."""
    from core.errors import FacsimileError
    from core.identity import Library

    folder = getattr(args, "library", None) or getattr(args, "library_dir", None)
    if folder:
        p = Path(folder)
        if p.exists() and not p.is_dir():
            raise FacsimileError(f"--library {folder}: a file, not a library folder")
        if not p.exists() and not create:
            raise FacsimileError(f"--library {folder}: no such folder (`facsimile library add` creates a library)")
    return Library(Path(folder) if folder else None)


def _consent_from(args: argparse.Namespace, prefix: str = "consent_"):
    from core.identity import Consent

    by = getattr(args, f"{prefix}by")
    use = getattr(args, f"{prefix}use")
    until = getattr(args, f"{prefix}until")
    if by is None and use is None and until is None:
        return None
    if not by or not use:
        flag = "--consent-" if prefix else "--"
        raise FacsimileError(f"a consent record needs both who consented ({flag}by) and for what use ({flag}use)")
    consent = Consent(consented_by=by, use=use, until=until, recorded_by=getattr(args, f"{prefix}recorded_by") or "")
    if consent.expired():  # kept (a record of what was agreed), but a typo here would stop every render later
        log.warning("the consent recorded ends on %s, which has passed: renders refuse this template until a "
                    "current consent is recorded", consent.until)
    return consent


def _cmd_add(args: argparse.Namespace) -> int:
    from core.identity import parse_frame_range

    if not args.images and not args.from_plate:
        raise FacsimileError("give source IMAGE files and/or --from-plate CLIP --frames A-B")
    if args.frames and not args.from_plate:
        raise FacsimileError("--frames needs --from-plate CLIP")
    plate = None
    if args.from_plate:
        plate = (args.from_plate, parse_frame_range(args.frames) if args.frames else None)
    consent = _consent_from(args)
    t = _library(args, create=True).add(args.name, args.images, consent=consent, from_plate=plate, face_index=args.face)
    warnings = [w for s in t.meta["quality"]["sources"] for w in s.get("warnings", [])]
    if args.json:
        print(json.dumps({"id": t.id, "name": t.name, "path": str(t.path), "sources": len(t.meta["sources"]),
                          "warnings": warnings, "consent": consent is not None}, indent=2))
        return 0
    print(f"added {t.id}  {t.name}  ({len(t.meta['sources'])} source(s)) -> {t.path}")
    for w in warnings:
        print(f"  warning: {w}")
    if consent is None:
        print(f"  note: no consent record; renders will refuse this template until one is added "
              f"(`facsimile library consent {t.id} --by WHO --use TEXT`)")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from core.cli import said_by_command

    lib = _library(args)
    if args.json:  # the problems go into the JSON; stderr keeps its log line
        items = lib.list()
    else:
        with said_by_command():  # each damaged folder once, below, with what to do about it
            items = lib.list()
    if args.json:
        print(json.dumps({"library": str(lib.path), "templates": [t.summary() for t in items],
                          "problems": lib.problems}, indent=2))
        return 0
    if not items:
        print(f"no identity templates in {lib.path}")
    for t in items:
        s = t.summary()
        print(f"{t.id:40s} {t.name:28s} consent: {s['consent_status']:8s} created {t.created}")
    for p in lib.problems:
        print(f"warning: {p}", file=sys.stderr)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    t = _library(args).get(args.id)
    if args.json:
        print(json.dumps(t.meta | {"path": str(t.path)}, indent=2))
        return 0
    s = t.summary()
    print(f"id:       {t.id}\nname:     {t.name}\ncreated:  {t.created}\nfolder:   {t.path}")
    try:
        c = t.consent
    except FacsimileError as exc:
        print(f"consent:  DAMAGED: {exc}")
        return 0
    if c:
        print(f"consent:  {s['consent_status']}: {c.consented_by}, for: {c.use}, until: {c.until or 'no end date'}, "
              f"recorded by {c.recorded_by} at {c.recorded_at}")
    else:
        print("consent:  NONE (renders refuse this template unless overridden with a reason)")
    for src, q in zip(t.meta.get("sources", []), t.meta.get("quality", {}).get("sources", []), strict=False):
        where = src.get("path") or "(array)"
        if src.get("frame") is not None:
            where += f" frame {src['frame']}"
        print(f"source:   {where}  sha256 {str(src.get('sha256'))[:16]}..  face {q.get('face_px', 0):.0f} px, yaw "
              f"{q.get('yaw_deg'):+.0f}, pitch {q.get('pitch_deg'):+.0f}, sharpness {q.get('sharpness'):.1f}"
              f"{'  [texture]' if src.get('used_for_texture') else ''}")
    emb = t.meta.get("embedding", {})
    print(f"texture:  {t.meta.get('texture', {}).get('size')} px   embedding: {emb.get('model')} ({emb.get('dim')}-D)")
    return 0


def _cmd_rename(args: argparse.Namespace) -> int:
    t = _library(args).rename(args.id, args.name)
    print(f"renamed {t.id} -> {t.name}")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    dest = _library(args).remove(args.id)
    print(f"removed {args.id} (moved to {dest}; delete that folder to free the space)")
    return 0


def _cmd_consent(args: argparse.Namespace) -> int:
    lib = _library(args)
    if args.withdraw:
        t = lib.set_consent(args.id, None)
        print(f"consent withdrawn for {t.id} ({t.name}); renders will refuse it")
        return 0
    consent = _consent_from(args, prefix="")
    if consent is None:
        raise FacsimileError("give --by WHO and --use TEXT (and optionally --until DATE), or --withdraw")
    t = lib.set_consent(args.id, consent)
    print(f"consent recorded for {t.id} ({t.name}): {consent.consented_by}, for {consent.use}, "
          f"until {consent.until or 'no end date'}")
    return 0


def register(subparsers) -> None:
    """Add `facsimile library ...`."""
    p = subparsers.add_parser("library", help="identity templates: add, list, show, rename, remove, consent",
                              description="Manage the identity template library (default folder: "
                                          "<user data>/library; FACSIMILE_HOME moves it).")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    p.add_argument("--library", dest="library_dir", metavar="DIR",
                   help="library folder (default: user data folder/library); also accepted after the action")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", metavar="DIR", help="library folder (default: user data folder/library)")
    sub = p.add_subparsers(dest="library_command", metavar="ACTION")

    a = sub.add_parser("add", parents=[common], help="make a template from stills or plate frames")
    a.add_argument("name", help="display name of the person")
    a.add_argument("images", nargs="*", help="source stills (near frontal, sharp, eyes open)")
    a.add_argument("--from-plate", metavar="CLIP", help="take the source from frames of a clip")
    a.add_argument("--frames", metavar="A-B", help="frame range of --from-plate (inclusive, 0-based)")
    a.add_argument("--face", type=int, metavar="N", help="which face when a picture has several (0 = largest)")
    a.add_argument("--consent-by", metavar="WHO", help="the person who consented to the use of their likeness")
    a.add_argument("--consent-use", metavar="TEXT", help="what use they consented to")
    a.add_argument("--consent-until", metavar="DATE", help="consent end date, YYYY-MM-DD")
    a.add_argument("--consent-recorded-by", metavar="WHO", help="who records this (default: your login name)")
    a.add_argument("--json", action="store_true", help="machine-readable output (id, path, warnings)")
    a.set_defaults(func=_cmd_add)

    lst = sub.add_parser("list", parents=[common], help="list templates")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=_cmd_list)

    s = sub.add_parser("show", parents=[common], help="show one template")
    s.add_argument("id", help="template id (or a unique prefix or name)")
    s.add_argument("--json", action="store_true", help="print template.json")
    s.set_defaults(func=_cmd_show)

    r = sub.add_parser("rename", parents=[common], help="change a template's name")
    r.add_argument("id")
    r.add_argument("name")
    r.set_defaults(func=_cmd_rename)

    rm = sub.add_parser("remove", parents=[common], help="remove a template (moved to the library's .trash)")
    rm.add_argument("id")
    rm.set_defaults(func=_cmd_remove)

    c = sub.add_parser("consent", parents=[common], help="record or withdraw a template's consent record")
    c.add_argument("id")
    c.add_argument("--by", metavar="WHO")
    c.add_argument("--use", metavar="TEXT")
    c.add_argument("--until", metavar="DATE", help="YYYY-MM-DD")
    c.add_argument("--recorded-by", metavar="WHO")
    c.add_argument("--withdraw", action="store_true", help="remove the consent record")
    c.set_defaults(func=_cmd_consent)
