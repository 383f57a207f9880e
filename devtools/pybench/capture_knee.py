"""`invoke bench`'s capture knee: the highest rate `sotimestamp capture` records with no
kernel drop for SECONDS, next to a C recvmmsg receiver under the same sender.

A trial: a receiver on 127.0.0.1 (either `sotimestamp capture ... --json`, or
bench/recvmmsg_live.c, which reads every stamp but writes nothing), then
bench/udp_blast.c sends SIZE-byte datagrams at RATE/s for SECONDS on an
absolute 1 ms schedule.  It passes when the receiver got every datagram sent
and the kernel dropped none (SO_MEMINFO).  The search multiplies the rate by
STEP while trials pass, then bisects between the last pass and the first
failure.  The sender shares the machine: when it cannot reach the rate asked
(a loaded machine), the achieved rate is what counts, the search stops there
and the row is marked "sender-bound": the receiver's knee is at least that.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools import config
from sotimestamp.cli import CAPTURING

PROJECT = Path(__file__).resolve().parents[2]
BENCH_SRC = PROJECT / "py-sotimestamp" / "bench"
RCVBUF = 8 << 20  # both receivers ask for the same buffer (as root: SO_RCVBUFFORCE)
STEP = 1.5
BISECTIONS = 2
START = {64: 100_000, 1400: 50_000}


@dataclass
class Trial:
    rate: float  # asked
    achieved: float  # sent / the sender's seconds
    sent: int
    received: int
    dropped: int

    @property
    def clean(self) -> bool:
        return self.dropped == 0 and self.received == self.sent


@dataclass
class Knee:
    receiver: str
    size: int
    trials: list[Trial] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The highest achieved rate of a clean trial (0 if none was)."""
        return max((t.achieved for t in self.trials if t.clean), default=0.0)

    @property
    def sender_bound(self) -> bool:
        """The search stopped because the sender fell short of the rate asked, not at a drop."""
        last = self.trials[-1] if self.trials else None
        return last is not None and last.clean and last.achieved < 0.95 * last.rate


def build(workdir: Path) -> dict[str, Path] | None:
    cc = config.host_cc()
    if not cc or not sys.platform.startswith("linux"):
        return None
    out = {}
    for name in ("udp_blast", "recvmmsg_live"):
        out[name] = workdir / name
        subprocess.run([cc, "-O2", "-Wall", "-o", str(out[name]), str(BENCH_SRC / f"{name}.c")], check=True)
    return out


def fifo_prefix() -> list[str]:
    """`chrt -f 10` where it works (root), for the drains (bench.py) and here: the background
    load then cannot preempt sender or receiver, and the knee is the receiver's, not the machine's
    load's.  Here, not in bench.py, which imports this module: no import cycle."""
    chrt = shutil.which("chrt")
    if chrt and subprocess.run([chrt, "-f", "10", "true"], capture_output=True).returncode == 0:
        return [chrt, "-f", "10"]
    return []


