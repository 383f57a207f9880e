"""`invoke refresh PATCH`: scratch copy of pristine files, edit, regenerate
with `git diff --no-prefix`, and only if the whole series applies with
`patch --fuzz=0`.  On the stand-in tree of conftest, unpatched and patched."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.loop import refresh
from devtools.loop.series import apply_all
from devtools.loop.tree import TreeError

from .conftest import diff, tree_hash


def _series_with_two_patches_on_a(sysdir: Path) -> None:
    """010 changes a.c line 2, 030 changes a.c line 3 (next to 010's line)."""
    (sysdir / "patches" / "030-a3.diff").write_text(
        diff("sys/kern/a.c", "one\ntwo and a half\nthree\n", "one\ntwo and a half\nthree!\n"))
    (sysdir / "series").write_text("# our series\n010-a.diff\n020-b.diff\n030-a3.diff\n")


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched tree", "patched tree"])
def test_refresh_rewrites_the_patch_and_leaves_the_tree_alone(tree: Path, sysdir: Path, tmp_path: Path,
                                                               patched: bool) -> None:
    if patched:
        apply_all(tree, sysdir, say=lambda *_: None)
    before = tree_hash(tree)
    work = refresh.workdir(tmp_path / "cache", tree, "020-b.diff")
    assert refresh.main(tree, sysdir, tmp_path / "cache", "020-b.diff", say=lambda *_: None) == 0
    # The scratch holds pristine files with 010 and 020 applied.
    assert (work / "sys/kern/a.c").read_text() == "one\ntwo and a half\nthree\n"
    assert (work / "sys/kern/b.c").read_text() == "alpha\nbeta2\ngamma\n"
    (work / "sys/kern/b.c").write_text("alpha\nbeta2\ngamma\ndelta\n")
    lines: list[str] = []
    assert refresh.main(tree, sysdir, tmp_path / "cache", "020-b.diff", done=True, say=lines.append) == 0
    new = (sysdir / "patches" / "020-b.diff").read_text()
    assert new.startswith("diff --git sys/kern/b.c sys/kern/b.c\n")  # git diff --no-prefix
    assert "--- sys/kern/b.c\n+++ sys/kern/b.c\n" in new
    assert "-beta\n+beta2\n" in new and "+delta\n" in new
    assert "a.c" not in new
    assert not work.exists()
    assert tree_hash(tree) == before  # the tree was only read
    assert any("--fuzz=0" in line for line in lines)


def test_done_refuses_when_a_later_patch_no_longer_applies_without_fuzz(tree: Path, sysdir: Path,
                                                                         tmp_path: Path) -> None:
    _series_with_two_patches_on_a(sysdir)
    cache = tmp_path / "cache"
    old = (sysdir / "patches" / "010-a.diff").read_text()
    refresh.main(tree, sysdir, cache, "010-a.diff", say=lambda *_: None)
    work = refresh.workdir(cache, tree, "010-a.diff")
    (work / "sys/kern/a.c").write_text("one\ntwo and a half\nTHREE\n")  # 030's context changes
    with pytest.raises(TreeError, match="030-a3.diff does not apply with --fuzz=0"):
        refresh.main(tree, sysdir, cache, "010-a.diff", done=True, say=lambda *_: None)
    assert (sysdir / "patches" / "010-a.diff").read_text() == old
    assert work.exists()  # kept, to fix the edit
    assert refresh.main(tree, sysdir, cache, "010-a.diff", abort_=True, say=lambda *_: None) == 0
    assert not work.exists()


def test_add_brings_an_untouched_tree_file_into_the_patch(tree: Path, sysdir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (tree / "sys" / "kern" / "c.c").write_text("x\ny\n")
    refresh.main(tree, sysdir, cache, "020-b.diff", say=lambda *_: None)
    refresh.main(tree, sysdir, cache, "020-b.diff", add="sys/kern/c.c", say=lambda *_: None)
    work = refresh.workdir(cache, tree, "020-b.diff")
    (work / "sys/kern/c.c").write_text("x\ny\nz\n")
    refresh.main(tree, sysdir, cache, "020-b.diff", done=True, say=lambda *_: None)
    new = (sysdir / "patches" / "020-b.diff").read_text()
    assert "--- sys/kern/c.c\n+++ sys/kern/c.c\n" in new and "+z\n" in new  # a change, not a new file
    assert "+beta2\n" in new


def test_refusals(tree: Path, sysdir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(TreeError, match="not in"):
        refresh.main(tree, sysdir, cache, "999-none.diff", say=lambda *_: None)
    with pytest.raises(TreeError, match="no refresh of 010-a.diff under way"):
        refresh.main(tree, sysdir, cache, "010-a.diff", done=True, say=lambda *_: None)
    refresh.main(tree, sysdir, cache, "010-a.diff", say=lambda *_: None)
    with pytest.raises(TreeError, match="exists"):
        refresh.main(tree, sysdir, cache, "010-a.diff", say=lambda *_: None)
    work = refresh.workdir(cache, tree, "010-a.diff")
    (work / "sys/kern/a.c").write_text("one\ntwo\nthree\n")  # the edit undoes the whole patch
    with pytest.raises(TreeError, match="would be empty"):
        refresh.main(tree, sysdir, cache, "010-a.diff", done=True, say=lambda *_: None)
