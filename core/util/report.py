"""Warnings that are also handed back to the caller.

Some facts are both logged as a WARNING and returned in a result: a render's notes, a stage's
"off: why" status, a library's damaged folders. Logged with ``extra=HANDED_BACK`` they stay in
every log (a test's caplog, a log file), and a front end that shows the returned copy itself
(the command line, ``core.cli.said_by_command``) keeps them off its terminal, so the user reads
each fact once.
"""

from __future__ import annotations

#: ``log.warning(msg, extra=HANDED_BACK)``: `msg` is also returned to the caller
HANDED_BACK: dict[str, bool] = {"handed_back": True}
