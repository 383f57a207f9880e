"""`invoke bench`: py-sotimestamp's receive paths against a C recvmmsg loop, and replay pacing.

Receive rate: K stamped 64-byte datagrams are queued on a loopback socket, then
drained; only the drain is timed (the capacity of the receive path, with the
sender out of the picture), ROUNDS times.  System calls per datagram: the same
drain run once under `strace -c -f`, counting the receive-side calls (recvfrom,
recvmsg, recvmmsg, poll/select).  Replay pacing at 20 000 and 1 000 datagrams/s
with and without --realtime, --pps 20000, --topspeed's rate, and `stats` against capinfos:
devtools/pybench/readbench.py.
Linux's own stamping cost: the guest benchmark's program (sys/new/tests/net/timestamp/bench/
tstamp_bench.c, the same K, sizes and rounds) built and run on this host, so that its drain on/off
ratios stand next to the NetBSD guest's (docs/verification.md).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from devtools import config
from devtools.pybench import capture_knee, readbench

PROJECT = Path(__file__).resolve().parents[2]
C_SOURCE = PROJECT / "py-sotimestamp" / "bench" / "recvmmsg_loop.c"
# The guest's stamping benchmark, which builds on Linux too.
STAMP_BENCH = PROJECT / "sys" / "new" / "tests" / "net" / "timestamp" / "bench" / "tstamp_bench.c"
RECV_SYSCALLS = "recvfrom,recvmsg,recvmmsg,poll,ppoll,select,pselect6"
MODES = ["naive", "recv", "recv_batch", "recv_batch_pktinfo", "capture", "capture_no_header_fields"]
REPEATS = 5
LABELS = {
    "naive": "Python recvfrom + time.time_ns() (no kernel stamp)",
    "recv": "sotimestamp.recv",
    "recv_batch": "sotimestamp.recv_batch (64)",
    # a second control message per datagram: the slot-by-slot path (FreeBSD always takes it)
    "recv_batch_pktinfo": "sotimestamp.recv_batch (64) with IP_PKTINFO",
    # capture's loop: recv_batch with the drop counter, pcapng blocks written to a file
    "capture": "sotimestamp capture's loop (recvmmsg slots to pcapng blocks in a file, capture's batch)",
    # the same without the TTL/TOS messages capture asks for since issue 20: what recording them costs
    "capture_no_header_fields": "sotimestamp capture's loop without the TTL/TOS messages",
}
#: issue 20's receive-rate targets, shares of the C loop's rate in the same round
TARGETS = {"recv_batch": 0.60, "capture": 0.51}
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # CPython leaves it out on Linux


# --- the measured loops (run in a child process: `python -m devtools.pybench.bench worker MODE K ROUNDS`) ---

def _receiver(mode: str) -> socket.socket:
    import sotimestamp

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # Linux SO_RCVBUFFORCE (33): past rmem_max, needs root
        rx.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)
    except OSError:
        sotimestamp.grow_rcvbuf(rx, 256 << 20)
    rx.bind(("127.0.0.1", 0))
    if mode != "naive":
        sotimestamp.enable(rx)
    if mode == "recv_batch_pktinfo":
        rx.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    time.sleep(0.02)  # as the C loop waits: Linux turns RX stamping on from a workqueue
    # A blocking socket, as a plain receive loop has (a Python timeout would add a
    # poll() per datagram); SO_RCVTIMEO only ends the drain if datagrams were lost.
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 2, 0))
    return rx


def worker(mode: str, k: int, rounds: int) -> Dict[str, object]:
    import sotimestamp

    from sotimestamp import capture
    from sotimestamp.pcap import PcapngWriter
    from sotimestamp.recorder import Recorder, enable_header_messages

    rx = _receiver(mode)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = rx.getsockname()
    out = tempfile.TemporaryFile(buffering=0)  # a file, as capture writes one (deleted on exit)
    writer = PcapngWriter(out, flush_interval=0.5)  # type: ignore[arg-type]
    recorder = Recorder(rx, writer, dest)
    if mode.startswith("capture"):  # the socket as capture sets it up: drop counter, header fields
        sotimestamp.core.enable_drop_count(rx)
        if mode == "capture":
            enable_header_messages(rx)
    payload = b"x" * 64
    total = 0
    spent = 0.0
    for _ in range(rounds):
        for _ in range(k):
            tx.sendto(payload, dest)
        got = 0
        start = time.perf_counter()
        try:
            if mode == "naive":
                stamps = []
                while got < k:
                    rx.recvfrom(2048)
                    stamps.append(time.time_ns())
                    got += 1
            elif mode == "recv":
                while got < k:
                    sotimestamp.recv(rx, 2048)
                    got += 1
            elif mode.startswith("capture"):
                while got < k:  # capture's batch and slot size
                    got += recorder.record_batch(min(capture.BATCH, k - got), capture.MAX_DATAGRAM)
                writer.flush()
            else:
                while got < k:
                    got += len(sotimestamp.recv_batch(rx, min(64, k - got), 2048))
        except (socket.timeout, BlockingIOError):
            pass  # the queue held fewer than k (a small rmem_max): count what came
        spent += time.perf_counter() - start
        total += got
    return {"mode": mode, "datagrams": total, "seconds": spent}


# --- orchestration ---------------------------------------------------------------

def build_c(workdir: Path) -> Optional[Path]:
    cc = config.host_cc()
    if not cc or not sys.platform.startswith("linux"):
        return None
    binary = workdir / "recvmmsg_loop"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(C_SOURCE)], check=True)
    return binary


def _command(mode: str, k: int, rounds: int, c_binary: Optional[Path]) -> List[str]:
    if mode == "c":
        assert c_binary is not None
        return [str(c_binary), str(k), str(rounds), "64"]
    return [sys.executable, "-m", "devtools.pybench.bench", "worker", mode, str(k), str(rounds)]


def measure_rate(mode: str, k: int, rounds: int, c_binary: Optional[Path]) -> Dict[str, float]:
    out = subprocess.run(capture_knee.fifo_prefix() + _command(mode, k, rounds, c_binary), cwd=PROJECT, check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {"datagrams": data["datagrams"], "rate": data["datagrams"] / data["seconds"]}


def measure_syscalls(mode: str, k: int, c_binary: Optional[Path]) -> Optional[float]:
    strace = shutil.which("strace")
    if strace is None:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
        res = subprocess.run([strace, "-c", "-f", "-e", f"trace={RECV_SYSCALLS}", "-o", log.name]
                             + _command(mode, k, 1, c_binary), cwd=PROJECT, capture_output=True, text=True)
        if res.returncode != 0:
            return None
        datagrams = json.loads(res.stdout.strip().splitlines()[-1])["datagrams"]
        text = log.read()
    match = re.search(r"^-+.*\n\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total", text, re.M)
    calls = int(match.group(1)) if match else 0
    return calls / datagrams if datagrams else None


def measure_capture_write(workdir: Path, batches: int = 300) -> float:
    """Microseconds per datagram for capture's write path: IP+UDP packet, EPB, file write."""
    from sotimestamp.pcap import HeaderFields, PcapngWriter
    from sotimestamp.stampsource import StampSource

    to = HeaderFields(("127.0.0.1", 5000), 64, 0)
    rows = [(time.time_ns() + i, StampSource.SOFTWARE, ("127.0.0.1", 4000), to, b"x" * 64) for i in range(64)]
    best = float("inf")
    with PcapngWriter(open(workdir / "write.pcapng", "wb", buffering=0)) as writer:
        for _ in range(REPEATS):
            start = time.perf_counter()
            for _ in range(batches):
                writer.write_rows(rows, len(rows))
            writer.flush()
            best = min(best, (time.perf_counter() - start) / (batches * len(rows)) * 1e6)
    return best


