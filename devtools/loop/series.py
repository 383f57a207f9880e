"""Our patch series against a NetBSD tree, as `invoke patch`/`unpatch`/`tree`
use it.  The series itself (parse, state, all-or-nothing apply and reverse in
a scratch copy, so a refused tree stays byte-identical) is the code of the
kernel package's command, sys/tools/sotimestamp_kernel.py; this module adds
the loop's record of what was applied (in the cache, not the tree) and the
swap of an edited series.
"""
from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from devtools import config
from devtools.loop.kernelseries import core
from devtools.loop.tree import TreeError, check_pinned

State = core.State
Patch = core.Patch
Series = core.Series
states = core.states
applied_prefix = core.applied_prefix
apply_all = core.apply_all
reverse_all = core.reverse_all
new_file_state = core.new_file_state
missing_files = core.missing_files
_replica = core._replica
_run_patch = core._run_patch


# What `invoke patch` applied is recorded outside the tree, so `invoke unpatch`
# reverses exactly that even after sys/ changed (a patch edited, one added).

def record_dir(cache: Path, src: Path) -> Path:
    return cache / f"applied-{src.name}"


def apply_recorded(src: Path, sysdir: Path, cache: Path, *, say=print) -> int:
    """Apply sys/; if an older series is recorded as applied, swap it for this
    one. Files whose content ends up as it was keep their mtime, so make
    rebuilds only what the change touched."""
    rec = record_dir(cache, src) / "sys"
    if rec.is_dir() and not _same_series(rec, sysdir):
        old, new = Series.load(rec), Series.load(sysdir)
        paths = sorted(set(old.all_tree_paths()) | set(new.all_tree_paths()))
        before = {rel: ((src / rel).read_bytes(), (src / rel).stat().st_mtime_ns)
                  for rel in paths if (src / rel).is_file()}
        say("the series changed since it was applied: swapping it")
        reverse_all(src, rec, say=say)
        rc = apply_all(src, sysdir, say=say)
        for rel, (content, mtime) in before.items():
            path = src / rel
            if path.is_file() and path.read_bytes() == content:
                os.utime(path, ns=(mtime, mtime))
    else:
        rc = apply_all(src, sysdir, say=say)
    if rec.parent.exists():
        shutil.rmtree(rec.parent)
    shutil.copytree(sysdir, rec, ignore=shutil.ignore_patterns("*.md"))
    return rc


def _same_series(a: Path, b: Path) -> bool:
    sa, sb = Series.load(a), Series.load(b)
    if [p.name for p in sa.patches] != [p.name for p in sb.patches] or sa.new_files != sb.new_files:
        return False
    files = [f"patches/{p.name}" for p in sa.patches] + [f"new/{n}" for n in sa.new_files]
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def reverse_recorded(src: Path, sysdir: Path, cache: Path, *, say=print) -> int:
    rec = record_dir(cache, src)
    applied = rec / "sys" if (rec / "sys").is_dir() else sysdir
    if applied != sysdir:
        say(f"reversing the series as applied (recorded in {rec})")
    rc = reverse_all(src, applied, say=say)
    if rec.exists():
        shutil.rmtree(rec)
    return rc


def report(src: Path, *, say=print) -> int:
    """`invoke tree`: is src the pinned tree, and which series items are applied?
    A half-patched or conflicting tree is refused."""
    check_pinned(src)
    series = Series.load(config.project_sys())
    st = states(src, series)
    for name, state in st.items():
        say(f"{state.value:12} {name}")
    applied = sum(s is State.APPLIED for s in st.values())
    if applied and applied != len(st):
        raise TreeError(f"{src} is half-patched: {applied} of {len(st)} series items applied")
    if any(s is State.CONFLICT for s in st.values()):
        raise TreeError(f"{src}: some series items conflict with the tree")
    say(f"{src}: NetBSD 7.99.10, series {'applied' if applied else 'not applied'} ({len(st)} items)")
    return 0
