"""A Python for the NetBSD guest, cross-built here.

Why: the release guest (NetBSD 7.99.10, 2015) has no network, and no NetBSD
binary packages can be downloaded from this workplace, so pkgsrc's lang/python311
is out of reach.  The cross route: CPython 3.11.2 (and libffi 3.4.4, so that
`_ctypes` works, which py-sotimestamp's recv_batch uses) built with the tree's
cross gcc 4.8.4 against the sysroot of `invoke sets` (the release build's
DESTDIR), installed with prefix /usr/pkg into a staging directory in our cache:

    <cache>/guestpython/staging/usr/pkg/{bin/python3.11, lib/python3.11,
                                         lib/libffi.so*, include, share}

Packaging that tree (pkg_create) and running it in the guest is not done here.

What it needs: the cross toolchain (`invoke tools`); the release DESTDIR with
its libraries (`invoke sets`, at least past its library phase); a host
Python 3.11 to drive the cross build (/usr/bin/python3.11 on Debian 12); the
two upstream tarballs (Debian's orig tarballs, fetched with
`apt-get source --download-only` into <cache>/downloads when absent, which
needs a deb-src entry: added here as root if there is none).

Source adjustments (none to the NetBSD tree): configure learns the
`*-*-netbsd*` cross host (uname's answers, as a native build would get them:
NetBSD 7.99.10, so sys.platform is 'netbsd7'); a CONFIG_SITE answers the
run-time checks a cross build cannot make; and <assert.h> of the 2015 libc
predates C11's static_assert macro, hence -Dstatic_assert=_Static_assert; and
its <stdlib.h> only declares alloca() as a function (gcc's builtin is meant to
take over, which -std=c11, CPython's choice, turns off), so _ctypes called
libc's alloca(), whose memory the next call overwrites: every foreign call
with arguments crashed in ffi_prep_cif on a garbage arg_types[] -- hence
-Dalloca=__builtin_alloca, and a check that no built object imports alloca.

A finished build leaves a stamp (keyed on the recipe below): a rerun returns
at once; a failed run starts that stage again from fresh sources.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devtools import config
from devtools.installed import fetched, sets
from devtools.loop.build import require_tools, run_logged
from devtools.loop.tree import SERIES_RELEASE, TreeError

PREFIX = "/usr/pkg"
HOST = "x86_64--netbsd"
BUILD = "x86_64-pc-linux-gnu"
NETBSD_RELEASE = SERIES_RELEASE  # uname -r of the patched tree; MACHDEP becomes netbsd7
# Bump a stage's number when its steps below change (its stamp then no longer matches).
REVISION = {"libffi": 2, "python": 3}
SRC_LIST = Path("/etc/apt/sources.list.d/sotimestamp-src.sources")


@dataclass(frozen=True)
class Source:
    package: str  # Debian source package
    tarball: str  # its orig tarball (the upstream release)
    sha256: str
    topdir: str


PYTHON = Source("python3.11", "python3.11_3.11.2.orig.tar.gz",
                "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849", "Python-3.11.2")
LIBFFI = Source("libffi", "libffi_3.4.4.orig.tar.gz",
                "d66c56ad259a82cf2a9dfc408b32bf5da52371500b84745f7fb8b645712df676", "libffi-3.4.4")

# What must be in the sysroot before anything links against it.
SYSROOT_FILES = [
    "usr/include/stdio.h", "usr/lib/crt0.o", "usr/lib/crti.o", "usr/lib/crtbegin.o",
    "usr/lib/crtbeginS.o", "usr/lib/libgcc.a", "usr/lib/libgcc_s.so",
    "usr/lib/libc.so", "usr/lib/libm.so", "usr/lib/libpthread.so", "usr/lib/libz.so",
    "usr/lib/libutil.so", "usr/lib/libcrypt.so", "usr/lib/libbz2.so", "usr/lib/libedit.so",
]
SYSROOT_IF_IN_TREE = {"usr/lib/liblzma.so": "external/public-domain/xz"}

# Run-time configure checks a cross build cannot make, answered for NetBSD.
CONFIG_SITE = """\
ac_cv_file__dev_ptmx=yes
ac_cv_file__dev_ptc=no
ac_cv_buggy_getaddrinfo=no
"""

# The guest Python is useless for us without these.
MANDATORY = [
    "_ctypes", "_socket", "select", "array", "_struct", "math", "zlib", "_json", "binascii",
    "_datetime", "_posixsubprocess", "fcntl", "termios", "_random", "_bisect", "_heapq",
    "time", "_contextvars", "_pickle",
]

# configure: a cross host list entry for NetBSD (ac_sys_system, and the
# release a native build would read from uname), and the CPU in the platform tag.
CONFIGURE_EDITS = [
    ('\t*-*-wasi)\n\t    ac_sys_system=WASI\n\t    ;;\n',
     '\t*-*-wasi)\n\t    ac_sys_system=WASI\n\t    ;;\n'
     f'\t*-*-netbsd*)\n\t    ac_sys_system=NetBSD\n\t    ac_sys_release_cross={NETBSD_RELEASE}\n\t    ;;\n'),
    ('\tesac\n\tac_sys_release=\n    else\n',
     '\tesac\n\tac_sys_release=$ac_sys_release_cross\n    else\n'),
    ('\twasm32-*-* | wasm64-*-*)\n\t\t_host_cpu=$host_cpu\n\t\t;;\n',
     '\twasm32-*-* | wasm64-*-*)\n\t\t_host_cpu=$host_cpu\n\t\t;;\n'
     '\t*-*-netbsd*)\n\t\t_host_cpu=$host_cpu\n\t\t;;\n'),
]
# libffi's closures: its NetBSD code (PROT_MPROTECT + MAP_REMAPDUP) needs
# __NetBSD_Version__ >= 7.99.72; older NetBSD falls through to "closure =
# malloc()", which is not executable (NX heap): every callback (CFUNCTYPE) crashed
# with SEGV_ACCERR at the trampoline.  FFI_MMAP_EXEC_WRIT (what libffi's configure
# sets for FreeBSD and OpenBSD) makes it mmap the closures PROT_EXEC.
LIBFFI_CPPFLAGS = "-DFFI_MMAP_EXEC_WRIT=1"
CFLAGS_NODIST = "-Dstatic_assert=_Static_assert -Dalloca=__builtin_alloca"


class GuestPythonError(TreeError):
    """A missing prerequisite or a failed stage: one line, exit status 1."""


# --- where things are -------------------------------------------------------

def workdir() -> Path:
    return config.cache() / "guestpython"


def staging_root() -> Path:
    """The tree to package: it contains usr/pkg."""
    return workdir() / "staging"


def interpreter() -> Path:
    return staging_root() / PREFIX.lstrip("/") / "bin" / "python3.11"


def libffi_root() -> Path:
    """libffi's own install (copied into a fresh staging root by the python stage)."""
    return workdir() / "libffi-root"


