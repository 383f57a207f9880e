"""What capture writes is what it received, when it received it (issue 20, items 1-3).

Each test drives the real command on loopback and reads the file with tshark:
received datagrams reach the disk within a second and survive SIGHUP and
SIGKILL; each datagram's real destination, TTL and TOS are recorded (not the
bound address, 64 and 0); an IPv4 sender on a dual-stack socket is IPv4.
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from conftest import need_tool
from test_cli import CLI, start_capture

LINUX = sys.platform.startswith("linux")


def tshark_fields(path: Path, port: int, *fields: str) -> List[List[str]]:
    """One row per packet of ``path``: the ``fields`` tshark dissects (a file still being
    written, or one a SIGKILL ended, is read up to its last whole block)."""
    tshark = need_tool("tshark")
    res = subprocess.run([tshark, "-r", str(path), "-d", f"udp.port=={port},data", "-T", "fields",
                          "-E", "separator=|", *[x for f in fields for x in ("-e", f)]],
                         capture_output=True, text=True)
    return [line.split("|") for line in res.stdout.splitlines()]


def test_slow_stream_is_on_disk_within_a_second_and_survives_sigkill(tmp_path: Path) -> None:
    """At 20 datagrams/s the socket is never idle for 100 ms: the old writer kept every block
    in memory (256 KiB, ~80 s of this stream), and SIGKILL lost them all."""
    out = tmp_path / "slow.pcapng"
    snapshot = tmp_path / "snapshot.pcapng"
    proc, port = start_capture("127.0.0.1:0", out)
    sent_at = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(60):  # 3 s at 20/s
                tx.sendto(b"slow %02d" % i, ("127.0.0.1", port))
                sent_at.append(time.monotonic())
                time.sleep(0.05)
                if i == 49:  # the file as it is while the stream goes on (tshark would take a while to start)
                    shutil.copyfile(out, snapshot)
                    due = sum(1 for t in sent_at if time.monotonic() - t > 1.2)  # 1 s, the 0.1 s wait, slack
        on_disk = tshark_fields(snapshot, port, "data")
        assert len(on_disk) >= due > 20, f"{len(on_disk)} of the {due} datagrams sent over 1.2 s ago were on disk"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    payloads = [bytes.fromhex(row[0]) for row in tshark_fields(out, port, "data")]
    assert payloads == [b"slow %02d" % i for i in range(len(payloads))] and len(payloads) >= due


def test_packet_buffered_hands_each_datagram_to_a_pipe_at_once(tmp_path: Path) -> None:
    """``-U`` (as tcpdump's): a reader of ``-o -`` sees each datagram as it comes."""
    proc = subprocess.Popen(CLI + ["capture", "127.0.0.1:0", "-U", "-o", "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = b""
        while not line.endswith(b"\n"):
            if not select.select([proc.stderr], [], [], 20)[0]:
                raise AssertionError(f"no 'capturing on' line: {line!r}")
            byte = os.read(proc.stderr.fileno(), 1)
            assert byte, f"capture ended: {line!r}"
            line += byte
        port = int(line.decode().split()[3].rpartition(":")[2])
        head = os.read(proc.stdout.fileno(), 65536)  # the section and interface blocks
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"at once", ("127.0.0.1", port))
        seen = b""
        deadline = time.monotonic() + 0.3
        while b"at once" not in head + seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert b"at once" in head + seen, "the datagram did not reach the pipe within 0.3 s"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_wildcard_capture_records_each_datagrams_destination(tmp_path: Path) -> None:
    """Bound to 0.0.0.0, datagrams to 127.0.0.1 and 127.0.0.2 were both written as sent to 0.0.0.0."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # NetBSD's rc.d/network rejects 127/8 but for 127.0.0.1
            probe.sendto(b"", ("127.0.0.2", 9))
        except OSError as exc:
            pytest.skip(f"127.0.0.2 is not reachable here ({exc.strerror}): no second local address")
    out = tmp_path / "any.pcapng"
    proc, port = start_capture("0.0.0.0:0", out, "--count", "2")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for host in ("127.0.0.1", "127.0.0.2"):
            tx.sendto(b"to " + host.encode(), (host, port))
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rows = tshark_fields(out, port, "ip.dst", "udp.dstport", "data")
    assert [(dst, int(dport), bytes.fromhex(data)) for dst, dport, data in rows] == [
        ("127.0.0.1", port, b"to 127.0.0.1"), ("127.0.0.2", port, b"to 127.0.0.2")]


def test_dual_stack_capture_writes_ipv4_senders_as_ipv4(tmp_path: Path) -> None:
    """``[::]:P`` wrote an IPv4 sender as ``::ffff:127.0.0.1 -> ::``."""
    out = tmp_path / "dual.pcapng"
    try:
        proc, port = start_capture("[::]:0", out, "--count", "2")
    except AssertionError as exc:
        pytest.skip(f"no IPv6 here: {exc}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.bind(("127.0.0.1", 0))
        tx.sendto(b"v4", ("127.0.0.1", port))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as tx6:
        tx6.sendto(b"v6", ("::1", port))
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rows = tshark_fields(out, port, "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "data")
    assert rows == [["127.0.0.1", "127.0.0.1", "", "", b"v4".hex()], ["", "", "::1", "::1", b"v6".hex()]]


@pytest.mark.skipif(not LINUX, reason="IP_MULTICAST_ALL is Linux's (the BSDs deliver a socket's own groups only)")
def test_group_capture_turns_multicast_all_off(tmp_path: Path) -> None:
    """Linux delivers every group any process joined to a wildcard-bound socket while
    IP_MULTICAST_ALL is on (its default): a group capture must turn it off."""
    from sotimestamp.capture import capture
    from sotimestamp.endpoint import Endpoint

    seen: List[int] = []

    def ready(sock: socket.socket) -> None:
        seen.append(sock.getsockopt(socket.IPPROTO_IP, 49))  # IP_MULTICAST_ALL
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"x", ("127.0.0.1", sock.getsockname()[1]))

    try:
        capture(Endpoint("0.0.0.0", 0), str(tmp_path / "g.pcapng"), group="239.1.2.4", count=1, progress=False,
                ready=ready)
    except OSError as exc:
        pytest.skip(f"cannot join 239.1.2.4 here: {exc}")
    assert seen == [0]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_ttl_and_tos_are_the_senders(tmp_path: Path, host: str) -> None:
    """A sender with TTL 7 and TOS 0xb8 (DSCP EF) was written as 64 and 0x00."""
    v6 = ":" in host
    out = tmp_path / "ttl.pcapng"
    proc, port = start_capture(f"[{host}]:0" if v6 else f"{host}:0", out, "--count", "1")
    with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM) as tx:
        if v6:
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 7)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xB8)
        else:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 7)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xB8)
        tx.sendto(b"ef", (host, port))
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    fields = ("ipv6.hlim", "ipv6.tclass") if v6 else ("ip.ttl", "ip.dsfield")
    [(ttl, tos)] = [tuple(row) for row in tshark_fields(out, port, *fields)]
    assert (int(ttl), int(tos, 16)) == (7, 0xB8)
    info = subprocess.run([need_tool("capinfos"), str(out)], capture_output=True, text=True).stdout
    # the interface description says which header fields are the sender's and which are rebuilt
    assert "rebuilt" in info and "TTL" in info and "identification 0" in info, info
