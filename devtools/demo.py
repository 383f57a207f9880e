"""`make demo` / `invoke demo`: a loopback capture -> stats -> replay round trip.

Generated traffic (1 000 datagrams/s with a burst and a 40 ms pause) is
captured with kernel stamps by `sotimestamp capture`, analysed by
`sotimestamp stats`, replayed by `sotimestamp replay` into a second capture,
and the replay's pacing error against the original is printed.  Loopback only.
"""
from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

CLI = [sys.executable, "-m", "sotimestamp"]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def start_capture(args: List[str], port: int, timeout: float = 20.0) -> "subprocess.Popen[bytes]":
    """Run `sotimestamp capture ARGS` and return once it has bound 127.0.0.1:PORT."""
    proc = subprocess.Popen(CLI + ["capture"] + args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                time.sleep(0.2)  # bound: give it a moment to turn stamping on
                return proc
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    raise SystemExit(f"sotimestamp capture did not bind {HOST}:{port}")


def _show(args: List[str], background: bool = False) -> None:
    print("$ sotimestamp " + " ".join(shlex.quote(a) for a in args) + (" &" if background else ""), flush=True)


def _run(args: List[str]) -> None:
    _show(args)
    subprocess.run(CLI + args, check=True)


def _start_capture(port: int, out: Path, count: int) -> "subprocess.Popen[bytes]":
    args = [f"{HOST}:{port}", "--count", str(count), "--duration", "60", "-o", str(out)]
    _show(["capture"] + args, background=True)
    return start_capture(args, port)


def _generate(port: int, count: int) -> None:
    """1 ms spacing, a burst of 50 back-to-back datagrams, and one 40 ms pause."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        start = time.perf_counter()
        t = 0.0
        for i in range(count):
            if i == count // 2:
                t += 0.040
            elif not (count // 4 <= i < count // 4 + 50):
                t += 0.001
            while time.perf_counter() - start < t:
                pass
            s.sendto(b"demo datagram %05d" % i, (HOST, port))


def run(count: int = 1000, keep: Optional[str] = None) -> int:
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="sotimestamp-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    original, replayed = workdir / "original.pcapng", workdir / "replayed.pcapng"

    print(f"== 1. capture {count} generated datagrams on {HOST} with kernel stamps", flush=True)
    port = free_port()
    proc = _start_capture(port, original, count)
    _generate(port, count)
    if proc.wait(timeout=60) != 0:
        raise SystemExit("demo: capture failed")

    print("\n== 2. statistics of the capture", flush=True)
    _run(["stats", str(original)])

    print("\n== 3. replay it at the recorded pace into a second capture", flush=True)
    port2 = free_port()
    proc = _start_capture(port2, replayed, count)
    _run(["replay", str(original), "--to", f"{HOST}:{port2}", "--realtime"])
    if proc.wait(timeout=60) != 0:
        raise SystemExit("demo: capture of the replay failed")

    print("\n== 4. the replay, and its pacing error against the original schedule", flush=True)
    _run(["stats", str(replayed), "--reference", str(original)])
    print(f"\nfiles: {original} {replayed}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
