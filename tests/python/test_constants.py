"""The numbers per platform: Linux asm-generic, NetBSD from sys/ABI.md, FreeBSD socket.h."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import sotimestamp
from sotimestamp import constants as C

ABI = Path(__file__).resolve().parents[2] / "sys" / "ABI.md"


def test_linux_values() -> None:
    t = C.for_platform("linux")
    assert (t.SO_TIMESTAMP, t.SO_TIMESTAMPNS, t.SO_TIMESTAMPING) == (29, 35, 37)
    assert (t.SCM_TIMESTAMP, t.SCM_TIMESTAMPNS, t.SCM_TIMESTAMPING) == (29, 35, 37)
    assert t.MSG_ERRQUEUE == 0x2000 and t.IP_RECVERR == 11 and t.IPV6_RECVERR == 25


def test_freebsd_values() -> None:
    t = C.for_platform("freebsd14")
    assert (t.SO_TIMESTAMP, t.SO_BINTIME, t.SO_TS_CLOCK) == (0x400, 0x2000, 0x1017)
    assert (t.SCM_TIMESTAMP, t.SCM_BINTIME, t.SCM_REALTIME, t.SCM_MONOTONIC, t.SCM_TIME_INFO) == (2, 4, 5, 6, 7)
    assert t.SO_TIMESTAMPING is None and t.MSG_ERRQUEUE is None


@pytest.mark.skipif(not ABI.exists(), reason="sys/ABI.md not in this checkout")
def test_netbsd_values_match_abi_md() -> None:
    """Every hex/decimal value in sys/ABI.md's table is the one the module uses."""
    t = C.for_platform("netbsd")
    table = {}
    for line in ABI.read_text().splitlines():
        m = re.match(r"\|\s*`([A-Z0-9_]+)`\s*\|\s*(0x[0-9a-fA-F]+|\d+)\s*\|", line)
        if m:
            table[m.group(1)] = int(m.group(2), 0)
    assert table, "no rows parsed from sys/ABI.md"
    for name, value in table.items():
        if hasattr(t, name):
            assert getattr(t, name) == value, name
        else:
            assert getattr(C, name) == value, name
    assert t.SCM_TIMESTAMP == 0x08
    # The ioctls: _IOWR('i', N, struct ifreq) rows, encoded as NetBSD's <sys/ioccom.h> does
    ioctls = re.findall(r"\|\s*`([A-Z]+)`\s*\|\s*_IOWR\('(\w)',(\d+),struct ifreq\)", ABI.read_text())
    assert {name for name, _g, _n in ioctls} >= {"SIOCSHWTSTAMP", "SIOCGHWTSTAMP"}
    for name, group, number in ioctls:
        if hasattr(t, name):
            assert getattr(t, name) == 0xC0000000 | (144 << 16) | (ord(group) << 8) | int(number), name
    assert (t.SIOCSHWTSTAMP, t.SIOCGHWTSTAMP) == (0xC09069A0, 0xC09069A1)
    bits = re.findall(r"([A-Z_]+) 1<<(\d+)", ABI.read_text())
    assert len(bits) == 18
    for name, shift in bits:
        assert getattr(C, "SOF_TIMESTAMPING_" + name) == 1 << int(shift), name


def test_module_exports_running_platform() -> None:
    table = C.current()
    if table is None:
        pytest.skip(f"no table for {sys.platform}")
    for name, value in table.as_dict().items():
        assert getattr(sotimestamp, name) == value
    assert sotimestamp.SOF_TIMESTAMPING_RX_SOFTWARE == 8


def test_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unsupported platform"):
        C.for_platform("darwin")


def test_describe_flags() -> None:
    assert C.describe_flags(C.SOF_TIMESTAMPING_RX_SOFTWARE | C.SOF_TIMESTAMPING_SOFTWARE) == "RX_SOFTWARE|SOFTWARE"
    assert C.describe_flags(0) == "0"


def test_netbsd_scm_types_equal_their_options() -> None:
    """As on Linux, each SCM_ type is the SO_ option that asks for it (linuxptp relies on it)."""
    t = C.for_platform("netbsd")
    assert t.SCM_TIMESTAMPING == t.SO_TIMESTAMPING
    assert t.SCM_TIMESTAMPNS == t.SO_TIMESTAMPNS
    assert t.SCM_RXQ_OVFL == t.SO_RXQ_OVFL
    assert t.SO_TS_CLOCK is None, "NetBSD's clock option is SO_TIMESTAMP_CLOCK, not FreeBSD's SO_TS_CLOCK"


def test_clock_option_per_platform() -> None:
    """NetBSD picks the clock with a clockid_t; FreeBSD with its SO_TS_CLOCK values; Linux has none."""
    from sotimestamp.core import clock_option

    assert clock_option(C.for_platform("netbsd"), "monotonic") == ("SO_TIMESTAMP_CLOCK", 0x1032, 3)
    assert clock_option(C.for_platform("netbsd"), "realtime") == ("SO_TIMESTAMP_CLOCK", 0x1032, 0)
    assert clock_option(C.for_platform("freebsd"), "monotonic") == ("SO_TS_CLOCK", 0x1017, C.SO_TS_MONOTONIC)
    assert clock_option(C.for_platform("linux"), "monotonic") is None