def _start_capture(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    """`sotimestamp capture ARGS` (stdout and stderr piped) and its port, once it says it is capturing."""
    proc = subprocess.Popen([*fifo_prefix(), sys.executable, "-m", "sotimestamp", "capture", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    ready = CAPTURING.match(line)
    if not ready:
        proc.kill()
        raise RuntimeError(f"capture did not start: {line.strip()} {proc.communicate()[1].strip()}")
    return proc, int(ready.group("port"))


def _blast(bins: dict[str, Path], port: int, size: int, rate: float, seconds: float) -> tuple[int, float]:
    res = subprocess.run([*fifo_prefix(), str(bins["udp_blast"]), "127.0.0.1", str(port), str(size), f"{rate:.0f}", str(seconds)],
                         capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return int(out["sent"]), float(out["seconds"])


def trial(receiver: str, bins: dict[str, Path], size: int, rate: float, seconds: float, workdir: Path) -> Trial:
    if receiver == "c":
        proc = subprocess.Popen([*fifo_prefix(), str(bins["recvmmsg_live"]), str(RCVBUF), "1"], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        sent, spent = _blast(bins, port, size, rate, seconds)
        out = json.loads(proc.communicate(timeout=60)[0].strip().splitlines()[-1])
        received, dropped = int(out["received"]), int(out["dropped"])
    else:
        capture, port = _start_capture(["127.0.0.1:0", "--buffer-size", str(RCVBUF), "--json",
                                        "-o", str(workdir / "knee.pcapng")])
        sent, spent = _blast(bins, port, size, rate, seconds)
        time.sleep(0.5)  # what is queued still drains after SIGINT, but let the loop catch up
        capture.send_signal(signal.SIGINT)
        stdout, _err = capture.communicate(timeout=60)
        out = json.loads(stdout)
        received, dropped = int(out["captured"]), int(out["kernel_dropped"] or 0)
    return Trial(rate, sent / spent, sent, received, dropped)


def knee(receiver: str, bins: dict[str, Path], size: int, seconds: float, workdir: Path,
         start: float | None = None, log: bool = True) -> Knee:
    """Raise the rate by STEP while trials are clean, then bisect BISECTIONS times."""
    result = Knee(receiver, size)

    def run(rate: float) -> Trial:
        t = trial(receiver, bins, size, rate, seconds, workdir)
        result.trials.append(t)
        if log:
            print(f"  knee {receiver} {size} B: asked {t.rate:,.0f}/s, sent {t.achieved:,.0f}/s, "
                  f"received {t.received}/{t.sent}, dropped {t.dropped}", file=sys.stderr)
        return t

    rate = start or START.get(size, 50_000)
    good, bad = 0.0, None
    while bad is None:
        t = run(rate)
        if not t.clean:
            bad = rate
        elif t.achieved < 0.95 * rate:
            return result  # clean, but the sender cannot go faster on this machine
        else:
            good, rate = rate, rate * STEP
    for _ in range(BISECTIONS):
        rate = (good + bad) / 2
        if run(rate).clean:
            good = rate
        else:
            bad = rate
    return result


def run(seconds: float = 10.0, runs: int = 3, sizes: tuple[int, ...] = (64, 1400)) -> list[dict[str, Knee]] | None:
    """``runs`` rounds; in each, for each size, the C receiver's knee then capture's (side by side)."""
    with tempfile.TemporaryDirectory() as tmp:
        bins = build(Path(tmp))
        if bins is None:
            return None
        rounds: list[dict[str, Knee]] = []
        for _ in range(runs):
            row: dict[str, Knee] = {}
            for size in sizes:
                for receiver in ("c", "capture"):
                    row[f"{receiver} {size}"] = knee(receiver, bins, size, seconds, Path(tmp))
            rounds.append(row)
    return rounds


def table(rounds: list[dict[str, Knee]], seconds: float) -> str:
    fifo = " sender and receivers under SCHED_FIFO (chrt -f 10)," if fifo_prefix() else ""
    lines = [f"Capture knee: the highest rate received with 0 kernel drops over {seconds:g} s "
             f"(127.0.0.1, paced C sender,{fifo} {RCVBUF >> 20} MiB receive buffers, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f}):", "",
             "| run | size | C recvmmsg loop /s | sotimestamp capture /s | capture / C |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for i, row in enumerate(rounds, 1):
        for size in sorted({k.size for k in row.values()}):
            c, py = row[f"c {size}"], row[f"capture {size}"]
            ratio = f"{py.rate / c.rate:.0%}" if c.rate else "-"
            mark = lambda k: f"{k.rate:,.0f}" + (" (sender-bound)" if k.sender_bound else "")  # noqa: E731
            lines.append(f"| {i} | {size} B | {mark(c)} | {mark(py)} | {ratio} |")
    return "\n".join(lines)


@dataclass
class FeedsRotation:
    """A capture of two feeds rotating its file every second (issue 21's bench)."""

    rate: float  # asked, both feeds together
    achieved: float
    sent: int
    captured: int  # the capture's summary
    dropped: int  # by the kernel
    in_files: int  # datagrams capinfos counts over every rotated file
    files: int
    unreadable: list[str] = field(default_factory=list)  # files capinfos refused

    @property
    def clean(self) -> bool:
        return self.dropped == 0 and self.captured == self.sent == self.in_files and not self.unreadable


def feeds_rotation(bins: dict[str, Path], workdir: Path, rate: float = 250_000, seconds: float = 5.0,
                   size: int = 64) -> FeedsRotation:
    """`sotimestamp capture 127.0.0.1:0 127.0.0.1:0 -G 1`, each feed blasted at ``rate``/2 by its own
    C sender for ``seconds``; every rotated file read back with capinfos: 0 drops and 0 lost at a
    rotation when the summary, the senders and the files all agree."""
    out = workdir / "feeds.pcapng"
    proc = subprocess.Popen([*fifo_prefix(), sys.executable, "-m", "sotimestamp", "capture", "127.0.0.1:0",
                             "127.0.0.1:0", "-G", "1", "--buffer-size", str(RCVBUF), "--json", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    ports = []
    for _ in range(2):
        ready = CAPTURING.match(proc.stderr.readline())
        if not ready:
            proc.kill()
            raise RuntimeError(f"capture did not start: {proc.communicate()[1].strip()}")
        ports.append(int(ready.group("port")))
    senders = [subprocess.Popen([*fifo_prefix(), str(bins["udp_blast"]), "127.0.0.1", str(port), str(size),
                                 f"{rate / 2:.0f}", str(seconds)], stdout=subprocess.PIPE, text=True)
               for port in ports]
    results = [json.loads(p.communicate(timeout=seconds + 60)[0].strip().splitlines()[-1]) for p in senders]
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    summary = json.loads(proc.communicate(timeout=60)[0])
    sent = sum(int(r["sent"]) for r in results)
    spent = max(float(r["seconds"]) for r in results)
    in_files, unreadable = 0, []
    for path in summary["files"]:
        info = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True)
        if info.returncode != 0:
            unreadable.append(path)
            continue
        in_files += int(info.stdout.split("Number of packets:")[1].split()[0])
    return FeedsRotation(rate, sent / spent, sent, int(summary["captured"]), int(summary["kernel_dropped"] or 0),
                         in_files, len(summary["files"]), unreadable)


def feeds_rotation_runs(runs: int = 3, rate: float = 250_000, seconds: float = 5.0) -> list[FeedsRotation] | None:
    with tempfile.TemporaryDirectory() as tmp:
        bins = build(Path(tmp))
        if bins is None or shutil.which("capinfos") is None:
            return None
        found = []
        for i in range(runs):
            run_dir = Path(tmp) / f"run{i}"
            run_dir.mkdir()
            found.append(feeds_rotation(bins, run_dir, rate, seconds))
        return found


def feeds_rotation_table(found: list[FeedsRotation], seconds: float = 5.0) -> str:
    lines = [f"Two feeds in one file, a new file every second (-G 1), {seconds:g} s of 64-byte datagrams "
             f"from two paced C senders on 127.0.0.1 ({os.cpu_count()} CPUs, load average "
             f"{os.getloadavg()[0]:.1f}):", "",
             "| run | asked /s | sent /s | sent | captured | kernel dropped | in the files (capinfos) | files |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for i, r in enumerate(found, 1):
        lines.append(f"| {i} | {r.rate:,.0f} | {r.achieved:,.0f} | {r.sent} | {r.captured} | {r.dropped} | "
                     f"{r.in_files}{' (unreadable: ' + ', '.join(r.unreadable) + ')' if r.unreadable else ''} "
                     f"| {r.files} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["feeds"]:
        rows = feeds_rotation_runs()
        print(feeds_rotation_table(rows) if rows else "feeds bench: needs Linux, a C compiler and capinfos")
        sys.exit(0 if rows and all(r.clean for r in rows) else 1)
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    found = run(secs)
    print(table(found, secs) if found else "capture knee: needs Linux and a C compiler")
