"""`facsimile models`: list, verify and install the model files the engine can use."""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import ModelError
from core.runtime.registry import ModelStore


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `models list|verify|install`."""
    p = subparsers.add_parser("models", help="list, verify and install model files",
                              description="Model files: the embedded defaults and the ONNX models a studio brings.")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = sub.add_parser("list", help="table of every known model and its state")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)
    ver = sub.add_parser("verify", help="check the sha256 of every installed model (non-zero exit on a mismatch)")
    ver.add_argument("--json", action="store_true", help="machine-readable output")
    ver.set_defaults(func=_verify)
    ins = sub.add_parser("install", help="copy verified model files from DIR into the model store")
    ins.add_argument("dir", metavar="DIR", help="folder holding the model files (searched recursively)")
    ins.add_argument("--accept-unverified", action="store_true",
                     help="also install files named like a model that has no published hash (records their hash)")
    ins.set_defaults(func=_install)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _rows(store: ModelStore) -> list[dict]:
    rows = []
    for m in store.manifests:
        rows.append({"id": m.id, "family": m.family, "state": store.status(m), "file": m.file,
                     "licence": m.licence, "non_commercial": m.non_commercial, "sha256": m.sha256,
                     "hash_published": bool(m.sha256), "path": str(store.path_for(m) or "")})
    return rows


def _list(args: argparse.Namespace) -> int:
    store = ModelStore()
    rows = _rows(store)
    if args.json:
        print(json.dumps({"model_store": str(store.root), "models": rows}, indent=2))
        return 0
    print(f"model store: {store.root}")
    header = ("ID", "FAMILY", "STATE", "NON-COMM", "LICENCE")
    table = [(r["id"], r["family"], r["state"], "yes" if r["non_commercial"] else "no",
              r["licence"] if len(r["licence"]) <= 60 else r["licence"][:57] + "...") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=False)]
    for line in (header, *table):
        print("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=False)).rstrip())
    missing = sum(r["state"] == "missing" for r in rows)
    if missing:
        print(f"{missing} model(s) missing: get the files and run `facsimile models install DIR`")
    return 0


def _verify(args: argparse.Namespace) -> int:
    store = ModelStore()
    results = store.verify_all()
    bad = [r for r in results if r.status == "mismatch"]
    unverifiable = [r for r in results if r.status == "no-published-hash"]
    if args.json:
        print(json.dumps([{"id": r.model_id, "path": str(r.path), "status": r.status, "expected": r.expected,
                           "actual": r.actual, "message": r.message} for r in results], indent=2))
    else:
        for r in results:
            tag = {"ok": "OK", "ok-unverified": "UNVERIFIED", "mismatch": "MISMATCH",
                   "no-published-hash": "CANNOT VERIFY"}.get(r.status, r.status.upper())
            line = f"{tag:13s} {r.model_id}: {r.path}"
            if r.status == "mismatch":
                line += f"\n              expected {r.expected}\n              found    {r.actual}"
            elif r.status in ("no-published-hash", "ok-unverified"):
                line += f"\n              {r.message}"
            print(line)
        print(f"{len(results)} checked: {len(results) - len(bad) - len(unverifiable)} ok, "
              f"{len(bad)} mismatch, {len(unverifiable)} cannot verify (no published hash)")
    if bad:
        raise ModelError(f"{len(bad)} model file(s) do not match their published sha256: "
                         f"{', '.join(r.model_id for r in bad)}; replace them with `facsimile models install DIR`")
    return 0


def _install(args: argparse.Namespace) -> int:
    store = ModelStore()
    results = store.install(args.dir, accept_unverified=args.accept_unverified)
    for r in results:
        mark = "installed" if r.installed else "skipped  " if r.skipped else "REFUSED  "
        print(f"{mark} {r.source}: {(r.model_id + ': ') if r.model_id else ''}{r.reason}")
        if r.installed and "UNVERIFIED" in r.reason:
            print(f"WARNING: {r.model_id} could not be verified against a published hash; "
                  "you are trusting this file as it is", file=sys.stderr)
    refused = [r for r in results if not r.installed and not r.skipped]
    done = sum(r.installed for r in results)
    print(f"{done} installed into {store.root}, {len(refused)} refused, {len(results) - done - len(refused)} skipped")
    if refused:
        raise ModelError(f"{len(refused)} file(s) in {args.dir} were not installed (reasons above)")
    return 0
