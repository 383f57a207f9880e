"""Pure statistics: percentiles, gaps, the replay pacing error."""
from __future__ import annotations

from sotimestamp.pcap import Record
from sotimestamp.stats import compute, percentile, schedule_errors, summarize


def rec(i: int, ts: int) -> Record:
    return Record(i, ts, "software", b"p", ("127.0.0.1", 1), ("127.0.0.1", 2))


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert summarize([1000, 3000])["mean_us"] == 2.0


def test_compute_counts_gaps_and_rate() -> None:
    stamps = [i * 1_000_000 for i in range(100)]
    stamps[50:] = [s + 20_000_000 for s in stamps[50:]]  # one 21 ms gap before packet 50
    stats = compute("f", [rec(i, t) for i, t in enumerate(stamps)])
    assert stats.packets == 100 and stats.gap_count == 1
    assert stats.gaps[0].index == 50 and stats.gaps[0].gap_us == 21_000.0
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
