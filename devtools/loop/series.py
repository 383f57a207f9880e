"""Our patch series against a NetBSD tree: parse it, tell its state, apply or
reverse it all-or-nothing.

Layout (sys/ of the project):
  sys/series          one patch file name per line (relative to sys/patches/),
                      '#' comments; applied in order with `patch -p0` at the
                      tree root
  sys/patches/*.diff  hooks into existing tree files
  sys/new/<path>      new files we wrote, at their tree paths; copied into the
                      tree before the patches, removed after reversing them

Every change is first made in a scratch replica of the files involved; the
tree is touched only when the whole series went through there, so a refused
tree stays byte-identical.
"""
from __future__ import annotations

import enum
import filecmp
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools import config
from devtools.loop.tree import TreeError, check_pinned


class State(enum.Enum):
    APPLIED = "applied"
    NOT_APPLIED = "not applied"
    CONFLICT = "conflicts"


@dataclass(frozen=True)
class Patch:
    name: str
    path: Path

    def touched_files(self) -> list[str]:
        """Tree-relative paths the patch modifies (from its +++ lines)."""
        files: list[str] = []
        for line in self.path.read_text(errors="replace").splitlines():
            if line.startswith("+++ "):
                target = line[4:].split("\t")[0].strip()
                if target != "/dev/null" and target not in files:
                    files.append(target)
        return files


@dataclass(frozen=True)
class Series:
    sysdir: Path
    patches: list[Patch]
    new_files: list[str]  # tree-relative

    @classmethod
    def load(cls, sysdir: Path) -> "Series":
        patches: list[Patch] = []
        series_file = sysdir / "series"
        if series_file.exists():
            for lineno, raw in enumerate(series_file.read_text().splitlines(), 1):
                name = raw.split("#", 1)[0].strip()
                if not name:
                    continue
                path = sysdir / "patches" / name
                if not path.is_file():
                    raise TreeError(f"{series_file}:{lineno}: no such patch {path}")
                if any(p.name == name for p in patches):
                    raise TreeError(f"{series_file}:{lineno}: {name} listed twice")
                patches.append(Patch(name, path))
        newdir = sysdir / "new"
        new_files = sorted(
            str(p.relative_to(newdir)) for p in newdir.rglob("*") if p.is_file()
        ) if newdir.is_dir() else []
        for name in new_files:
            if any(name in p.touched_files() for p in patches):
                raise TreeError(f"sys/new/{name} is also changed by a patch: a new file lives in one place")
        return cls(sysdir, patches, new_files)

    def all_tree_paths(self) -> list[str]:
        paths = list(self.new_files)
        for p in self.patches:
            paths += [f for f in p.touched_files() if f not in paths]
        return paths


def _run_patch(root: Path, patch: Patch, *, reverse: bool = False, dry_run: bool = False) -> bool:
    cmd = ["patch", "-p0", "-f", "-s", "--no-backup-if-mismatch", "-r", "-", "-d", str(root), "-i", str(patch.path)]
    if reverse:
        cmd.insert(1, "-R")
    if dry_run:
        cmd.insert(1, "--dry-run")
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def new_file_state(src: Path, series: Series, name: str) -> State:
    ours, theirs = series.sysdir / "new" / name, src / name
    if not theirs.exists():
        return State.NOT_APPLIED
    return State.APPLIED if filecmp.cmp(ours, theirs, shallow=False) else State.CONFLICT


def applied_prefix(src: Path, series: Series) -> int | None:
    """How many leading patches of the series the tree has: k such that
    reversing patches[:k] and then applying patches[k:] both go through in a
    replica (patches may build on each other, so each is tried in sequence).
    None: no such k, the tree conflicts with the series."""
    n = len(series.patches)
    with tempfile.TemporaryDirectory(prefix="sots-state-") as tmp:
        for k in range(n, -1, -1):
            scratch = Path(tmp) / str(k)
            _replica(src, series, scratch)
            if all(_run_patch(scratch, p, reverse=True) for p in reversed(series.patches[:k])) and \
                    all(_run_patch(scratch, p) for p in series.patches[k:]):
                return k
    return None


def states(src: Path, series: Series) -> dict[str, State]:
    result = {f"new {n}": new_file_state(src, series, n) for n in series.new_files}
    k = applied_prefix(src, series)
    for i, p in enumerate(series.patches):
        result[p.name] = State.CONFLICT if k is None else State.APPLIED if i < k else State.NOT_APPLIED
    return result


def _replica(src: Path, series: Series, scratch: Path) -> None:
    """Copy every tree file the series touches into scratch, same paths."""
    for rel in series.all_tree_paths():
        if (src / rel).exists():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, scratch / rel)


def _copy_back(scratch: Path, src: Path, series: Series) -> None:
    for rel in series.all_tree_paths():
        if (scratch / rel).exists():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(scratch / rel, src / rel)
        elif (src / rel).exists():
            (src / rel).unlink()
            _remove_empty_parents(src / rel, src)


def _remove_empty_parents(path: Path, top: Path) -> None:
    """Directories that only held our new files go with them."""
    parent = path.parent
    while parent != top and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _refuse_mixed(st: dict[str, State], *, want: State) -> None:
    """One line naming what stands in the way of going from `want`."""
    if any(v is State.APPLIED for v in st.values()) and any(v is not State.APPLIED for v in st.values()):
        raise TreeError("refusing: tree is half-patched ("
                        + ", ".join(f"{k}: {v.value}" for k, v in st.items()) + "); restore the tree")
    bad = [k for k, v in st.items() if v is not want]
    if bad:
        raise TreeError(f"refusing: {', '.join(bad)} does not apply to this tree (tree left untouched)")


def apply_all(src: Path, sysdir: Path, *, say=print) -> int:
    check_pinned(src)
    series = Series.load(sysdir)
    st = states(src, series)
    if st and all(s is State.APPLIED for s in st.values()):
        say(f"already applied: all {len(st)} items of the series; nothing to do")
        return 0
    _refuse_mixed(st, want=State.NOT_APPLIED)
    with tempfile.TemporaryDirectory(prefix="sots-patch-") as tmp:
        scratch = Path(tmp)
        _replica(src, series, scratch)
        for name in series.new_files:
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            # copyfile: the tree's copy is new now. Keeping the project file's
            # mtime (copy2) would let make keep objects built from an older copy.
            shutil.copyfile(series.sysdir / "new" / name, scratch / name)
            shutil.copymode(series.sysdir / "new" / name, scratch / name)
        for p in series.patches:
            if not _run_patch(scratch, p):
                raise TreeError(f"refusing: {p.name} does not apply (tree left untouched)")
        _copy_back(scratch, src, series)
    say(f"applied {len(series.new_files)} new files and {len(series.patches)} patches to {src}")
    return 0


def reverse_all(src: Path, sysdir: Path, *, say=print) -> int:
    check_pinned(src)
    series = Series.load(sysdir)
    st = states(src, series)
    if all(s is State.NOT_APPLIED for s in st.values()):
        say("not applied: nothing to reverse")
        return 0
    _refuse_mixed(st, want=State.APPLIED)
    with tempfile.TemporaryDirectory(prefix="sots-unpatch-") as tmp:
        scratch = Path(tmp)
        _replica(src, series, scratch)
        for p in reversed(series.patches):
            if not _run_patch(scratch, p, reverse=True):
                raise TreeError(f"refusing: {p.name} does not reverse (tree left untouched)")
        for name in series.new_files:
            (scratch / name).unlink()
        _copy_back(scratch, src, series)
    say(f"reversed {len(series.patches)} patches and removed {len(series.new_files)} new files from {src}")
    return 0


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
