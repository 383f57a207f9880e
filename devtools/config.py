"""Every setting the devtools read from the environment, read here and only
here (docs/loop.md lists them): where the NetBSD tree, the pkgsrc tree and the
fetched sources are, where our cache is, how many build jobs, whether QEMU
may use KVM."""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


class ConfigError(SystemExit):
    """A setting is missing or wrong: a one-line message on stderr, exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(f"sotimestamp: {message}")


def project_sys() -> Path:
    return PROJECT / "sys"


def netbsdsrcdir() -> Path:
    value = os.environ.get("NETBSDSRCDIR")
    if not value:
        raise ConfigError("NETBSDSRCDIR is not set: point it at the pinned NetBSD tree (see docs/loop.md)")
    return Path(value).resolve()


def netbsdsrcdir_if_set() -> Path | None:
    """NETBSDSRCDIR for the tasks that only use the tree when there is one."""
    return netbsdsrcdir() if os.environ.get("NETBSDSRCDIR") else None


def jobs() -> str:
    """build.sh -j and make -j for every build (SOTIMESTAMP_JOBS, default 2:
    the machines the loop runs on are small and shared)."""
    value = os.environ.get("SOTIMESTAMP_JOBS", "2")
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"SOTIMESTAMP_JOBS={value!r} is not a positive number")
    return value


def kvm() -> bool:
    """SOTIMESTAMP_KVM=1: QEMU may use KVM (the default is TCG, which runs anywhere)."""
    return os.environ.get("SOTIMESTAMP_KVM") == "1"


def pkgsrcdir() -> Path | None:
    """PKGSRCDIR: a pkgsrc tree (the 2017 checkout of github:nanobox-io/nanobox-pkgsrc-lite
    serves): the host around our packages for the real pkglint, and pkg_create's bootstrap."""
    value = os.environ.get("PKGSRCDIR")
    return Path(value) if value else None


def anita_src() -> Path | None:
    """ANITA_SRC: a git repository of github:gson1703/anita (installed at its pinned commit)."""
    value = os.environ.get("ANITA_SRC")
    return Path(value) if value else None


def pkglint_src() -> Path | None:
    """PKGLINT_SRC: a git repository of github:rillig/pkglint (built at its pinned tag)."""
    value = os.environ.get("PKGLINT_SRC")
    return Path(value) if value else None


def host_cc() -> str | None:
    """The host C compiler for the benchmarks' C programs: CC, else cc or gcc on PATH."""
    import shutil
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def cache() -> Path:
    root = Path(os.environ.get("SOTIMESTAMP_CACHE", Path.home() / ".cache" / "sotimestamp"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def tooldir() -> Path:
    return cache() / "tools"


def objdir(src: Path) -> Path:
    """One object directory per tree, so two checkouts never share objects."""
    return cache() / f"obj-{src.name}"


_held_locks: dict[str, object] = {}


@contextlib.contextmanager
def tree_lock() -> Iterator[None]:
    """One patch/build/boot at a time per tree: concurrent runs queue here.
    Once taken, the lock is kept until this process exits, so a chain like
    `invoke unpatch patch kernel vmtest` runs as one unit."""
    lock = cache() / f"lock-{netbsdsrcdir().name}"
    if str(lock) not in _held_locks:
        f = open(lock, "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another run on {netbsdsrcdir()} (lock {lock})", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        _held_locks[str(lock)] = f  # closed (and released) when the process exits
    yield
