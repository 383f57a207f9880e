"""Turn kernel stamping on and off, receive datagrams with their stamps, read TX stamps."""
from __future__ import annotations

import _socket
import errno
import ipaddress
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import constants as C
from . import nic
from .control import SCM_TIMESTAMPING_SIZE, parse_control, scm_timestamping
from .stampsource import StampSource, stamp_source

#: Control-buffer size: room for SCM_TIMESTAMPING (48 B) + SCM_TIMESTAMP(NS) + RECVERR + PKTINFO.
ANCBUFSIZE = 512

CLOCKS = {"realtime": C.SO_TS_REALTIME, "monotonic": C.SO_TS_MONOTONIC}  # FreeBSD's SO_TS_CLOCK values


class UnsupportedError(OSError):
    """The kernel (or platform) cannot do what was asked; the message names it.

    An ``OSError`` with ``errno`` EOPNOTSUPP whose ``str()`` is the message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


class UnsupportedSocketError(UnsupportedError):
    """A socket the call cannot serve: not IPv4/IPv6 (``errno`` EAFNOSUPPORT), or a stream
    where datagrams are read (EPROTOTYPE); the message names the call and the socket."""


_STAMPED_FAMILIES = (int(socket.AF_INET), int(socket.AF_INET6))
_DGRAM = int(socket.SOCK_DGRAM)
# The C socket's own int fields: socket.socket's family/type properties convert them to enums,
# which costs several times the check itself on every recv()/recv_batch() call.
_raw_family = _socket.socket.family.__get__
_raw_type = _socket.socket.type.__get__


def check_socket(sock: socket.socket, call: str, *, datagrams: bool) -> None:
    """Refuse, before any system call on it, a socket ``call`` cannot serve: stamps are taken
    for IPv4 and IPv6 only, and ``datagrams`` calls read one datagram per Packet (SOCK_DGRAM)."""
    if _raw_family(sock) not in _STAMPED_FAMILIES:
        raise UnsupportedSocketError(
            errno.EAFNOSUPPORT,
            f"{call}: {getattr(sock.family, 'name', sock.family)} socket: sotimestamp stamps IPv4 and IPv6 "
            "sockets (AF_INET, AF_INET6)")
    if datagrams and _raw_type(sock) != _DGRAM:
        raise UnsupportedSocketError(
            errno.EPROTOTYPE,
            f"{call}: {getattr(sock.type, 'name', sock.type)} socket: {call} reads datagrams (SOCK_DGRAM)")


class Packet(NamedTuple):
    """One received datagram and its kernel stamps (ns; ``None`` when absent).

    ``truncated`` is True when the datagram was longer than the buffer and ``data`` holds only
    its start (the kernel's MSG_TRUNC): the rest is lost."""

    data: bytes
    address: Any
    software_ns: int | None
    hardware_ns: int | None
    source: StampSource | None
    truncated: bool = False


@dataclass(frozen=True)
class StampingInForce:
    """What :func:`enable` turned on.

    ``flags``: the ``SOF_TIMESTAMPING_*`` flags in force (a fallback option gives RX software
    stamps, ``RX_SOFTWARE|SOFTWARE``); ``option``: the socket option set (SO_TIMESTAMPING,
    SO_TIMESTAMPNS or SO_TIMESTAMP); ``resolution_ns``: 1, or 1000 for SO_TIMESTAMP's
    microseconds; ``clock``: realtime or monotonic; ``taken``: where the kernel takes an RX
    software stamp; ``hardware``: hardware stamps asked for and accepted; ``unverified``: what
    could not be checked before the first datagram (each a sentence)."""

    flags: int
    option: str
    resolution_ns: int
    clock: str
    taken: str
    hardware: bool = False
    unverified: tuple[str, ...] = ()

    def __str__(self) -> str:
        resolution = "µs" if self.resolution_ns == 1000 else f"{self.resolution_ns} ns"
        text = (f"{self.option} {C.describe_flags(self.flags)}: {resolution} resolution, {self.clock} clock, "
                f"RX stamps taken {self.taken}")
        return "; ".join((text, *self.unverified))


class DropCounter:
    """The socket's count of datagrams the kernel dropped (receive buffer full), as last reported.

    Linux puts the counter in an SO_RXQ_OVFL message on each datagram queued after
    the first drop; drops after the last datagram read show only in SO_MEMINFO
    (:func:`kernel_drops`)."""

    def __init__(self) -> None:
        self.value = 0

    def saw(self, counter: int) -> None:
        self.value = max(self.value, counter)


class TxStamp(NamedTuple):
    """A transmit stamp read from the error queue; ``key`` is the OPT_ID counter."""

    key: int | None
    software_ns: int | None
    hardware_ns: int | None
    kind: int  # SCM_TSTAMP_SND, SCM_TSTAMP_SCHED or SCM_TSTAMP_ACK


def _table() -> C.PlatformConstants:
    table = C.current()
    if table is None:
        raise UnsupportedError(errno.EOPNOTSUPP, f"sotimestamp has no socket numbers for platform {C.platform_name()!r}")
    return table


_REFUSALS = (errno.ENOPROTOOPT, errno.EINVAL, errno.EOPNOTSUPP)


def _provided_by(table: C.PlatformConstants) -> str:
    """" (... provide it)" where an add-on kernel series gives what this kernel lacks."""
    return f" ({table.series_provider} provide it)" if table.series_provider else ""


def _rx_stamp_taken(table: C.PlatformConstants) -> str:
    if table.rx_stamp_taken_without_series is not None and not C.kernel_has("SO_TIMESTAMPING"):
        return table.rx_stamp_taken_without_series
    return table.rx_stamp_taken


def _hardware_checks(sock: socket.socket) -> tuple[str, ...]:
    """Refuse hardware stamps the receiving interface cannot give (raises UnsupportedError);
    return what could not be checked.  The interface is known when the socket is bound to one
    of its addresses: a loopback address has no NIC; on Linux the NIC holding the address is
    asked what it can do (ETHTOOL_GET_TS_INFO) and what it is set to (SIOCGHWTSTAMP)."""
    try:
        host = str(sock.getsockname()[0]).split("%")[0]
        address = ipaddress.ip_address(host)
    except (OSError, ValueError, IndexError, TypeError):
        return ("hardware stamps: the socket has no address yet, so its interface is not checked",)
    mapped = getattr(address, "ipv4_mapped", None)
    if address.is_loopback or (mapped is not None and mapped.is_loopback):
        raise UnsupportedError(
            errno.EOPNOTSUPP,
            f"hardware stamps: the socket is bound to {host}, a loopback address, and the loopback "
            "interface has no hardware clock")
    if address.is_unspecified or address.is_multicast:
        return (f"hardware stamps: the socket is bound to {host}, not to one interface's address: not checked",)
    name = nic.interface_of(host)
    if name is None:
        return (f"hardware stamps: the interface of {host} is not known here, so it is not checked",)
    has, supports = nic.interface_rx_hardware(name)
    if has is False:
        raise UnsupportedError(
            errno.EOPNOTSUPP,
            f"hardware stamps: {name} (the interface of {host}) has no hardware receive stamps; it supports {supports}")
    rx_filter = nic.rx_filter(name)
    if rx_filter == nic.HWTSTAMP_FILTER_NONE:
        raise UnsupportedError(
            errno.EOPNOTSUPP,
            f"hardware stamps: {name} (the interface of {host}) has hardware receive stamping off "
            "(SIOCGHWTSTAMP rx_filter NONE): turn it on with SIOCSHWTSTAMP (privileged)")
    if rx_filter is None:
        return (f"hardware stamps: {name}'s receive filter (SIOCGHWTSTAMP) could not be read",)
    if rx_filter != nic.HWTSTAMP_FILTER_ALL:
        shown = nic.HWTSTAMP_FILTERS[rx_filter] if rx_filter < len(nic.HWTSTAMP_FILTERS) else rx_filter
        return (f"hardware stamps: {name} stamps only some packets in hardware (rx_filter {shown})",)
    return ()


def clock_option(table: C.PlatformConstants, clock: str) -> tuple[str, int, int] | None:
    """(name, option, value) that selects ``clock`` for the stamps, or None.

    NetBSD (our series) has SO_TIMESTAMP_CLOCK, taking a clockid_t for every
    software stamp; FreeBSD has SO_TS_CLOCK, whose values pick SO_TIMESTAMP's
    message format and clock.
    """
    if table.SO_TIMESTAMP_CLOCK is not None:
        clockid = table.CLOCK_MONOTONIC if clock == "monotonic" else table.CLOCK_REALTIME
        assert clockid is not None, f"{table.name}: SO_TIMESTAMP_CLOCK without clock ids"
        return "SO_TIMESTAMP_CLOCK", table.SO_TIMESTAMP_CLOCK, clockid
    if table.SO_TS_CLOCK is not None:
        return "SO_TS_CLOCK", table.SO_TS_CLOCK, CLOCKS[clock]
    return None


def _refused(sock: socket.socket, option: int, value: int) -> int:
    """0 if the kernel took the option, else the errno of a refusal (unknown option or value)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, value)
    except OSError as exc:
        if exc.errno in _REFUSALS:
            return exc.errno
        raise
    return 0


def _flags(software: bool, hardware: bool, tx: bool, opt_id: bool) -> int:
    flags = 0
    if software:
        flags |= C.SOF_TIMESTAMPING_RX_SOFTWARE | C.SOF_TIMESTAMPING_SOFTWARE
        if tx:
            flags |= C.SOF_TIMESTAMPING_TX_SOFTWARE
    if hardware:
        flags |= C.SOF_TIMESTAMPING_RX_HARDWARE | C.SOF_TIMESTAMPING_RAW_HARDWARE
        if tx:
            flags |= C.SOF_TIMESTAMPING_TX_HARDWARE
    if opt_id:
        flags |= C.SOF_TIMESTAMPING_OPT_ID
    if tx:
        # TX records without the payload copy: works with net.core.tstamp_allow_data=0.
        flags |= C.SOF_TIMESTAMPING_OPT_TSONLY
    return flags


def enable(
    sock: socket.socket,
    *,
    software: bool = True,
    hardware: bool = False,
    tx: bool = False,
    opt_id: bool = False,
    clock: str = "realtime",
) -> StampingInForce:
    """Turn kernel stamping on; return what is now in force (:class:`StampingInForce`).

    Uses SO_TIMESTAMPING when the kernel has it, else SO_TIMESTAMPNS (FreeBSD:
    SO_TIMESTAMP with SO_TS_CLOCK), else the microsecond SO_TIMESTAMP.  Those
    fallbacks give RX software stamps only, and the result says which option,
    resolution and place of stamping.  Hardware, TX, OPT_ID or a clock the kernel
    cannot give raise :class:`UnsupportedError` naming what is missing (and what
    provides it); nothing is downgraded silently.  A socket bound to a loopback
    address is refused hardware stamps.  Hardware stamps also need the interface
    configured (SIOCSHWTSTAMP, privileged); ``sotimestamp probe`` shows what it can do.
    An AF_UNIX (or any non-IP) socket raises :class:`UnsupportedSocketError`.

    >>> s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    >>> enable(s).flags & SOF_TIMESTAMPING_RX_SOFTWARE != 0  # doctest: +SKIP
    True
    """
    table = _table()
    check_socket(sock, "enable", datagrams=False)
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, not {clock!r}")
    if not (software or hardware):
        raise ValueError("enable() needs software=True or hardware=True")
    if opt_id and not tx:
        raise ValueError("opt_id=True numbers TX stamps: it needs tx=True")
    unverified = _hardware_checks(sock) if hardware else ()

    if clock != "realtime":
        selector = clock_option(table, clock)
        if selector is None:
            raise UnsupportedError(errno.EOPNOTSUPP, f"clock={clock!r}: {table.name} stamps only CLOCK_REALTIME")
        clock_name, clock_opt, clock_value = selector
        if not C.kernel_has(clock_name):
            raise UnsupportedError(errno.EOPNOTSUPP,
                                   f"clock={clock!r} needs {clock_name}, which this kernel does not have"
                                   + _provided_by(table))
        if _refused(sock, clock_opt, clock_value):
            raise UnsupportedError(errno.EOPNOTSUPP, f"clock={clock!r}: this kernel refused {clock_name}")

    flags = _flags(software, hardware, tx, opt_id)
    taken = _rx_stamp_taken(table)
    option = table.SO_TIMESTAMPING if C.kernel_has("SO_TIMESTAMPING") else None
    refusal = _refused(sock, option, flags) if option is not None else errno.ENOPROTOOPT
    if option is not None and not refusal:
        if software and table.rx_stamping_starts_late:
            _await_rx_stamping(option, flags)
        return StampingInForce(flags, "SO_TIMESTAMPING", 1, clock, taken, hardware, unverified)

    missing = [name for name, wanted in (("hardware", hardware), ("tx", tx), ("opt_id", opt_id)) if wanted]
    if missing and refusal == errno.EINVAL:
        raise UnsupportedError(
            errno.EOPNOTSUPP,
            f"this kernel refused SO_TIMESTAMPING flags {C.describe_flags(flags)} (EINVAL): "
            f"{', '.join(missing)} stamps not available",
        )
    if missing:
        raise UnsupportedError(
            errno.EOPNOTSUPP,
            f"{', '.join(missing)} stamps need SO_TIMESTAMPING, which this kernel does not have"
            + _provided_by(table),
        )
    rx_sw = C.SOF_TIMESTAMPING_RX_SOFTWARE | C.SOF_TIMESTAMPING_SOFTWARE
    if table.SO_TIMESTAMPNS is not None and C.kernel_has("SO_TIMESTAMPNS") \
            and not _refused(sock, table.SO_TIMESTAMPNS, 1):
        return StampingInForce(rx_sw, "SO_TIMESTAMPNS", 1, clock, taken)
    # FreeBSD: SO_TS_CLOCK picks SO_TIMESTAMP's format; SO_TS_REALTIME (or the monotonic clock set
    # above) gives nanoseconds, the default SO_TS_REALTIME_MICRO microseconds.
    nanoseconds = table.SO_TS_CLOCK is not None and (
        clock != "realtime" or not _refused(sock, table.SO_TS_CLOCK, C.SO_TS_REALTIME))
    if not _refused(sock, table.SO_TIMESTAMP, 1):
        return StampingInForce(rx_sw, "SO_TIMESTAMP", 1 if nanoseconds else 1000, clock, taken)
    raise UnsupportedError(errno.EOPNOTSUPP, "this kernel accepts none of SO_TIMESTAMPING, SO_TIMESTAMPNS, SO_TIMESTAMP")


def _await_rx_stamping(option: int, flags: int, timeout: float = 0.5) -> None:
    """Wait until the kernel really stamps received packets (``rx_stamping_starts_late``).

    Linux turns RX software stamping on globally through a static key that it
    flips later, from a workqueue (net_enable_timestamp): datagrams that arrive
    right after setsockopt() get no SCM_TIMESTAMPING.  A private loopback pair
    with the same option shows when stamps flow; usually at once.
    """
    import time

    try:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return
    with rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        try:
            rx.bind(("127.0.0.1", 0))
            rx.setsockopt(socket.SOL_SOCKET, option, flags & (C.SOF_TIMESTAMPING_RX_SOFTWARE | C.SOF_TIMESTAMPING_SOFTWARE))
            rx.settimeout(0.05)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                tx.sendto(b"", rx.getsockname())
                _data, ancdata, _f, _a = rx.recvmsg(1, ANCBUFSIZE)
                if parse_control(ancdata).software_ns is not None:
                    return
                time.sleep(0.001)
        except OSError:
            return  # no loopback here: nothing to wait for


def disable(sock: socket.socket) -> None:
    """Turn off every stamping option :func:`enable` may have set."""
    table = _table()
    for option in (table.SO_TIMESTAMPING, table.SO_TIMESTAMPNS, table.SO_TIMESTAMP):
        if option is not None:
            _refused(sock, option, 0)


_RUNNING = C.current()
_FAST_KEY = (socket.SOL_SOCKET, _RUNNING.SCM_TIMESTAMPING) if _RUNNING and _RUNNING.SCM_TIMESTAMPING else None


def packet_from(data: bytes, ancdata: list[tuple[int, int, bytes]], address: Any,
                drops: DropCounter | None = None, msg_flags: int = 0) -> Packet:
    """A :class:`Packet` from ``recvmsg()`` results (a lone 64-bit SCM_TIMESTAMPING skips ``parse_control``)."""
    truncated = bool(msg_flags & socket.MSG_TRUNC)
    if drops is not None and _RUNNING is not None and _RUNNING.SCM_RXQ_OVFL is not None:
        for level, kind, raw in ancdata:
            if level == socket.SOL_SOCKET and kind == _RUNNING.SCM_RXQ_OVFL and len(raw) >= 4:
                drops.saw(int.from_bytes(raw[:4], sys.byteorder))
    if len(ancdata) == 1:
        level, kind, raw = ancdata[0]
        if (level, kind) == _FAST_KEY and len(raw) == SCM_TIMESTAMPING_SIZE:
            sw, hw = scm_timestamping(raw)
            return Packet(data, address, sw, hw, stamp_source(hw, sw), truncated)
    stamps = parse_control(ancdata)
    return Packet(data, address, stamps.software_ns, stamps.hardware_ns, stamps.source, truncated)


def recv(sock: socket.socket, bufsize: int = 65535) -> Packet:
    """Receive one datagram with its stamps; blocks per the socket's timeout
    (``socket.timeout`` when it expires, ``BlockingIOError`` if non-blocking).
    Note that CPython polls before every receive on a socket with a timeout (two
    system calls per datagram); :func:`recv_batch` does not.

    >>> pkt = recv(sock)  # doctest: +SKIP
    >>> pkt.data, pkt.software_ns, pkt.source  # doctest: +SKIP
    (b'hello', 1764128000123456789, 'software')

    A datagram longer than ``bufsize`` comes cut, with ``truncated`` set.  A socket that is
    not an IPv4/IPv6 datagram socket raises :class:`UnsupportedSocketError`.
    """
    check_socket(sock, "recv", datagrams=True)
    data, ancdata, msg_flags, address = sock.recvmsg(bufsize, ANCBUFSIZE)
    return packet_from(data, ancdata, address, None, msg_flags)


def tx_timestamps(sock: socket.socket) -> list[TxStamp]:
    """Drain the socket's error queue without blocking; the TX stamps in arrival order.

    >>> enable(sock, tx=True, opt_id=True)  # doctest: +SKIP
    >>> sock.sendto(b"x", addr); tx_timestamps(sock)  # doctest: +SKIP
    [TxStamp(key=0, software_ns=1764128000123456789, hardware_ns=None, kind=0)]
    """
    table = _table()
    check_socket(sock, "tx_timestamps", datagrams=False)
    if table.MSG_ERRQUEUE is None or not C.kernel_has("MSG_ERRQUEUE"):
        # Never try: a kernel without the error queue ignores the flag, and recvmsg() would
        # take (and lose) a received datagram, its RX stamp passed off as a TX one.
        raise UnsupportedError(
            errno.EOPNOTSUPP,
            "tx_timestamps: this kernel has no socket error queue (MSG_ERRQUEUE), so no TX stamps"
            + _provided_by(table))
    stamps: list[TxStamp] = []
    saved = sock.gettimeout()
    sock.settimeout(0.0)  # CPython polls for POLLIN first on sockets with a timeout
    try:
        while True:
            try:
                _data, ancdata, _msg_flags, _addr = sock.recvmsg(0, ANCBUFSIZE, table.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                break
            parsed = parse_control(ancdata)
            if parsed.tx_type is None and parsed.source is None:
                continue  # a real ICMP error, not a stamp
            stamps.append(TxStamp(parsed.tx_key, parsed.software_ns, parsed.hardware_ns, parsed.tx_type or 0))
    finally:
        sock.settimeout(saved)
    return stamps


def opt_id_message(key: int) -> tuple[int, int, bytes]:
    """The ``sendmsg()`` ancillary item SCM_TS_OPT_ID: the datagram's TX stamps carry OPT_ID key
    ``key`` (0 to 2**32-1) instead of the socket's counter, which does not advance.  The socket
    needs OPT_ID on (:func:`enable` with ``opt_id=True``), else the send fails with EINVAL;
    UDP and raw sockets only.

    >>> enable(sock, tx=True, opt_id=True)  # doctest: +SKIP
    >>> sock.sendmsg([b"x"], [opt_id_message(7)], 0, addr); tx_timestamps(sock)[0].key  # doctest: +SKIP
    7
    """
    table = _table()
    if table.SCM_TS_OPT_ID is None:
        raise UnsupportedError(errno.EOPNOTSUPP, f"{table.name} has no SCM_TS_OPT_ID (per-datagram OPT_ID key)")
    if not 0 <= key <= 0xFFFFFFFF:
        raise ValueError(f"SCM_TS_OPT_ID key {key} is not a u32 (0 to 4294967295)")
    return (table.SOL_SOCKET, table.SCM_TS_OPT_ID, struct.pack("=I", key))


_IN6ADDR_ANY = b"\x00" * 16


def enable_drop_count(sock: socket.socket) -> bool:
    """Ask for SO_RXQ_OVFL (each datagram then carries the socket's drop counter); False where
    the platform has no such option or the kernel refuses it."""
    table = C.current()
    if table is None or table.SO_RXQ_OVFL is None:
        return False
    return not _refused(sock, table.SO_RXQ_OVFL, 1)


#: SK_MEMINFO_DROPS: the index of the drop counter in SO_MEMINFO's u32 array.
_SK_MEMINFO_DROPS = 8


def kernel_drops(sock: socket.socket, counter: DropCounter | None = None) -> int | None:
    """Datagrams the kernel dropped for ``sock`` so far: the larger of what SO_RXQ_OVFL said
    (``counter``) and Linux's SO_MEMINFO drop count or NetBSD's SO_OVERFLOWED, which also
    see drops after the last datagram read.  None when none is available."""
    table = C.current()
    seen = counter.value if counter is not None else None
    if table is not None and table.SO_MEMINFO is not None:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, table.SO_MEMINFO, 4 * 16)
        except OSError:
            raw = b""
        if len(raw) >= 4 * (_SK_MEMINFO_DROPS + 1):
            (dropped,) = struct.unpack_from("=I", raw, 4 * _SK_MEMINFO_DROPS)
            return max(int(dropped), seen or 0)
    if table is not None and table.SO_OVERFLOWED is not None:
        # NetBSD: the same counter SO_RXQ_OVFL reports, as an int option.
        try:
            overflowed = sock.getsockopt(socket.SOL_SOCKET, table.SO_OVERFLOWED)
        except OSError:
            return seen
        return max(overflowed & 0xFFFFFFFF, seen or 0)
    return seen


def set_rcvbuf(sock: socket.socket, size: int) -> int:
    """Set the receive buffer to ``size`` bytes and return the size the kernel reports.

    Linux as root: SO_RCVBUFFORCE first (it passes net.core.rmem_max).  Linux
    reports double the size asked (the bookkeeping overhead it adds), so the
    caller compares the result with ``2 * size`` there; it clamps quietly to
    rmem_max, the BSDs refuse (ENOBUFS) above kern.sbmax.
    """
    table = C.current()
    if table is not None and table.SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, table.SO_RCVBUFFORCE, size)
            return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EINVAL, errno.ENOPROTOOPT):
                raise
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError as exc:
        if exc.errno not in (errno.ENOBUFS, errno.EINVAL, errno.EPERM):
            raise
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def rcvbuf_granted(size: int) -> int:
    """What a kernel that took ``size`` reports back for SO_RCVBUF (Linux doubles it)."""
    table = C.current()
    return 2 * size if table is not None and table.rcvbuf_reads_doubled else size


def grow_rcvbuf(sock: socket.socket, want: int) -> int:
    """Ask for a receive buffer of ``want`` bytes and return what the socket has.

    Linux quietly clamps a large request to ``net.core.rmem_max``; the BSDs
    refuse it (ENOBUFS above ``kern.sbmax``) and keep their small default
    (NetBSD: 41600 bytes), which loses datagrams in any burst.  So halve the
    request until the kernel takes it.
    """
    size = want
    while size >= 64 * 1024:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            break
        except OSError as exc:
            if exc.errno not in (errno.ENOBUFS, errno.EINVAL, errno.EPERM):
                raise
            size //= 2
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def join_multicast(sock: socket.socket, group: str, interface: str | None = None) -> None:
    """Join ``group`` (IPv4 or IPv6) on ``interface`` (a name like "lo", an index, or,
    for IPv4, the interface's address; default: the kernel's choice).

    >>> s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # doctest: +SKIP
    >>> s.bind(("239.1.2.3", 5000)); join_multicast(s, "239.1.2.3", "lo")  # doctest: +SKIP
    """
    family = socket.AF_INET6 if ":" in group else socket.AF_INET
    group_bytes = socket.inet_pton(family, group)
    if family == socket.AF_INET6:
        index = _ifindex(interface) if interface else 0
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group_bytes + struct.pack("@I", index))
        return
    table = _table()
    if interface and _looks_like_ipv4(interface):
        mreq = group_bytes + socket.inet_aton(interface)
    elif interface:
        index = _ifindex(interface)
        if table.ip_mreqn_join:
            mreq = group_bytes + _IN6ADDR_ANY[:4] + struct.pack("@i", index)  # struct ip_mreqn
        else:
            # NetBSD's ip_mreq takes an interface index written as an address in 0.0.0.0/8.
            mreq = group_bytes + struct.pack("!I", index)
    else:
        mreq = group_bytes + _IN6ADDR_ANY[:4]
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)


def join_source_group(sock: socket.socket, group: str, source: str, interface: str | None = None) -> None:
    """Join ``group`` for datagrams from ``source`` only (source-specific multicast,
    ``MCAST_JOIN_SOURCE_GROUP``), on ``interface`` (a name or an index; default: the
    kernel's choice).  Instead of :func:`join_multicast`, once per source."""
    option = _table().MCAST_JOIN_SOURCE_GROUP
    if option is None:
        raise UnsupportedError(errno.EOPNOTSUPP, f"source-specific multicast (MCAST_JOIN_SOURCE_GROUP) is not "
                                                 f"known on {C.platform_name()}")
    family = socket.AF_INET6 if ":" in group else socket.AF_INET
    if (":" in source) != (family == socket.AF_INET6):
        raise ValueError(f"source {source} and group {group} are not of the same IP version")
    index = _ifindex(interface) if interface else 0
    # struct group_source_req: gsr_interface, then two sockaddr_storage aligned as a long
    head = struct.pack("@I", index) + b"\0" * (struct.calcsize("@L") - 4)
    level = socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP
    sock.setsockopt(level, option, head + _sockaddr_storage(family, group) + _sockaddr_storage(family, source))


def _sockaddr_storage(family: int, address: str) -> bytes:
    """``address`` (port 0) as a Linux ``struct sockaddr_storage`` (family as a host-order u16)."""
    packed = socket.inet_pton(family, address)
    body = packed if family == socket.AF_INET else b"\0" * 4 + packed  # sin6_flowinfo, then sin6_addr
    return (struct.pack("=H", family) + b"\0\0" + body).ljust(128, b"\0")


def multicast_sender(sock: socket.socket, interface: str | None = None, *, loop: bool = True, ttl: int = 1) -> None:
    """Set a sending socket's multicast interface, loopback and TTL/hop limit."""
    if sock.family == socket.AF_INET6:
        if interface:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, _ifindex(interface))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(loop))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
        return
    if interface:
        if _looks_like_ipv4(interface):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        elif _table().ip_mreqn_multicast_if:
            mreqn = _IN6ADDR_ANY[:8] + struct.pack("@i", _ifindex(interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, struct.pack("!I", _ifindex(interface)))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(loop))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)


def _looks_like_ipv4(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return text.count(".") == 3


def _ifindex(interface: str) -> int:
    if interface.isdigit():
        return int(interface)
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise ValueError(f"no network interface named {interface!r}") from None