# Replay pacing (and stats against capinfos) is measured by the reading side's bench.
measure_pacing = readbench.measure_pacing


def receive_rates(modes: List[str], k: int, rounds: int,
                  c_binary: Optional[Path]) -> Tuple[Dict[str, float], Dict[str, float]]:
    """REPEATS interleaved drains of each mode: the median rate, and the median of each round's
    rate over the C loop's in the same round."""
    runs: Dict[str, List[float]] = {mode: [] for mode in modes}
    for attempt in range(REPEATS):  # interleaved, so that load drifting over time hits every path alike
        for mode in modes:
            rate = measure_rate(mode, k, rounds, c_binary)["rate"]
            runs[mode].append(rate)
            print(f"  run {attempt + 1}/{REPEATS} {mode}: {rate:,.0f} datagrams/s", file=sys.stderr)
    best = {mode: statistics.median(rates) for mode, rates in runs.items()}
    shares = {mode: statistics.median(r / c for r, c in zip(runs[mode], runs.get("c", runs[mode])))
              for mode in modes}
    return best, shares


def capture_rates(k: int = 20000, rounds: int = 5, runs: int = 1) -> int:
    """Only the receive rates of the C loop, recv_batch and capture's loop with and without the
    header-field messages, side by side, ``runs`` times (one line each, and issue 20's targets;
    a quick check that a change to the receive path kept its speed):
    `python -m devtools.pybench.bench rates [RUNS]`."""
    modes = ["recv_batch", "capture", "capture_no_header_fields"]
    with tempfile.TemporaryDirectory() as tmp:
        c_binary = build_c(Path(tmp))
        modes = (["c"] if c_binary else []) + modes
        for run_number in range(1, runs + 1):
            best, shares = receive_rates(modes, k, rounds, c_binary)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"run {run_number} ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average {load:.1f}): "
                  + "  ".join(f"{mode} {best[mode]:,.0f}/s ({shares[mode]:.0%})" for mode in modes), flush=True)
            if c_binary:
                print("  " + "; ".join(target_verdicts(shares)), flush=True)
    return 0