def sysroot(src: Path) -> Path:
    return sets.release_objdir(src) / "destdir.amd64"


def tool(name: str) -> str:
    return str(config.tooldir() / "bin" / f"{HOST}-{name}")


def _stamp(stage: str) -> Path:
    return workdir() / f"{stage}.done"


def _recipe_key(stage: str, src: Path) -> str:
    """Changes whenever what a stage would produce changes (the python
    stage links libffi, so libffi's recipe is part of it)."""
    parts = [str(REVISION["libffi"]), LIBFFI.sha256, PREFIX, HOST, str(sysroot(src)),
             " ".join(_libffi_configure_args())]
    if stage == "python":
        parts += [str(REVISION["python"]), PYTHON.sha256, NETBSD_RELEASE, CONFIG_SITE, CFLAGS_NODIST,
                  repr(CONFIGURE_EDITS), " ".join(_python_configure_args())]
    return hashlib.sha256("\n".join([stage, *parts]).encode()).hexdigest()[:16]


def _stage_done(stage: str, src: Path) -> bool:
    try:
        return bool(json.loads(_stamp(stage).read_text()).get("key") == _recipe_key(stage, src))
    except (OSError, ValueError):
        return False


def _mark_done(stage: str, src: Path, **info: object) -> None:
    _stamp(stage).write_text(json.dumps({"key": _recipe_key(stage, src), **info}, indent=1) + "\n")


# --- prerequisites ------------------------------------------------------------

