"""Pure statistics: percentiles, gaps, the replay pacing error."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

from sotimestamp.pcap import PcapngWriter, Record, build_datagram, encode_epb
from sotimestamp.stats import (
    Ordered,
    compute,
    percentile,
    schedule_errors,
    summarize,
    summarize_ordered,
    summarize_sorted,
)


def rec(i: int, ts: int) -> Record:
    return Record(i, ts, "software", b"p", ("127.0.0.1", 1), ("127.0.0.1", 2))


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert summarize([1000, 3000])["mean_us"] == 2.0


def test_counted_and_sorted_orders_give_the_same_figures() -> None:
    """Ordered counts values that repeat (Counter) and sorts the rest: the percentiles and the
    counts above a limit are those of the sorted list either way."""
    import random

    draw = random.Random(7)
    for values in ([draw.randrange(8000, 12000) for _ in range(200_000)],  # few distinct: counted
                   [draw.randrange(10**9) for _ in range(50_000)],  # all distinct: sorted
                   [5] * 1000, [3]):
        ordered, plain = Ordered(values), sorted(values)
        assert summarize_ordered(ordered) == summarize_sorted(plain)
        for limit in (0, 5, 9000, 11_999, 10**9):
            assert ordered.above(limit) == sum(v > limit for v in plain)
    assert Ordered([draw.randrange(8000, 12000) for _ in range(200_000)]).cumulative is not None


def test_compute_counts_gaps_and_rate() -> None:
    stamps = [i * 1_000_000 for i in range(100)]
    stamps[50:] = [s + 20_000_000 for s in stamps[50:]]  # one 21 ms gap before packet 50
    stats = compute("f", [rec(i, t) for i, t in enumerate(stamps)])
    assert stats.packets == 100 and stats.gap_count == 1
    assert stats.gaps[0].number == 51 and stats.gaps[0].gap_us == 21_000.0
    assert stats.inter_arrival["p50_us"] == 1000.0
    assert abs(stats.duration_s - 0.119) < 1e-9 and abs(stats.rate_per_s - 99 / 0.119) < 1e-6


def test_schedule_errors_ignore_constant_delay_and_speed() -> None:
    reference = [i * 2_000_000 for i in range(10)]
    observed = [5_000 + i * 1_000_000 for i in range(10)]  # replayed at 2x, 5 us later
    assert schedule_errors(reference, observed, speed=2.0) == [0] * 10
    observed[3] += 70_000  # one datagram 70 us late
    errors = schedule_errors(reference, observed, speed=2.0)
    assert errors[3] == 70_000 and errors.count(0) == 9
    late_first = [reference[0] + 900_000] + reference[1:]  # a late first datagram shifts nothing else
    assert schedule_errors(reference, late_first).count(0) == 9


# --- issue 20 item 5: UDP only, per flow, never a negative duration --------------------------

def _write(path: Path, rows: List[Tuple[Tuple, Tuple, int]], payload: bytes = b"d") -> Path:
    with PcapngWriter(open(path, "wb")) as writer:
        for src, dst, ts in rows:
            writer.write(payload, src, dst, ts, "software")
    return path


def _stats_json(path: Path) -> Dict[str, Any]:
    res = subprocess.run([sys.executable, "-m", "sotimestamp", "stats", "--json", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_concatenated_files_give_the_span_and_report_the_step_back(tmp_path: Path) -> None:
    """``cat u6.pcapng u4.pcapng`` (u4 recorded 85 s earlier) gave 'duration -84.44 s' and a
    mean inter-arrival of -105682 us; capinfos says 85.09 s."""
    base = 1764128000 * 10**9
    v6 = (("::1", 4000), ("::1", 5000))
    v4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))
    u6 = _write(tmp_path / "u6.pcapng", [(*v6, base + 84_000_000_000 + i * 10_000_000) for i in range(100)])
    u4 = _write(tmp_path / "u4.pcapng", [(*v4, base + i * 10_000_000) for i in range(100)])
    joined = tmp_path / "c.pcapng"
    joined.write_bytes(u6.read_bytes() + u4.read_bytes())
    data = _stats_json(joined)
    assert data["udp_datagrams"] == 200
    assert abs(data["duration_s"] - 84.99) < 1e-9  # earliest to latest stamp
    capinfos = shutil.which("capinfos")
    if capinfos:
        out = subprocess.run([capinfos, "-u", "-M", str(joined)], capture_output=True, text=True).stdout
        assert "84.99" in out, out  # capinfos' "Capture duration"
    assert data["inter_arrival"]["min_us"] == data["inter_arrival"]["mean_us"] == 10_000.0
    steps = data["clock_steps_back"]
    assert steps["count"] == 1 and steps["number"] == 101 and abs(steps["largest_s"] - 84.99) < 1e-9, steps
    flows = {f["flow"]: f for f in data["flows"]}
    assert flows["[::1]:4000 > [::1]:5000"]["datagrams"] == flows["127.0.0.1:4000 > 127.0.0.1:5000"]["datagrams"] == 100
    assert all(abs(f["duration_s"] - 0.99) < 1e-9 and f["steps_back"] == 0 for f in flows.values())


def test_other_protocols_are_counted_not_timed(tmp_path: Path) -> None:
    """TCP and ICMP packets and later IP fragments were timed as if they were datagrams of the stream."""
    udp = build_datagram(("192.0.2.1", 7), ("192.0.2.2", 9), b"u")
    tcp = bytearray(udp)
    tcp[9] = 6  # the same packet, as TCP
    later_fragment = bytearray(udp)
    later_fragment[6:8] = b"\x00\xb9"  # fragment offset 185 x 8
    path = tmp_path / "mixed.pcapng"
    with PcapngWriter(open(path, "wb")) as writer:
        stamps = [10**18 + i * 1_000_000 for i in range(10)]
        for i, ts in enumerate(stamps):
            writer._put(encode_epb(udp, ts, "c"), 1)
            writer._put(encode_epb(bytes(tcp), ts + 1, "c"), 1)  # 1 ns after: would make the median 0.001 us
            writer._put(encode_epb(bytes(later_fragment), ts + 2, "c"), 1)
    data = _stats_json(path)
    assert data["packets"] == 30 and data["udp_datagrams"] == 10
    assert data["inter_arrival"]["p50_us"] == data["inter_arrival"]["min_us"] == 1000.0
    assert abs(data["rate_per_s"] - 9 / 0.009) < 1e-6
