"""Socket option, control-message and flag numbers, per platform.

Linux values are the asm-generic ones (x86, arm, arm64, riscv, powerpc, s390;
sparc, parisc and alpha number their SO_* options differently and are not
covered).  NetBSD values are the ones our kernel patches define
(``sys/ABI.md`` in the project); FreeBSD values are from its
``sys/sys/socket.h``.  The ``SOF_TIMESTAMPING_*`` bits are Linux's, and NetBSD
shares them.

The module-level names (``SO_TIMESTAMPING``, ``SCM_TIMESTAMPNS``, ...) carry the
running platform's values.  As in the standard ``socket`` module, a name the
platform does not have is simply absent: ``hasattr(sotimestamp,
"SO_TIMESTAMPING")`` is the feature test.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, fields

#: Nanoseconds per second: every seconds+nanoseconds pair in the package is combined with this one.
NS_PER_S = 1_000_000_000

# SOF_TIMESTAMPING_* bits (include/uapi/linux/net_tstamp.h; NetBSD uses the same).
SOF_TIMESTAMPING_TX_HARDWARE = 1 << 0
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_SYS_HARDWARE = 1 << 5
SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_TX_SCHED = 1 << 8
SOF_TIMESTAMPING_TX_ACK = 1 << 9
SOF_TIMESTAMPING_OPT_CMSG = 1 << 10
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SOF_TIMESTAMPING_OPT_STATS = 1 << 12
SOF_TIMESTAMPING_OPT_PKTINFO = 1 << 13
SOF_TIMESTAMPING_OPT_TX_SWHW = 1 << 14
SOF_TIMESTAMPING_BIND_PHC = 1 << 15
SOF_TIMESTAMPING_OPT_ID_TCP = 1 << 16
SOF_TIMESTAMPING_OPT_RX_FILTER = 1 << 17

# sock_extended_err (linux/errqueue.h; NetBSD <net/errqueue.h> is the same).
SO_EE_ORIGIN_TIMESTAMPING = 4
SCM_TSTAMP_SND = 0
SCM_TSTAMP_SCHED = 1
SCM_TSTAMP_ACK = 2

# FreeBSD's SO_TS_CLOCK values: the control message format of SO_TIMESTAMP.
SO_TS_REALTIME_MICRO = 0
SO_TS_BINTIME = 1
SO_TS_REALTIME = 2
SO_TS_MONOTONIC = 3

# FreeBSD struct sock_timestamp_info st_info_flags.
ST_INFO_HW = 1
ST_INFO_HW_HPREC = 2


@dataclass(frozen=True)
class PlatformConstants:
    """The numbers of one platform; ``None`` where the platform has no such thing."""

    name: str
    SOL_SOCKET: int
    SO_TIMESTAMP: int
    SCM_TIMESTAMP: int
    SO_TIMESTAMPNS: int | None = None
    SCM_TIMESTAMPNS: int | None = None
    SO_TIMESTAMPING: int | None = None
    SCM_TIMESTAMPING: int | None = None
    SO_TIMESTAMP_NEW: int | None = None
    SO_TIMESTAMPNS_NEW: int | None = None
    SO_TIMESTAMPING_NEW: int | None = None
    SCM_TIMESTAMPING_OPT_STATS: int | None = None
    SCM_TIMESTAMPING_PKTINFO: int | None = None
    #: sendmsg() control message, a u32: this datagram's OPT_ID key (Linux 6.13+; NetBSD per sys/ABI.md).
    SCM_TS_OPT_ID: int | None = None
    SO_BINTIME: int | None = None
    SO_TS_CLOCK: int | None = None
    #: NetBSD (our series): the clock of all software stamps, an int holding a clockid_t.
    SO_TIMESTAMP_CLOCK: int | None = None
    #: NetBSD's clockid_t values for SO_TIMESTAMP_CLOCK (<sys/time.h>).
    CLOCK_REALTIME: int | None = None
    CLOCK_MONOTONIC: int | None = None
    #: NetBSD (our series): getsockopt of the error queue records the socket dropped.
    SO_ERRQUEUE_DROPS: int | None = None
    SCM_BINTIME: int | None = None
    SCM_REALTIME: int | None = None
    SCM_MONOTONIC: int | None = None
    SCM_TIME_INFO: int | None = None
    MSG_ERRQUEUE: int | None = None
    IP_RECVERR: int | None = None
    IPV6_RECVERR: int | None = None
    #: A u32 control message on each datagram: the socket's drop counter (Linux; NetBSD once sys/ABI.md has it).
    SO_RXQ_OVFL: int | None = None
    SCM_RXQ_OVFL: int | None = None
    #: getsockopt(SOL_SOCKET) of u32 counters; index 8 (SK_MEMINFO_DROPS) counts drops (Linux 4.6+).
    SO_MEMINFO: int | None = None
    #: getsockopt(SOL_SOCKET) int: datagrams dropped for a full receive buffer (NetBSD).
    SO_OVERFLOWED: int | None = None
    #: SO_RCVBUF past the sysctl limit (Linux, needs CAP_NET_ADMIN).
    SO_RCVBUFFORCE: int | None = None
    #: ``struct timeval`` of 16 bytes: (sec, usec) format.  NetBSD's suseconds_t is an int.
    timeval16: str = "=qq"

    def as_dict(self) -> dict[str, int]:
        """The names this platform has, with their values."""
        out: dict[str, int] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.isupper() and isinstance(value, int):
                out[f.name] = value
        return out


LINUX = PlatformConstants(
    name="linux", SOL_SOCKET=1,
    SO_TIMESTAMP=29, SCM_TIMESTAMP=29,
    SO_TIMESTAMPNS=35, SCM_TIMESTAMPNS=35,
    SO_TIMESTAMPING=37, SCM_TIMESTAMPING=37,
    SO_TIMESTAMP_NEW=63, SO_TIMESTAMPNS_NEW=64, SO_TIMESTAMPING_NEW=65,
    SCM_TIMESTAMPING_OPT_STATS=54, SCM_TIMESTAMPING_PKTINFO=58, SCM_TS_OPT_ID=81,
    MSG_ERRQUEUE=0x2000, IP_RECVERR=11, IPV6_RECVERR=25,
    SO_RXQ_OVFL=40, SCM_RXQ_OVFL=40, SO_MEMINFO=55, SO_RCVBUFFORCE=33,
)

NETBSD = PlatformConstants(
    name="netbsd", SOL_SOCKET=0xFFFF,
    SO_TIMESTAMP=0x2000, SCM_TIMESTAMP=0x08,
    SO_TIMESTAMPNS=0x1030, SCM_TIMESTAMPNS=0x1030,
    SO_TIMESTAMPING=0x1031, SCM_TIMESTAMPING=0x1031,
    SO_TIMESTAMP_CLOCK=0x1032, CLOCK_REALTIME=0, CLOCK_MONOTONIC=3,
    SO_RXQ_OVFL=0x1033, SCM_RXQ_OVFL=0x1033, SO_ERRQUEUE_DROPS=0x1034, SO_OVERFLOWED=0x1009,
    SCM_TS_OPT_ID=0x1036,
    MSG_ERRQUEUE=0x00800000, IP_RECVERR=89, IPV6_RECVERR=89,
    timeval16="=qi4x",
)

FREEBSD = PlatformConstants(
    name="freebsd", SOL_SOCKET=0xFFFF,
    SO_TIMESTAMP=0x0400, SCM_TIMESTAMP=0x02,
    SO_BINTIME=0x2000, SO_TS_CLOCK=0x1017,
    SCM_BINTIME=0x04, SCM_REALTIME=0x05, SCM_MONOTONIC=0x06, SCM_TIME_INFO=0x07,
)

PLATFORMS: dict[str, PlatformConstants] = {p.name: p for p in (LINUX, NETBSD, FREEBSD)}


def platform_name(platform: str | None = None) -> str:
    """Normalise a ``sys.platform``-like string ("linux", "netbsd10", ...) to a table name."""
    value = (platform if platform is not None else sys.platform).lower()
    for name in PLATFORMS:
        if value.startswith(name):
            return name
    return value


def for_platform(platform: str | None = None) -> PlatformConstants:
    """The constants table of ``platform`` (default: the running one).

    >>> for_platform("netbsd").SO_TIMESTAMPING
    4113
    """
    name = platform_name(platform)
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unsupported platform {name!r}: sotimestamp knows linux, netbsd and freebsd") from None


def current() -> PlatformConstants | None:
    """The running platform's table, or None on a platform we have no numbers for."""
    return PLATFORMS.get(platform_name())


# Typed declarations of the names exported below (present only where the platform has them).
SO_TIMESTAMP: int
SO_TIMESTAMPNS: int
SO_TIMESTAMPING: int
SCM_TIMESTAMP: int
SCM_TIMESTAMPNS: int
SCM_TIMESTAMPING: int
MSG_ERRQUEUE: int
SO_TS_CLOCK: int

_running = current()
if _running is not None:
    globals().update(_running.as_dict())

SOF_NAMES: dict[int, str] = {
    value: name[len("SOF_TIMESTAMPING_"):]
    for name, value in list(globals().items())
    if name.startswith("SOF_TIMESTAMPING_")
}


def describe_flags(flags: int) -> str:
    """``SOF_TIMESTAMPING_*`` flags as ``RX_SOFTWARE|SOFTWARE``."""
    names = [SOF_NAMES[bit] for bit in sorted(SOF_NAMES) if flags & bit]
    rest = flags & ~sum(SOF_NAMES)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"
