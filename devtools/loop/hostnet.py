"""The host's end of the guest's wm0: raw Ethernet frames carried in UDP on
127.0.0.1 by QEMU's `-netdev socket,udp=...,localaddr=...`.  Nothing leaves
this machine; the addresses inside the frames are link-local and exist only
between this socket and the guest."""
from __future__ import annotations

import socket
import struct
import threading

GUEST_MAC = bytes.fromhex("525400123456")
HOST_MAC = bytes.fromhex("525400000001")
GUEST_IP4 = "169.254.1.2"
HOST_IP4 = "169.254.1.1"
HOST_IP6 = "fe80::1"


def eui64_link_local(mac: bytes) -> str:
    eui = bytearray(mac[:3] + b"\xff\xfe" + mac[3:])
    eui[0] ^= 0x02
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + b"\x00" * 6 + bytes(eui))


GUEST_IP6 = eui64_link_local(GUEST_MAC)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp4_frame(dport: int, payload: bytes, sport: int = 40000) -> bytes:
    src, dst = socket.inet_aton(HOST_IP4), socket.inet_aton(GUEST_IP4)
    udp_len = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", _csum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return GUEST_MAC + HOST_MAC + b"\x08\x00" + ip + udp


def udp6_frame(dport: int, payload: bytes, sport: int = 40000) -> bytes:
    src = socket.inet_pton(socket.AF_INET6, HOST_IP6)
    dst = socket.inet_pton(socket.AF_INET6, GUEST_IP6)
    udp_len = 8 + len(payload)
    pseudo = src + dst + struct.pack("!I3xB", udp_len, 17)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", _csum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, udp_len, 17, 64, src, dst)
    return GUEST_MAC + HOST_MAC + b"\x86\xdd" + ip6 + udp


PTP_ETHERTYPE = b"\x88\xf7"
PTP_CLOCK_ID = bytes.fromhex("5254000000010001")  # the host's made-up clockIdentity


def ptp2_sync_frame(seq: int) -> bytes:
    """A layer 2 PTPv2 Sync message (IEEE 1588-2008 13.3, 13.6) to the guest's
    MAC: the frames QEMU's igb time-stamps on receive (ETQF 0x88f7, messageType
    0 = TSYNCRXCFG's default, versionPTP 2).  sequenceId = seq & 0xffff."""
    header = struct.pack("!BBHBBHq4s8sHHBb", 0x00, 0x02, 44, 0, 0, 0, 0, b"\x00" * 4,
                         PTP_CLOCK_ID, 1, seq & 0xFFFF, 0, 0)
    origin = b"\x00" * 10  # originTimestamp: two-step clocks may leave it 0
    return GUEST_MAC + HOST_MAC + PTP_ETHERTYPE + header + origin


def arp_reply(frame: bytes) -> bytes | None:
    """Answer the guest's ARP request for HOST_IP4 (so guest sends work)."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    op = struct.unpack("!H", frame[20:22])[0]
    sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
    if op != 1 or tpa != socket.inet_aton(HOST_IP4):
        return None
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + HOST_MAC + tpa + sha + spa
    return sha + HOST_MAC + b"\x08\x06" + arp


class HostNet:
    """Owns the host UDP socket QEMU talks to; answers ARP in a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.host_port = self.sock.getsockname()[1]
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        self.qemu_port = probe.getsockname()[1]
        probe.close()
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def netdev_arg(self) -> str:
        return f"socket,id=n0,udp=127.0.0.1:{self.host_port},localaddr=127.0.0.1:{self.qemu_port}"

    def start(self) -> None:
        self.sock.settimeout(0.2)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.sock.recv(65536)
            except (socket.timeout, OSError):
                continue
            self.received += 1
            reply = arp_reply(frame)
            if reply:
                self.send_frame(reply)

    def send_frame(self, frame: bytes) -> None:
        self.sock.sendto(frame, ("127.0.0.1", self.qemu_port))

    def send_udp(self, proto: str, port: int, count: int) -> None:
        """`@@SEND udp4|udp6 PORT COUNT`; for `ptp2` PORT is the first sequenceId."""
        if proto == "ptp2":
            for i in range(count):
                self.send_frame(ptp2_sync_frame(port + i))
            return
        make = udp4_frame if proto == "udp4" else udp6_frame
        for i in range(count):
            self.send_frame(make(port, b"sotimestamp %d" % i))

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
