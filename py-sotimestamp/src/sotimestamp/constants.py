"""Socket option, control-message and flag numbers, per platform.

Linux values are the asm-generic ones (x86, arm, arm64, riscv, powerpc, s390;
sparc, parisc and alpha number their SO_* options differently and are not
covered).  NetBSD values are the ones our kernel patches define
(``sys/ABI.md`` in the project); FreeBSD values are from its
``sys/sys/socket.h``.  The ``SOF_TIMESTAMPING_*`` bits are Linux's, and NetBSD
shares them.

The module-level names (``SO_TIMESTAMPING``, ``SCM_TIMESTAMPNS``, ...) carry the
running platform's values.  As in the standard ``socket`` module, a name the
running kernel does not have is simply absent (on NetBSD, the series' names on a
kernel without it: :func:`kernel_has` asks the kernel once): ``hasattr(sotimestamp,
"SO_TIMESTAMPING")`` is the feature test.
"""
from __future__ import annotations

import functools
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields

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
    #: Set a NIC's hardware stamping (``struct hwtstamp_config`` through ``ifr_data``; privileged)
    #: and read it back.
    SIOCSHWTSTAMP: int | None = None
    SIOCGHWTSTAMP: int | None = None
    #: Join a group for one source only (RFC 3678 ``struct group_source_req``, at IPPROTO_IP or
    #: IPPROTO_IPV6); None: not known here (NetBSD has no source-specific multicast).
    MCAST_JOIN_SOURCE_GROUP: int | None = None
    #: ``struct timeval`` of 16 bytes: (sec, usec) format.  NetBSD's suseconds_t is an int.
    timeval16: str = "=qq"

    # What differs between the platforms beyond the numbers (lower case: not exported).
    #: Where the kernel takes a received datagram's software stamp.
    rx_stamp_taken: str = "on reception"
    #: The names only a kernel with an add-on series has (NetBSD: this project's patches), the
    #: name of the option whose getsockopt() succeeds exactly there, what provides the series,
    #: and where a kernel without it takes its SO_TIMESTAMP stamp.  Empty: every kernel of the
    #: platform has the whole table.
    series_names: frozenset[str] = field(default_factory=frozenset)
    series_probe: str | None = None
    series_provider: str | None = None
    rx_stamp_taken_without_series: str | None = None
    #: RX stamping switched on later, from a workqueue (Linux's static key): the first
    #: datagrams after setsockopt() can come unstamped unless enable() waits.
    rx_stamping_starts_late: bool = False
    #: SO_RCVBUF reads back twice the size set (Linux adds its bookkeeping overhead).
    rcvbuf_reads_doubled: bool = False
    #: IP_ADD_MEMBERSHIP by interface index takes ``struct ip_mreqn``; else ``struct ip_mreq``
    #: with the index written as an address in 0.0.0.0/8 (NetBSD).
    ip_mreqn_join: bool = False
    #: IP_MULTICAST_IF by interface index takes ``struct ip_mreqn``; else the 0.0.0.0/8 address.
    ip_mreqn_multicast_if: bool = False
    #: A NIC's hardware stamping capabilities can be asked (SIOCETHTOOL ETHTOOL_GET_TS_INFO).
    ethtool_ts_info: bool = False

    def as_dict(self) -> dict[str, int]:
        """The names this platform has, with their values."""
        out: dict[str, int] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.isupper() and isinstance(value, int):
                out[f.name] = value
        return out


def _iowr(group: str, number: int, size: int) -> int:
    """The BSDs' ``_IOWR(group, number, type)`` ioctl request of a ``size``-byte argument."""
    return 0xC0000000 | ((size & 0x1FFF) << 16) | (ord(group) << 8) | number


#: ``sizeof(struct ifreq)`` on NetBSD: the 16-byte name and a union as large as sockaddr_storage.
NETBSD_IFREQ_SIZE = 16 + 128

