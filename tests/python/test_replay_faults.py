"""`sotimestamp replay` when sends fail or a signal ends it: counted, the first failing
datagram named, a summary printed either way, and an exit status that says so."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import struct
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typing import List, Tuple

from sotimestamp.pcap import PcapngWriter

CLI = [sys.executable, "-m", "sotimestamp"]
BASE = 1764128000_000000000


def write(path: Path, datagrams: List[Tuple[Tuple, Tuple, bytes]], step_ns: int = 2_000_000) -> Path:
    with PcapngWriter(open(path, "wb")) as writer:
        for i, (src, dst, payload) in enumerate(datagrams):
            writer.write(payload, src, dst, BASE + i * step_ns, "software")
    return path


def free_udp_port() -> int:
    """A port nobody listens on (bound, then released: the ICMP port unreachable is what we want)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _LoopbackCounter(threading.Thread):
    """Counts the IPv4 UDP packets to ``port`` that loopback delivers, read as they come by an
    AF_PACKET socket (root on Linux): other processes' loopback traffic passes it too, so it
    is read while the replay runs, not afterwards from a buffer that may have overflowed."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.done = port, 0, threading.Event()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)  # protocol 0: nothing until bound
        # The machine's loopback may carry floods of others' traffic: a classic BPF filter keeps
        # only unfragmented UDP to ``port`` (the cooked packet starts at the IP header).
        program = [
            (0x30, 0, 0, 9),        # ldb [9]: the protocol
            (0x15, 0, 6, 17),       # UDP, else drop
            (0x28, 0, 0, 6),        # ldh [6]: flags and fragment offset
            (0x45, 4, 0, 0x1FFF),   # a later fragment: drop
            (0xB1, 0, 0, 0),        # ldxb 4*([0]&0xf): the header length
            (0x48, 0, 0, 2),        # ldh [x+2]: the destination port
            (0x15, 0, 1, port),     # ours: accept, else drop
            (0x06, 0, 0, 0xFFFF),
            (0x06, 0, 0, 0),
        ]
        self._filter = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in program))
        self.sock.setsockopt(socket.SOL_SOCKET, 26,  # SO_ATTACH_FILTER: struct sock_fprog
                             struct.pack("@HP", len(program), ctypes.addressof(self._filter)))
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
        self.sock.bind(("lo", 0x0800))
        self.sock.settimeout(0.2)

    def run(self) -> None:
        while not self.done.is_set():
            try:
                packet, (_ifname, _proto, pkttype, *_rest) = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            ihl = (packet[0] & 0x0F) * 4
            # PACKET_HOST: each delivered once (a kernel that also shows the outgoing copy would count two)
            if pkttype == socket.PACKET_HOST and packet[9] == 17 and \
                    struct.unpack_from("!H", packet, ihl + 2)[0] == self.port:
                self.count += 1

    def stop(self) -> int:
        time.sleep(0.3)
        self.done.set()
        self.join()
        self.sock.close()
        return self.count


def test_every_datagram_is_sent_to_a_port_nobody_listens_on(tmp_path: Path) -> None:
    """A connected UDP socket reports the ICMP port unreachable of one datagram in place of the
    next send: every second datagram was counted as failed and never sent ("25 of 50 not sent")."""
    v4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))
    path = write(tmp_path / "r.pcapng", [(*v4, b"to nobody %d" % i) for i in range(50)])
    port = free_udp_port()
    counter = _LoopbackCounter(port) if sys.platform.startswith("linux") and os.geteuid() == 0 else None
    if counter is not None:
        counter.start()
    res = subprocess.run(CLI + ["replay", str(path), "--to", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=60)
    on_the_wire = counter.stop() if counter is not None else None
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert f"sent 50 datagrams to 127.0.0.1:{port}" in res.stderr and "not sent" not in res.stderr, res.stderr
    icmp = re.search(r"(\d+) ICMP port unreachable errors came back from 127\.0\.0\.1:\d+", res.stderr)
    assert icmp and 40 <= int(icmp.group(1)) <= 50, res.stderr
    assert on_the_wire in (None, 50)


def _classic_pcap(path: Path, packets: List[bytes], snaplen: int = 65535) -> Path:
    """A classic pcap file (LINKTYPE_RAW, microseconds) of ``packets``, each cut to ``snaplen``,
    written here byte by byte: independent of the package's own writer."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 101)
    for i, packet in enumerate(packets):
        kept = packet[:snaplen]
        out += struct.pack("<IIII", 1764128000 + i, 0, len(kept), len(packet)) + kept
    path.write_bytes(out)
    return path


