"""sotimestamp developer tasks (invoke).  A table of contents: each task is a
few lines that call into the small modules under devtools/.

    invoke --list            all tasks
    invoke TASK --help       what one task does and its options

The NetBSD source tree is found through one setting, NETBSDSRCDIR; build
products go under SOTIMESTAMP_CACHE (default ~/.cache/sotimestamp), never into
the project or the tree.
"""
from __future__ import annotations

from invoke import task

from devtools import config as cfg


# --- kernel loop: tree, patches, tools, kernel, QEMU ---------------------

@task
def setup(c):
    """Install the Debian packages the loop and the tests need (idempotent)."""
    from devtools import setup as setup_mod
    setup_mod.install_debian_packages()


@task
def tree(c):
    """Check NETBSDSRCDIR is the pinned tree (7.99.10) and list applied patches."""
    from devtools.loop import series
    series.report(cfg.netbsdsrcdir())


@task
def patch(c):
    """Apply sys/series (and sys/new files) to NETBSDSRCDIR, all or nothing.
    If an older version of the series is applied, swap it (unchanged files keep
    their mtimes, so `invoke kernel` rebuilds only what changed)."""
    from devtools.loop import series
    with cfg.tree_lock():
        series.apply_recorded(cfg.netbsdsrcdir(), cfg.project_sys(), cfg.cache())


@task
def unpatch(c):
    """Reverse what `invoke patch` applied (as recorded then), all or nothing."""
    from devtools.loop import series
    with cfg.tree_lock():
        series.reverse_recorded(cfg.netbsdsrcdir(), cfg.project_sys(), cfg.cache())


@task(help={"patch": "a patch of sys/series, e.g. 030-inet-timestamps.diff",
            "done": "regenerate PATCH from the scratch copy (git diff --no-prefix), if the series then applies",
            "add": "bring this tree file (tree-relative path) into the scratch copy to change it",
            "abort": "throw the scratch copy away"})
def refresh(c, patch, done=False, add=None, abort=False):
    """Change one patch: a scratch copy of the pristine files with the series up to PATCH
    applied; edit there; --done rewrites sys/patches/PATCH once the whole series applies
    with patch --fuzz=0.  Only reads NETBSDSRCDIR."""
    from devtools.loop import refresh as refresh_mod
    if patch.startswith("-"):  # invoke takes `invoke refresh --help` as PATCH=--help
        raise SystemExit("usage: invoke refresh PATCH [--add PATH | --done | --abort] (see invoke --help refresh)")
    raise SystemExit(refresh_mod.main(cfg.netbsdsrcdir(), cfg.project_sys(), cfg.cache(), patch,
                                      done=done, add=add, abort_=abort))


@task
def tools(c):
    """Build the cross toolchain with build.sh (-U -m amd64 tools)."""
    from devtools.loop import build
    with cfg.tree_lock():
        build.tools(cfg.netbsdsrcdir())


@task(iterable=["config"], help={"config": "kernel config name (repeatable); default: GENERIC and SOTSTEST"})
def kernel(c, config=None):
    """Build kernels from the patched tree (build.sh -u kernel=NAME), incrementally."""
    from devtools.loop import build
    with cfg.tree_lock():
        for name in config or ["GENERIC", "SOTSTEST"]:
            build.kernel(cfg.netbsdsrcdir(), name)


@task(help={"extra": "directory of extra *.c test files to run in the same guest",
            "timeout": "seconds to wait for the guest's results",
            "config": "test kernel config to boot (SOTSTEST or one including it: SOTSTEST_MPSAFE, SOTSTEST_LOCKDEBUG); "
                      "default SOTSTEST"})
def vmtest(c, extra=None, timeout=900, config="SOTSTEST"):
    """Build the in-guest tests, boot the test kernel in QEMU, report N passed, N failed."""
    from devtools.loop import vmtest as vmtest_mod
    with cfg.tree_lock():
        rc = vmtest_mod.run(cfg.netbsdsrcdir(), extra=extra, timeout=int(timeout), config_name=config)
    raise SystemExit(rc)


@task(help={"timeout": "seconds to wait for the guest's results",
            "config": "test kernel config to boot (default SOTSTEST)",
            "only": "build just one program: tcpdump or chrony (the other's guest cases skip)",
            "suite": "also run the usual ATF suite in the guest (default; --no-suite: the interop cases alone)"})
