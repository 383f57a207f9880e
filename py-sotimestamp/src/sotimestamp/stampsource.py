"""Which stamp a datagram is recorded with: the one rule, written once.

A hardware stamp wins over a software one; a datagram with neither is recorded
with the user-space time it was read (``StampSource.USER``).  Every module that
labels or chooses a stamp (the per-datagram API, the batch fast path, the
recorder, the pcapng writer) asks here, and compares against the enum, not
strings.  ``StampSource`` is a ``str`` enum so its members print, compare and
serialise as the plain words the files and messages have always used.
"""
from __future__ import annotations

import enum


class StampSource(str, enum.Enum):
    """Where a datagram's stamp was taken."""

    HARDWARE = "hardware"  #: by the NIC (raw hardware clock)
    SOFTWARE = "software"  #: by the kernel at reception
    USER = "user"          #: by this process, after recvmsg() returned

    def __str__(self) -> str:
        return self.value


def stamp_source(hardware_ns: int | None, software_ns: int | None) -> StampSource | None:
    """The kernel stamp that wins for a datagram: hardware, else software, else None."""
    if hardware_ns is not None:
        return StampSource.HARDWARE
    if software_ns is not None:
        return StampSource.SOFTWARE
    return None


def recorded_stamp(hardware_ns: int | None, software_ns: int | None,
                   user_ns: int) -> tuple[int, StampSource]:
    """The stamp a recording stores, and its source: hardware, else software, else
    ``user_ns`` (the time this process read the datagram)."""
    if hardware_ns is not None:
        return hardware_ns, StampSource.HARDWARE
    if software_ns is not None:
        return software_ns, StampSource.SOFTWARE
    return user_ns, StampSource.USER
