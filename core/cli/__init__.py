"""The `facsimile` command line.

Each sub-command lives in its own module `core/cli/cmd_<name>.py` that defines
`register(subparsers) -> None`; main() discovers them, so adding a command never edits
this file. Errors print one clear line on stderr and exit non-zero; `--debug` adds the
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from core import __version__
from core.errors import FacsimileError, SignalInterrupt, UserCancelled

log = logging.getLogger("facsimile")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="facsimile",
        description="Facsimile: FACS AU curve extraction, editing and face re-rendering for post-production.",
    )
    parser.add_argument("--version", action="version", version=f"facsimile {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import core.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"core.cli.{info.name}")
            module.register(sub)
    return parser


class _SaidByCommand(logging.Filter):
    """On the terminal's log handler: while a command that prints its own copy of what core hands
    back runs (said_by_command), drop the records logged with core.util.report.HANDED_BACK. They
    still reach every other handler (a log file, a test's caplog)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.active and getattr(record, "handed_back", False))


_TERMINAL = _SaidByCommand()


@contextmanager
def said_by_command() -> Iterator[None]:
    """Inside: the command says what core hands back (a render's notes, a library's problems)
    itself, so the WARNING log lines of the same facts stay off stderr (said once). --debug shows
    them anyway: it is the full log."""
    _TERMINAL.active += 1
    try:
        yield
    finally:
        _TERMINAL.active -= 1


def _setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    terminal = logging.StreamHandler(sys.stderr)
    if not debug:
        terminal.addFilter(_TERMINAL)
    # a no-op where logging is set up already (main() called again in-process, pytest's handlers)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", handlers=[terminal])


def _raise_interrupt(signum: int, frame: object) -> None:
    raise SignalInterrupt(signum)


def _install_signal_handlers() -> dict:
    """SIGTERM and SIGHUP stop a command as Ctrl-C does (a KeyboardInterrupt, so the code that
    keeps finished work on Ctrl-C runs for them too) instead of killing it on the spot. Only in the
    main thread (the only one that may set handlers), and not over a handler someone else set."""
    import threading

    previous: dict = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            previous[sig] = signal.signal(sig, _raise_interrupt)
    return previous


def _signal_of(exc: BaseException) -> SignalInterrupt | None:
    """The SignalInterrupt `exc` is or was raised from (a UserCancelled made from it), if any."""
    while exc is not None:
        if isinstance(exc, SignalInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _global_flags(argv: Sequence[str]) -> tuple[list[str], bool, bool]:
    """Take --debug and -q/--quiet from anywhere before a `--`: every error says "run with
    --debug", and users add it at the end (`facsimile project key ... --debug`), where argparse
    would reject it as an argument of the sub-command. Returns the rest, debug, quiet."""
    rest: list[str] = []
    debug = quiet = False
    for i, arg in enumerate(argv):
        if arg == "--":
            rest += argv[i:]
            break
        if arg == "--debug":
            debug = True
        elif arg in ("-q", "--quiet"):
            quiet = True
        else:
            rest.append(arg)
    return rest, debug, quiet


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `facsimile` console script; returns the process exit code."""
    parser = build_parser()
    argv, debug, quiet = _global_flags(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.debug, args.quiet = args.debug or debug, args.quiet or quiet
    _setup_logging(args.debug, args.quiet)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # the studio keeps the default SIGTERM/SIGHUP: a Python handler runs only between Qt events,
    # where its exception is printed and the event loop goes on, so a logout left it running
    previous = {} if getattr(args, "gui", False) else _install_signal_handlers()
    try:
        return _run(args)
    finally:
        for sig, handler in previous.items():  # main() called in-process (tests, scripts) leaves them as they were
            signal.signal(sig, handler)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; every way it can end becomes an exit code and at most one line."""
    try:
        rc = args.func(args)
        return int(rc or 0)
    except FacsimileError as exc:
        if args.debug:
            traceback.print_exc()
        sig = _signal_of(exc) if isinstance(exc, UserCancelled) else None
        print(f"facsimile: error: {exc}" + (f" ({sig.name})" if sig else ""), file=sys.stderr)
        return sig.exit_code if sig else exc.exit_code
    except KeyboardInterrupt as exc:
        if args.debug:
            traceback.print_exc()
        sig = _signal_of(exc)
        print("facsimile: interrupted" + (f" ({sig.name})" if sig else ""), file=sys.stderr)
        return sig.exit_code if sig else 130
    except BrokenPipeError:
        # the reader of our output went away (`facsimile probe x | head`): not an error of
        # ours; point stdout at devnull so the interpreter's final flush stays quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence for the user
        if args.debug:
            traceback.print_exc()
        print(f"facsimile: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