def check_sysroot(src: Path) -> Path:
    """The release DESTDIR, if the libraries and headers we link with are there."""
    root = sysroot(src)
    needed = list(SYSROOT_FILES) + [f for f, d in SYSROOT_IF_IN_TREE.items() if (src / d).is_dir()]
    absent = [f for f in needed if not (root / f).exists()]
    if absent:
        raise GuestPythonError(
            f"the release sysroot {root} lacks {', '.join(absent)}: run `invoke sets` "
            "(or wait until a running one is past its library phase)")
    return root


@functools.lru_cache(maxsize=None)
def build_python() -> str:
    """A host Python of the same minor version, which a cross build requires."""
    for candidate in ["/usr/bin/python3.11", sys.executable]:
        if candidate and Path(candidate).exists():
            out = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True).stdout.strip()
            if out == "(3, 11)":
                return candidate
    raise GuestPythonError("a cross build of CPython 3.11 needs a Python 3.11 on the host "
                           "(apt-get install python3.11)")


def _has_deb_src() -> bool:
    apt = Path("/etc/apt")
    for f in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if f.exists() and any(line.split()[:1] == ["deb-src"] for line in f.read_text().splitlines()):
            return True
    for f in sorted((apt / "sources.list.d").glob("*.sources")):
        if re.search(r"^Types:.*\bdeb-src\b", f.read_text(), re.M):
            return True
    return False


