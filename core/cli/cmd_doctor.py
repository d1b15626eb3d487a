"""`facsimile doctor [--json]`: report the installation's health; exit 1 when something fails."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the installation: libraries, models, GPU, folders, Qt")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from core.doctor import run_checks

    checks = run_checks()
    failed = [c for c in checks if c.status == "fail"]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [c.to_json() for c in checks]}, indent=2))
    else:
        mark = {"ok": "  ok ", "warn": " warn", "fail": " FAIL"}
        area = None
        for c in checks:
            if c.area != area:
                area = c.area
                print(f"\n[{area}]")
            print(f"{mark[c.status]}  {c.name}: {c.detail}")
            if c.fix and c.status != "ok":
                print(f"        fix: {c.fix}")
        warned = sum(c.status == "warn" for c in checks)
        note = f" ({warned} warning(s): optional parts, see above)" if warned else ""
        print(f"\n{len(failed)} problem(s) to fix{note}" if failed else f"\nall essential checks passed{note}")
    return 1 if failed else 0
