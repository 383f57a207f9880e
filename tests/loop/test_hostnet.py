"""Frames the host sends to the guest's wm0 must be valid (checksums verify)."""
from __future__ import annotations

import socket
import struct

from devtools.loop.hostnet import (GUEST_IP6, GUEST_MAC, HOST_IP4, HOST_MAC, PTP_CLOCK_ID, _csum, arp_reply,
                              ptp2_sync_frame, udp4_frame, udp6_frame)


def test_guest_link_local_is_eui64_of_its_mac() -> None:
    assert GUEST_IP6 == "fe80::5054:ff:fe12:3456"


def test_udp4_frame_checksums_verify() -> None:
    f = udp4_frame(5000, b"hello")
    assert f[:6] == GUEST_MAC and f[12:14] == b"\x08\x00"
    ip, udp = f[14:34], f[34:]
    assert _csum(ip) == 0
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    assert _csum(pseudo + udp) == 0
    assert struct.unpack("!H", udp[2:4])[0] == 5000 and udp[8:] == b"hello"


def test_udp6_frame_checksum_verifies() -> None:
    f = udp6_frame(6000, b"abc")
    ip6, udp = f[14:54], f[54:]
    assert f[12:14] == b"\x86\xdd" and ip6[6] == 17
    pseudo = ip6[8:40] + struct.pack("!I3xB", len(udp), 17)
    assert _csum(pseudo + udp) == 0


def test_arp_reply_only_for_the_host_address() -> None:
    guest_mac, guest_ip = GUEST_MAC, socket.inet_aton("169.254.1.2")
    req = b"\xff" * 6 + guest_mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + \
        guest_mac + guest_ip + b"\x00" * 6 + socket.inet_aton(HOST_IP4)
    reply = arp_reply(req)
    assert reply is not None and reply[:6] == guest_mac and reply[22:28] == HOST_MAC
    assert reply[28:32] == socket.inet_aton(HOST_IP4) and reply[38:42] == guest_ip
    other = req[:38] + socket.inet_aton("169.254.9.9")
    assert arp_reply(other) is None


def test_ptp2_sync_frame_is_what_qemu_igb_stamps() -> None:
    f = ptp2_sync_frame(0x12345)
    assert f[:6] == GUEST_MAC and f[6:12] == HOST_MAC and f[12:14] == b"\x88\xf7"
    ptp = f[14:]
    assert len(ptp) == 44 and struct.unpack("!H", ptp[2:4])[0] == 44
    assert ptp[0] == 0x00  # transportSpecific 0, messageType Sync = TSYNCRXCFG[15:8] 0
    assert ptp[1] & 15 == 2  # versionPTP
    assert ptp[20:28] == PTP_CLOCK_ID and struct.unpack("!H", ptp[28:30])[0] == 1
    assert struct.unpack("!H", ptp[30:32])[0] == 0x2345  # sequenceId wraps at 16 bits
