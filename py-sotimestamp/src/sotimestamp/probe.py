"""What this kernel supports: accepted options, control messages seen on loopback, NIC capabilities."""
from __future__ import annotations

import socket
import sys
import time
from typing import Any

from . import constants as C
from .batch import HAVE_RECVMMSG
from .control import parse_control
from .core import ANCBUFSIZE, UnsupportedError, clock_option, enable, tx_timestamps
from .nic import ethtool_ts_info, interface_rx_hardware


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


def _rx_in_force() -> str:
    """What :func:`enable` turns on for RX software stamps here (option, resolution, where taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            return str(enable(sock))
        except (UnsupportedError, OSError) as exc:
            return f"none ({exc})"


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
    report["rx_in_force"] = _rx_in_force()
    report["tx"] = _tx_probe()
    try:
        rx, tx = _pair(socket.AF_INET6)
        rx.close()
        tx.close()
        report["ipv6_loopback"] = True
    except OSError as exc:
        report["ipv6_loopback"] = False
        report["ipv6_error"] = exc.strerror or str(exc)
    interfaces: dict[str, Any] = {}
    if table.ethtool_ts_info:
        for _index, name in socket.if_nameindex():
            interfaces[name] = ethtool_ts_info(name)
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
    lines.append(f"enable()     {report['rx_in_force']}")
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


__all__ = ["format_text", "interface_rx_hardware", "probe"]
