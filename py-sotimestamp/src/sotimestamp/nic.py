"""What a network interface can stamp in hardware, and which interface holds an address.

Only Linux can be asked (``PlatformConstants.ethtool_ts_info``): SIOCETHTOOL
ETHTOOL_GET_TS_INFO for what the NIC can do, SIOCGHWTSTAMP (unprivileged) for
what it is set to do, SIOCSHWTSTAMP (privileged) to set it, getifaddrs() for the
interface of a bound address.  Each
answer is ``None`` where it cannot be had (another platform, no ctypes).
"""
from __future__ import annotations

import socket
import struct
from typing import Any

from . import constants as C

SIOCETHTOOL = 0x8946
ETHTOOL_GET_TS_INFO = 0x41
HWTSTAMP_FILTERS = [
    "NONE", "ALL", "SOME", "PTP_V1_L4_EVENT", "PTP_V1_L4_SYNC", "PTP_V1_L4_DELAY_REQ",
    "PTP_V2_L4_EVENT", "PTP_V2_L4_SYNC", "PTP_V2_L4_DELAY_REQ", "PTP_V2_L2_EVENT",
    "PTP_V2_L2_SYNC", "PTP_V2_L2_DELAY_REQ", "PTP_V2_EVENT", "PTP_V2_SYNC",
    "PTP_V2_DELAY_REQ", "NTP_ALL",
]
HWTSTAMP_TX = ["OFF", "ON", "ONESTEP_SYNC", "ONESTEP_P2P"]
HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_ALL = 0, 1


def _askable() -> bool:
    table = C.current()
    return table is not None and table.ethtool_ts_info


def ethtool_ts_info(name: str) -> dict[str, Any] | None:
    """Linux ETHTOOL_GET_TS_INFO for one interface (None when ctypes or the ioctl is missing)."""
    try:
        import ctypes
        import fcntl
    except ImportError:
        return None
    info = ctypes.create_string_buffer(struct.pack("=I", ETHTOOL_GET_TS_INFO) + b"\0" * 40)
    ifreq = struct.pack("16sP", name.encode()[:15], ctypes.addressof(info)) + b"\0" * 16
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
        except OSError as exc:
            return {"error": exc.strerror or str(exc)}
    _cmd, so_ts, phc, tx_types, _r0, _r1, _r2, rx_filters = struct.unpack_from("=IIiIIIII", info.raw)
    return {
        "so_timestamping": C.describe_flags(so_ts),
        "phc_index": phc,
        "tx_types": [n for i, n in enumerate(HWTSTAMP_TX) if tx_types & (1 << i)],
        "rx_filters": [n for i, n in enumerate(HWTSTAMP_FILTERS) if rx_filters & (1 << i)],
        "hardware": bool(so_ts & (C.SOF_TIMESTAMPING_RX_HARDWARE | C.SOF_TIMESTAMPING_TX_HARDWARE)),
    }


def interface_rx_hardware(name: str) -> tuple[bool | None, str]:
    """Whether interface ``name`` can stamp received packets in hardware, and what it supports
    (``SOF_TIMESTAMPING_*`` names, or why it could not be asked); None where this platform has
    no way to ask."""
    if not _askable():
        return None, "not known on this platform"
    info = ethtool_ts_info(name)
    if info is None:
        return None, "ETHTOOL_GET_TS_INFO unavailable (no ctypes)"
    if "error" in info:
        return None, f"ETHTOOL_GET_TS_INFO: {info['error']}"
    flags = str(info["so_timestamping"])
    wanted = {C.SOF_NAMES[C.SOF_TIMESTAMPING_RX_HARDWARE], C.SOF_NAMES[C.SOF_TIMESTAMPING_RAW_HARDWARE]}
    return wanted <= set(flags.split("|")), flags


def rx_filter(name: str) -> int | None:
    """The receive filter interface ``name`` is set to (SIOCGHWTSTAMP's ``rx_filter``:
    ``HWTSTAMP_FILTER_*``), or None when it cannot be read."""
    table = C.current()
    if table is None or not table.ethtool_ts_info or table.SIOCGHWTSTAMP is None:
        return None
    try:
        return _hwtstamp_ioctl(name, table.SIOCGHWTSTAMP)[2]
    except (ImportError, OSError):
        return None


