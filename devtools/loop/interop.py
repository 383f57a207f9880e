"""Upstream programs, unmodified, against the patched tree: libpcap and
tcpdump, and chrony, from pinned tags, cross-built with the tree's compiler
against its DESTDIR (headers and static libraries), into our cache.

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

    @property
    def release(self) -> str:
        """The export's directory name: the tag, with the name in front if
        the tag lacks it (chrony's tags are bare versions)."""
        return self.tag if self.tag.startswith(self.name) else f"{self.name}-{self.tag}"


LIBPCAP = Pin("libpcap", "https://github.com/the-tcpdump-group/libpcap", "libpcap-1.10.6",
              "a999701dca5c873779281938baee6bc185a8d4dc", "6e91ac97f337382c213e1c6481b63813674bcad4")
TCPDUMP = Pin("tcpdump", "https://github.com/the-tcpdump-group/tcpdump", "tcpdump-4.99.6",
              "05edb60781fde21f1bc2290931d81cc0d61cb129", "36395246b70821d8a5ed327e7540ecbaf47d8efa")
CHRONY = Pin("chrony", "https://github.com/mlichvar/chrony", "4.8",
             "9e8541e3c4c89bfb7a60b404f646fab57c69ce59", "fbaf7a8aaa69119653fa0ca9834ac0aa9b382e20")


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
    out = interop_dir() / "src" / pin.release
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", f"--git-dir={clone}", "archive", f"--prefix={pin.release}/", pin.commit],
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


def build_tcpdump(src: Path) -> dict[str, Path]:
    """libpcap (static) and a static tcpdump linked with it; tcpdump by its guest path."""
    if shutil.which("cmake") is None:
        raise Skip("no cmake on this host (the git tags carry no configure script)")
    sources = {pin.name: source(pin) for pin in (LIBPCAP, TCPDUMP)}  # a missing clone skips at once
    build.guest_libs(src)
    _cmake(src, LIBPCAP, sources["libpcap"],
           ["-DBUILD_SHARED_LIBS=OFF", "-DENABLE_REMOTE=OFF", "-DDISABLE_DBUS=ON", "-DDISABLE_RDMA=ON",
            "-DDISABLE_BLUETOOTH=ON", "-DDISABLE_NETMAP=ON", "-DDISABLE_DPDK=ON", "-DBUILD_WITH_LIBNL=OFF"])
    _cmake(src, TCPDUMP, sources["tcpdump"],
           ["-DWITH_CRYPTO=OFF", "-DWITH_SMI=OFF", "-DWITH_CAP_NG=OFF", "-DENABLE_SMB=OFF",
            f"-DCMAKE_PREFIX_PATH={prefix(src)}"])
    tcpdump = prefix(src) / "bin" / "tcpdump"
    if not tcpdump.is_file():
        raise TreeError(f"{TCPDUMP.tag}: built, but no {tcpdump}")
    return {"usr/bin/tcpdump": tcpdump}


# What chrony links beyond libc: libm, and libpthread (its configure
# requires pthread_create, for asynchronous name resolution).
CHRONY_LIB_DIRS = ("lib/libm", "lib/libpthread")
# chrony's configure is a shell script of its own: it is told the system it
# builds for (it would ask uname), and every optional library is off (the
# DESTDIR has none; pkg-config would find the host's).
CHRONY_CONFIGURE = ["--host-system=NetBSD", "--host-release=7.99.10", "--host-machine=amd64",
                    "--prefix=/usr", "--sysconfdir=/etc", "--without-editline", "--disable-readline",
                    "--disable-sechash", "--without-nettle", "--without-gnutls", "--without-nss",
                    "--without-tomcrypt", "--disable-nts", "--without-seccomp", "--disable-privdrop",
                    "--disable-refclock"]
# chrony's socket.c asks for SO_TIMESTAMPNS whenever <sys/socket.h>
# defines it, else SO_TIMESTAMP.  This <sys/socket.h>, first on the include
# path of the second build, hides the two names, so that chronyd takes the
# SO_TIMESTAMP path (struct timeval) of a stock NetBSD without a change to
# chrony.
HIDE_TIMESTAMPNS = "#include_next <sys/socket.h>\n#undef SO_TIMESTAMPNS\n#undef SCM_TIMESTAMPNS\n"


@dataclass(frozen=True)
class ChronyBuild:
    name: str
    chronyd: str  # its path in the guest (loop/guest/interop/interop_chrony.c)
    timestampns: bool  # does it see SO_TIMESTAMPNS


CHRONY_BUILDS = (ChronyBuild("timestampns", "usr/sbin/chronyd", True),
                 ChronyBuild("so_timestamp", "usr/sbin/chronyd-so_timestamp", False))


def hide_timestampns(where: Path) -> list[str]:
    """HIDE_TIMESTAMPNS as where/sys/socket.h; the compiler flags that put it first."""
    (where / "sys").mkdir(parents=True, exist_ok=True)
    (where / "sys" / "socket.h").write_text(HIDE_TIMESTAMPNS)
    return ["-isystem", str(where)]


def sees_timestampns(cc: str, cppflags: list[str], scratch: Path) -> bool:
    """Whether <sys/socket.h> defines SO_TIMESTAMPNS for cc with cppflags."""
    probe = scratch / "timestampns-probe.c"
    probe.write_text("#include <sys/socket.h>\n#ifndef SO_TIMESTAMPNS\n#error hidden\n#endif\n")
    res = subprocess.run([cc, *cppflags, "-fsyntax-only", str(probe)], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0 and "hidden" not in res.stderr:
        raise TreeError(f"{cc} cannot compile an #include <sys/socket.h>: {res.stderr.strip()}")
    return res.returncode == 0


def _chrony(src: Path, export: Path, variant: ChronyBuild) -> Path:
    """Configure and make chronyd and chronyc in a copy of export; its directory."""
    tooldir = build.require_tools()
    work = interop_dir() / f"build-{src.name}" / f"chrony-{variant.name}"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(export, work)
    # What chrony's make_release writes into a release; without it the version is "DEVELOPMENT".
    (work / "version.txt").write_text(f"{CHRONY.tag}\n")
    cppflags = [f"--sysroot={build.destdir(src)}"]
    if not variant.timestampns:
        cppflags = hide_timestampns(work.parent / f"include-{variant.name}") + cppflags
    cc = str(tooldir / "bin" / "x86_64--netbsd-gcc")
    if sees_timestampns(cc, cppflags, work.parent) != variant.timestampns:
        raise TreeError(f"chrony {variant.name}: SO_TIMESTAMPNS is "
                        f"{'hidden from' if variant.timestampns else 'visible to'} the build")
    env = {"CC": cc, "CPPFLAGS": " ".join(cppflags), "CFLAGS": "-O2",
           "LDFLAGS": f"--sysroot={build.destdir(src)} -static", "PKG_CONFIG": "false"}
    tag = f"interop-{src.name}-chrony-{variant.name}"
    build.run_logged(["./configure", *CHRONY_CONFIGURE], cwd=work, env=env, log_name=f"{tag}-configure",
                     what=f"chrony {CHRONY.tag} ({variant.name}): configure")
    build.run_logged(["make", f"-j{config.jobs()}", "chronyd", "chronyc"], cwd=work, env=env,
                     log_name=f"{tag}-make", what=f"chrony {CHRONY.tag} ({variant.name}): make")
    return work


def guest_passwd(src: Path) -> Path:
    """The tree's etc/master.passwd as /etc/pwd.db (chronyd looks its user up
    with getpwnam, which reads only the database); returns pwd.db."""
    tooldir = build.require_tools()
    out = interop_dir() / f"passwd-{src.name}"
    if out.exists():
        shutil.rmtree(out)
    (out / "etc").mkdir(parents=True)
    shutil.copy2(src / "etc" / "master.passwd", out / "master.passwd")
    res = subprocess.run([str(tooldir / "bin" / "nbpwd_mkdb"), "-V", "0", "-p", "-d", str(out),
                          str(out / "master.passwd")], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise TreeError(f"nbpwd_mkdb: {res.stderr.strip()}")
    return out / "etc" / "pwd.db"


def build_chrony(src: Path) -> dict[str, Path]:
    """Static chronyd (both CHRONY_BUILDS), chronyc and /etc/pwd.db by their guest paths."""
    if shutil.which("bison") is None:
        raise Skip("no bison on this host (chrony's git tag carries no getdate.c): run `invoke setup`")
    export = source(CHRONY)
    build.guest_libs(src)
    build.guest_libs_more(src, CHRONY_LIB_DIRS)
    files: dict[str, Path] = {"etc/pwd.db": guest_passwd(src)}
    for variant in CHRONY_BUILDS:
        work = _chrony(src, export, variant)
        files[variant.chronyd] = work / "chronyd"
        if variant.timestampns:
            files["usr/bin/chronyc"] = work / "chronyc"
    return files


PROGRAMS = {"tcpdump": build_tcpdump, "chrony": build_chrony}
GUEST_CASES = Path(__file__).resolve().parent / "guest" / "interop"


def run(src: Path, timeout: int, config_name: str, only: str | None = None, suite: bool = True) -> int:
    """Build, then boot the test kernel with the programs in the guest and
    the interop cases next to the usual ones; a program without its sources
    is one `skip interop:` line (its guest cases skip), without any the
    guest is not booted (0).  suite=False: the interop cases alone."""
    from devtools.loop import vmtest
    if only is not None and only not in PROGRAMS:
        raise TreeError(f"--only {only}: not one of {', '.join(PROGRAMS)}")
    files: dict[str, Path] = {}
    for name, builder in PROGRAMS.items():
        if only in (None, name):
            try:
                files.update(builder(src))
            except Skip as e:
                print(f"skip interop: {e}", flush=True)
    if not files:
        return 0
    return vmtest.run(src, extra=str(GUEST_CASES), timeout=timeout, config_name=config_name, files=files,
                      suite=suite)
