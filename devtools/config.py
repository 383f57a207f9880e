"""Where things are: the one setting for the NetBSD tree, and our cache."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


class ConfigError(SystemExit):
    """A setting is missing or wrong: a one-line message, exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(f"sotimestamp: {message}")
        self.code = 2


def project_sys() -> Path:
    return PROJECT / "sys"


def netbsdsrcdir() -> Path:
    value = os.environ.get("NETBSDSRCDIR")
    if not value:
        raise ConfigError("NETBSDSRCDIR is not set: point it at the pinned NetBSD tree (see README)")
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