LINUX = PlatformConstants(
    name="linux", SOL_SOCKET=1,
    SO_TIMESTAMP=29, SCM_TIMESTAMP=29,
    SO_TIMESTAMPNS=35, SCM_TIMESTAMPNS=35,
    SO_TIMESTAMPING=37, SCM_TIMESTAMPING=37,
    SO_TIMESTAMP_NEW=63, SO_TIMESTAMPNS_NEW=64, SO_TIMESTAMPING_NEW=65,
    SCM_TIMESTAMPING_OPT_STATS=54, SCM_TIMESTAMPING_PKTINFO=58, SCM_TS_OPT_ID=81,
    MSG_ERRQUEUE=0x2000, IP_RECVERR=11, IPV6_RECVERR=25,
    SO_RXQ_OVFL=40, SCM_RXQ_OVFL=40, SO_MEMINFO=55, SO_RCVBUFFORCE=33,
    SIOCSHWTSTAMP=0x89B0, SIOCGHWTSTAMP=0x89B1, MCAST_JOIN_SOURCE_GROUP=46,
    rx_stamp_taken="on reception, when the network stack takes the packet from the driver",
    rx_stamping_starts_late=True, rcvbuf_reads_doubled=True,
    ip_mreqn_join=True, ip_mreqn_multicast_if=True, ethtool_ts_info=True,
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
    SIOCSHWTSTAMP=_iowr("i", 160, NETBSD_IFREQ_SIZE), SIOCGHWTSTAMP=_iowr("i", 161, NETBSD_IFREQ_SIZE),
    timeval16="=qi4x",
    rx_stamp_taken="on reception, in ether_input() or looutput()",
    # sys/ABI.md: everything the series adds.  A stock kernel ignores an unknown MSG_ flag
    # (MSG_ERRQUEUE's recvmsg() would read datagrams), so its presence is probed, never assumed.
    series_names=frozenset({
        "SO_TIMESTAMPNS", "SCM_TIMESTAMPNS", "SO_TIMESTAMPING", "SCM_TIMESTAMPING", "SO_TIMESTAMP_CLOCK",
        "SO_RXQ_OVFL", "SCM_RXQ_OVFL", "SO_ERRQUEUE_DROPS", "MSG_ERRQUEUE", "IP_RECVERR", "IPV6_RECVERR",
        "SIOCSHWTSTAMP", "SIOCGHWTSTAMP",
    }),
    # The error queue's own option: get-only, ENOPROTOOPT on a kernel without the series.
    series_probe="SO_ERRQUEUE_DROPS",
    series_provider="the NetBSD kernel patches of pkgsrc sysutils/sotimestamp-kernel-patches",
    rx_stamp_taken_without_series="at delivery to the socket (ip_savecontrol()), after the protocol input",
    ip_mreqn_join=False, ip_mreqn_multicast_if=False,
)

