"""parse_control on recorded and constructed control-message bytes, per platform.

Linux fixtures were recorded from a Linux 6.x amd64 kernel (recvmsg ancdata of
loopback datagrams).  NetBSD and FreeBSD fixtures are constructed from the
documented struct layouts (amd64: struct timespec {int64 tv_sec; long tv_nsec},
NetBSD struct timeval {int64 tv_sec; int tv_usec; 4 bytes padding}, FreeBSD
struct bintime {int64 sec; uint64 frac}, struct sock_timestamp_info) with the
numbers of sys/ABI.md and FreeBSD's socket.h; replace the NetBSD ones with bytes
recorded in the guest once the kernel patches run there.
"""
from __future__ import annotations

import errno
import socket
import struct

import pytest

from sotimestamp import for_platform, parse_control

SOL_SOCKET = socket.SOL_SOCKET  # 1 on Linux; the BSD value 0xffff is used in the BSD fixtures
BSD_SOL_SOCKET = 0xFFFF

# --- Linux, recorded -------------------------------------------------------------
LINUX_SCM_TIMESTAMP = (1, 29, bytes.fromhex("65a5076b0000000041570a0000000000"))
LINUX_SCM_TIMESTAMPNS = (1, 35, bytes.fromhex("65a5076b000000004e7f692800000000"))
LINUX_SCM_TIMESTAMPING = (1, 37, bytes.fromhex("65a5076b00000000ba566c2800000000") + bytes(32))
LINUX_TX = [
    (1, 37, bytes.fromhex("65a5076b0000000023676e2800000000") + bytes(32)),
    (41, 25, bytes.fromhex("2a000000040000000000000000000000") + bytes(28)),  # ENOMSG, origin 4, SND, key 0
]
SEC = 0x6B07A565


def _linux_only_levels() -> None:
    if socket.SOL_SOCKET != 1 or socket.IPPROTO_IPV6 != 41:
        pytest.skip("Linux level numbers differ from this host's socket module")


def test_linux_scm_timestamp_recorded() -> None:
    _linux_only_levels()
    s = parse_control([LINUX_SCM_TIMESTAMP], "linux")
    assert s.software_ns == SEC * 10**9 + 0x0A5741 * 1000
    assert s.resolution_ns == 1000 and s.source == "software" and s.messages == ("SCM_TIMESTAMP",)


def test_linux_scm_timestampns_recorded() -> None:
    _linux_only_levels()
    s = parse_control([LINUX_SCM_TIMESTAMPNS], "linux")
    assert s.software_ns == SEC * 10**9 + 0x28697F4E and s.hardware_ns is None


def test_linux_scm_timestamping_recorded() -> None:
    _linux_only_levels()
    s = parse_control([LINUX_SCM_TIMESTAMPING], "linux")
    assert s.software_ns == SEC * 10**9 + 0x286C56BA
    assert s.hardware_ns is None and s.tx_key is None


def test_linux_tx_record_recorded() -> None:
    _linux_only_levels()
    s = parse_control(LINUX_TX, "linux")
    assert s.tx_key == 0 and s.tx_type == 0 and s.software_ns == SEC * 10**9 + 0x286E6723
    assert s.messages == ("SCM_TIMESTAMPING", "IPV6_RECVERR")


def test_linux_hardware_and_preference() -> None:
    _linux_only_levels()
    ts = struct.pack("=6q", 10, 1, 0, 0, 20, 2)
    s = parse_control([LINUX_SCM_TIMESTAMP, (1, 37, ts)], "linux")
    assert s.software_ns == 10 * 10**9 + 1 and s.hardware_ns == 20 * 10**9 + 2
    assert s.source == "hardware" and s.resolution_ns == 1


def test_linux_new_and_32bit_layouts() -> None:
    _linux_only_levels()
    assert parse_control([(1, 65, struct.pack("=6q", 3, 4, 0, 0, 0, 0))], "linux").software_ns == 3_000_000_004
    assert parse_control([(1, 64, struct.pack("=qq", 5, 6))], "linux").software_ns == 5_000_000_006
    assert parse_control([(1, 63, struct.pack("=qq", 7, 8))], "linux").software_ns == 7_000_008_000
    # ILP32: three 8-byte timespecs, an 8-byte timeval
    assert parse_control([(1, 37, struct.pack("=6i", 1, 2, 0, 0, 0, 0))], "linux").software_ns == 1_000_000_002
    assert parse_control([(1, 29, struct.pack("=ii", 1, 2))], "linux").software_ns == 1_000_002_000


def test_linux_real_icmp_error_is_not_a_stamp() -> None:
    _linux_only_levels()
    err = struct.pack("=IBBBBII", errno.ECONNREFUSED, 2, 3, 3, 0, 0, 0)
    s = parse_control([(0, 11, err)], "linux")
    assert s.tx_key is None and s.source is None


