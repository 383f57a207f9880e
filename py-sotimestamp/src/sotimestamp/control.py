"""Decode timestamp control messages: a pure function over ``recvmsg()``'s ancillary data."""
from __future__ import annotations

import errno
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .constants import (
    NS_PER_S,
    SO_EE_ORIGIN_TIMESTAMPING,
    ST_INFO_HW,
    PlatformConstants,
    for_platform,
)
from .stampsource import StampSource, stamp_source

Ancillary = tuple[int, int, bytes]

_IPPROTO_IP = 0  # the same number on Linux, NetBSD and FreeBSD
_IPPROTO_IPV6 = 41
# struct sock_extended_err: ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data
_EXTENDED_ERR = struct.Struct("=IBBBBII")
#: ``struct scm_timestamping {struct timespec ts[3];}`` with 64-bit timespecs (LP64, and
#: the ``*_NEW`` messages): ts[0] software, ts[1] deprecated (skipped), ts[2] raw hardware.
#: The receive fast path (batch.py) unpacks this same layout behind its cmsghdr.
SCM_TIMESTAMPING_LAYOUT = "qq16xqq"
SCM_TIMESTAMPING_SIZE = 48
_SCM_TIMESTAMPING64 = struct.Struct("=" + SCM_TIMESTAMPING_LAYOUT)


@dataclass(frozen=True)
class Stamps:
    """What the control messages of one datagram said.

    ``software_ns`` is the best software stamp (ns since the epoch, or since boot
    when ``clock == "monotonic"``); ``hardware_ns`` the raw hardware stamp (the
    NIC's clock, ns); ``resolution_ns`` the precision of ``software_ns`` (1000 when
    only a microsecond ``SCM_TIMESTAMP`` came).  ``messages`` names the control
    messages recognised, in order.  ``tx_key``/``tx_type`` are set for an
    error-queue (TX) record: the OPT_ID key and ``SCM_TSTAMP_*``.
    """

    software_ns: int | None = None
    hardware_ns: int | None = None
    clock: str = "realtime"
    resolution_ns: int = 1
    messages: tuple[str, ...] = ()
    tx_key: int | None = None
    tx_type: int | None = None

    @property
    def source(self) -> StampSource | None:
        """Which stamp the datagram has (:func:`~sotimestamp.stampsource.stamp_source`: hardware wins)."""
        return stamp_source(self.hardware_ns, self.software_ns)


def _timespec_ns(data: bytes, offset: int = 0) -> int:
    """``struct timespec`` of 16 (LP64), 12 (NetBSD i386) or 8 (ILP32) bytes to ns."""
    size = len(data) - offset
    if size >= 16:
        sec, nsec = struct.unpack_from("=qq", data, offset)
    elif size >= 12:
        sec, nsec = struct.unpack_from("=qi", data, offset)
    elif size >= 8:
        sec, nsec = struct.unpack_from("=ii", data, offset)
    else:
        raise ValueError(f"timespec control message too short ({size} bytes)")
    return int(sec * NS_PER_S + nsec)


def _timeval_ns(data: bytes, table: PlatformConstants) -> int:
    size = len(data)
    if size >= 16:
        sec, usec = struct.unpack_from(table.timeval16, data)
    elif size >= 12:
        sec, usec = struct.unpack_from("=qi", data)
    elif size >= 8:
        sec, usec = struct.unpack_from("=ii", data)
    else:
        raise ValueError(f"timeval control message too short ({size} bytes)")
    return int(sec * NS_PER_S + usec * 1000)


def scm_timestamping(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int | None, int | None]:
    """(software, hardware) ns of a ``struct scm_timestamping`` at ``offset``; a zero stamp means absent.

    The one decoder of SCM_TIMESTAMPING: ``parse_control``, ``recv`` and the
    slot-by-slot path of ``recv_batch`` all call it."""
    if len(data) - offset >= SCM_TIMESTAMPING_SIZE:
        s0, n0, s2, n2 = _SCM_TIMESTAMPING64.unpack_from(data, offset)
        sw, hw = s0 * NS_PER_S + n0, s2 * NS_PER_S + n2
    else:
        data = bytes(data[offset:])
        step = len(data) // 3
        if step < 8:
            raise ValueError(f"scm_timestamping control message too short ({len(data)} bytes)")
        sw, hw = _timespec_ns(data[:step]), _timespec_ns(data[2 * step:3 * step])
    return (sw or None), (hw or None)


