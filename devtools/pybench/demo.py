"""`make demo` / `invoke demo`: a loopback capture -> stats -> replay round trip.

Generated traffic (1 000 datagrams/s with a burst and a 40 ms pause) is
captured with kernel stamps by `sotimestamp capture`, analysed by
`sotimestamp stats`, replayed by `sotimestamp replay` into a second capture,
and the replay's pacing error against the original is printed.  Loopback only.
"""
from __future__ import annotations

import select
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

from sotimestamp.cli import CAPTURING

CLI = [sys.executable, "-m", "sotimestamp"]
HOST = "127.0.0.1"


def start_capture(args: List[str], timeout: float = 20.0) -> Tuple["subprocess.Popen[str]", int]:
    """Run `sotimestamp capture ARGS`; return it and its port once it says it is capturing.

    The capture binds port 0 and says which port the kernel chose: no port is
    picked here and raced for.  Its summary is shown by `_finish`.
    """
    proc = subprocess.Popen(CLI + ["capture"] + args, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline() if select.select([proc.stderr], [], [], timeout)[0] else ""
    ready = CAPTURING.match(line)
    if not ready:
        proc.kill()
        proc.wait()
        raise SystemExit(f"demo: sotimestamp capture did not start: {line.strip() or f'silent for {timeout:.0f} s'}")
    sys.stderr.write(line)
    return proc, int(ready.group("port"))


def _show(args: List[str], background: bool = False) -> None:
    print("$ sotimestamp " + " ".join(shlex.quote(a) for a in args) + (" &" if background else ""), flush=True)


def _run(args: List[str]) -> None:
    _show(args)
    subprocess.run(CLI + args, check=True)


def _start_capture(out: Path, count: int) -> Tuple["subprocess.Popen[str]", int]:
    args = [f"{HOST}:0", "--count", str(count), "--duration", "60", "-o", str(out)]
    _show(["capture"] + args, background=True)
    return start_capture(args)


def _finish(proc: "subprocess.Popen[str]", what: str) -> None:
    """Wait for a capture and show its summary line."""
    # wait, then read the pipe through the same buffered stream that read
    # the "capturing on" line (its summary is all that follows: no deadlock)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SystemExit(f"demo: {what} did not end within 60 s")
    assert proc.stderr is not None
    sys.stderr.write(proc.stderr.read())
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"demo: {what} failed")


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
    proc, port = _start_capture(original, count)
    _generate(port, count)
    _finish(proc, "capture")

    print("\n== 2. statistics of the capture", flush=True)
    _run(["stats", str(original)])

    print("\n== 3. replay it at the recorded pace into a second capture", flush=True)
    proc, port2 = _start_capture(replayed, count)
    _run(["replay", str(original), "--to", f"{HOST}:{port2}", "--realtime"])
    _finish(proc, "capture of the replay")

    print("\n== 4. the replay, and its pacing error against the original schedule", flush=True)
    _run(["stats", str(replayed), "--reference", str(original)])
    print(f"\nfiles: {original} {replayed}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
