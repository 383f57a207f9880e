"""`invoke sets`: NetBSD release sets (and the install CD anita boots) from
the patched tree, with build.sh release, into the cache (never the project).

The release has its own object directory, so the static libraries the
md-root loop builds (MKPIC=no) and the release's never mix.
"""
from __future__ import annotations

import tarfile
import time
from pathlib import Path

from devtools import config
from devtools.installed import bridges
from devtools.loop import build, series
from devtools.loop.tree import TreeError, check_pinned

# Lean where the tests allow: no X11, debug sets, CTF, profiled/lint/compat
# libraries, gdb or HTML man pages.  ATF and the tests set stay.  build.sh -V
# sets these in the environment, so only ?= defaults can be changed this way:
# the kernel list (etc/etc.amd64/Makefile.inc, KERNEL_SETS=, with the Xen
# kernels) cannot, and all six kernels are built.
# NOGCCERROR: the newer SQLite amalgamation (bridge) warns under gcc 4.8;
# our own files are built with -Werror by `invoke kernel`/`vmtest`.
# SLOPPY_FLIST: the snapshot lacks ./etc/weekly.d/whatisdb (bridge 2).
RELEASE_VARS = {
    "MKX11": "no", "MKDEBUG": "no", "MKCTF": "no", "MKPROFILE": "no", "MKLINT": "no",
    "MKCOMPAT": "no", "MKGDB": "no", "MKHTML": "no", "MKATF": "yes",
    "NOGCCERROR": "yes", "SLOPPY_FLIST": "yes",
}
EXPECTED = [
    "binary/sets/kern-GENERIC.tgz", "binary/sets/base.tgz", "binary/sets/etc.tgz",
    "binary/sets/comp.tgz", "binary/sets/misc.tgz", "binary/sets/modules.tgz",
    "binary/sets/tests.tgz", "binary/sets/man.tgz", "binary/sets/text.tgz",
    "installation/cdrom/boot-com.iso",
]
OUR_TEST_FILES = ["./usr/tests/net/timestamp/t_tstamp_rx", "./usr/tests/net/timestamp/t_hwtstamp_tx",
                  "./usr/tests/net/timestamp/Atffile"]


def releasedir(src: Path) -> Path:
    return config.cache() / f"release-{src.name}"


def release_objdir(src: Path) -> Path:
    return config.cache() / f"release-obj-{src.name}"


def amd64_dir(src: Path) -> Path:
    return releasedir(src) / "amd64"


def build_sets(src: Path) -> Path:
    """Build (incrementally) and check the release; returns RELEASEDIR/amd64."""
    check_pinned(src)
    build.require_tools()
    states = series.states(src, series.Series.load(config.project_sys()))
    missing = [name for name, st in states.items() if st is not series.State.APPLIED]
    if missing:
        raise TreeError(f"{src}: the series is not applied ({len(missing)} items, e.g. {missing[0]}): "
                        "run `invoke patch` first")
    bridges.apply(src)
    share_tool_objects(src)
    start = time.monotonic()
    cmd = ["./build.sh", "-U", "-u", "-m", "amd64", f"-j{config.jobs()}", "-T", str(config.tooldir()),
           "-O", str(release_objdir(src)), "-R", str(releasedir(src))]
    for name, value in RELEASE_VARS.items():
        cmd += ["-V", f"{name}={value}"]
    build.run_logged([*cmd, "release"], cwd=src, log_name=f"release-{src.name}",
                     what="build.sh release")
    out = check_release(src)
    print(f"sets: {out} in {(time.monotonic() - start) / 60:.1f} min", flush=True)
    return out


def share_tool_objects(src: Path) -> None:
    """`make release` runs the tools stage again; with the tools' objects of
    `invoke tools` in place it finds them up to date instead of rebuilding the
    whole toolchain (12+ min) into TOOLDIR."""
    ours, built = release_objdir(src) / "tools", config.objdir(src) / "tools"
    if ours.exists() or ours.is_symlink() or not built.is_dir():
        return
    ours.parent.mkdir(parents=True, exist_ok=True)
    ours.symlink_to(built)


def check_release(src: Path) -> Path:
    out = amd64_dir(src)
    absent = [rel for rel in EXPECTED if not (out / rel).is_file()]
    if absent:
        raise TreeError(f"release in {out} lacks {', '.join(absent)}")
    with tarfile.open(out / "binary/sets/tests.tgz") as tar:
        names = set(tar.getnames())
    lacking = [f for f in OUR_TEST_FILES if f not in names]
    if lacking:
        raise TreeError(f"tests.tgz lacks our tests: {', '.join(lacking)}")
    return out
