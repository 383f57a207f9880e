"""build.sh and nbmake runs against NETBSDSRCDIR, with logs in our cache.

Host compatibility: the 2015 tree's tools need one setting on a current
glibc host (its bundled GNU make 3.81 must be told the host glob is
GNU-compatible); HOST_CFLAGS/HOST_CXXFLAGS keep older C/C++ dialects that
today's gcc defaults reject (see docs/loop.md, host compatibility, for which are needed).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from devtools import config
from devtools.loop.tree import TreeError, check_pinned

HOST_ENV = {
    "make_cv_sys_gnu_glob": "yes",
    "HOST_CFLAGS": "-O -fcommon -w -std=gnu89",
    "HOST_CXXFLAGS": "-O -w -fpermissive -std=gnu++98",
}


def _log_path(name: str) -> Path:
    logs = config.cache() / "logs"
    logs.mkdir(exist_ok=True)
    return logs / f"{name}.log"


def run_logged(cmd: list[str], *, cwd: Path, log_name: str, env: dict[str, str] | None = None,
               what: str, quiet: bool = False) -> None:
    """Run cmd with its output in a log file; a heartbeat line every 30 s
    (quiet: no start/done lines, only the heartbeat and a failure's tail)."""
    log = _log_path(log_name)
    if not quiet:
        print(f"{what}: {' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}\n  log: {log}", flush=True)
    start = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(30):
            last = _last_line(log)
            print(f"  ... {time.monotonic() - start:4.0f} s  {last[:100]}", flush=True)

    threading.Thread(target=heartbeat, daemon=True).start()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **HOST_ENV, **(env or {})}).returncode
    done.set()
    elapsed = time.monotonic() - start
    if rc != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        sys.stderr.write("\n".join(tail) + "\n")
        raise SystemExit(f"sotimestamp: {what} failed after {elapsed:.0f} s (exit {rc}); log: {log}")
    if not quiet:
        print(f"{what}: done in {elapsed:.0f} s", flush=True)


def _last_line(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 400))
            lines = f.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else ""
    except OSError:
        return ""


def buildsh(src: Path, *args: str, log_name: str, what: str) -> None:
    cmd = ["./build.sh", "-U", "-m", "amd64", f"-j{config.jobs()}", "-T", str(config.tooldir()),
           "-O", str(config.objdir(src)), *args]
    run_logged(cmd, cwd=src, log_name=log_name, what=what)


def tools(src: Path) -> None:
    check_pinned(src)
    buildsh(src, "tools", log_name="tools", what="build.sh tools")


def require_tools() -> Path:
    tooldir = config.tooldir()
    if not (tooldir / "bin" / "x86_64--netbsd-gcc").exists():
        raise TreeError(f"no cross toolchain in {tooldir}: run `invoke tools` first")
    return tooldir


def kernel_path(src: Path, name: str) -> Path:
    return config.objdir(src) / "sys" / "arch" / "amd64" / "compile" / name / "netbsd"


def kernel(src: Path, name: str) -> Path:
    check_pinned(src)
    require_tools()
    conf = src / "sys" / "arch" / "amd64" / "conf" / name
    if not conf.is_file():
        raise TreeError(f"no kernel config {conf} (is the series applied? `invoke patch`)")
    buildsh(src, "-u", f"kernel={name}", log_name=f"kernel-{src.name}-{name}", what=f"kernel {name}")
    path = kernel_path(src, name)
    print(f"kernel {name}: {path}")
    return path


def destdir(src: Path) -> Path:
    return config.objdir(src) / "destdir.amd64"


def nbmake_env(src: Path) -> dict[str, str]:
    """What build.sh's nbmake-amd64 wrapper sets, for our own tree and objdir
    (the shared wrapper in TOOLDIR names whichever tree built last)."""
    obj = config.objdir(src)
    return {
        "MACHINE": "amd64", "MACHINE_ARCH": "x86_64", "MAKEWRAPPERMACHINE": "amd64",
        "TOOLDIR": str(config.tooldir()), "USETOOLS": "yes", "NETBSDSRCDIR": str(src),
        "MAKEFLAGS": f"-de -m {src}/share/mk MKOBJDIRS=yes",
        "MAKEOBJDIR": "${.CURDIR:C,^" + str(src) + "," + str(obj) + ",}",
        "DESTDIR": str(destdir(src)), "MKUNPRIVED": "yes", "MKARZERO": "yes",
        "BSHELL": "/bin/sh", "HOST_SH": "/bin/sh", "LC_ALL": "C",
        # Static test programs need only static libraries.
        "MKPIC": "no", "MKPROFILE": "no", "MKLINT": "no", "MKDEBUG": "no",
        "MKDEBUGLIB": "no", "MKPICINSTALL": "no", "MKMAN": "no", "MKNLS": "no",
    }


