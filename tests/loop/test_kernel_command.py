"""sotimestamp-kernel, the command the kernel package installs
(sys/tools/sotimestamp_kernel.py): status, apply, revert on stand-in trees,
and on copies of the pinned tree's files when NETBSDSRCDIR is set."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.config import PROJECT
from devtools.loop.kernelseries import PATH as COMMAND
from devtools.loop.kernelseries import core

from .conftest import make_series, make_tree, tree_hash

NETBSD_10 = 1000000000  # sys/sys/param.h of NetBSD 10.0


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command as an administrator runs it: its own process, stdin closed."""
    return subprocess.run([sys.executable, str(COMMAND), *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


def test_release_name_decodes_netbsd_versions() -> None:
    assert core.release_name(799001000) == "7.99.10"
    assert core.release_name(799001100) == "7.99.11"
    assert core.release_name(NETBSD_10) == "10.0"
    assert core.release_name(903000000) == "9.3"


def test_apply_status_revert_round_trip_keeps_a_record_in_the_tree(tmp_path: Path) -> None:
    tree, series = make_tree(tmp_path / "src"), make_series(tmp_path / "series")
    pristine = tree_hash(tree)
    ok = run("--series", series, "apply", tree)
    assert ok.returncode == 0, ok.stderr
    assert (tree / "sys/kern/a.c").read_text() == "one\ntwo and a half\nthree\n"
    assert sorted(p.name for p in (tree / core.RECORD / "patches").iterdir()) == ["010-a.diff", "020-b.diff"]
    st = run("--series", series, "status", tree)
    assert st.returncode == 0 and "series applied (3 items), recorded in" in st.stdout
    again = run("--series", series, "apply", tree)
    assert again.returncode == 0 and "already applied" in again.stdout
    back = run("--series", series, "revert", tree)
    assert back.returncode == 0, back.stderr
    assert tree_hash(tree) == pristine  # record gone too


def test_revert_works_after_the_package_is_gone(tmp_path: Path) -> None:
    """pkg_delete removes share/sotimestamp-kernel: the record in the tree is enough."""
    tree, series = make_tree(tmp_path / "src"), make_series(tmp_path / "series")
    pristine = tree_hash(tree)
    assert run("--series", series, "apply", tree).returncode == 0
    shutil.rmtree(series)
    back = run("--series", tmp_path / "gone", "revert", tree)
    assert back.returncode == 0, back.stderr
    assert "as applied (recorded in" in back.stdout
    assert tree_hash(tree) == pristine


def test_the_record_reverts_after_pkg_delete_removed_the_command(tmp_path: Path) -> None:
    """pkg_delete removes PREFIX/sbin/sotimestamp-kernel and the series: the
    record in the tree holds a copy of the command, which any python3 runs."""
    prefix = tmp_path / "pkg"
    (prefix / "sbin").mkdir(parents=True)
    shutil.copy2(COMMAND, prefix / "sbin" / "sotimestamp-kernel")
    make_series(prefix / "share" / "sotimestamp-kernel")
    tree = make_tree(tmp_path / "src")
    pristine = tree_hash(tree)
    applied = subprocess.run([sys.executable, str(prefix / "sbin" / "sotimestamp-kernel"), "apply", str(tree)],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert applied.returncode == 0, applied.stderr
    recorded = tree / core.RECORD / core.RECORD_COMMAND
    assert f"without the package: python3 {recorded} revert {tree}" in applied.stdout
    shutil.rmtree(prefix)
    back = subprocess.run([sys.executable, str(recorded), "revert", str(tree)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert back.returncode == 0, back.stderr
    assert "as applied (recorded in" in back.stdout
    assert tree_hash(tree) == pristine


def test_netbsd_10_tree_is_refused_untouched_naming_the_version_needed(tmp_path: Path) -> None:
    tree, series = make_tree(tmp_path / "src", NETBSD_10), make_series(tmp_path / "series")
    before = tree_hash(tree)
    for command in ("apply", "revert"):
        res = run("--series", series, command, tree)
        assert res.returncode == 1
        assert res.stderr.strip().splitlines() == [
            f"sotimestamp: SRCDIR {tree} is NetBSD 10.0 (__NetBSD_Version__ 1000000000, not the pinned 799001000): "
            "the series needs NetBSD 7.99.10, NetBSD-current of 2015-04-21; nothing changed"]
    st = run("--series", series, "status", tree)
    assert st.returncode == 1 and "needs NetBSD 7.99.10" in st.stdout
    assert tree_hash(tree) == before


def test_tree_missing_a_patched_file_is_refused_before_anything_changes(tmp_path: Path) -> None:
    """A kernel-only tree (syssrc) lacks the userland files: refused up front, no prompt."""
    tree, series = make_tree(tmp_path / "src"), make_series(tmp_path / "series")
    (tree / "sys/kern/b.c").unlink()
    before = tree_hash(tree)
    res = run("--series", series, "apply", tree)
    assert res.returncode == 1
    assert "lacks 1 of the 2 files the series patches (sys/kern/b.c)" in res.stderr
    assert "File to patch" not in res.stdout + res.stderr
    assert tree_hash(tree) == before


def test_the_command_finds_the_series_next_to_it(tmp_path: Path) -> None:
    """Installed as PREFIX/sbin/sotimestamp-kernel with the series in PREFIX/share/sotimestamp-kernel."""
    prefix = tmp_path / "pkg"
    (prefix / "sbin").mkdir(parents=True)
    shutil.copy2(COMMAND, prefix / "sbin" / "sotimestamp-kernel")
    make_series(prefix / "share" / "sotimestamp-kernel")
    tree = make_tree(tmp_path / "src")
    res = subprocess.run([sys.executable, str(prefix / "sbin" / "sotimestamp-kernel"), "status", str(tree)],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert res.returncode == 0 and "series not applied (3 items)" in res.stdout, res.stderr


def _copy_of_pinned_files(src: Path, dest: Path, *, version_line: str | None = None) -> Path:
    series = core.Series.load(PROJECT / "sys")
    for rel in [*series.patched_files(), "sys/sys/param.h", "build.sh"]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)
    if version_line:
        param = dest / "sys/sys/param.h"
        text = param.read_text()
        old = next(ln for ln in text.splitlines() if ln.startswith("#define\t__NetBSD_Version__"))
        param.write_text(text.replace(old, version_line))
    return dest


@pytest.fixture
def pinned() -> Path:
    value = os.environ.get("NETBSDSRCDIR")
    if not value or not (Path(value) / "sys/sys/param.h").is_file():
        pytest.skip("NETBSDSRCDIR not set: no pinned NetBSD tree to copy the series' files from")
    src = Path(value)
    if core.netbsd_version(src) != core.PINNED_VERSION:
        pytest.skip(f"NETBSDSRCDIR={src} is patched; these tests copy pristine files")
    return src


def test_real_series_on_a_copy_of_the_pinned_files(pinned: Path, tmp_path: Path) -> None:
    tree = _copy_of_pinned_files(pinned, tmp_path / "src")
    pristine = tree_hash(tree)
    ok = run("--series", PROJECT / "sys", "apply", tree)
    assert ok.returncode == 0, ok.stderr
    assert f"__NetBSD_Version__\t{core.SERIES_VERSION}" in (tree / "sys/sys/param.h").read_text()
    assert run("--series", PROJECT / "sys", "status", tree).returncode == 0
    back = run("--series", tmp_path / "no-such-series", "revert", tree)
    assert back.returncode == 0, back.stderr
    assert tree_hash(tree) == pristine


def test_real_series_refuses_a_tree_set_to_netbsd_10(pinned: Path, tmp_path: Path) -> None:
    tree = _copy_of_pinned_files(pinned, tmp_path / "src",
                                 version_line=f"#define\t__NetBSD_Version__\t{NETBSD_10}\t/* NetBSD 10.0 */")
    before = tree_hash(tree)
    res = run("--series", PROJECT / "sys", "apply", tree)
    assert res.returncode == 1 and "is NetBSD 10.0" in res.stderr and "needs NetBSD 7.99.10" in res.stderr
    assert tree_hash(tree) == before


def test_man_page_is_mandoc_lint_clean_and_names_every_command() -> None:
    mandoc = shutil.which("mandoc")
    if mandoc is None:
        pytest.skip("mandoc not installed (devtools/install-test-deps.sh installs it)")
    page = COMMAND.with_name("sotimestamp-kernel.8")
    res = subprocess.run([mandoc, "-Tlint", "-Wwarning", str(page)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stdout + res.stderr
    text = page.read_text()
    for word in ("Cm status", "Cm apply", "Cm revert", "Fl Fl series", core.RECORD, "@BSDSRCDIR@", "@PREFIX@"):
        assert word in text, word
    readme = COMMAND.with_name("README").read_text()
    for step in ("sotimestamp-kernel apply", "kernel=SOTIMESTAMP", "/netbsd.pre-sotimestamp", "installmodules=/",
                 "/stand/amd64/7.99.11/modules", "DESTDIR=/ includes", "ifconfig wm0", "sotimestamp-kernel revert"):
        assert step in readme, step
