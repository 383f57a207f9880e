"""`invoke release`: every artifact of one version, byte-reproducibly.

dist/ gets the sdist and wheel of py-sotimestamp, sotimestamp-kernel-V.tar.gz
(sys/: the patch series, new files, configs), pkgsrc-sotimestamp-V.tar.gz
(the two packages with filled distinfo and PLIST), netbsd-GENERIC-V.gz when
NETBSDSRCDIR is set and `invoke kernel` built it, and SHA512/SHA256 over all.

The sources are the files git knows (tracked, plus untracked ones not
ignored, which only a dirty tree has), copied to a scratch directory, so
build junk in the work tree never reaches an artifact. SOURCE_DATE_EPOCH is
the commit time of HEAD; archives are written with sorted members, zero
owners, fixed mtimes and gzip headers without name or time.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from devtools import config as cfg
from devtools.release import distinfo, pkglint
from devtools.release.archive import normalize_sdist, normalize_wheel, write_gz, write_tar_gz
from devtools.release.pkgsrc import (KERNEL_PKG, OURS, PACKAGES, PY_PKG, kernel_tarball_members, plist_for_kernel,
                                     plist_for_wheel, read_wheel, sdist_man_pages, set_distname_version)

PYPROJECT = "py-sotimestamp/pyproject.toml"
SOURCES = ("py-sotimestamp", "sys", "pkgsrc", "tests/python")
LICENSE = "LICENSE"  # into the sdist (py-sotimestamp/LICENSE links to it) and the kernel tarball
OUR_DIST_GLOBS = ("sotimestamp-*", "pkgsrc-sotimestamp-*", "netbsd-GENERIC*", "SHA512", "SHA256")


class ReleaseError(SystemExit):
    """One line on stderr, exit status 1, no traceback."""

    def __init__(self, message: str) -> None:
        # A str code: Python prints it to stderr and exits with status 1.
        super().__init__(f"sotimestamp release: {message}")


@dataclass
class Release:
    version: str
    dist: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- the source of truth --------------------------------------------------

def _git(project: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise ReleaseError("git is not installed") from None
    except subprocess.CalledProcessError as e:
        raise ReleaseError(f"git {' '.join(args)} failed: {e.stderr.strip().splitlines()[-1:] or e}") from None
    return out.stdout


def metadata(project: Path) -> dict[str, Any]:
    path = project / PYPROJECT
    if not path.is_file():
        raise ReleaseError(f"{PYPROJECT} not found: nothing to release")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ReleaseError(f"{PYPROJECT}: {e}") from None


def package_version(project: Path) -> str:
    version = metadata(project).get("project", {}).get("version")
    if not isinstance(version, str) or not version:
        raise ReleaseError(f"{PYPROJECT} has no [project] version")
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise ReleaseError(f"{PYPROJECT}: version {version!r} is not a PEP 440 version") from None
    if str(parsed) != version:
        # pip, the wheel and pkgsrc's DISTNAME would each spell it differently.
        raise ReleaseError(f"{PYPROJECT}: write version {version!r} as {str(parsed)!r}")
    return version


def build_requires(project: Path) -> tuple[str, ...]:
    reqs = metadata(project).get("build-system", {}).get("requires", [])
    return tuple(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in reqs)


def dirty_paths(project: Path) -> list[str]:
    """`git status --porcelain` entries (modified, staged, untracked)."""
    return [ln[3:] for ln in _git(project, "status", "--porcelain", "--untracked-files=all").splitlines() if ln]


def source_date_epoch(project: Path) -> int:
    return int(_git(project, "log", "-1", "--format=%ct", "HEAD").strip())


def export_sources(project: Path, dest: Path) -> None:
    """Copy the files git knows under SOURCES from the work tree to `dest`."""
    listing = _git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SOURCES, LICENSE)
    for rel in sorted(set(filter(None, listing.split("\0")))):
        src = project / rel
        if not src.is_file():
            continue  # deleted in a dirty tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        target.chmod(0o755 if os.access(src, os.X_OK) else 0o644)


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- the artifacts ----------------------------------------------------------

def build_python(src: Path, out: Path, epoch: int, log: Path) -> tuple[Path, Path]:
    """sdist and wheel (from the sdist) with the running Python's backend."""
    for mod in ("build", "setuptools"):
        if importlib.util.find_spec(mod) is None:
            raise ReleaseError(f"the Python module {mod!r} is missing: run `make venv` and use .venv/bin/invoke")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), PYTHONHASHSEED="0", TZ="UTC", LC_ALL="C")
    # No --sdist/--wheel: build makes the sdist, then the wheel from the sdist
    # (as pkgsrc will), so a file missing from the sdist breaks the release.
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)]
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=src).returncode
    if rc != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["?"]
        raise ReleaseError(f"python -m build failed (exit {rc}): {tail[0]} (log: {log})")
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise ReleaseError(f"python -m build made {len(sdists)} sdists and {len(wheels)} wheels, expected one each")
    normalize_sdist(sdists[0], epoch)
    normalize_wheel(wheels[0], epoch)
    return sdists[0], wheels[0]


