"""The build bridges of `invoke sets`: applied, recorded, reversed exactly;
a tree that is not the pinned one, or was changed since, is left untouched."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from devtools.installed import bridges
from devtools.loop.tree import TreeError
from tests.loop.conftest import tree_hash

MAKEFILE = "# $NetBSD$\n\nLIB=\tsqlite3\nCFLAGS+=\t-DNDEBUG\n\n.include <bsd.lib.mk>\n"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    (src / bridges.SQLITE_DIST).mkdir(parents=True)
    (src / bridges.SQLITE_DIST / "sqlite3.h").write_text("/* old 3.8 header */\n")
    (src / bridges.SQLITE_DIST / "sqlite3ext.h").write_text("/* old ext header */\n")
    (src / bridges.SQLITE_LIB_MAKEFILE).parent.mkdir(parents=True)
    (src / bridges.SQLITE_LIB_MAKEFILE).write_text(MAKEFILE)
    tarball = tmp_path / "better-sqlite3.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in bridges.SQLITE_FILES:
            data = f"/* new {name} */\n".encode()
            info = tarfile.TarInfo(f"package/deps/sqlite3/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(bridges, "sqlite_tarball", lambda: tarball)
    return src


def test_apply_then_reverse_restores_the_tree(tree: Path) -> None:
    before = tree_hash(tree)
    bridges.apply(tree)
    dist = tree / bridges.SQLITE_DIST
    assert (dist / "sqlite3.c").read_text() == "/* new sqlite3.c */\n"
    assert (dist / "sqlite3.h").read_text() == "/* new sqlite3.h */\n"
    assert "-DSQLITE_THREADSAFE=0" in (tree / bridges.SQLITE_LIB_MAKEFILE).read_text()
    bridges.apply(tree)  # already applied: no change, no error
    bridges.reverse(tree)
    assert tree_hash(tree) == before
    assert not (dist / "sqlite3.c").exists()


def test_a_changed_bridged_file_refuses_reverse_and_touches_nothing(tree: Path) -> None:
    bridges.apply(tree)
    (tree / bridges.SQLITE_DIST / "sqlite3.h").write_text("edited by hand\n")
    state = tree_hash(tree)
    with pytest.raises(TreeError, match="changed since they were written: .*sqlite3.h"):
        bridges.reverse(tree)
    assert tree_hash(tree) == state


def test_unknown_makefile_is_refused_untouched(tree: Path) -> None:
    (tree / bridges.SQLITE_LIB_MAKEFILE).write_text("LIB=\tsqlite3\n")
    before = tree_hash(tree)
    with pytest.raises(TreeError, match="not the pinned tree's file"):
        bridges.apply(tree)
    assert tree_hash(tree) == before


def test_a_tree_with_its_own_sqlite3_c_gets_no_bridge(tree: Path) -> None:
    (tree / bridges.SQLITE_DIST / "sqlite3.c").write_text("/* the real one */\n")
    before = tree_hash(tree)
    bridges.apply(tree)
    assert tree_hash(tree) == before and not bridges.applied(tree)


def test_tarball_with_wrong_checksum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path))
    bad = tmp_path / "downloads" / Path(bridges.SQLITE_URL).name
    bad.parent.mkdir()
    bad.write_bytes(b"not the pinned tarball")
    with pytest.raises(TreeError, match="SHA-256"):
        bridges.sqlite_tarball()
