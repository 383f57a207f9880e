"""sotimestamp(1): mdoc that mandoc -Tlint accepts, and every command and option of the
parser documented (a new option without its paragraph fails here)."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sotimestamp.cli import build_parser

from conftest import need_tool

HERE = Path(__file__).resolve().parent
# In the repository (tests/python -> py-sotimestamp/man), in the sdist pkgsrc's
# do-test runs (tests/ and man/ side by side), and installed by net/py-sotimestamp
# (PREFIX/man/man1/sotimestamp-X.Y.1, one per Python version).
CANDIDATES = [HERE.parent.parent / "py-sotimestamp" / "man" / "sotimestamp.1", HERE.parent / "man" / "sotimestamp.1",
              Path(sys.prefix) / "man" / "man1" / f"sotimestamp-{sys.version_info[0]}.{sys.version_info[1]}.1"]


def man_page() -> Path:
    found = [p for p in CANDIDATES if p.is_file()]
    assert found, f"sotimestamp.1 not found at {[str(p) for p in CANDIDATES]}"
    return found[0]


def test_mandoc_lint_is_clean() -> None:
    mandoc = need_tool("mandoc")
    res = subprocess.run([mandoc, "-Tlint", str(man_page())], capture_output=True, text=True)
    # SEE ALSO names NetBSD's pages (ip(4), udp(4), tcpdump(8)); a host without one of them
    # says "referenced manual not found", which is about the host, not the page.
    complaints = [line for line in (res.stdout + res.stderr).splitlines()
                  if line and "referenced manual not found" not in line and "outdated mandoc.db" not in line]
    assert complaints == [], "\n".join(complaints)


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _subsection(text: str, command: str) -> str:
    match = re.search(rf"^\.Ss {command}\n(.*?)(?=^\.S[sh] )", text, re.S | re.M)
    assert match, f"no .Ss {command} subsection"
    return match.group(1)


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_is_documented(command: str) -> None:
    text = man_page().read_text()
    synopsis = re.search(r"^\.Sh SYNOPSIS\n(.*?)^\.Sh ", text, re.S | re.M).group(1)
    assert f".Cm {command}\n" in synopsis
    section = _subsection(text, command)
    for action in _commands()[command]._actions:
        flags = [f for f in action.option_strings if f not in ("-h", "--help")]
        # mdoc writes --name as "Fl -name" and -o as "Fl o"
        macros = [f"Fl {flag[1:]}" for flag in flags]
        for flag, macro in zip(flags, macros):
            assert re.search(rf"^\.It\b.*{re.escape(macro)}\b", section, re.M), f"{command} {flag}: no .It in .Ss {command}"
        if flags:  # the synopsis shows one spelling (-o, not also --output)
            assert any(re.search(rf"{re.escape(m)}\b", synopsis) for m in macros), f"{command} {flags}: not in SYNOPSIS"


def test_required_sections() -> None:
    text = man_page().read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert re.search(rf"^\.Sh {section}$", text, re.M), section
    assert re.search(r"^\.Dt SOTIMESTAMP 1$", text, re.M)
    for status in ("0", "1", "2", "130", "141", "143"):  # what cli.main returns
        assert re.search(rf"^\.It {status}$", text, re.M), status