# Only what static ATF test programs link against: headers, csu, libc,
# libatf-c (and the compiler's libgcc).
GUEST_LIB_DIRS = [
    ("etc", "distrib-dirs"),
    ("include", "includes"),
    ("sys", "includes"),
    ("lib/libc", "includes"),
    ("lib/libpthread", "includes"),
    ("external/bsd/atf/lib/libatf-c", "includes"),
    ("lib/csu", "dependall install"),
    ("external/gpl3/gcc/lib/libgcc", "dependall install"),
    # gcc -static links libgcc_eh, which the libgcc Makefile skips with MKPIC=no
    ("external/gpl3/gcc/lib/libgcc/libgcc_eh", "dependall install"),
    ("lib/libc", "dependall install"),
    ("external/bsd/atf/lib/libatf-c", "dependall install"),
]


# The same libraries for -m32 programs (an i386 process on the amd64
# kernel: COMPAT_NETBSD32), as build.sh's MKCOMPAT builds them
# (compat/amd64/i386: each library directory made again with
# bsd.i386.mk as BSD_MK_COMPAT_FILE, objects under compat/amd64/i386 of
# the object directory, installed into /usr/lib/i386); the headers are
# the 64-bit ones, which serve both.  Only what the static tests link.
GUEST_LIB32_DIRS = [
    "lib/csu",
    "external/gpl3/gcc/lib/libgcc",
    "external/gpl3/gcc/lib/libgcc/libgcc_eh",
    "lib/libc",
    "external/bsd/atf/lib/libatf-c",
]
I386_COMPAT = Path("compat/amd64/i386")


def nbmake_env32(src: Path) -> dict[str, str]:
    obj = config.objdir(src) / I386_COMPAT
    return {**nbmake_env(src), "BSD_MK_COMPAT_FILE": str(src / I386_COMPAT / "bsd.i386.mk"),
            "MAKEOBJDIR": "${.CURDIR:C,^" + str(src) + "," + str(obj) + ",}"}


def _make_dirs(src: Path, dirs: list[tuple[str, str]], env: dict[str, str], tag: str) -> None:
    nbmake = str(config.tooldir() / "bin" / "nbmake")
    for subdir, targets in dirs:
        # `obj` first: without its object directory make builds in the
        # source tree (and a later build.sh would pick those objects up).
        for target in ["obj", *targets.split()]:
            run_logged([nbmake, f"-j{config.jobs()}", target], cwd=src / subdir,
                       log_name=f"{tag}-{src.name}-{subdir.replace('/', '_')}-{target}",
                       env=env, what=f"{tag}: {subdir}: {target}", quiet=True)


def guest_libs(src: Path) -> Path:
    """Build and install into DESTDIR just what the guest tests link with,
    64-bit and 32-bit."""
    require_tools()
    destdir(src).mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    _make_dirs(src, GUEST_LIB_DIRS, nbmake_env(src), "guestlibs")
    _make_dirs(src, [(d, "dependall install") for d in GUEST_LIB32_DIRS], nbmake_env32(src), "guestlibs32")
    print(f"guest libraries (headers, csu, libgcc, libc, libatf-c; the same for i386 in "
          f"/usr/lib/i386) in {destdir(src)}: {time.monotonic() - start:.0f} s", flush=True)
    return destdir(src)


def guest_libs_more(src: Path, subdirs: tuple[str, ...]) -> None:
    """More static libraries into DESTDIR, 64-bit only: what an upstream
    program of `invoke interop` links beyond libc."""
    _make_dirs(src, [(d, "dependall install") for d in subdirs], nbmake_env(src), "guestlibs")