def _bintime_ns(data: bytes) -> int:
    """FreeBSD ``struct bintime {time_t sec; uint64_t frac;}`` to ns."""
    sec, frac = struct.unpack_from("=qQ", data)
    return int(sec * NS_PER_S + ((frac * NS_PER_S) >> 64))


def parse_control(ancdata: Iterable[Ancillary], platform: str | None = None) -> Stamps:
    """Decode the timestamp control messages in ``ancdata`` (``recvmsg()[1]``).

    ``platform`` picks the numbering ("linux", "netbsd", "freebsd"; default the
    running platform).  Messages that are not about time are ignored.

    >>> import struct
    >>> parse_control([(1, 37, struct.pack("=6q", 1700000000, 5, 0, 0, 0, 0))], "linux").software_ns
    1700000000000000005
    """
    table = for_platform(platform)
    software: int | None = None
    software_rank = 99
    hardware: int | None = None
    clock = "realtime"
    resolution = 1
    messages = []
    tx_key: int | None = None
    tx_type: int | None = None
    info_hw = False

    def offer(value: int, rank: int, res: int, clk: str = "realtime") -> None:
        nonlocal software, software_rank, resolution, clock
        if rank < software_rank:
            software, software_rank, resolution, clock = value, rank, res, clk

    for level, kind, data in ancdata:
        data = bytes(data)
        if level == table.SOL_SOCKET:
            if kind in (table.SCM_TIMESTAMPING, table.SO_TIMESTAMPING_NEW):
                sw, hw = scm_timestamping(data)
                if sw is not None:
                    offer(sw, 0, 1)
                if hw is not None:
                    hardware = hw
                messages.append("SCM_TIMESTAMPING")
            elif kind in (table.SCM_TIMESTAMPNS, table.SO_TIMESTAMPNS_NEW):
                offer(_timespec_ns(data), 1, 1)
                messages.append("SCM_TIMESTAMPNS")
            elif kind == table.SCM_REALTIME:
                offer(_timespec_ns(data), 1, 1)
                messages.append("SCM_REALTIME")
            elif kind == table.SCM_BINTIME:
                offer(_bintime_ns(data), 2, 1)
                messages.append("SCM_BINTIME")
            elif kind == table.SCM_MONOTONIC:
                offer(_timespec_ns(data), 3, 1, "monotonic")
                messages.append("SCM_MONOTONIC")
            elif kind == table.SCM_TIMESTAMP:
                offer(_timeval_ns(data, table), 4, 1000)
                messages.append("SCM_TIMESTAMP")
            elif kind == table.SO_TIMESTAMP_NEW:
                sec, usec = struct.unpack_from("=qq", data)
                offer(sec * NS_PER_S + usec * 1000, 4, 1000)
                messages.append("SCM_TIMESTAMP")
            elif kind == table.SCM_TIME_INFO:
                (flags,) = struct.unpack_from("=I", data)
                info_hw = bool(flags & ST_INFO_HW)
                messages.append("SCM_TIME_INFO")
        elif (level == _IPPROTO_IP and kind == table.IP_RECVERR) or (
            level == _IPPROTO_IPV6 and kind == table.IPV6_RECVERR
        ):
            ee_errno, origin, _t, _c, _p, info, key = _EXTENDED_ERR.unpack_from(data)
            if origin == SO_EE_ORIGIN_TIMESTAMPING and ee_errno == errno.ENOMSG:
                tx_key, tx_type = key, info
                messages.append("IPV6_RECVERR" if level == _IPPROTO_IPV6 else "IP_RECVERR")

    if info_hw and software is not None and hardware is None:
        # FreeBSD: the stamp came from the NIC (converted to the chosen clock by the kernel).
        hardware = software
        software = None
    return Stamps(software, hardware, clock, resolution, tuple(messages), tx_key, tx_type)

