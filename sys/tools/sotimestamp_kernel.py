#!/usr/bin/env python3
"""sotimestamp-kernel: apply, check and undo the sotimestamp kernel patch
series on a NetBSD source tree, all or nothing.

    sotimestamp-kernel [--series DIR] status|apply|revert [SRCDIR]

This one file is both the command the pkgsrc package installs and the code
behind the project's `invoke patch`/`invoke unpatch` (devtools/loop/series.py
imports it), so there is one copy of the algorithm.  Python standard library
only: it runs on the NetBSD system that holds the source tree.

Layout of a series directory (sys/ of the project, share/sotimestamp-kernel
of the package):
  series          one patch file name per line (relative to patches/), '#'
                  comments; applied in order with `patch -p0` at the tree root
  patches/*.diff  hooks into existing tree files
  new/<path>      new files, at their tree paths; copied into the tree before
                  the patches, removed after reversing them

Every change is first made in a scratch copy of the files involved; the tree
is touched only when the whole series went through there, so a refused tree
stays byte-identical.  `apply` keeps a copy of the series it applied in
SRCDIR/sotimestamp-kernel.applied/, so `revert` reverses exactly that, also
after the package was deleted or updated.
"""
from __future__ import annotations

import argparse
import enum
import filecmp
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PINNED_VERSION = 799001000  # NetBSD 7.99.10, NetBSD-current of 2015-04-21
# The series grows struct socket and the mbuf packet header, so it bumps
# __NetBSD_Version__ as NetBSD does for such changes: a patched tree says this.
SERIES_VERSION = 799001100
SERIES_RELEASE = "7.99.11"  # uname -r of a kernel built from the patched tree
PINNED_DATE = "2015-04-21"
# pkgsrc's SUBST fills in BSDSRCDIR (mk.conf; /usr/src unless changed).
_BSDSRCDIR = "@BSDSRCDIR@"
DEFAULT_SRCDIR = "/usr/src" if _BSDSRCDIR.startswith("@") else _BSDSRCDIR
RECORD = "sotimestamp-kernel.applied"  # in SRCDIR: the series `apply` applied
# In the record, a copy of this command: `revert` must work after pkg_delete
# removed PREFIX/sbin/sotimestamp-kernel (any python3 runs it).
RECORD_COMMAND = "sotimestamp-kernel"
_VERSION_RE = re.compile(r"^#define\s+__NetBSD_Version__\s+(\d+)", re.M)

Say = Callable[[str], object]


class TreeError(SystemExit):
    """A tree we refuse: one line on stderr, exit status 1, nothing touched."""

    def __init__(self, message: str) -> None:
        super().__init__(f"sotimestamp: {message}")


# --- which tree ---------------------------------------------------------------

def release_name(version: int) -> str:
    """__NetBSD_Version__ MMmmrrpp00 as NetBSD names it: 799001000 -> 7.99.10, 1000000000 -> 10.0."""
    major, minor, patch = version // 100000000, version // 1000000 % 100, version // 100 % 10000
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def netbsd_version(src: Path, label: str = "NETBSDSRCDIR=") -> int:
    param = src / "sys" / "sys" / "param.h"
    if not src.is_dir():
        raise TreeError(f"{label}{src} is not a directory")
    if not param.is_file():
        raise TreeError(f"{label}{src} is not a NetBSD source tree (no sys/sys/param.h)")
    match = _VERSION_RE.search(param.read_text(errors="replace"))
    if not match:
        raise TreeError(f"{param}: no __NetBSD_Version__ line")
    return int(match.group(1))