def _enable_deb_src() -> None:
    from devtools import setup as setup_mod
    if os.geteuid() != 0:
        raise GuestPythonError(
            f"fetching the sources needs a deb-src entry for bookworm main (as root: {SRC_LIST}), "
            f"or put {PYTHON.tarball} and {LIBFFI.tarball} into {fetched.directory()}")
    print(f"guest python: adding Debian source packages ({SRC_LIST})", flush=True)
    SRC_LIST.write_text(f"Types: deb-src\nURIs: {setup_mod._debian_mirror()}\nSuites: bookworm\n"
                        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    subprocess.run(["apt-get", "update", "-q"], check=True)


def fetch(source: Source) -> Path:
    """The orig tarball in our downloads, fetched from Debian if absent, checked."""
    path = fetched.directory() / source.tarball
    if not path.exists():
        if not _has_deb_src():
            _enable_deb_src()
        print(f"guest python: apt-get source --download-only {source.package}", flush=True)
        subprocess.run(["apt-get", "source", "--download-only", "-q", source.package],
                       cwd=fetched.directory(), check=True)
        if not path.exists():
            raise GuestPythonError(f"apt-get source {source.package} did not bring {source.tarball} "
                                   f"(a newer upstream version in Debian?); put it into {fetched.directory()}")
    return fetched.check(path, source.sha256)


def _unpack(source: Source) -> Path:
    """Fresh sources under the work directory (a previous attempt's are removed)."""
    tree = workdir() / "src" / source.topdir
    if tree.exists():
        shutil.rmtree(tree)
    tree.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xzf", str(fetch(source)), "-C", str(tree.parent)], check=True)
    return tree


# --- the two builds ----------------------------------------------------------

def _cross_env(src: Path) -> dict[str, str]:
    """The cross tools first on PATH; pkg-config sees only what we installed."""
    return {
        "PATH": f"{config.tooldir() / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "CC": f"{tool('gcc')} --sysroot={sysroot(src)}",
        "AR": tool("ar"), "RANLIB": tool("ranlib"), "STRIP": tool("strip"), "READELF": tool("readelf"),
        "PKG_CONFIG_LIBDIR": str(libffi_root() / PREFIX.lstrip("/") / "lib" / "pkgconfig"),
        "PKG_CONFIG_SYSROOT_DIR": str(libffi_root()),
        "PKG_CONFIG_PATH": "",
        "LC_ALL": "C",
    }


def _libffi_configure_args() -> list[str]:
    return [f"--host={HOST}", f"--build={BUILD}", f"--prefix={PREFIX}", "--disable-docs",
            "--disable-static", "--disable-multi-os-directory", f"CPPFLAGS={LIBFFI_CPPFLAGS}"]


def _run(cmd: list[str], cwd: Path, stage: str, step: str, env: dict[str, str]) -> None:
    run_logged(cmd, cwd=cwd, log_name=f"guestpython-{stage}-{step}", env=env,
               what=f"guest python: {stage} {step}")


def build_libffi(src: Path) -> None:
    if _stage_done("libffi", src):
        return
    start = time.monotonic()
    tree = _unpack(LIBFFI)
    if libffi_root().exists():
        shutil.rmtree(libffi_root())
    env = _cross_env(src)
    _run(["./configure", *_libffi_configure_args()], tree, "libffi", "configure", env)
    _run(["make", f"-j{config.jobs()}"], tree, "libffi", "make", env)
    _run(["make", "install", f"DESTDIR={libffi_root()}"], tree, "libffi", "install", env)
    for la in (libffi_root() / PREFIX.lstrip("/") / "lib").glob("libffi*.la"):
        la.unlink()  # libtool archives name host paths; nothing needs them
    _mark_done("libffi", src, seconds=round(time.monotonic() - start))


def _patch_configure(tree: Path) -> None:
    configure = tree / "configure"
    text = configure.read_text()
    for old, new in CONFIGURE_EDITS:
        if text.count(old) != 1:
            raise GuestPythonError(f"{configure}: expected once: {old!r}")
        text = text.replace(old, new)
    configure.write_text(text)


def _python_configure_args() -> list[str]:
    pkg = libffi_root() / PREFIX.lstrip("/")
    return [
        f"--host={HOST}", f"--build={BUILD}", f"--prefix={PREFIX}",
        f"--with-build-python={build_python()}", "--without-ensurepip", "--disable-test-modules",
        "--enable-ipv6",
        f"CPPFLAGS=-I{pkg}/include", f"LDFLAGS=-L{pkg}/lib -Wl,-rpath,{PREFIX}/lib",
        f"CFLAGS_NODIST={CFLAGS_NODIST}",
    ]


def build_cpython(src: Path) -> None:
    if _stage_done("python", src) and interpreter().exists():
        return
    start = time.monotonic()
    tree = _unpack(PYTHON)
    _patch_configure(tree)
    if staging_root().exists():
        shutil.rmtree(staging_root())
    shutil.copytree(libffi_root(), staging_root(), symlinks=True)  # the package carries libffi.so
    site = workdir() / "config.site"
    site.write_text(CONFIG_SITE)
    env = {**_cross_env(src), "CONFIG_SITE": str(site)}
    _run(["./configure", *_python_configure_args()], tree, "python", "configure", env)
    _run(["make", f"-j{config.jobs()}"], tree, "python", "make", env)
    _run(["make", "install", f"DESTDIR={staging_root()}"], tree, "python", "install", env)
    _strip(staging_root())
    _check_no_libc_alloca(staging_root())
    report = module_report()
    _mark_done("python", src, seconds=round(time.monotonic() - start), **asdict(report))


def _strip(root: Path) -> None:
    """Cross strip: symbols off the executable and shared objects, debug info
    off the static libpython (kept for embedding, 10x smaller)."""
    pkg = root / PREFIX.lstrip("/")
    elves = [p for p in (pkg / "bin").iterdir() if p.is_file() and not p.is_symlink() and _is_elf(p)]
    shared = [p for p in pkg.rglob("*.so*") if p.is_file() and not p.is_symlink() and _is_elf(p)]
    archives = [*pkg.glob("lib/libpython*.a"), *pkg.glob("lib/python3.11/config-*/libpython*.a")]
    if elves:
        subprocess.run([tool("strip"), *map(str, elves)], check=True)
    if shared:
        subprocess.run([tool("strip"), "--strip-unneeded", *map(str, shared)], check=True)
    if archives:
        subprocess.run([tool("strip"), "--strip-debug", *map(str, archives)], check=True)


def _check_no_libc_alloca(root: Path) -> None:
    """alloca must be gcc's builtin: libc's function returns stack memory that
    the caller's next call reuses (see CFLAGS_NODIST)."""
    pkg = root / PREFIX.lstrip("/")
    bad = []
    for p in sorted([*pkg.glob("bin/*"), *pkg.rglob("*.so*")]):
        if p.is_file() and not p.is_symlink() and _is_elf(p):
            out = subprocess.run([tool("readelf"), "--dyn-syms", "-W", str(p)],
                                 capture_output=True, text=True, check=True).stdout
            if re.search(r"\bUND\s+alloca\b", out):
                bad.append(p.name)
    if bad:
        raise GuestPythonError(f"these import libc's alloca (must be __builtin_alloca): {', '.join(bad)}")


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


# --- what came out ------------------------------------------------------------

@dataclass
class ModuleReport:
    built: list[str] = field(default_factory=list)  # shared (lib-dynload) and built in
    not_built: dict[str, list[str]] = field(default_factory=dict)  # setup.py's summary, by reason
    missing_mandatory: list[str] = field(default_factory=list)


SUMMARY_HEADERS = {
    "The necessary bits to build these optional modules were not found:": "missing",
    "been built, they are *disabled* in the Setup files:": "disabled",
    "been built, they are *disabled* by configure:": "disabled by configure",
    "Failed to build these modules:": "failed",
    "but were removed because they could not be imported:": "failed on import",
}


def summary_from_log(log: Path) -> dict[str, list[str]]:
    """setup.py's closing summary in the make log: module names by reason."""
    found: dict[str, list[str]] = {}
    section = None
    for line in log.read_text(errors="replace").splitlines():
        header = next((v for k, v in SUMMARY_HEADERS.items() if line.endswith(k)), None)
        if header:
            section = header
            found.setdefault(section, [])
        elif section and line.strip() and not line.startswith("To find the necessary bits"):
            found[section] += line.split()
        else:
            section = None
    return {k: sorted(set(v)) for k, v in found.items()}


def builtin_modules(root: Path) -> list[str]:
    """Modules linked into the interpreter (the installed config.c, from makesetup)."""
    found: set[str] = set()
    for config_c in (root / PREFIX.lstrip("/") / "lib" / "python3.11").glob("config-*/config.c"):
        found |= set(re.findall(r'\{"(\w+)", PyInit_\w+\}', config_c.read_text()))
    return sorted(found)


def shared_modules(root: Path) -> list[str]:
    dynload = root / PREFIX.lstrip("/") / "lib" / "python3.11" / "lib-dynload"
    return sorted(p.name.split(".")[0] for p in dynload.glob("*.so"))


def module_report() -> ModuleReport:
    """What the last build made: built modules, the rest by setup.py's reason,
    and which of MANDATORY is missing."""
    built = sorted(set(shared_modules(staging_root())) | set(builtin_modules(staging_root())))
    log = config.cache() / "logs" / "guestpython-python-make.log"
    not_built = summary_from_log(log) if log.exists() else {}
    return ModuleReport(built, not_built, [m for m in MANDATORY if m not in built])


def check_interpreter() -> Path:
    """bin/python3.11 must be an x86-64 ELF executable for NetBSD."""
    exe = interpreter()
    with open(exe, "rb") as f:
        head = f.read(1 << 16)
    machine = int.from_bytes(head[18:20], "little")
    if head[:5] != b"\x7fELF\x02" or machine != 62 or b"NetBSD\x00" not in head:
        raise GuestPythonError(f"{exe} is not an x86-64 ELF executable for NetBSD")
    return exe


# --- the one entry point ------------------------------------------------------

def build(src: Path) -> Path:
    """Cross-build libffi and CPython for the guest; returns the staging root
    (the directory that contains usr/pkg).  A finished build is not redone."""
    start = time.monotonic()
    if not (interpreter().exists() and _stage_done("libffi", src) and _stage_done("python", src)):
        require_tools()
        check_sysroot(src)
        fetch(LIBFFI)
        fetch(PYTHON)
        workdir().mkdir(parents=True, exist_ok=True)
        build_libffi(src)
        build_cpython(src)
    report = module_report()
    exe = check_interpreter()
    if report.missing_mandatory:
        raise GuestPythonError(f"the guest Python lacks {', '.join(report.missing_mandatory)} "
                               f"(logs: {config.cache() / 'logs'}/guestpython-python-*.log)")
    for reason, names in sorted(report.not_built.items()):
        print(f"guest python: not built ({reason}): {' '.join(names)}")
    print(f"guest python: {len(report.built)} modules; {exe}\n"
          f"guest python: staging root {staging_root()} ({time.monotonic() - start:.0f} s)", flush=True)
    return staging_root()
