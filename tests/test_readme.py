"""Every command the README tells a user to type is exercised by a named test or by CI.

The commands are read from README.md itself (fenced sh/bash/shell/console blocks, and inline
code spans in the prose that start with `make` or `facsimile`), so the README can be rewritten
freely: this test fails only when it documents a command that nothing checks. Rules:

- `make TARGET`: covered by CI (.ci/run runs `make test`) or, when the Makefile recipe runs
  `facsimile SUB`, by the rule for that sub-command; other targets need an entry in MAKE_COVERAGE.
- `facsimile SUB ...` (any path to the executable, or `python -m core`): SUB must exist, its
  `--help` must run, and a test under tests/ must invoke it through the CLI
  (`main(["SUB", ...])`, `["facsimile", "SUB", ...]` or the text `facsimile SUB`).
- anything else needs an entry in OTHER_COVERAGE naming the test (checked to exist) or CI.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from core.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
TESTS = REPO / "tests"
SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh"}

# make targets whose recipe is not a facsimile sub-command: where they are exercised.
MAKE_COVERAGE = {
    "test": ("CI", ".ci/run runs exactly `make test` on a clean clone"),
    "install": ("CI", "`make test` depends on the install stamp, so CI runs the install first"),
    "test-all": ("CI", "same recipe as `make test` without the bundle filter"),
}
# Other commands (regex on the command line) -> (test node or "CI", why that covers it).
OTHER_COVERAGE = [
    (r"^(\S*/)?python3?(\.\d+)? installer/build_bundle\.py\b",
     ("tests/test_installer.py::test_bundle_doctor_is_ok_and_uses_its_own_data", "builds the bundle (slow)")),
    (r"^(\S*/)?installer/install_desktop_entry\.sh\b",
     ("tests/test_installer_desktop.py::test_install_and_uninstall_with_prefix", "installs into a --prefix")),
    (r"^(\S*/)?python3?(\.\d+)? installer/make_icon\.py\b",
     ("tests/test_installer_desktop.py::test_icons_are_current_and_well_formed", "regenerates the icons")),
    (r"^(\S*/)?python3?(\.\d+)? docs/gen_cli_md\.py\b",
     ("tests/test_readme.py::test_cli_doc_is_current", "re-generates docs/cli.md and compares")),
    (r"^git clone\b", ("CI", "CI starts from a clean clone")),
    (r"^cd\b", ("CI", "changing folder is part of every CI run")),
]
# Sub-commands the README documents before they exist: while missing, the case xfails with this
# reason; once the sub-command exists the entry is ignored and the normal rule (a test runs it) applies.
PENDING = {
    "demo": "`facsimile demo` (behind `make demo`) is not written yet",
}


def _subcommands() -> dict[str, object]:
    import argparse

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def readme_commands(text: str) -> list[str]:
    """Shell commands in a Markdown document: fenced shell blocks, plus inline `make`/`facsimile` spans."""
    commands: list[str] = []
    fence = re.compile(r"^(```+|~~~+)\s*([\w+-]*)[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
    for m in fence.finditer(text):
        if m.group(2).lower() not in SHELL_LANGS:
            continue
        body = re.sub(r"\\\n\s*", " ", m.group(3))  # line continuations
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            elif m.group(2).lower() == "console":
                continue  # console blocks: only prompted lines are commands
            commands += _split_line(line)
    prose = fence.sub("", text)
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", prose):
        if re.match(r"^(make\s|(\S*/)?facsimile(\s|$)|(\S*/)?python3?(\.\d+)? -m core\b)", span.strip()):
            commands += _split_line(span)
    seen: set[str] = set()
    return [c for c in commands if not (c in seen or seen.add(c))]


def _split_line(line: str) -> list[str]:
    line = re.sub(r"(^|\s)#.*$", "", line).strip()  # trailing comment
    parts = re.split(r"\s*(?:&&|\|\||;)\s*", line)
    return [re.sub(r"\s+", " ", p.strip()) for p in parts if p.strip()]


def _facsimile_argv(command: str) -> list[str] | None:
    """The argv after the program when `command` runs the facsimile CLI, else None."""
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # VAR=value prefixes
        words = words[1:]
    if not words:
        return None
    if Path(words[0]).name == "facsimile":
        return words[1:]
    if re.match(r"^python3?(\.\d+)?$", Path(words[0]).name) and words[1:3] == ["-m", "core"]:
        return words[3:]
    return None


def _make_recipe_subcommand(target: str) -> str | None:
    """The facsimile sub-command a Makefile target's recipe runs (e.g. demo -> 'demo'), if any."""
    text = (REPO / "Makefile").read_text()
    m = re.search(rf"^{re.escape(target)}\s*:[^\n]*\n((?:\t[^\n]*\n?)+)", text, re.M)
    if not m:
        return None
    hit = re.search(r"facsimile\s+([a-z][\w-]*)", m.group(1))
    return hit.group(1) if hit else None