def check_pinned(src: Path, label: str = "NETBSDSRCDIR=") -> None:
    """The tree is the one the series is made for (or that tree patched)."""
    version = netbsd_version(src, label)
    if version not in (PINNED_VERSION, SERIES_VERSION):
        raise TreeError(f"{label}{src} is NetBSD {release_name(version)} (__NetBSD_Version__ {version}, "
                        f"not the pinned {PINNED_VERSION}): the series needs NetBSD {release_name(PINNED_VERSION)}, "
                        f"NetBSD-current of {PINNED_DATE}; nothing changed")
    if not (src / "build.sh").is_file():
        raise TreeError(f"{label}{src} has no build.sh: a whole source tree is needed, "
                        "not the kernel sources (syssrc) alone")


# --- the series ---------------------------------------------------------------

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

    def patched_files(self) -> list[str]:
        paths: list[str] = []
        for p in self.patches:
            paths += [f for f in p.touched_files() if f not in paths]
        return paths

    def all_tree_paths(self) -> list[str]:
        return list(self.new_files) + [f for f in self.patched_files() if f not in self.new_files]


@functools.lru_cache(maxsize=1)
def _gnu_patch() -> bool:
    """GNU patch (Linux) or NetBSD's patch(1), which lacks the GNU long options."""
    try:
        out = subprocess.run(["patch", "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise TreeError("patch(1) is not installed") from None
    return "GNU" in out


def _run_patch(root: Path, patch: Patch, *, reverse: bool = False) -> bool:
    """Apply (or reverse) one patch in `root`, never asking anything (-f).
    Only ever run on a scratch copy: backup and reject files stay there."""
    cmd = ["patch", "-p0", "-f", "-s", "-d", str(root), "-i", str(patch.path)]
    if _gnu_patch():
        cmd[1:1] = ["--no-backup-if-mismatch", "-r", "-"]
    if reverse:
        cmd.insert(1, "-R")
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL).returncode == 0


def new_file_state(src: Path, series: Series, name: str) -> State:
    ours, theirs = series.sysdir / "new" / name, src / name
    if not theirs.exists():
        return State.NOT_APPLIED
    return State.APPLIED if filecmp.cmp(ours, theirs, shallow=False) else State.CONFLICT


def missing_files(src: Path, series: Series) -> list[str]:
    """Tree files the series patches that `src` lacks (a kernel-only tree lacks the userland ones)."""
    return [rel for rel in series.patched_files() if not (src / rel).is_file()]


def check_complete(src: Path, series: Series) -> None:
    missing = missing_files(src, series)
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise TreeError(f"{src} lacks {len(missing)} of the {len(series.patched_files())} files the series "
                        f"patches ({shown}): a whole source tree is needed; nothing changed")


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


def apply_all(src: Path, sysdir: Path, *, say: Say = print, label: str = "NETBSDSRCDIR=",
              before_write: Callable[[Series], None] | None = None) -> int:
    """Apply the series in `sysdir` to `src`, all or nothing.  `before_write`
    runs once the whole series went through in the scratch copy, just before
    the tree is written (the command keeps its record there)."""
    check_pinned(src, label)
    series = Series.load(sysdir)
    check_complete(src, series)
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
        if before_write is not None:
            before_write(series)
        _copy_back(scratch, src, series)
    say(f"applied {len(series.new_files)} new files and {len(series.patches)} patches to {src}")
    return 0


def reverse_all(src: Path, sysdir: Path, *, say: Say = print, label: str = "NETBSDSRCDIR=") -> int:
    check_pinned(src, label)
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


def copy_series(sysdir: Path, dest: Path) -> None:
    """What a record keeps of a series: the list, the patches, the new files."""
    series = Series.load(sysdir)
    dest.mkdir(parents=True)
    if (sysdir / "series").is_file():
        shutil.copy2(sysdir / "series", dest / "series")
    for p in series.patches:
        (dest / "patches").mkdir(exist_ok=True)
        shutil.copy2(p.path, dest / "patches" / p.name)
    for name in series.new_files:
        (dest / "new" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sysdir / "new" / name, dest / "new" / name)


# --- the command ------------------------------------------------------------------

def installed_series() -> Path:
    """The series next to this file: the record in a source tree (this file is
    its copy of the command), share/sotimestamp-kernel of the package (this
    file is PREFIX/sbin/sotimestamp-kernel), or the kernel tarball / sys/ of
    the project (this file is tools/sotimestamp_kernel.py in it)."""
    here = Path(__file__).resolve().parent
    for candidate in (here, here.parent / "share" / "sotimestamp-kernel", here.parent):
        if (candidate / "series").is_file():
            return candidate
    raise TreeError(f"no series found next to {Path(__file__).resolve()}: give --series DIR")


def status(src: Path, sysdir: Path, *, say: Say = print) -> int:
    """What the tree holds; 0 if it is cleanly patched or cleanly not, 1 otherwise."""
    label = "SRCDIR "
    version = netbsd_version(src, label)
    record = src / RECORD
    compare = record if (record / "series").is_file() else sysdir
    say(f"{src}: NetBSD {release_name(version)} (__NetBSD_Version__ {version})")
    if version not in (PINNED_VERSION, SERIES_VERSION):
        say(f"the series needs NetBSD {release_name(PINNED_VERSION)} (__NetBSD_Version__ {PINNED_VERSION}, "
            f"NetBSD-current of {PINNED_DATE})")
        return 1
    series = Series.load(compare)
    missing = missing_files(src, series)
    if missing:
        say(f"{len(missing)} files the series patches are missing (first: {missing[0]}): not a whole source tree")
        return 1
    st = states(src, series)
    for name, state in st.items():
        say(f"{state.value:12} {name}")
    applied = sum(s is State.APPLIED for s in st.values())
    if applied == len(st):
        say(f"series applied ({len(st)} items), recorded in {record}" if compare == record
            else f"series applied ({len(st)} items) but not recorded in {record}")
        return 0
    if applied == 0 and not any(s is State.CONFLICT for s in st.values()):
        say(f"series not applied ({len(st)} items)")
        return 0
    say(f"half-patched or conflicting: {applied} of {len(st)} items applied")
    return 1


def apply(src: Path, sysdir: Path, *, say: Say = print) -> int:
    record = src / RECORD

    def keep_record(series: Series) -> None:
        if record.exists():
            shutil.rmtree(record)
        copy_series(series.sysdir, record)
        shutil.copy2(Path(__file__).resolve(), record / RECORD_COMMAND)

    rc = apply_all(src, sysdir, say=say, label="SRCDIR ", before_write=keep_record)
    if rc == 0 and not record.exists():  # already applied: record what is there
        keep_record(Series.load(sysdir))
    say(f"record of what was applied: {record} (sotimestamp-kernel revert uses it; "
        f"without the package: python3 {record / RECORD_COMMAND} revert {src})")
    return rc


def revert(src: Path, sysdir: Path, *, say: Say = print) -> int:
    record = src / RECORD
    applied = record if (record / "series").is_file() else sysdir
    if applied == record:
        say(f"reversing the series as applied (recorded in {record})")
    rc = reverse_all(src, applied, say=say, label="SRCDIR ")
    if record.exists():
        shutil.rmtree(record)
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sotimestamp-kernel",
        description="Apply, check or undo the sotimestamp patch series on a NetBSD "
                    f"{release_name(PINNED_VERSION)} source tree, all or nothing.")
    parser.add_argument("--series", type=Path, help="the series directory (default: the installed one)")
    parser.add_argument("command", choices=("status", "apply", "revert"))
    parser.add_argument("srcdir", nargs="?", type=Path, default=Path(DEFAULT_SRCDIR),
                        help=f"the NetBSD source tree (default {DEFAULT_SRCDIR})")
    args = parser.parse_args(argv)
    sysdir = args.series or installed_series()
    src = args.srcdir.resolve()
    action = {"status": status, "apply": apply, "revert": revert}[args.command]
    return action(src, sysdir)


if __name__ == "__main__":
    sys.exit(main())
