"""`sotimestamp replay` when sends fail or a signal ends it: counted, the first failing
datagram named, a summary printed either way, and an exit status that says so."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
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


def test_refused_sends_are_counted_and_the_first_named(tmp_path: Path) -> None:
    v4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))
    path = write(tmp_path / "r.pcapng", [(*v4, b"to nobody %d" % i) for i in range(20)])
    res = subprocess.run(CLI + ["replay", str(path), "--to", f"127.0.0.1:{free_udp_port()}"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    sent = re.search(r"sent (\d+) datagrams to 127\.0\.0\.1:\d+ \((\d+) of 20 not sent\)", res.stderr)
    refused = re.search(r"(\d+) not sent: refused \(Connection refused\); the first is packet (\d+) of the file, "
                        r"at \+(\d+\.\d+) s, (\d+) bytes", res.stderr)
    assert sent and refused, res.stderr
    # The first send goes out (its ICMP error comes back); a later one reports it.
    first = int(refused.group(2))
    assert first >= 1 and abs(float(refused.group(3)) - first * 0.002) < 1e-6
    assert int(refused.group(4)) == len(b"to nobody %d" % first)
    assert int(sent.group(1)) + int(refused.group(1)) == 20 and sent.group(2) == refused.group(1)


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
    assert re.search(r"2 not sent: too long \(Message too long\); the first is packet 1 of the file, "
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
    summary = re.match(r"sotimestamp: sent (\d+) datagrams to 127\.0\.0\.1:\d+ \((\d+) whole loops\)", lines[1])
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
