"""The series' files that librumpnet compiles (060-rump-tstamp.diff,
570-rump-hwtstamp.diff) must not use hooks only a hardware kernel has.

Reproduction kept: `invoke sets` (2026-12-05) stopped linking
usr.bin/rump_allserver with "librumpnet.so: undefined reference to
`rumpns_x86_pause'": uipc_tstamp.c waited with SPINLOCK_BACKOFF_HOOK,
which <x86/lock.h> makes x86_pause() once <sys/param.h> says _HARDKERNEL,
as it does for rump's native-ABI build.  The kernel builds and vmtest do
not link rump programs, so only a release build showed it."""
from __future__ import annotations

import re
from pathlib import Path

from devtools.config import PROJECT

SYS = PROJECT / "sys"
RUMP_PATCHES = ("060-rump-tstamp.diff", "570-rump-hwtstamp.diff")
# Machine-dependent hooks of a hardware kernel, absent from librump.
HARD_KERNEL_ONLY = re.compile(r"\b(SPINLOCK_BACKOFF_HOOK|SPINLOCK_BACKOFF|SPINLOCK_SPIN_HOOK|x86_pause)\b")


def rump_sources() -> list[Path]:
    names = []
    for patch in RUMP_PATCHES:
        names += re.findall(r"^\+SRCS\+=\s+(\S+\.c)", (SYS / "patches" / patch).read_text(), re.MULTILINE)
    found = {p.name: p for p in (SYS / "new" / "sys").rglob("*.c")}
    return [found[n] for n in names if n in found]


def test_rump_builds_some_of_our_files() -> None:
    assert {p.name for p in rump_sources()} >= {"uipc_tstamp.c", "uipc_tstamp_req.c", "if_hwtstamp.c"}


def test_no_hardware_kernel_hooks_in_files_rump_builds() -> None:
    offenders = [f"{p.relative_to(PROJECT)}:{n}: {line.strip()}"
                 for p in rump_sources()
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if HARD_KERNEL_ONLY.search(line.split("/*")[0])]
    assert offenders == []