def _hwtstamp_ioctl(name: str, request: int, config: tuple[int, int, int] = (0, 0, 0)) -> tuple[int, int, int]:
    """SIOCGHWTSTAMP or SIOCSHWTSTAMP on interface ``name``: the ``struct hwtstamp_config``
    (flags, tx_type, rx_filter) the driver reports back; OSError as the ioctl fails."""
    import ctypes
    import fcntl

    buffer = ctypes.create_string_buffer(struct.pack("=iii", *config), 12)
    ifreq = struct.pack("16sP", name.encode()[:15], ctypes.addressof(buffer)) + b"\0" * 16
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), request, ifreq)
    flags, tx_type, rx_filter = struct.unpack_from("=iii", buffer.raw)
    return flags, tx_type, rx_filter


def filter_name(rx_filter: int) -> str:
    return HWTSTAMP_FILTERS[rx_filter] if 0 <= rx_filter < len(HWTSTAMP_FILTERS) else str(rx_filter)


def stamp_all_received(name: str) -> tuple[int | None, str]:
    """Set interface ``name`` to stamp every received packet in hardware, as ``tcpdump -j
    adapter_unsynced`` does (SIOCSHWTSTAMP rx_filter ALL; the TX setting is kept, so a PTP
    daemon's TX stamps go on).  Returns the receive filter the driver reports after it (it may
    choose a wider one) and what happened, in words; None where it could not be set (another
    platform, not privileged: needs root or CAP_NET_ADMIN)."""
    table = C.current()
    if table is None or not table.ethtool_ts_info or table.SIOCSHWTSTAMP is None or table.SIOCGHWTSTAMP is None:
        return None, "SIOCSHWTSTAMP is not known on this platform"
    try:
        flags, tx_type, before = _hwtstamp_ioctl(name, table.SIOCGHWTSTAMP)
    except ImportError:
        return None, "no ctypes to call SIOCGHWTSTAMP"
    except OSError as exc:
        return None, f"SIOCGHWTSTAMP {name}: {exc.strerror or exc}"
    if before == HWTSTAMP_FILTER_ALL:
        return before, f"{name} already stamps every received packet (rx_filter ALL)"
    try:
        after = _hwtstamp_ioctl(name, table.SIOCSHWTSTAMP, (flags, tx_type, HWTSTAMP_FILTER_ALL))[2]
    except OSError as exc:
        return before, (f"SIOCSHWTSTAMP {name} rx_filter ALL: {exc.strerror or exc}"
                        + (" (needs root or CAP_NET_ADMIN)" if exc.errno in (1, 13) else "")
                        + f"; it stays at rx_filter {filter_name(before)}")
    return after, f"{name} set to rx_filter {filter_name(after)} (SIOCSHWTSTAMP; was {filter_name(before)})"


def interface_of(host: str) -> str | None:
    """The interface holding address ``host`` (getifaddrs(); Linux's ``struct sockaddr``
    layout), or None when none does or it cannot be asked."""
    if not _askable():
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        wanted = socket.inet_pton(family, host.split("%")[0])
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except (OSError, ImportError):
        return None

    class Ifaddrs(ctypes.Structure):
        pass

    # struct ifaddrs {next, name, flags, addr, ...}: the first four fields are all that is read
    Ifaddrs._fields_ = [("next", ctypes.POINTER(Ifaddrs)), ("name", ctypes.c_char_p),
                        ("flags", ctypes.c_uint), ("addr", ctypes.c_void_p)]
    head = ctypes.POINTER(Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        return None
    try:
        start, size = (4, 4) if family == socket.AF_INET else (8, 16)  # sin_addr, sin6_addr
        entry = head
        while entry:
            addr = entry.contents.addr
            if addr and ctypes.c_uint16.from_address(addr).value == family \
                    and ctypes.string_at(addr + start, size) == wanted:
                return (entry.contents.name or b"").decode()
            entry = entry.contents.next
    finally:
        libc.freeifaddrs(head)
    return None
