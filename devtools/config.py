"""Where things are: the one setting for the NetBSD tree, and our cache."""
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
