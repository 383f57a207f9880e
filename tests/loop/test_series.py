"""The patch series: parsing, state, all-or-nothing apply and reverse."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.loop.series import Series, State, apply_all, report, reverse_all, states
from devtools.loop.tree import TreeError, check_pinned

from .conftest import make_series, make_tree, tree_hash


def test_series_lists_patches_in_order_and_new_files(sysdir: Path) -> None:
    s = Series.load(sysdir)
    assert [p.name for p in s.patches] == ["010-a.diff", "020-b.diff"]
    assert s.new_files == ["sys/net/net_tstamp.h"]
    assert s.patches[0].touched_files() == ["sys/kern/a.c"]


def test_series_naming_a_missing_patch_is_an_error(sysdir: Path) -> None:
    (sysdir / "series").write_text("010-a.diff\n030-gone.diff\n")
    with pytest.raises(TreeError, match=r"series:2: no such patch"):
        Series.load(sysdir)


def test_apply_then_reverse_round_trip(tree: Path, sysdir: Path) -> None:
    pristine = tree_hash(tree)
    apply_all(tree, sysdir, say=lambda *_: None)
    assert (tree / "sys/kern/a.c").read_text() == "one\ntwo and a half\nthree\n"
    assert (tree / "sys/net/net_tstamp.h").read_text() == "/* new */\n"
    assert set(states(tree, Series.load(sysdir)).values()) == {State.APPLIED}
    reverse_all(tree, sysdir, say=lambda *_: None)
    assert tree_hash(tree) == pristine


def test_apply_twice_is_a_noop_that_says_so(tree: Path, sysdir: Path) -> None:
    apply_all(tree, sysdir, say=lambda *_: None)
    once = tree_hash(tree)
    said: list[str] = []
    apply_all(tree, sysdir, say=said.append)
    assert tree_hash(tree) == once
    assert said and "already applied" in said[0]


def test_broken_patch_leaves_tree_byte_identical(tree: Path, tmp_path: Path) -> None:
    sysdir = make_series(tmp_path / "broken", broken=True)
    before = tree_hash(tree)
    with pytest.raises(TreeError, match="020-b.diff does not apply"):
        apply_all(tree, sysdir)
    assert tree_hash(tree) == before  # 010-a.diff and the new file were not applied either


def test_half_patched_tree_is_refused(tree: Path, sysdir: Path) -> None:
    (tree / "sys/kern/a.c").write_text("one\ntwo and a half\nthree\n")  # 010 applied by hand only
    before = tree_hash(tree)
    with pytest.raises(TreeError, match="half-patched"):
        apply_all(tree, sysdir)
    with pytest.raises(TreeError, match="half-patched"):
        reverse_all(tree, sysdir)
    assert tree_hash(tree) == before


def test_conflicting_new_file_is_refused(tree: Path, sysdir: Path) -> None:
    (tree / "sys/net").mkdir()
    (tree / "sys/net/net_tstamp.h").write_text("someone else's\n")
    before = tree_hash(tree)
    with pytest.raises(TreeError, match="new sys/net/net_tstamp.h does not apply"):
        apply_all(tree, sysdir)
    assert tree_hash(tree) == before


@pytest.mark.parametrize("version", [799000900, 800000000])
def test_wrong_version_is_refused_untouched(tmp_path: Path, sysdir: Path, version: int) -> None:
    src = make_tree(tmp_path / f"v{version}", version)
    before = tree_hash(src)
    with pytest.raises(TreeError, match=f"__NetBSD_Version__ {version}, not the pinned 799001000"):
        apply_all(src, sysdir)
    assert tree_hash(src) == before


def test_missing_tree_and_non_tree(tmp_path: Path) -> None:
    with pytest.raises(TreeError, match="is not a directory"):
        check_pinned(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TreeError, match="not a NetBSD source tree"):
        check_pinned(tmp_path / "empty")


def test_report_names_each_item_and_refuses_half_patched(tree: Path, sysdir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("devtools.config.project_sys", lambda: sysdir)
    lines: list[str] = []
    report(tree, say=lines.append)
    assert any("not applied" in line and "010-a.diff" in line for line in lines)
    (tree / "sys/kern/a.c").write_text("one\ntwo and a half\nthree\n")  # 010 only
    with pytest.raises(TreeError, match="half-patched: 1 of 3"):
        report(tree, say=lambda *_: None)


def test_patch_building_on_an_earlier_one_is_handled(tree: Path, sysdir: Path) -> None:
    """Two patches to the same lines: each only applies after the one before."""
    from .conftest import diff
    (sysdir / "patches" / "030-a-again.diff").write_text(
        diff("sys/kern/a.c", "one\ntwo and a half\nthree\n", "one\ntwo and three quarters\nthree\n"))
    (sysdir / "series").write_text("010-a.diff\n020-b.diff\n030-a-again.diff\n")
    apply_all(tree, sysdir, say=lambda *_: None)
    assert (tree / "sys/kern/a.c").read_text() == "one\ntwo and three quarters\nthree\n"
    assert set(states(tree, Series.load(sysdir)).values()) == {State.APPLIED}
    reverse_all(tree, sysdir, say=lambda *_: None)
    assert (tree / "sys/kern/a.c").read_text() == "one\ntwo\nthree\n"


def test_unpatch_reverses_what_was_applied_even_after_the_series_changed(
        tree: Path, sysdir: Path, tmp_path: Path) -> None:
    from devtools.loop.series import apply_recorded, reverse_recorded
    from .conftest import diff
    cache = tmp_path / "cache"
    pristine = tree_hash(tree)
    apply_recorded(tree, sysdir, cache, say=lambda *_: None)
    # the series grows after it was applied: a new patch and a new file
    (sysdir / "patches" / "030-c.diff").write_text(diff("sys/kern/a.c", "one\n", "ONE\n"))
    (sysdir / "series").write_text("010-a.diff\n020-b.diff\n030-c.diff\n")
    (sysdir / "new" / "sys" / "net" / "later.h").write_text("/* later */\n")
    reverse_recorded(tree, sysdir, cache, say=lambda *_: None)
    assert tree_hash(tree) == pristine
    assert not (cache / "applied-src").exists()


def test_patch_swaps_a_changed_series_and_keeps_untouched_mtimes(
        tree: Path, sysdir: Path, tmp_path: Path) -> None:
    import os
    from devtools.loop.series import apply_recorded
    from .conftest import diff
    cache = tmp_path / "cache"
    apply_recorded(tree, sysdir, cache, say=lambda *_: None)
    a_c, b_c = tree / "sys/kern/a.c", tree / "sys/kern/b.c"
    os.utime(a_c, ns=(10**18, 10**18))
    os.utime(b_c, ns=(10**18, 10**18))
    # only 020-b changes: b.c must get a new mtime, a.c must keep its old one
    (sysdir / "patches" / "020-b.diff").write_text(diff("sys/kern/b.c", "alpha\nbeta\ngamma\n", "alpha\nbeta3\ngamma\n"))
    said: list[str] = []
    apply_recorded(tree, sysdir, cache, say=said.append)
    assert any("swapping" in s for s in said)
    assert b_c.read_text() == "alpha\nbeta3\ngamma\n"
    assert a_c.stat().st_mtime_ns == 10**18
    assert b_c.stat().st_mtime_ns != 10**18
    # and unchanged: a no-op
    apply_recorded(tree, sysdir, cache, say=said.append)
    assert "already applied" in said[-1]


def test_changed_new_file_is_newer_than_objects_built_before_the_swap(
        tree: Path, sysdir: Path, tmp_path: Path) -> None:
    """A new file edited in sys/new/ before the last build must not arrive in the tree
    with that older mtime: make would keep the object built from the old content
    (found when a LOCKDEBUG kernel linked without uipc_tstamp.c's new functions)."""
    import os
    import time
    from devtools.loop.series import apply_recorded
    cache = tmp_path / "cache"
    apply_recorded(tree, sysdir, cache, say=lambda *_: None)
    project_file = sysdir / "new" / "sys" / "net" / "net_tstamp.h"
    project_file.write_text("/* new, edited */\n")
    edited_at = 10**18            # edited long ago, compared to ...
    os.utime(project_file, ns=(edited_at, edited_at))
    built_at = time.time_ns()      # ... an object built from the old content since
    apply_recorded(tree, sysdir, cache, say=lambda *_: None)
    in_tree = tree / "sys" / "net" / "net_tstamp.h"
    assert in_tree.read_text() == "/* new, edited */\n"
    assert in_tree.stat().st_mtime_ns >= built_at - 10**9
