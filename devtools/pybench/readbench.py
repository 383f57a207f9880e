"""`invoke bench`, the reading side: `sotimestamp stats` on a long recording next to capinfos,
and `sotimestamp replay`'s pacing with and without --realtime.

stats and capinfos read the same generated file (N datagrams of 64 bytes at 100 000/s with
jitter) in the same round, one after the other, ROUNDS times: the ratio of the
two times is what is judged, since other load on the machine slows both alike.
Peak memory is the stats process's own (``os.wait4``'s rusage of that child),
not the largest child the bench ever had (``RUSAGE_CHILDREN``).

Pacing: a generated recording at RATE datagrams/s is replayed by `sotimestamp
replay` into `sotimestamp capture` (two processes, as a user runs them); the
error is each arrival stamp minus the recorded schedule, over the datagrams
matched by payload (a datagram the capture lost does not shift the rest).
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROUNDS = 3
TARGET_RATIO = 1.5  # issue 21: with per-flow figures
TARGET_RSS_MB = 100.0
# (datagrams/s, --realtime, p99 target in us or None): the issue's two targets, and their counterparts
PACING_RUNS = [(20_000, True, 100.0), (20_000, False, None), (1_000, False, 200.0), (1_000, True, None)]


#: The long recording's flows: four feeds of one sender, as an A/B market-data capture has.
FLOWS = 4


def write_recording(path: Path, n: int, step_ns: int = 10_000, flows: int = FLOWS, sizes: bool = False) -> Path:
    """N datagrams ``step_ns`` apart with 0 to 2 us of jitter (so the stamps go forward), spread
    over ``flows`` destinations in a scrambled order: inter-arrival times as varied as captured
    ones, per flow too (sorting them is a part of stats' time; a few distinct values would flatter it).
    Payloads of 64 bytes (a feed of fixed-size messages: blocks of one size, which the reader takes
    as strided columns), or with ``sizes`` of 28 to 208 bytes (blocks walked to find where each
    begins, their fields gathered)."""
    from sotimestamp.pcap import HeaderFields, PcapngWriter
    from sotimestamp.stampsource import StampSource

    base = time.time_ns()
    src = ("127.0.0.1", 4000)
    to = [HeaderFields((f"239.1.1.{k + 1}", 5000 + k)) for k in range(flows)]
    draw = random.Random(n).randrange  # the same file for the same n, run after run
    with PcapngWriter(open(path, "wb")) as writer:
        for start in range(0, n, 1000):
            stop = min(n, start + 1000)
            writer.write_rows([(base + i * step_ns + draw(2001), StampSource.SOFTWARE, src, to[draw(flows)],
                                b"%08d" % i + b"x" * (draw(20, 201) if sizes else 56)) for i in range(start, stop)],
                              stop - start)
    return path


def _timed(argv: List[str]) -> Tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MB), exit status and CPU seconds (user + system) of one child
    running ``argv``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux and NetBSD (bytes on macOS)
    rss_mb = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return seconds, rss_mb, proc.returncode, usage.ru_utime + usage.ru_stime


def stats_vs_capinfos(workdir: Path, n: int = 1_000_000, rounds: int = ROUNDS, sizes: bool = False) -> Dict[str, Any]:
    """Per round: stats and capinfos seconds, wall and CPU, their ratios, and stats' peak RSS
    (``sizes``: of a file of varied payload sizes).  The CPU ratio is the steadier one on a
    shared machine: waiting for a CPU is not counted."""
    path = write_recording(workdir / "long.pcapng", n, sizes=sizes)
    capinfos = shutil.which("capinfos")
    runs: List[Dict[str, Optional[float]]] = []
    for _ in range(rounds):
        stats_s, rss_mb, status, stats_cpu = _timed([sys.executable, "-m", "sotimestamp", "stats", str(path)])
        if status != 0:
            raise RuntimeError(f"sotimestamp stats {path} exited {status}")
        cap_s, _rss, _status, cap_cpu = _timed([capinfos, str(path)]) if capinfos else (None, 0.0, 0, None)
        runs.append({"stats_s": stats_s, "capinfos_s": cap_s, "ratio": stats_s / cap_s if cap_s else None,
                     "stats_cpu_s": stats_cpu, "capinfos_cpu_s": cap_cpu,
                     "cpu_ratio": stats_cpu / cap_cpu if cap_cpu else None, "rss_mb": rss_mb})
    return {"packets": n, "bytes": path.stat().st_size, "runs": runs, "sizes": "28-208" if sizes else "64"}


def report_stats(result: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """Markdown lines for the README, and the verdicts."""
    lines = [f"`sotimestamp stats` on {result['packets']:,} datagrams of {FLOWS} flows, payloads of "
             f"{result.get('sizes', '64')} bytes ({result['bytes'] / 2**20:.0f} MiB pcapng, per-flow figures "
             "printed) next to `capinfos` on the "
             f"same file, same round ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}):", "",
             "| round | stats s | capinfos s | ratio | stats CPU s | capinfos CPU s | CPU ratio | stats peak RSS MB |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def figure(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.2f}"

    for i, run in enumerate(result["runs"], 1):
        lines.append(f"| {i} | {run['stats_s']:.2f} | {figure(run['capinfos_s'])} | {figure(run['ratio'])} | "
                     f"{run['stats_cpu_s']:.2f} | {figure(run['capinfos_cpu_s'])} | {figure(run['cpu_ratio'])} | "
                     f"{run['rss_mb']:.0f} |")
    worst_rss = max(r["rss_mb"] for r in result["runs"])
    verdicts = [f"stats peak RSS {worst_rss:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB): "
                + ("met" if worst_rss <= TARGET_RSS_MB else "MISSED")]
    for key, kind in (("ratio", "time"), ("cpu_ratio", "CPU time")):
        ratios = sorted(r[key] for r in result["runs"] if r[key] is not None)
        if ratios:
            median = ratios[len(ratios) // 2]
            verdicts.append(f"stats at {median:.2f}x capinfos' {kind}, median of {len(ratios)} rounds "
                            f"(target <= {TARGET_RATIO:g}x): " + ("met" if median <= TARGET_RATIO else "MISSED"))
    return lines, verdicts


def stats_both_files(workdir: Path, n: int = 1_000_000, rounds: int = ROUNDS) -> Tuple[List[str], List[str]]:
    """:func:`report_stats` of the 64-byte file and of the one of varied sizes, one after the other."""
    lines, verdicts = report_stats(stats_vs_capinfos(workdir, n, rounds))
    varied_lines, varied_verdicts = report_stats(stats_vs_capinfos(workdir, n, rounds, sizes=True))
    return lines + [""] + varied_lines, verdicts + [v + " (payloads of 28-208 bytes)" for v in varied_verdicts]


def measure_pacing(workdir: Path, rate: int = 1000, seconds: float = 3.0, realtime: bool = True,
                   pps: bool = False) -> Dict[str, Any]:
    """|arrival stamp - schedule| percentiles (us) of one replay at ``rate``, how many arrived,
    and the scheduling the replay got.  The schedule is the recording's, or with ``pps``
    `--pps RATE`'s, of a recording made at an uneven third of that rate (so that only --pps
    can keep the time)."""
    from devtools.pybench.demo import start_capture
    from sotimestamp.matching import match
    from sotimestamp.pcap import PcapngWriter, read_records
    from sotimestamp.stats import schedule_errors, summarize

    n = int(rate * seconds)
    step = 1_000_000_000 // rate
    base = time.time_ns()
    original = workdir / f"pace-{rate}-{realtime}-{pps}.pcapng"
    with PcapngWriter(open(original, "wb")) as writer:
        for i in range(n):
            recorded = base + (i * 3 + i % 7) * step if pps else base + i * step
            writer.write(b"pace %d" % i, ("127.0.0.1", 9), ("127.0.0.1", 9), recorded, "software")
    again = workdir / f"again-{rate}-{realtime}-{pps}.pcapng"
    cli = [sys.executable, "-m", "sotimestamp"]
    capture, port = start_capture(["127.0.0.1:0", "--count", str(n), "--duration", str(seconds + 30),
                                   "-o", str(again)])
    replay = subprocess.run(cli + ["replay", str(original), "--to", f"127.0.0.1:{port}"]
                            + (["--realtime"] if realtime else []) + (["--pps", str(rate)] if pps else []),
                            capture_output=True, text=True, check=True)
    capture.communicate(timeout=seconds + 60)
    sent = [(i, base + i * step, b"pace %d" % i) for i in range(n)]
    arrived = [(r.index, r.ts_ns, r.payload) for r in read_records(str(again)) if r.payload is not None]
    matched = match(sent, arrived)
    errors = schedule_errors(matched.reference_ns, matched.observed_ns)
    out: Dict[str, Any] = dict(summarize([abs(e) for e in errors]))
    out.update(rate=rate, received=len(arrived), lost=len(matched.lost),
               scheduling="SCHED_FIFO" if "SCHED_FIFO" in replay.stderr else "normal",
               schedule=f"--pps {rate}" if pps else "recorded")
    return out


def pacing_runs(workdir: Path, seconds: float = 3.0) -> List[Dict[str, Any]]:
    return [dict(measure_pacing(workdir, rate, seconds, realtime), target=target)
            for rate, realtime, target in PACING_RUNS]


def report_pacing(runs: List[Dict[str, Any]], seconds: float = 3.0) -> Tuple[List[str], List[str]]:
    lines = [f"Replay pacing for {seconds:g} s, |arrival stamp - schedule| over the datagrams matched by payload "
             "(schedule start aligned on the median error):", "",
             "| datagrams/s | schedule | scheduling | received | lost | p50 us | p99 us | max us | target p99 |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    verdicts = []
    for p in runs:
        target = p["target"]
        lines.append(f"| {p['rate']:,} | {p['schedule']} | {p['scheduling']} | {p['received']} | {p['lost']} | "
                     f"{p['p50_us']:.1f} | {p['p99_us']:.1f} | {p['max_us']:.1f} | "
                     f"{'-' if target is None else f'<= {target:.0f} us'} |")
        if target is not None:
            verdicts.append(f"replay p99 {p['p99_us']:.1f} us at {p['rate']:,}/s with {p['scheduling']} "
                            f"(target <= {target:.0f} us): " + ("met" if p["p99_us"] <= target else "MISSED"))
    return lines, verdicts


# --- issue 21's replay figures: --topspeed's rate and --pps 20000's pacing -----------------

#: (datagrams/s, --realtime): `replay --pps` runs, next to the recorded-schedule ones above
PPS_RUNS = [(20_000, False), (20_000, True)]


def pps_runs(workdir: Path, seconds: float = 3.0) -> List[Dict[str, Any]]:
    return [dict(measure_pacing(workdir, rate, seconds, realtime, pps=True), target=None)
            for rate, realtime in PPS_RUNS]


def measure_topspeed(workdir: Path, n: int = 100_000, size: int = 300) -> Dict[str, Any]:
    """`replay --topspeed` of ``n`` datagrams of ``size`` bytes to a loopback socket that does
    not read them (the kernel drops what its buffer cannot hold): the rate the replay's own
    summary gives, datagrams sent over the seconds from the first send to the last."""
    import re
    import socket

    from sotimestamp.pcap import HeaderFields, PcapngWriter
    from sotimestamp.stampsource import StampSource

    original = workdir / f"topspeed-{n}.pcapng"
    base, src, to = time.time_ns(), ("127.0.0.1", 4000), HeaderFields(("127.0.0.1", 5000))
    with PcapngWriter(open(original, "wb")) as writer:
        for start in range(0, n, 1000):
            stop = min(n, start + 1000)
            writer.write_rows([(base + i * 10_000, StampSource.SOFTWARE, src, to, (b"%08d" % i).ljust(size, b"x"))
                               for i in range(start, stop)], stop - start)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        res = subprocess.run([sys.executable, "-m", "sotimestamp", "replay", str(original), "--topspeed", "--to",
                              f"127.0.0.1:{sink.getsockname()[1]}"], capture_output=True, text=True, check=True)
    found = re.search(r"sent (\d+) datagrams .* in ([\d.]+) s, ([\d.]+) datagrams/s", res.stderr)
    if not found:
        raise RuntimeError(f"replay --topspeed gave no summary: {res.stderr.strip()}")
    return {"datagrams": int(found.group(1)), "seconds": float(found.group(2)), "rate": float(found.group(3)),
            "size": size, "file_mb": original.stat().st_size / 2**20}


def report_replay_rates(topspeed: List[Dict[str, Any]], pps: List[Dict[str, Any]],
                        seconds: float = 3.0) -> Tuple[List[str], List[str]]:
    """The README lines of --topspeed's rate (one row a run) and --pps's pacing."""
    first = topspeed[0]
    lines = [f"`replay --topspeed` of {first['datagrams']:,} datagrams of {first['size']} bytes "
             f"({first['file_mb']:.0f} MiB pcapng) to a loopback socket, the rate of the replay's summary:", "",
             "| run | seconds | datagrams/s |", "| ---: | ---: | ---: |"]
    lines += [f"| {i} | {t['seconds']:.2f} | {t['rate']:,.0f} |" for i, t in enumerate(topspeed, 1)]
    pacing_lines, _none = report_pacing(pps, seconds)
    verdicts = [f"replay --pps {p['rate']} with {p['scheduling']} scheduling: p99 {p['p99_us']:.1f} us, "
                f"{p['lost']} lost" for p in pps]
    verdicts.append("replay --topspeed: " + ", ".join(f"{t['rate']:,.0f}/s" for t in topspeed))
    return lines + [""] + pacing_lines, verdicts


def issue21(runs: int = 3) -> int:
    """Issue 21's figures, ``runs`` times in one go (`python -m devtools.pybench.readbench issue21`):
    stats next to capinfos, capture of two feeds rotating every second, replay --topspeed and
    --pps 20000.  Prints Markdown for the README and the verdicts."""
    import tempfile

    from devtools.pybench import capture_knee

    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"\n### Run {run} of {runs} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                  f"load average {os.getloadavg()[0]:.1f})\n", flush=True)
            stats_lines, verdicts = stats_both_files(Path(tmp))
            feeds = capture_knee.feeds_rotation_runs(runs=1)
            replay_lines, replay_verdicts = report_replay_rates([measure_topspeed(Path(tmp))], pps_runs(Path(tmp)))
            print("\n".join(stats_lines + [""] + replay_lines))
            if feeds:
                print("\n" + capture_knee.feeds_rotation_table(feeds))
                verdicts += [f"two feeds, -G 1, sent {r.achieved:,.0f}/s: {r.dropped} dropped by the kernel, "
                             f"{r.captured - r.in_files} of the {r.captured} captured lost at the rotations "
                             f"({r.files} files)" for r in feeds]
            print("\n" + "\n".join("- " + v for v in verdicts + replay_verdicts), flush=True)
    return 0


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        if sys.argv[1:2] == ["issue21"]:
            sys.exit(issue21(int(sys.argv[2]) if len(sys.argv) > 2 else 3))
        if sys.argv[1:2] == ["pacing"]:
            lines, verdicts = report_pacing(pacing_runs(Path(tmp)))
        else:
            lines, verdicts = report_stats(stats_vs_capinfos(Path(tmp), int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
        print("\n".join(lines + [""] + ["- " + v for v in verdicts]))
