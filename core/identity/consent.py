"""Consent and rights records for identity templates, and the check a render makes.

Rendering someone's face needs their consent. A template carries a record of who
consented, for what use, until when, and who recorded it. A render refuses a template
without a valid record unless the user overrides explicitly with a reason; the override
itself is recorded in the render's metadata.
"""

from __future__ import annotations

import datetime as _dt
import getpass
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import FacsimileError


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): still record something
        return "unknown"


def parse_date(text: str | None) -> str | None:
    """An ISO date (YYYY-MM-DD) as text, or None; FacsimileError for anything else."""
    if text is None or str(text).strip() == "":
        return None
    try:
        return _dt.date.fromisoformat(str(text).strip()).isoformat()
    except ValueError as exc:
        raise FacsimileError(f"consent date {text!r} is not a date; write it as YYYY-MM-DD (e.g. 2027-12-31)") from exc


@dataclass
class Consent:
    """Who consented to their likeness being used, for what, until when; who recorded it."""

    consented_by: str
    use: str
    until: str | None = None  # ISO date; None = no end date was given
    recorded_by: str = ""
    recorded_at: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        self.consented_by = (self.consented_by or "").strip()
        self.use = (self.use or "").strip()
        if not self.consented_by:
            raise FacsimileError("a consent record needs the name of the person who consented (--consent-by)")
        if not self.use:
            raise FacsimileError("a consent record needs the use that was agreed (--consent-use), "
                                 "e.g. 'feature film X, post-production only'")
        self.until = parse_date(self.until)
        self.recorded_by = self.recorded_by or _user()
        self.recorded_at = self.recorded_at or _now()

    def expired(self, today: _dt.date | None = None) -> bool:
        if self.until is None:
            return False
        return _dt.date.fromisoformat(self.until) < (today or _dt.date.today())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Consent | None:
        if not d:
            return None
        return cls(**{k: d.get(k) for k in ("consented_by", "use", "until", "recorded_by", "recorded_at", "note")
                      if d.get(k) is not None})


class ConsentError(FacsimileError):
    """A render refused for want of a valid consent record (missing, expired, or an override
    without a reason): the studio offers the override, with a reason, instead of a dead end."""


def check_consent(template, override: bool = False, reason: str = "", today: _dt.date | None = None) -> dict:
    """The consent record to write into a render's metadata, or a clear FacsimileError.

    template: a Template (or anything with .id, .name and .consent). A missing or expired
    record refuses the render unless `override` is set with a non-empty `reason`; the
    override, its reason, who and when are then recorded."""
    consent: Consent | None = template.consent
    base = {"template_id": template.id, "template_name": template.name,
            "consent": consent.to_dict() if consent else None, "checked_at": _now()}
    problem = None
    if consent is None:
        problem = f"identity template '{template.name}' ({template.id}) has no consent record"
    elif consent.expired(today):
        problem = (f"the consent for identity template '{template.name}' ({template.id}) ended on {consent.until}")
    if problem is None:
        return {**base, "status": "consented", "override": False}
    if not override:
        raise ConsentError(
            f"{problem}; record the person's consent with `facsimile library consent {template.id} --by WHO "
            "--use TEXT [--until DATE]`, or override explicitly with a reason (the override is written into the "
            "render's metadata)")
    if not reason or not reason.strip():
        raise ConsentError(f"{problem}; an override needs a reason (who authorised it and why)")
    return {**base, "status": "override", "override": True, "override_reason": reason.strip(),
            "override_by": _user(), "override_at": _now()}