FREEBSD = PlatformConstants(
    name="freebsd", SOL_SOCKET=0xFFFF,
    SO_TIMESTAMP=0x0400, SCM_TIMESTAMP=0x02,
    SO_BINTIME=0x2000, SO_TS_CLOCK=0x1017,
    SCM_BINTIME=0x04, SCM_REALTIME=0x05, SCM_MONOTONIC=0x06, SCM_TIME_INFO=0x07,
    rx_stamp_taken="by the driver where it stamps the mbuf (M_TSTMP), else at delivery to the socket",
    ip_mreqn_join=True,
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
    4145
    """
    name = platform_name(platform)
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unsupported platform {name!r}: sotimestamp knows linux, netbsd and freebsd") from None


def current() -> PlatformConstants | None:
    """The running platform's table, or None on a platform we have no numbers for."""
    return PLATFORMS.get(platform_name())


def kernel_has(name: str) -> bool:
    """Whether the running kernel has ``name`` of the running platform's table: all its names on
    Linux and FreeBSD; on NetBSD the series' names only where :attr:`~PlatformConstants.series_probe`
    answers (asked once per process)."""
    table = current()
    if table is None or getattr(table, name, None) is None:
        return False
    return name not in table.series_names or _series_running(table)


@functools.cache
def _series_running(table: PlatformConstants) -> bool:
    assert table.series_probe is not None, f"{table.name}: series names without a probe"
    option = getattr(table, table.series_probe)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.getsockopt(table.SOL_SOCKET, option)
    except OSError:
        return False  # ENOPROTOOPT: a kernel without the series (or no sockets at all here)
    return True


def exported_names(table: PlatformConstants, has: Callable[[str], bool]) -> dict[str, int]:
    """The names of ``table`` a kernel has, by ``has`` (see :func:`kernel_has`)."""
    return {name: value for name, value in table.as_dict().items() if name not in table.series_names or has(name)}


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
    globals().update(exported_names(_running, kernel_has))

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


@dataclass(frozen=True)
class HeaderOptions:
    """The IP-level options that make the kernel attach a received datagram's header
    fields as control messages (the recorder writes them instead of inventing them).
    Each ``*_RECV*``/``IP_PKTINFO`` name is the option to turn on; the ``*_CMSG`` names
    are the control message types that come back (level IPPROTO_IP or IPPROTO_IPV6).
    ``None`` where the platform has no such option."""

    IP_PKTINFO: int | None = None  #: struct in_pktinfo (ifindex, spec_dst, destination); Linux
    IP_RECVDSTADDR: int | None = None  #: struct in_addr: the destination; the BSDs (cmsg type the same)
    IP_RECVTTL: int | None = None
    IP_TTL_CMSG: int | None = None  #: Linux: an int; the BSDs: a u_char
    IP_RECVTOS: int | None = None
    IP_TOS_CMSG: int | None = None  #: one byte
    #: Linux: 1 (the default) delivers every joined group's datagrams to a wildcard-bound socket
    IP_MULTICAST_ALL: int | None = None
    IPV6_RECVPKTINFO: int | None = None
    IPV6_PKTINFO: int | None = None  #: struct in6_pktinfo (destination, ifindex)
    IPV6_RECVHOPLIMIT: int | None = None
    IPV6_HOPLIMIT: int | None = None  #: an int
    IPV6_RECVTCLASS: int | None = None
    IPV6_TCLASS: int | None = None  #: an int
    IPV6_MULTICAST_ALL: int | None = None


# the BSDs share KAME's IPv6 numbers (netinet6/in6.h)
_KAME_IPV6 = {"IPV6_RECVPKTINFO": 36, "IPV6_PKTINFO": 46, "IPV6_RECVHOPLIMIT": 37, "IPV6_HOPLIMIT": 47,
              "IPV6_RECVTCLASS": 57, "IPV6_TCLASS": 61}
HEADER_OPTIONS: dict[str, HeaderOptions] = {
    "linux": HeaderOptions(IP_PKTINFO=8, IP_RECVTTL=12, IP_TTL_CMSG=2, IP_RECVTOS=13, IP_TOS_CMSG=1,
                           IP_MULTICAST_ALL=49, IPV6_RECVPKTINFO=49, IPV6_PKTINFO=50, IPV6_RECVHOPLIMIT=51,
                           IPV6_HOPLIMIT=52, IPV6_RECVTCLASS=66, IPV6_TCLASS=67, IPV6_MULTICAST_ALL=29),
    # netinet/in.h: IP_RECVDSTADDR 7 is in every release; IP_RECVPKTINFO (26) only since 8.0
    "netbsd": HeaderOptions(IP_RECVDSTADDR=7, IP_RECVTTL=23, IP_TTL_CMSG=23, **_KAME_IPV6),
    "freebsd": HeaderOptions(IP_RECVDSTADDR=7, IP_RECVTTL=65, IP_TTL_CMSG=65, IP_RECVTOS=68, IP_TOS_CMSG=68,
                             **_KAME_IPV6),
}