def build_kernel_tarball(sys_dir: Path, license_file: Path, dest: Path, version: str, epoch: int) -> None:
    """sys/ as sotimestamp-kernel-V/, with the project's LICENSE at its top."""
    prefix = f"sotimestamp-kernel-{version}"
    members = [(f"{prefix}/{p.relative_to(sys_dir).as_posix()}", p.read_bytes(), os.access(p, os.X_OK))
               for p in _files_under(sys_dir)]
    if not members:
        raise ReleaseError("sys/ is empty: no kernel patch series to release")
    members.append((f"{prefix}/LICENSE", license_file.read_bytes(), False))
    write_tar_gz(dest, members, epoch)


def build_pkgsrc_tree(src: Path, tree: Path, version: str, sdist: Path, wheel: Path, kernel: Path) -> None:
    """Copy the packages to `tree`, set DISTNAME's version, write PLIST and distinfo."""
    bases = {PY_PKG: ("sotimestamp", sdist), KERNEL_PKG: ("sotimestamp-kernel", kernel)}
    for pkg in PACKAGES:
        shutil.copytree(src / pkg, tree / pkg)
    for pkg in OURS:
        mk = tree / pkg / "Makefile"
        base, distfile = bases[pkg]
        try:
            mk.write_text(set_distname_version(mk.read_text(), base, version))
        except ValueError as e:
            raise ReleaseError(f"pkgsrc/{pkg}/Makefile: {e}") from None
        (tree / pkg / "distinfo").write_text(
            distinfo.render({distfile.name: distfile.read_bytes()}, distinfo.package_patches(tree / pkg)))
    (tree / PY_PKG / "PLIST").write_text(plist_for_wheel(read_wheel(wheel), sdist_man_pages(sdist)))
    (tree / KERNEL_PKG / "PLIST").write_text(plist_for_kernel(kernel_tarball_members(kernel)))


@dataclass(frozen=True)
class Built:
    src: Path
    out: Path
    tree: Path
    art: pkglint.Artifacts


