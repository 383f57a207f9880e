"""NetBSD with the sotimestamp kernel: what only that system can show.

These run in the anita guest (`invoke anita`), where the installed system has
the patched kernel and headers, and wm0 is QEMU's igb wired to the host's
devtools/loop/hostnet.py (guest 169.254.1.2, host 169.254.1.1).  Elsewhere they
skip, and so do those that need the series on a stock NetBSD kernel (pkgsrc's
`make test` there).  The ioctl numbers are the module's (constants.py, from sys/ABI.md).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import re
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

import sotimestamp
from sotimestamp import batch as batch_mod
from sotimestamp import constants as C

from conftest import requires_kernel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("netbsd"), reason="needs NetBSD with the sotimestamp kernel (invoke anita runs these)")
needs_series = requires_kernel("SO_TIMESTAMPING", "MSG_ERRQUEUE", "SIOCSHWTSTAMP")

INCLUDE = Path("/usr/include")
GUEST_WM0 = "169.254.1.2"
HOST_WM0 = "169.254.1.1"
NETBSD = C.for_platform("netbsd")
IFREQ_SIZE = C.NETBSD_IFREQ_SIZE
assert NETBSD.SIOCSHWTSTAMP is not None and NETBSD.SIOCGHWTSTAMP is not None
SIOCSHWTSTAMP, SIOCGHWTSTAMP = NETBSD.SIOCSHWTSTAMP, NETBSD.SIOCGHWTSTAMP
HWTSTAMP_TX_OFF, HWTSTAMP_TX_ON = 0, 1
HWTSTAMP_FILTER_NONE = 0


def header_defines(*headers: str) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for header in headers:
        text = (INCLUDE / header).read_text(errors="replace")
        for m in re.finditer(r"^#define\s+(\w+)\s+\(?(0x[0-9a-fA-F]+|\d+)\)?\s*(?:/\*.*)?$", text, re.M):
            out[m.group(1)] = int(m.group(2), 0)
        for m in re.finditer(r"^#define\s+(SOF_TIMESTAMPING_\w+)\s+\(1\s*<<\s*(\d+)\)", text, re.M):
            out[m.group(1)] = 1 << int(m.group(2))
        # The ioctls on a struct ifreq (<sys/sockio.h>), encoded as <sys/ioccom.h> does.
        for m in re.finditer(r"^#define\s+(\w+)\s+_IOWR\('(\w)',\s*(\d+),\s*struct ifreq\)", text, re.M):
            out[m.group(1)] = 0xC0000000 | (IFREQ_SIZE << 16) | (ord(m.group(2)) << 8) | int(m.group(3))
        # Aliases: SCM_TIMESTAMPING is defined as SO_TIMESTAMPING, as on Linux.
        for m in re.finditer(r"^#define\s+(\w+)\s+([A-Z_][A-Z0-9_]*)\s*(?:/\*.*)?$", text, re.M):
            if m.group(2) in out:
                out[m.group(1)] = out[m.group(2)]
    return out


def test_module_numbers_are_the_installed_headers() -> None:
    if not (INCLUDE / "net" / "net_tstamp.h").exists():
        pytest.skip("no <net/net_tstamp.h>: comp set or patched headers not installed")
    defs = header_defines("sys/socket.h", "sys/sockio.h", "net/net_tstamp.h", "netinet/in.h", "netinet6/in6.h")
    table = C.for_platform("netbsd").as_dict()
    compared = {name: (value, defs[name]) for name, value in table.items() if name in defs}
    assert {"SO_TIMESTAMPING", "SCM_TIMESTAMPING", "MSG_ERRQUEUE", "IP_RECVERR", "SIOCSHWTSTAMP",
            "SIOCGHWTSTAMP"} <= compared.keys()
    assert {n: v for n, v in compared.items() if v[0] != v[1]} == {}
    sof = {n: getattr(C, n) for n in dir(C) if n.startswith("SOF_TIMESTAMPING_") and n in defs}
    assert len(sof) >= 10 and all(defs[n] == v for n, v in sof.items())


@needs_series
def test_enable_uses_so_timestamping() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = sotimestamp.enable(s, tx=True, opt_id=True).flags
        got = s.getsockopt(C.for_platform("netbsd").SOL_SOCKET, C.for_platform("netbsd").SO_TIMESTAMPING)
        assert got & flags == flags and flags & C.SOF_TIMESTAMPING_TX_SOFTWARE


def test_recv_batch_goes_through_recvmmsg() -> None:
    assert batch_mod.HAVE_RECVMMSG, "libc recvmmsg through ctypes should be there on NetBSD 7.99"


class HwConfig(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_int), ("tx_type", ctypes.c_int), ("rx_filter", ctypes.c_int)]


def hw_ioctl(request: int, cfg: HwConfig) -> None:
    ifreq = bytearray(IFREQ_SIZE)
    ifreq[:4] = b"wm0\0"
    struct.pack_into("=Q", ifreq, 16, ctypes.addressof(cfg))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), request, ifreq)


@pytest.fixture
def wm0_tx_on() -> Iterator[None]:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind((GUEST_WM0, 0))
    except OSError as exc:
        pytest.skip(f"no wm0 at {GUEST_WM0}: {exc.strerror}")
    cfg = HwConfig(0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE)
    try:
        hw_ioctl(SIOCSHWTSTAMP, cfg)
    except OSError as exc:
        # ENOTTY (an ioctl number the kernel does not know) is a failure, not a skip: with the
        # series running, SIOCSHWTSTAMP is known, and a wrong number must not pass as "no hardware".
        if exc.errno == errno.EOPNOTSUPP:
            pytest.skip(f"wm0 has no hardware stamping: {exc.strerror}")
        raise
    yield
    hw_ioctl(SIOCSHWTSTAMP, HwConfig(0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE))


@needs_series
def test_siocghwtstamp_reads_back(wm0_tx_on: None) -> None:
    cfg = HwConfig(0, -1, -1)
    hw_ioctl(SIOCGHWTSTAMP, cfg)
    assert (cfg.tx_type, cfg.rx_filter) == (HWTSTAMP_TX_ON, HWTSTAMP_FILTER_NONE)


@needs_series
def test_wm0_hardware_tx_stamps_in_order(wm0_tx_on: None) -> None:
    """QEMU's igb stamps every sent frame with its SYSTIM clock."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((GUEST_WM0, 0))
        sotimestamp.enable(s, software=True, hardware=True, tx=True, opt_id=True)
        n = 20
        for i in range(n):
            s.sendto(b"hw %d" % i, (HOST_WM0, 9))
        # Software and hardware stamps come as separate records: wait for n
        # hardware ones.
        hw: List[sotimestamp.TxStamp] = []
        deadline = time.monotonic() + 5.0
        while len(hw) < n and time.monotonic() < deadline:
            hw += [t for t in sotimestamp.tx_timestamps(s) if t.hardware_ns]
            time.sleep(0.01)
        assert len(hw) == n, hw[:3]
        assert [t.key for t in hw] == list(range(n))
        values = [t.hardware_ns for t in hw]
        assert values == sorted(values) and values[-1] > values[0]