def test_unrelated_messages_ignored() -> None:
    s = parse_control([(socket.IPPROTO_IP, 8, bytes(12))], "linux")
    assert s.source is None and s.messages == ()


# --- NetBSD, constructed from the documented layouts (sys/ABI.md; test_constants checks the numbers) ------

NETBSD = for_platform("netbsd")

def test_netbsd_scm_timestamping() -> None:
    data = struct.pack("=qqqqqq", 1700000000, 123456789, 0, 0, 1700000001, 5)
    s = parse_control([(BSD_SOL_SOCKET, NETBSD.SCM_TIMESTAMPING, data)], "netbsd10")
    assert s.software_ns == 1700000000_123456789 and s.hardware_ns == 1700000001_000000005
    assert s.messages == ("SCM_TIMESTAMPING",)


def test_netbsd_scm_timestampns_and_timestamp() -> None:
    ns = struct.pack("=qq", 1700000000, 42)
    tv = struct.pack("=qi4x", 1700000000, 999999)  # NetBSD suseconds_t is an int
    s = parse_control([(BSD_SOL_SOCKET, 0x08, tv), (BSD_SOL_SOCKET, NETBSD.SCM_TIMESTAMPNS, ns)], "netbsd")
    assert s.software_ns == 1700000000_000000042 and s.resolution_ns == 1
    s = parse_control([(BSD_SOL_SOCKET, 0x08, tv)], "netbsd")
    assert s.software_ns == 1700000000_999999000 and s.resolution_ns == 1000


def test_netbsd_tx_record() -> None:
    ee = struct.pack("=IBBBBII", errno.ENOMSG, 4, 0, 0, 0, 0, 7)
    stamp = struct.pack("=6q", 1700000000, 1, 0, 0, 0, 0)
    s = parse_control([(BSD_SOL_SOCKET, NETBSD.SCM_TIMESTAMPING, stamp), (socket.IPPROTO_IP, NETBSD.IP_RECVERR, ee)],
                      "netbsd")
    assert (s.tx_key, s.tx_type, s.software_ns) == (7, 0, 1700000000_000000001)
    s = parse_control([(BSD_SOL_SOCKET, NETBSD.SCM_TIMESTAMPING, stamp),
                       (socket.IPPROTO_IPV6, NETBSD.IPV6_RECVERR, ee)], "netbsd")
    assert s.tx_key == 7 and s.messages[-1] == "IPV6_RECVERR"


def test_netbsd_does_not_read_linux_numbers() -> None:
    assert parse_control([(BSD_SOL_SOCKET, 37, bytes(48))], "netbsd").messages == ()


# --- FreeBSD, constructed ------------------------------------------------------------

def test_freebsd_realtime_bintime_monotonic() -> None:
    rt = struct.pack("=qq", 1700000000, 5)
    s = parse_control([(BSD_SOL_SOCKET, 5, rt)], "freebsd")
    assert s.software_ns == 1700000000_000000005 and s.clock == "realtime"
    half = struct.pack("=qQ", 1700000000, 1 << 63)  # frac 2**63 = 0.5 s
    assert parse_control([(BSD_SOL_SOCKET, 4, half)], "freebsd").software_ns == 1700000000_500000000
    mono = parse_control([(BSD_SOL_SOCKET, 6, struct.pack("=qq", 12, 34))], "freebsd")
    assert mono.software_ns == 12_000000034 and mono.clock == "monotonic"
    tv = struct.pack("=qq", 1700000000, 7)  # FreeBSD suseconds_t is a long
    assert parse_control([(BSD_SOL_SOCKET, 2, tv)], "freebsd").software_ns == 1700000000_000007000


def test_freebsd_time_info_marks_hardware() -> None:
    rt = struct.pack("=qq", 1700000000, 5)
    info = struct.pack("=II7Q", 1 | 2, 0, *([0] * 7))  # ST_INFO_HW | ST_INFO_HW_HPREC
    s = parse_control([(BSD_SOL_SOCKET, 5, rt), (BSD_SOL_SOCKET, 7, info)], "freebsd")
    assert s.source == "hardware" and s.hardware_ns == 1700000000_000000005 and s.software_ns is None
    sw = parse_control([(BSD_SOL_SOCKET, 5, rt), (BSD_SOL_SOCKET, 7, struct.pack("=II7Q", 0, 0, *([0] * 7)))], "freebsd")
    assert sw.source == "software"


def test_short_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="too short"):
        parse_control([(BSD_SOL_SOCKET, NETBSD.SCM_TIMESTAMPNS, b"\0\0\0")], "netbsd")
