"""Upstream programs, unmodified, against the patched tree: libpcap and
tcpdump from pinned tags, cross-built with the tree's compiler against its
DESTDIR (headers and static libc), into our cache.

The sources come from git clones outside the project, one per program,
at SOTIMESTAMP_CACHE/interop/git/<name>.git (`git clone --mirror URL` of the
upstream repository, or a symlink to one); the pinned tag must resolve to
the pinned commit and tree, or nothing is built.  Nothing of them enters
the project.  Without a clone the task skips with one line naming it.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devtools import config
from devtools.loop import build
from devtools.loop.tree import TreeError


@dataclass(frozen=True)
class Pin:
    name: str
    url: str
    tag: str
    commit: str  # what the tag must resolve to ...
    tree: str  # ... and the content it must have

    def clone(self) -> Path:
        return interop_dir() / "git" / f"{self.name}.git"


LIBPCAP = Pin("libpcap", "https://github.com/the-tcpdump-group/libpcap", "libpcap-1.10.6",
              "a999701dca5c873779281938baee6bc185a8d4dc", "6e91ac97f337382c213e1c6481b63813674bcad4")
TCPDUMP = Pin("tcpdump", "https://github.com/the-tcpdump-group/tcpdump", "tcpdump-4.99.6",
              "05edb60781fde21f1bc2290931d81cc0d61cb129", "36395246b70821d8a5ed327e7540ecbaf47d8efa")


class Skip(Exception):
    """What is missing for the interop run, one line."""


def interop_dir() -> Path:
    return config.cache() / "interop"


def _git(clone: Path, *args: str) -> str:
    res = subprocess.run(["git", f"--git-dir={clone}", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise TreeError(f"git {' '.join(args)} in {clone}: {res.stderr.strip()}")
    return res.stdout.strip()


def source(pin: Pin) -> Path:
    """A fresh export of pin's tag, checked against the pinned commit and tree."""
    clone = pin.clone()
    if not clone.exists():
        raise Skip(f"no {pin.name} sources: git clone --mirror {pin.url} {clone}")
    commit = _git(clone, "rev-parse", f"{pin.tag}^{{commit}}")
    tree = _git(clone, "rev-parse", f"{pin.tag}^{{tree}}")
    if (commit, tree) != (pin.commit, pin.tree):
        raise TreeError(f"{clone}: {pin.tag} is commit {commit} tree {tree}, "
                        f"pinned {pin.commit} tree {pin.tree}")
    out = interop_dir() / "src" / pin.tag
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", f"--git-dir={clone}", "archive", f"--prefix={pin.tag}/", pin.commit],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out.parent)], input=archive, check=True)
    return out


def toolchain_file(src: Path) -> Path:
    """CMake's description of the cross build: the tree's gcc, its DESTDIR as the sysroot."""
    tooldir = build.require_tools()
    path = interop_dir() / f"toolchain-{src.name}.cmake"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "set(CMAKE_SYSTEM_NAME NetBSD)\n"
        "set(CMAKE_SYSTEM_PROCESSOR x86_64)\n"
        # The DESTDIR has static libraries only (build.guest_libs): every link is static.
        "set(CMAKE_EXE_LINKER_FLAGS_INIT -static)\n"
        f"set(CMAKE_C_COMPILER {tooldir}/bin/x86_64--netbsd-gcc)\n"
        f"set(CMAKE_SYSROOT {build.destdir(src)})\n"
        f"set(CMAKE_FIND_ROOT_PATH {build.destdir(src)} {prefix(src)})\n"
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n"
        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)\n"
        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)\n"
        "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)\n")
    return path


def prefix(src: Path) -> Path:
    """Where libpcap is installed for tcpdump to link with (and tcpdump itself)."""
    return interop_dir() / f"prefix-{src.name}"


def _cmake(src: Path, pin: Pin, source_dir: Path, options: list[str]) -> None:
    tooldir = build.require_tools()
    work = interop_dir() / f"build-{src.name}" / pin.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    configure = ["cmake", "-S", str(source_dir), "-B", str(work),
                 f"-DCMAKE_TOOLCHAIN_FILE={toolchain_file(src)}",
                 f"-DCMAKE_INSTALL_PREFIX={prefix(src)}", "-DCMAKE_BUILD_TYPE=Release",
                 f"-DLEX_EXECUTABLE={tooldir}/bin/nblex", f"-DYACC_EXECUTABLE={tooldir}/bin/nbyacc",
                 *options]
    build.run_logged(configure, cwd=work, log_name=f"interop-{src.name}-{pin.name}-cmake",
                     what=f"{pin.tag}: configure")
    build.run_logged(["cmake", "--build", str(work), f"-j{config.jobs()}", "--target", "install"], cwd=work,
                     log_name=f"interop-{src.name}-{pin.name}-build", what=f"{pin.tag}: build")


def build_all(src: Path) -> Path:
    """libpcap (static) and a static tcpdump linked with it; returns tcpdump."""
    if shutil.which("cmake") is None:
        raise Skip("no cmake on this host (the git tags carry no configure script)")
    build.guest_libs(src)
    sources = {pin.name: source(pin) for pin in (LIBPCAP, TCPDUMP)}
    _cmake(src, LIBPCAP, sources["libpcap"],
           ["-DBUILD_SHARED_LIBS=OFF", "-DENABLE_REMOTE=OFF", "-DDISABLE_DBUS=ON", "-DDISABLE_RDMA=ON",
            "-DDISABLE_BLUETOOTH=ON", "-DDISABLE_NETMAP=ON", "-DDISABLE_DPDK=ON", "-DBUILD_WITH_LIBNL=OFF"])
    _cmake(src, TCPDUMP, sources["tcpdump"],
           ["-DWITH_CRYPTO=OFF", "-DWITH_SMI=OFF", "-DWITH_CAP_NG=OFF", "-DENABLE_SMB=OFF",
            f"-DCMAKE_PREFIX_PATH={prefix(src)}"])
    tcpdump = prefix(src) / "bin" / "tcpdump"
    if not tcpdump.is_file():
        raise TreeError(f"{TCPDUMP.tag}: built, but no {tcpdump}")
    return tcpdump


GUEST_CASES = Path(__file__).resolve().parent / "guest" / "interop"


def run(src: Path, timeout: int, config_name: str) -> int:
    """Build, then boot the test kernel with tcpdump in the guest and the
    interop cases next to the usual ones; skips (0) without the sources."""
    from devtools.loop import vmtest
    try:
        tcpdump = build_all(src)
    except Skip as e:
        print(f"skip interop: {e}", flush=True)
        return 0
    return vmtest.run(src, extra=str(GUEST_CASES), timeout=timeout, config_name=config_name,
                      files={"usr/bin/tcpdump": tcpdump})
