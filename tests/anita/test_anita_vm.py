"""`invoke anita` end to end: the installed release, our packages, the tests.

Needs NETBSDSRCDIR (the patched tree), the release of `invoke sets`, QEMU >=
8.1, anita (ANITA_SRC) and pkg_create (built, or PKGSRCDIR to bootstrap it);
each missing piece skips with a one-line reason (as in CI).  It boots the
kept image (the first run installs it: ~5 min more).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import config
from devtools.installed import sets

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)


def _why_not() -> str | None:
    src = config.netbsdsrcdir_if_set()
    if src is None:
        return "NETBSDSRCDIR not set: no NetBSD tree here (see docs/loop.md: getting the NetBSD tree)"
    release = sets.amd64_dir(src) / "installation" / "cdrom" / "boot-com.iso"
    if not release.exists():
        return f"no release in {release.parents[2]} (run `invoke sets`)"
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu or '"igb"' not in subprocess.run([qemu, "-device", "help"], capture_output=True,
                                                   text=True).stdout:
        return "no QEMU with -device igb (need QEMU >= 8.1: `invoke setup`)"
    if config.anita_src() is None and not any((Path(sys.prefix) / "lib").glob("python3*/site-packages/anita.py")):
        return "anita not installed and ANITA_SRC not set"
    if not (config.cache() / "pkgtools" / "sbin" / "pkg_create").exists() and config.pkgsrcdir() is None:
        return "no pkg_create and PKGSRCDIR not set to bootstrap one"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def test_invoke_anita_passes_in_the_installed_system() -> None:
    inv = Path(sys.executable).parent / "invoke"
    res = subprocess.run([str(inv), "anita"], cwd=config.PROJECT, capture_output=True, text=True,
                         timeout=7200)
    print(res.stdout[-6000:])
    found = SUMMARY.findall(res.stdout)
    assert found, res.stdout[-3000:] + res.stderr[-2000:]
    passed, failed = map(int, found[-1])
    assert res.stdout.strip().splitlines()[-1] == f"{passed} passed, {failed} failed"
    assert failed == 0 and res.returncode == 0, res.stdout[-4000:]
    # the package checks, our ATF programs and the Python suite all counted
    for needle in ("ok pkg_add", "ok pkg_info lists the 6 packages", "ok bin/sotimestamp", "ok pkg_delete removes them cleanly",
                   # the kernel package's command on copies of the tree's sources (sys/tools/README's path)
                   "ok sotimestamp-kernel refuses a tree set to NetBSD 10.0, which stays byte-identical",
                   "ok sotimestamp-kernel applies the series to a copy of the sources, reverts it exactly"):
        assert needle in res.stdout
    assert re.search(r"guest: pytest \{'passed': \d+", res.stdout)
    ours = re.search(r"guest: atf net/timestamp: (\d+) passed, 0 failed", res.stdout)
    assert ours and int(ours.group(1)) >= 40, "our ATF cases did not all run and pass"
    assert passed > 100
