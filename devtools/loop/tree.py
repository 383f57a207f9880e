"""Is NETBSDSRCDIR the pinned tree?  (Which series items it holds: series.report.)"""
from __future__ import annotations

import re
from pathlib import Path

PINNED_VERSION = 799001000  # NetBSD 7.99.10, NetBSD-current of 2015-04-21
# Our series grows struct socket and the mbuf packet header, so it bumps
# __NetBSD_Version__ as NetBSD does for such changes: a patched tree says this.
SERIES_VERSION = 799001100
SERIES_RELEASE = "7.99.11"  # uname -r of a kernel built from the patched tree
_VERSION_RE = re.compile(r"^#define\s+__NetBSD_Version__\s+(\d+)", re.M)


class TreeError(SystemExit):
    """A tree we refuse: one line on stderr, exit status 1, nothing touched."""

    def __init__(self, message: str) -> None:
        super().__init__(f"sotimestamp: {message}")


def netbsd_version(src: Path) -> int:
    param = src / "sys" / "sys" / "param.h"
    if not src.is_dir():
        raise TreeError(f"NETBSDSRCDIR={src} is not a directory")
    if not param.is_file():
        raise TreeError(f"NETBSDSRCDIR={src} is not a NetBSD source tree (no sys/sys/param.h)")
    match = _VERSION_RE.search(param.read_text(errors="replace"))
    if not match:
        raise TreeError(f"{param}: no __NetBSD_Version__ line")
    return int(match.group(1))


def check_pinned(src: Path) -> None:
    version = netbsd_version(src)
    if version not in (PINNED_VERSION, SERIES_VERSION):
        raise TreeError(f"NETBSDSRCDIR={src} is NetBSD __NetBSD_Version__ {version}, "
                        f"not the pinned {PINNED_VERSION} (7.99.10)")
    if not (src / "build.sh").is_file():
        raise TreeError(f"NETBSDSRCDIR={src} has no build.sh")