def target_verdicts(shares: Dict[str, float]) -> List[str]:
    """Issue 20's receive-rate targets against the median per-round shares of the C loop."""
    return [f"{mode} at {100 * shares[mode]:.0f} % of the C loop (target >= {100 * floor:.0f} %): "
            + ("met" if shares[mode] >= floor else "MISSED") for mode, floor in TARGETS.items() if mode in shares]


def host_stamping(workdir: Path) -> List[str]:
    """Linux's own SO_TIMESTAMPING/SO_TIMESTAMPNS/SO_TIMESTAMP drain on/off and TX record cost: the
    guest benchmark's @@BENCH lines, from its program built for this host (empty off Linux)."""
    cc = config.host_cc()
    if not cc or not sys.platform.startswith("linux"):
        return []
    binary = workdir / "tstamp_bench"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(STAMP_BENCH)], check=True)
    out = subprocess.run(capture_knee.fifo_prefix() + [str(binary)], check=True, capture_output=True,
                         text=True).stdout
    return [line.removeprefix("@@BENCH ") for line in out.splitlines() if line.startswith("@@BENCH ")]


def run(k: int = 20000, rounds: int = 5, knee_seconds: float = 10.0) -> int:
    """Run everything and print a Markdown table (README figures)."""
    with tempfile.TemporaryDirectory() as tmp:
        c_binary = build_c(Path(tmp))
        modes = (["c"] if c_binary else []) + MODES
        best, shares = receive_rates(modes, k, rounds, c_binary)
        calls = {mode: measure_syscalls(mode, k, c_binary) for mode in modes}
        pacing = readbench.pacing_runs(Path(tmp))
        replay_rates = ([readbench.measure_topspeed(Path(tmp))], readbench.pps_runs(Path(tmp)))
        reading = readbench.stats_both_files(Path(tmp))
        write_us = measure_capture_write(Path(tmp))
        stamping = host_stamping(Path(tmp))
    knees = capture_knee.run(knee_seconds)
    feeds = capture_knee.feeds_rotation_runs()
    ceiling = best.get("c")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nReceive paths, {k} x 64-byte stamped datagrams queued on 127.0.0.1, drained {rounds} times, "
          f"median of {REPEATS} interleaved runs{' under SCHED_FIFO (chrt -f 10)' if capture_knee.fifo_prefix() else ''} "
          f"({os.cpu_count()} CPUs, load average {load:.1f}):\n")
    print("| receive path | datagrams/s | % of C loop (median of per-round ratios) | syscalls/datagram |")
    print("| --- | ---: | ---: | ---: |")
    for mode in modes:
        label = "C recvmmsg loop (batch 64, ceiling)" if mode == "c" else LABELS[mode]
        pct = f"{100 * shares[mode]:.0f} %" if ceiling else "-"
        per = calls[mode]
        print(f"| {label} | {best[mode]:,.0f} | {pct} | {'n/a (no strace)' if per is None else f'{per:.4f}'} |")
    verdicts = []
    for lines, said in (readbench.report_pacing(pacing), readbench.report_replay_rates(*replay_rates), reading):
        print("\n" + "\n".join(lines))
        verdicts += said
    print(f"\nCapture write path (IP+UDP packet, pcapng block, file write): {write_us:.2f} us/datagram, "
          f"about {1e6 / write_us:,.0f} datagrams/s on top of the receive path.")
    if stamping:
        print("\nThis host's own stamping cost (the guest benchmark's program, tstamp_bench.c, built here: "
              "the same K, sizes and rounds as `invoke bench --guest`):\n")
        print("\n".join(f"    {line}" for line in stamping))
    if knees:
        print("\n" + capture_knee.table(knees, knee_seconds))
    if feeds:
        print("\n" + capture_knee.feeds_rotation_table(feeds))
        for row in feeds:
            verdicts.append(f"two feeds, -G 1, asked {row.rate:,.0f}/s, sent {row.achieved:,.0f}/s: {row.dropped} "
                            f"dropped, {row.captured - row.in_files} lost at the rotations of {row.files} files "
                            f"(target 0 and 0 at "
                            f"250 000/s): " + ("met" if row.clean and row.achieved >= 0.95 * 250_000
                                              else "sender-bound" if row.clean else "MISSED"))
    per = calls.get("recv_batch")
    if per is not None:
        verdicts.append(f"recv_batch syscalls/datagram {per:.4f} (target <= {1 / 32:.4f}): "
                        + ("met" if per <= 1 / 32 else "MISSED"))
    if ceiling:
        verdicts += target_verdicts(shares)
    if "recv_batch_pktinfo" in shares:
        slow = shares["recv_batch_pktinfo"] / shares["recv_batch"]
        verdicts.append(f"recv_batch with IP_PKTINFO at {100 * slow:.0f} % of recv_batch's rate (target >= 50 %): "
                        + ("met" if slow >= 0.5 else "MISSED"))
    for row in knees or []:
        for size, floor in ((64, 400_000), (1400, 150_000)):
            c, py = row.get(f"c {size}"), row.get(f"capture {size}")
            if c is None or py is None:
                continue
            target = min(floor, 0.4 * c.rate) if size == 64 else floor
            verdicts.append(f"capture knee {size} B {py.rate:,.0f}/s (target >= {target:,.0f}/s"
                            + (", the lower of 400 000 and 40 % of the C loop" if size == 64 else "") + "): "
                            + ("met" if py.rate >= target else "sender-bound" if py.sender_bound else "MISSED"))
    print()
    for line in verdicts:
        print("- " + line)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "worker":
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    elif sys.argv[1:2] == ["rates"]:
        sys.exit(capture_rates(runs=int(sys.argv[2]) if len(sys.argv) > 2 else 1))
    else:
        sys.exit(run())