def _ipv4_fragments(payload: bytes, sport: int, dport: int, mtu_data: int = 1480) -> List[bytes]:
    """The IPv4 fragments of one UDP datagram from 127.0.0.1 to 127.0.0.1 (checksums left 0)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    out = []
    for offset in range(0, len(udp), mtu_data):
        piece = udp[offset:offset + mtu_data]
        more = 0x2000 if offset + mtu_data < len(udp) else 0
        out.append(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(piece), 0x1234, more | offset // 8, 64, 17, 0,
                               socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1")) + piece)
    return out


def _ipv6_fragments(payload: bytes, sport: int, dport: int, mtu_data: int = 1448) -> List[bytes]:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    loop = socket.inet_pton(socket.AF_INET6, "::1")
    out = []
    for offset in range(0, len(udp), mtu_data):
        piece = udp[offset:offset + mtu_data]
        more = 1 if offset + mtu_data < len(udp) else 0
        frag = struct.pack("!BBHI", 17, 0, offset | more, 0xABCD)
        out.append(struct.pack("!IHBB", 6 << 28, 8 + len(piece), 44, 64) + loop + loop + frag + piece)
    return out


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_fragmented_datagram_is_replayed_whole(tmp_path: Path, family: str) -> None:
    """A 4000-byte datagram in IP fragments was replayed as its first fragment's 1472 bytes."""
    payload = bytes(range(256)) * 15 + b"end" * 33 + b"!"  # 3940 bytes
    fragments = (_ipv4_fragments if family == "ipv4" else _ipv6_fragments)(payload, 4000, 5000)
    assert len(fragments) == 3
    path = _classic_pcap(tmp_path / "frag.pcap", [_ipv4_fragments(b"before", 4000, 5000)[0], *fragments])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        res = subprocess.run(CLI + ["replay", str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert [rx.recv(70000) for _ in range(2)] == [b"before", payload]
    assert "sent 2 datagrams" in res.stderr
    tshark = shutil.which("tshark")
    if tshark:  # the reference: tshark reassembles the same datagram, at the same (last) fragment
        option = "ip.defragment:TRUE" if family == "ipv4" else "ipv6.defragment:TRUE"
        rows = subprocess.run([tshark, "-r", str(path), "-o", option, "-d", "udp.port==5000,data", "-T", "fields",
                               "-e", "frame.number", "-e", "data"], capture_output=True, text=True).stdout.splitlines()
        theirs = [int(number) for number, data in (row.split("\t") for row in rows) if bytes.fromhex(data) == payload]
        from sotimestamp.pcap import read_records

        ours = [r.number for r in read_records(str(path)) if r.payload == payload]
        assert theirs == ours == [4]


def test_snap_length_cut_payloads_are_refused_naming_the_packet(tmp_path: Path) -> None:
    """A ``tcpdump -s 60`` file's 500-byte payloads went out as 18 bytes, exit status 0."""
    packets = [_ipv4_fragments(b"%03d" % i + b"p" * 497, 4000, 5000)[0] for i in range(3)]
    path = _classic_pcap(tmp_path / "snap60.pcap", packets, snaplen=60)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        res = subprocess.run(CLI + ["replay", str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}"],
                             capture_output=True, text=True, timeout=60)
        rx.setblocking(False)
        with pytest.raises(BlockingIOError):
            rx.recv(70000)  # nothing was sent
    assert res.returncode == 1, res.stderr
    assert "packet 1: only 32 bytes of its 500-byte UDP payload are in the file (3 datagrams cut short" in res.stderr


def test_too_long_for_ipv4_is_counted_and_named(tmp_path: Path) -> None:
    """An IPv6 recording may hold UDP payloads up to 65 527 bytes; IPv4 carries 65 507 at most."""
    v6 = (("::1", 4000), ("::1", 5000))
    big = b"J" * 65_515
    path = write(tmp_path / "v6.pcapng", [(*v6, b"small 0"), (*v6, big), (*v6, b"small 2"), (*v6, big)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        res = subprocess.run(CLI + ["replay", str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}"],
                             capture_output=True, text=True, timeout=60)
        got = [rx.recv(70_000) for _ in range(2)]
    assert got == [b"small 0", b"small 2"]
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "sent 2 datagrams" in res.stderr and "(2 of 4 not sent)" in res.stderr
    assert re.search(r"2 not sent: too long \(Message too long\); the first is packet 2 of the file, "
                     r"at \+0\.002000 s, 65515 bytes", res.stderr), res.stderr


def test_sigterm_ends_a_loop_with_its_summary(tmp_path: Path) -> None:
    v4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))
    path = write(tmp_path / "l.pcapng", [(*v4, b"loop %d" % i) for i in range(5)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        proc = subprocess.Popen(CLI + ["replay", str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--loop"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(12):  # more than two loops have gone out
            rx.recv(2048)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    lines = err.strip().splitlines()
    assert proc.returncode == 128 + signal.SIGTERM and lines[0] == "sotimestamp: interrupted", err
    summary = re.match(r"sotimestamp: sent (\d+) datagrams to 127\.0\.0\.1:\d+ in (\d+) whole loops of 5", lines[1])
    assert summary and int(summary.group(1)) >= 12 and int(summary.group(2)) >= 2, err


def test_sigint_during_a_long_wait_ends_promptly(tmp_path: Path) -> None:
    """A recording with a 60 s pause: the signal does not wait for the next send time."""
    v4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))
    path = write(tmp_path / "w.pcapng", [(*v4, b"before"), (*v4, b"after")], step_ns=60_000_000_000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(10)
        proc = subprocess.Popen(CLI + ["replay", str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert rx.recv(2048) == b"before"
        time.sleep(0.2)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    assert proc.returncode == 130 and "sotimestamp: sent 1 datagrams to " in err, err
