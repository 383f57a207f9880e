from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

PARAM_H = "#define\t__NetBSD_Version__\t{version}\t/* NetBSD */\n"


def tree_hash(root: Path) -> str:
    """Names and contents of everything under root: equal hashes, identical trees."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def make_tree(root: Path, version: int = 799001000) -> Path:
    """A minimal stand-in for a NetBSD tree: what the checks read, plus files to patch."""
    (root / "sys" / "sys").mkdir(parents=True)
    (root / "sys" / "sys" / "param.h").write_text(PARAM_H.format(version=version))
    (root / "build.sh").write_text("#!/bin/sh\n")
    (root / "sys" / "kern").mkdir()
    (root / "sys" / "kern" / "a.c").write_text("one\ntwo\nthree\n")
    (root / "sys" / "kern" / "b.c").write_text("alpha\nbeta\ngamma\n")
    return root


def diff(path: str, old: str, new: str) -> str:
    import difflib
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), path, path))


def make_series(sysdir: Path, *, broken: bool = False) -> Path:
    (sysdir / "patches").mkdir(parents=True)
    (sysdir / "patches" / "010-a.diff").write_text(
        diff("sys/kern/a.c", "one\ntwo\nthree\n", "one\ntwo and a half\nthree\n"))
    b_old = "alpha\nbeta\ngamma\n" if not broken else "alpha\nBETA\ngamma\n"
    (sysdir / "patches" / "020-b.diff").write_text(diff("sys/kern/b.c", b_old, "alpha\nbeta2\ngamma\n"))
    (sysdir / "series").write_text("# our series\n010-a.diff\n020-b.diff\n")
    (sysdir / "new" / "sys" / "net").mkdir(parents=True)
    (sysdir / "new" / "sys" / "net" / "net_tstamp.h").write_text("/* new */\n")
    return sysdir


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src")


@pytest.fixture
def sysdir(tmp_path: Path) -> Path:
    return make_series(tmp_path / "sys")