def _tests_invoking(sub: str) -> list[str]:
    """Test files that run `facsimile SUB` through the CLI."""
    pats = [re.compile(rf"""main\(\s*\[\s*(['"]){re.escape(sub)}\1"""),
            re.compile(rf"""(['"])facsimile\1\s*,\s*(['"]){re.escape(sub)}\2"""),
            re.compile(rf"""\bfacsimile {re.escape(sub)}\b""")]
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(p.search(text) for p in pats):
            found.append(path.name)
    return found


def _test_node_exists(node: str) -> bool:
    file, _, func = node.partition("::")
    path = REPO / file
    if not path.is_file():
        return False
    if not func:
        return True
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == func for n in ast.walk(tree))


def _covered_by(target: str) -> str:
    if target == "CI":
        ci = REPO / ".ci" / "run"
        assert ci.is_file() and "make test" in ci.read_text(), ".ci/run no longer runs `make test`"
        return "CI"
    assert _test_node_exists(target), f"the test named as coverage does not exist: {target}"
    return target


def coverage_of(command: str) -> str:
    """Where `command` is exercised; raises AssertionError (or xfails) saying what is missing."""
    argv = _facsimile_argv(command)
    words = shlex.split(command)
    if argv is None and words[:1] == ["make"]:
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w] or ["install"]
        where = []
        for t in targets:
            sub = _make_recipe_subcommand(t)
            if sub:
                where.append(_coverage_of_subcommand(sub, f"make {t}"))
            elif t in MAKE_COVERAGE:
                where.append(_covered_by(MAKE_COVERAGE[t][0]))
            else:
                raise AssertionError(f"README runs `make {t}`: add it to MAKE_COVERAGE in tests/test_readme.py "
                                     "with the test (or CI) that exercises it")
        return ", ".join(where)
    if argv is not None:
        if not argv or argv[0].startswith("-"):
            return "tests/test_readme.py::test_help_of_every_command"  # --help / --version / bare
        return _coverage_of_subcommand(argv[0], command)
    for pattern, (target, _why) in OTHER_COVERAGE:
        if re.search(pattern, command):
            return _covered_by(target)
    raise AssertionError(f"README documents `{command}` but no test or CI step exercises it: add it to "
                         "OTHER_COVERAGE in tests/test_readme.py with the test that does")


def _coverage_of_subcommand(sub: str, command: str) -> str:
    subs = _subcommands()
    if sub not in subs:
        if sub in PENDING:
            pytest.xfail(PENDING[sub])
        raise AssertionError(f"README documents `{command}`, but `facsimile {sub}` does not exist "
                             f"(commands: {', '.join(sorted(subs))})")
    tests = _tests_invoking(sub)
    assert tests, f"README documents `{command}` but no test under tests/ runs `facsimile {sub}`"
    return ", ".join(tests)


COMMANDS = readme_commands(README.read_text(encoding="utf-8")) if README.is_file() else []


def test_readme_documents_commands():
    assert README.is_file(), "README.md is missing"
    assert COMMANDS, "README.md has no shell commands (```sh blocks): the set-up steps must be there"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_is_exercised(command):
    where = coverage_of(command)
    assert where


def test_help_of_every_command(capsys):
    """`facsimile --help` lists every sub-command, and every sub-command (and action) has a working --help."""
    import argparse

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    top = capsys.readouterr().out
    subs = _subcommands()
    assert subs
    for name, parser in subs.items():
        assert name in top, f"`facsimile --help` does not list {name}"
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert f"facsimile {name}" in capsys.readouterr().out
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices:
                    with pytest.raises(SystemExit) as exc:
                        main([name, child, "--help"])
                    assert exc.value.code == 0, f"{name} {child}"
                    assert f"facsimile {name} {child}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "facsimile" in capsys.readouterr().out


def test_cli_doc_is_current():
    """docs/cli.md is what docs/gen_cli_md.py generates from the parser today."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_cli_md", REPO / "docs" / "gen_cli_md.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == gen.render(), "docs/cli.md is stale: run .venv/bin/python docs/gen_cli_md.py"


def test_parser_of_readme_commands():
    text = """
Set up:

```sh
make demo    # a comment
$ .venv/bin/facsimile analyze plate.mov --out an && make test
FOO=1 facsimile studio \\
    project.facsimile
```

```python
make_not_a_command()
```

```console
$ facsimile doctor
all essential checks passed
```

Run `make studio` or `.venv/bin/facsimile --help`; see `docs/cli.md`.
"""
    assert readme_commands(text) == [
        "make demo", ".venv/bin/facsimile analyze plate.mov --out an", "make test",
        "FOO=1 facsimile studio project.facsimile", "facsimile doctor", "make studio", ".venv/bin/facsimile --help"]
    assert _facsimile_argv("FOO=1 facsimile studio x") == ["studio", "x"]
    assert _facsimile_argv(".venv/bin/python -m core doctor") == ["doctor"]
    assert _facsimile_argv("make test") is None
    assert _make_recipe_subcommand("studio") == "studio"
    assert _make_recipe_subcommand("test") is None
