"""What this kernel supports: accepted options, control messages seen on loopback, NIC capabilities."""
from __future__ import annotations

import socket
import struct
import sys
import time
from typing import Any

from . import constants as C
from .batch import HAVE_RECVMMSG
from .control import parse_control
from .core import ANCBUFSIZE, UnsupportedError, clock_option, enable, tx_timestamps

SIOCETHTOOL = 0x8946
ETHTOOL_GET_TS_INFO = 0x41
HWTSTAMP_FILTERS = [
    "NONE", "ALL", "SOME", "PTP_V1_L4_EVENT", "PTP_V1_L4_SYNC", "PTP_V1_L4_DELAY_REQ",
    "PTP_V2_L4_EVENT", "PTP_V2_L4_SYNC", "PTP_V2_L4_DELAY_REQ", "PTP_V2_L2_EVENT",
    "PTP_V2_L2_SYNC", "PTP_V2_L2_DELAY_REQ", "PTP_V2_EVENT", "PTP_V2_SYNC",
    "PTP_V2_DELAY_REQ", "NTP_ALL",
]
HWTSTAMP_TX = ["OFF", "ON", "ONESTEP_SYNC", "ONESTEP_P2P"]


def _pair(family: int = socket.AF_INET) -> tuple[socket.socket, socket.socket]:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    rx = socket.socket(family, socket.SOCK_DGRAM)
    rx.bind((host, 0))
    rx.settimeout(1.0)
    tx = socket.socket(family, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    return rx, tx


def _cmsg_names(ancdata: list[Any]) -> list[str]:
    known = list(parse_control(ancdata).messages)
    if not known and ancdata:
        known = [f"level {lvl} type {typ}" for lvl, typ, _d in ancdata]
    return known


def _try_option(name: str, option: int | None, value: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"option": name, "number": option, "accepted": False, "messages": []}
    if option is None:
        entry["error"] = "not defined on this platform"
        return entry
    rx, tx = _pair()
    with rx, tx:
        try:
            rx.setsockopt(socket.SOL_SOCKET, option, value)
        except OSError as exc:
            entry["error"] = exc.strerror or str(exc)
            return entry
        entry["accepted"] = True
        # Linux enables RX stamping from a workqueue: the first datagrams may come unstamped.
        for _attempt in range(50):
            tx.send(b"probe")
            try:
                _data, ancdata, _flags, _addr = rx.recvmsg(64, ANCBUFSIZE)
            except socket.timeout:
                entry["error"] = "loopback datagram not received"
                return entry
            entry["messages"] = _cmsg_names(ancdata)
            if entry["messages"]:
                break
            time.sleep(0.01)
    return entry


def _tx_probe() -> dict[str, Any]:
    out: dict[str, Any] = {"supported": False, "keys": []}
    rx, tx = _pair()
    with rx, tx:
        try:
            enable(tx, tx=True, opt_id=True)
        except (UnsupportedError, OSError) as exc:
            out["error"] = str(exc)
            return out
        for _ in range(3):
            tx.send(b"tx")
        stamps: list[Any] = []
        deadline = time.monotonic() + 1.0
        while len(stamps) < 3 and time.monotonic() < deadline:
            stamps += tx_timestamps(tx)
            time.sleep(0.005)
        out["supported"] = bool(stamps)
        out["keys"] = [s.key for s in stamps]
    return out


def _ethtool_ts_info(name: str) -> dict[str, Any] | None:
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


def probe() -> dict[str, Any]:
    """Everything ``sotimestamp probe`` reports, as a JSON-ready dict."""
    table = C.current()
    report: dict[str, Any] = {"platform": sys.platform, "recvmmsg": HAVE_RECVMMSG}
    if table is None:
        report["error"] = f"no socket numbers for platform {sys.platform!r}"
        return report
    rx_sw = C.SOF_TIMESTAMPING_RX_SOFTWARE | C.SOF_TIMESTAMPING_SOFTWARE
    report["options"] = [
        _try_option("SO_TIMESTAMP", table.SO_TIMESTAMP, 1),
        _try_option("SO_TIMESTAMPNS", table.SO_TIMESTAMPNS, 1),
        _try_option("SO_TIMESTAMPING", table.SO_TIMESTAMPING, rx_sw),
    ]
    selector = clock_option(table, "realtime")
    if selector is not None:
        report["options"].append(_try_option(*selector))
    report["tx"] = _tx_probe() if table.MSG_ERRQUEUE is not None else {"supported": False, "error": "no MSG_ERRQUEUE"}
    try:
        rx, tx = _pair(socket.AF_INET6)
        rx.close()
        tx.close()
        report["ipv6_loopback"] = True
    except OSError as exc:
        report["ipv6_loopback"] = False
        report["ipv6_error"] = exc.strerror or str(exc)
    interfaces: dict[str, Any] = {}
    if table.name == "linux":
        for _index, name in socket.if_nameindex():
            interfaces[name] = _ethtool_ts_info(name)
    report["interfaces"] = interfaces
    return report


def format_text(report: dict[str, Any]) -> str:
    lines = [f"platform     {report['platform']}", f"recvmmsg     {'yes (ctypes)' if report['recvmmsg'] else 'no (recvmsg loop)'}"]
    if "error" in report:
        lines.append(f"error        {report['error']}")
        return "\n".join(lines)
    for entry in report["options"]:
        state = "accepted" if entry["accepted"] else f"refused ({entry.get('error')})"
        seen = ", ".join(entry["messages"]) or entry.get("error", "no control message") if entry["accepted"] else ""
        lines.append(f"{entry['option']:<16} {state}" + (f"; loopback: {seen}" if seen else ""))
    tx = report["tx"]
    lines.append("TX stamps    " + (f"yes, OPT_ID keys {tx['keys']}" if tx["supported"] else f"no ({tx.get('error', 'none arrived')})"))
    lines.append(f"IPv6 lo      {'yes' if report['ipv6_loopback'] else 'no (' + report.get('ipv6_error', '') + ')'}")
    for name, info in report["interfaces"].items():
        if info is None:
            continue
        if "error" in info:
            lines.append(f"iface {name:<8} ethtool: {info['error']}")
        else:
            lines.append(
                f"iface {name:<8} {info['so_timestamping']}; phc {info['phc_index']}; "
                f"tx {','.join(info['tx_types']) or '-'}; rx filters {','.join(info['rx_filters']) or '-'}"
            )
    return "\n".join(lines)


__all__ = ["format_text", "probe"]


def interface_rx_hardware(name: str) -> tuple[bool | None, str]:
    """Whether interface ``name`` can stamp received packets in hardware, and what it supports
    (``SOF_TIMESTAMPING_*`` names, or why it could not be asked); None where this platform has
    no way to ask (only Linux has ETHTOOL_GET_TS_INFO)."""
    if C.platform_name() != "linux":
        return None, "not known on this platform"
    info = _ethtool_ts_info(name)
    if info is None:
        return None, "ETHTOOL_GET_TS_INFO unavailable (no ctypes)"
    if "error" in info:
        return None, f"ETHTOOL_GET_TS_INFO: {info['error']}"
    flags = str(info["so_timestamping"])
    wanted = {C.SOF_NAMES[C.SOF_TIMESTAMPING_RX_HARDWARE], C.SOF_NAMES[C.SOF_TIMESTAMPING_RAW_HARDWARE]}
    return wanted <= set(flags.split("|")), flags