def build_artifacts(project: Path, version: str, epoch: int, work: Path) -> Built:
    """Export the sources into `work` and build sdist, wheel, kernel tarball
    and the filled pkgsrc tree (not yet its tarball)."""
    src = work / "src"
    export_sources(project, src)
    for needed in SOURCES:
        if not (src / needed).is_dir():
            raise ReleaseError(f"{needed}/ has no files git knows: nothing to release from it")
    if not (src / LICENSE).is_file():
        raise ReleaseError(f"{LICENSE} is not a file git knows: the sdist and the kernel tarball carry it")
    out = work / "out"
    out.mkdir()
    # The sdist carries the module's test suite (pkgsrc's do-test runs it on
    # the target kernel); in the repository it lives with the other layers.
    shutil.copytree(src / "tests" / "python", src / "py-sotimestamp" / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    sdist, wheel = build_python(src / "py-sotimestamp", out, epoch, cfg.cache() / "release-build.log")
    for p in (sdist, wheel):
        if f"-{version}" not in p.name:
            raise ReleaseError(f"{p.name} does not carry the version {version}")
    kernel_tar = out / f"sotimestamp-kernel-{version}.tar.gz"
    build_kernel_tarball(src / "sys", src / LICENSE, kernel_tar, version, epoch)
    tree = work / "pkgsrc"
    build_pkgsrc_tree(src / "pkgsrc", tree, version, sdist, wheel, kernel_tar)
    return Built(src, out, tree, pkglint.Artifacts(version, sdist, wheel, kernel_tar, build_requires(project)))


def kernel_sources(tree_paths: list[str]) -> list[str]:
    """The series' files a GENERIC kernel is built from: under sys/, but not
    sys/rump/ (rump kernels are userland libraries, built by the release)."""
    return [p for p in tree_paths if p.startswith("sys/") and not p.startswith("sys/rump/")]


def _kernel_mismatch(src: Path, sysdir: Path, kernel: Path) -> str | None:
    """Why the kernel in the object directory is not this release's, or None:
    the tree must have exactly this series (and new files) applied, and the
    kernel must be newer than every patched kernel source."""
    from devtools.loop import series as series_mod
    from devtools.loop.tree import TreeError
    try:
        ser = series_mod.Series.load(sysdir)
        states = series_mod.states(src, ser)
    except TreeError as e:
        return f"cannot compare {src} with the series: {e.code}"
    missing = [name for name, state in states.items() if state is not series_mod.State.APPLIED]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return f"{src} does not have this release's series applied ({shown}): run invoke patch and invoke kernel"
    sources = [src / p for p in kernel_sources(ser.all_tree_paths())]
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    if kernel.stat().st_mtime < newest:
        return f"{kernel} is older than the patched sources: run invoke kernel"
    return None


def kernel_image(version: str, sysdir: Path) -> tuple[Path | None, str]:
    """The `invoke kernel` GENERIC of NETBSDSRCDIR if it was built from this
    release's series, or None and why not."""
    src = cfg.netbsdsrcdir_if_set()
    if src is None:
        return None, "netbsd-GENERIC: skipped, NETBSDSRCDIR is not set"
    from devtools.loop.build import kernel_path
    kernel = kernel_path(src, "GENERIC")
    if not kernel.is_file():
        return None, f"netbsd-GENERIC: skipped, {kernel} not built (run invoke kernel)"
    why = _kernel_mismatch(src, sysdir, kernel)
    if why:
        return None, f"netbsd-GENERIC: skipped, {why}"
    return kernel, f"netbsd-GENERIC-{version}.gz: from {kernel}"


def write_checksums(dist: Path, files: list[Path]) -> list[Path]:
    """NetBSD-style `SHA512 (name) = hex` files over `files`."""
    out = []
    for alg in ("SHA512", "SHA256"):
        lines = [f"{alg} ({p.name}) = {hashlib.new(alg.lower(), p.read_bytes()).hexdigest()}"
                 for p in sorted(files, key=lambda p: p.name)]
        path = dist / alg
        path.write_text("\n".join(lines) + "\n")
        out.append(path)
    return out


def _clear_old(dist: Path) -> None:
    for pattern in OUR_DIST_GLOBS:
        for p in dist.glob(pattern):
            if p.is_file():
                p.unlink()


def release(project: Path, version: str | None = None, allow_dirty: bool = False,
            dist: Path | None = None, with_kernel: bool = True) -> Release:
    project = project.resolve()
    meta_version = package_version(project)
    if version is not None and version != meta_version:
        raise ReleaseError(f"--version {version} does not match {PYPROJECT} version {meta_version}")
    dirty = dirty_paths(project)
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise ReleaseError(f"work tree is dirty ({shown}); commit or use --allow-dirty")
    epoch = source_date_epoch(project)
    dist = (dist or project / "dist").resolve()
    rel = Release(meta_version, dist)
    if dirty:
        rel.notes.append(f"dirty tree ({len(dirty)} paths): artifacts are not those of HEAD")
    with tempfile.TemporaryDirectory(prefix="sotimestamp-release-") as tmp:
        built = build_artifacts(project, meta_version, epoch, Path(tmp))
        problems = pkglint.check_tree(built.tree, built.art)
        if problems:
            raise ReleaseError(f"the pkgsrc files fail {len(problems)} checks, first: {problems[0]} (invoke pkglint)")
        out, tree = built.out, built.tree
        sdist, wheel, kernel_tar = built.art.sdist, built.art.wheel, built.art.kernel
        pkgsrc_tar = out / f"pkgsrc-sotimestamp-{meta_version}.tar.gz"
        write_tar_gz(pkgsrc_tar, [(p.relative_to(tree).as_posix(), p.read_bytes(), os.access(p, os.X_OK))
                                  for p in _files_under(tree)], epoch)
        artifacts = [sdist, wheel, kernel_tar, pkgsrc_tar]
        image, note = kernel_image(meta_version, built.src / "sys") if with_kernel else (None, "")
        if note:
            rel.notes.append(note)
        dist.mkdir(parents=True, exist_ok=True)
        _clear_old(dist)
        for p in artifacts:
            shutil.copyfile(p, dist / p.name)
            rel.files.append(dist / p.name)
        if image is not None:
            dest = dist / f"netbsd-GENERIC-{meta_version}.gz"
            write_gz(dest, image.read_bytes())
            rel.files.append(dest)
    rel.files += write_checksums(dist, rel.files)
    return rel


def main(version: str | None, allow_dirty: bool) -> None:
    rel = release(cfg.PROJECT, version, allow_dirty)
    for note in rel.notes:
        print(note)
    sha = {ln.split(" ", 2)[1].strip("()"): ln.rsplit(" ", 1)[1]
           for ln in (rel.dist / "SHA256").read_text().splitlines()}
    for p in rel.files:
        print(f"{p.relative_to(cfg.PROJECT) if p.is_relative_to(cfg.PROJECT) else p}  "
              f"{sha.get(p.name, '(checksum file)')[:16]}")
    print(f"release {rel.version}: {len(rel.files)} files in {rel.dist}")
