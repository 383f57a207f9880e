"""`invoke refresh PATCH`: change one patch of sys/series the way patches are
made here, never by hand.

1. `start`: the tree files the series touches, made pristine (copied from
   NETBSDSRCDIR, with whatever part of the series it holds reversed in the
   copy: the tree itself is only read), go into a scratch git repository;
   the patches before PATCH are applied with `patch -p0 --fuzz=0` and
   committed as the base, then PATCH itself is applied.  Edit the files
   there; `--add PATH` brings in a tree file the series does not touch yet.
2. `finish` (`--done`): PATCH becomes `git diff --no-prefix` of the scratch
   against its base (new files included), but only after the whole series,
   with the new PATCH in its place, applied with `--fuzz=0` to a fresh
   pristine copy; otherwise sys/patches is left as it was.  Then
   `invoke patch` swaps the applied series for the new one.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from devtools.loop.series import Patch, Series, _replica, _run_patch, applied_prefix
from devtools.loop.tree import TreeError

_GIT = ["git", "-c", "user.name=sotimestamp refresh", "-c", "user.email=refresh@localhost",
        "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"]


def workdir(cache: Path, src: Path, name: str) -> Path:
    return cache / f"refresh-{src.name}" / name


def _find(series: Series, name: str) -> int:
    for i, p in enumerate(series.patches):
        if p.name == name:
            return i
    raise TreeError(f"{name} is not in {series.sysdir / 'series'}")


def pristine(src: Path, series: Series, dest: Path) -> None:
    """The tree files the series touches, as they are without the series."""
    k = applied_prefix(src, series)
    if k is None:
        raise TreeError(f"{src} conflicts with the series: cannot tell its pristine files")
    _replica(src, series, dest)
    for p in reversed(series.patches[:k]):
        if not _run_patch(dest, p, reverse=True):
            raise TreeError(f"cannot reverse {p.name} in a copy of {src}")


def apply_nofuzz(root: Path, patch: Path) -> str | None:
    """Apply with `patch -p0 --fuzz=0`; None if it went through, else patch's complaint."""
    proc = subprocess.run(["patch", "-p0", "--fuzz=0", "-f", "-s", "--no-backup-if-mismatch", "-r", "-",
                           "-d", str(root), "-i", str(patch)], capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stdout + proc.stderr).strip() or f"exit {proc.returncode}"


def _git(work: Path, *args: str) -> str:
    return subprocess.run([*_GIT, "-C", str(work), *args], check=True, capture_output=True, text=True).stdout


def start(src: Path, sysdir: Path, name: str, work: Path, *, say=print) -> int:
    series = Series.load(sysdir)
    index = _find(series, name)
    if work.exists():
        raise TreeError(f"{work} exists: edit there and run `invoke refresh {name} --done`, "
                        f"or throw it away with `invoke refresh {name} --abort`")
    with tempfile.TemporaryDirectory(prefix="sots-refresh-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        pristine(src, series, base)
        for p in series.patches[:index]:
            problem = apply_nofuzz(base, p.path)
            if problem:
                raise TreeError(f"{p.name} does not apply without fuzz to pristine files: {problem}")
        work.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(base, work, symlinks=True)
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "--allow-empty", "-m", f"pristine + series before {name}")
    problem = apply_nofuzz(work, series.patches[index].path)
    if problem:
        shutil.rmtree(work)
        raise TreeError(f"{name} does not apply without fuzz after the patches before it: {problem}")
    say(f"{work}: pristine files + the series up to and including {name}")
    say(f"edit the files there, then `invoke refresh {name} --done`")
    return 0


def add_file(src: Path, sysdir: Path, name: str, work: Path, rel: str, *, say=print) -> int:
    """Bring a tree file the series does not touch yet into the scratch base,
    so the new PATCH can change it (it is pristine in the tree)."""
    series = Series.load(sysdir)
    _find(series, name)
    if not (work / ".git").is_dir():
        raise TreeError(f"no refresh of {name} under way ({work}): run `invoke refresh {name}` first")
    if rel.startswith("/") or ".." in Path(rel).parts or not (src / rel).is_file():
        raise TreeError(f"{rel}: not a file of {src}")
    if (work / rel).exists():
        raise TreeError(f"{rel} is already in {work}")
    (work / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / rel, work / rel)
    _git(work, "add", "--", rel)
    _git(work, "commit", "-q", "-m", f"pristine {rel}", "--", rel)
    say(f"{work / rel}: pristine, ready to edit")
    return 0


def finish(src: Path, sysdir: Path, name: str, work: Path, *, say=print) -> int:
    series = Series.load(sysdir)
    index = _find(series, name)
    if not (work / ".git").is_dir():
        raise TreeError(f"no refresh of {name} under way ({work}): run `invoke refresh {name}` first")
    _git(work, "add", "-A")
    new = _git(work, "diff", "--cached", "--no-prefix", "--no-color", "--no-ext-diff", "HEAD")
    if not new.strip():
        raise TreeError(f"{name} would be empty: remove it from sys/series instead")
    with tempfile.TemporaryDirectory(prefix="sots-refresh-") as tmp:
        candidate = Path(tmp) / name
        candidate.write_text(new)
        # Each new patch is the diff of its own files: the series' files may change.
        trial = Series(sysdir, [*series.patches[:index], Patch(name, candidate), *series.patches[index + 1:]],
                       series.new_files)
        check = Path(tmp) / "check"
        check.mkdir()
        pristine(src, series, check)
        for p in trial.patches:
            if p.name == name:
                # Files the new patch touches that the old series did not: pristine too.
                for rel in p.touched_files():
                    if not (check / rel).exists() and (src / rel).exists():
                        (check / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src / rel, check / rel)
            problem = apply_nofuzz(check, p.path)
            if problem:
                raise TreeError(f"with the new {name}, {p.name} does not apply with --fuzz=0 "
                                f"(sys/patches unchanged; {work} kept): {problem}")
        shutil.copyfile(candidate, series.patches[index].path)
    shutil.rmtree(work)
    say(f"wrote {series.patches[index].path}; the whole series applies with --fuzz=0 to pristine files")
    say("next: `invoke patch` (swaps the applied series for the new one) and `invoke kernel vmtest`")
    return 0


def abort(work: Path, *, say=print) -> int:
    if work.exists():
        shutil.rmtree(work)
        say(f"removed {work}")
    return 0


def main(src: Path, sysdir: Path, cache: Path, name: str, *, done: bool = False, add: str | None = None,
         abort_: bool = False, say=print) -> int:
    """`invoke refresh PATCH [--add PATH | --done | --abort]`."""
    work = workdir(cache, src, name)
    if abort_:
        return abort(work, say=say)
    if add:
        return add_file(src, sysdir, name, work, add, say=say)
    return (finish if done else start)(src, sysdir, name, work, say=say)