def interop(c, timeout=1200, config="SOTSTEST", only=None, suite=True):
    """Upstream libpcap/tcpdump and chrony (pinned tags, unmodified) built against the patched tree,
    then vmtest with tcpdump capturing on wm0 and chronyd on lo0 in the guest; skips without the sources."""
    from devtools.loop import interop as interop_mod
    with cfg.tree_lock():
        rc = interop_mod.run(cfg.netbsdsrcdir(), int(timeout), config, only, suite)
    raise SystemExit(rc)


# --- py-sotimestamp --------------------------------------------------------

@task(help={"count": "datagrams to generate (default 1000)", "keep": "directory to keep the pcapng files in"})
def demo(c, count=1000, keep=None):
    """Loopback capture -> stats -> replay round trip with generated traffic; stats printed."""
    from devtools.pybench import demo as demo_mod
    raise SystemExit(demo_mod.run(int(count), keep))


@task(help={"k": "datagrams queued per drain (default 20000)", "rounds": "drains per receive path (default 5)",
            "guest": "instead: the kernel benchmarks in the QEMU guest (needs NETBSDSRCDIR, `invoke kernel`)"})
def bench(c, k=20000, rounds=5, guest=False):
    """Receive rate and syscalls/datagram: C recvmmsg vs recv, recv_batch, recvfrom; replay pacing
    (recorded schedule, --pps 20000) and --topspeed rate; stats next to capinfos on 1 M packets;
    capture's knee, and two feeds rotating every second (issue 21's figures alone, three times:
    `python -m devtools.pybench.readbench issue21`).
    With --guest: stamping on/off cost and syscalls/datagram in the patched guest (@@BENCH lines)."""
    if guest:
        from devtools.loop import vmtest as vmtest_mod
        with cfg.tree_lock():
            src = cfg.netbsdsrcdir()
            raise SystemExit(vmtest_mod.run(src, extra=str(src / "tests/net/timestamp/bench")))
    from devtools.pybench import bench as pybench
    raise SystemExit(pybench.run(int(k), int(rounds)))


# --- release and pkgsrc ----------------------------------------------------

@task(help={"version": "refuse unless py-sotimestamp's version is this",
            "allow_dirty": "release from a work tree with uncommitted changes"})
def release(c, version=None, allow_dirty=False):
    """Write dist/: sdist, wheel, kernel and pkgsrc tarballs (+ GENERIC if built), SHA512/SHA256."""
    from devtools.release import dist as release_mod
    release_mod.main(version, allow_dirty)


@task(help={"fix": "rewrite pkgsrc/net/py-sotimestamp/PLIST from the wheel first"})
def pkglint(c, fix=False):
    """Check pkgsrc/ like pkglint would (order, RCS ids, PLIST vs wheel, distinfo vs tarballs)."""
    from devtools.release import lint
    lint.run(cfg.PROJECT, fix=fix)


# --- release sets and anita ----------------------------------------------

@task
def sets(c):
    """build.sh release from the patched tree (bridges applied first) into the cache:
    sets with the patched GENERIC and our ATF tests, and installation/cdrom/boot-com.iso."""
    from devtools.installed import sets as sets_mod
    with cfg.tree_lock():
        sets_mod.build_sets(cfg.netbsdsrcdir())


@task
def unbridge(c):
    """Reverse the build bridges `invoke sets` applied (the SQLite amalgamation)."""
    from devtools.installed import bridges
    with cfg.tree_lock():
        bridges.reverse(cfg.netbsdsrcdir())


@task
def guestpython(c):
    """Cross-build CPython 3.11.2 (+ libffi, for _ctypes) for the NetBSD guest against
    the release DESTDIR of `invoke sets`, into a staging root in the cache (usr/pkg/...).
    No tree lock: it only reads the DESTDIR (a running `invoke sets` holds the lock)."""
    from devtools.installed import guestpython as guestpython_mod
    guestpython_mod.build(cfg.netbsdsrcdir())


@task(help={"full": "run all of /usr/tests (anita's test mode), not just net/timestamp and net/net",
            "reinstall": "throw the installed image and anita's copy of the sets away; install again"})
def anita(c, full=False, reinstall=False):
    """Install the `invoke sets` release with anita (QEMU, igb as wm0), pkg_add our packages,
    run our ATF tests and the py-sotimestamp suite in the installed system; N passed, N failed."""
    from devtools.installed import anitarun, guestpkgs
    with cfg.tree_lock():
        src = cfg.netbsdsrcdir()
        if reinstall:
            anitarun.discard_image(src)
        anitarun.install_anita()
        packages = guestpkgs.build_all(src, anitarun.workdir(src) / "packages")
        raise SystemExit(anitarun.run(src, packages, full=full))
