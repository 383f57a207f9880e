"""How replay waits (its pace itself is measured by `invoke bench`, not here): under
SCHED_FIFO every 50 us gap must contain a real sleep, or the kernel's RT throttling
stops the process for 50 ms each second (the old loop only spun within 300 us)."""
from __future__ import annotations

import time
from typing import List

import pytest

from sotimestamp import replay


def _sleeps_per_wait(realtime: bool, gap_ns: int, waits: int, monkeypatch: pytest.MonkeyPatch) -> List[float]:
    slept: List[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(replay.time, "sleep", recording_sleep)
    pacer = replay.Pacer(realtime, replay.StopRequest())
    for _ in range(waits):
        target = time.perf_counter_ns() + gap_ns
        assert pacer.wait_until(target) >= target  # never early
    return slept


def test_realtime_waits_of_50_us_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _sleeps_per_wait(True, 50_000, 400, monkeypatch)
    blocking = [s for s in slept if s * 1e9 >= replay.RT_MIN_SLEEP_NS]
    assert len(blocking) >= 200, f"{len(blocking)} of 400 waits of 50 us slept"  # a wait runs late only if preempted
    assert all(s * 1e9 <= 50_000 - replay.RT_WAKE_NS for s in slept)  # and wakes before the send time


def test_realtime_never_asks_for_a_sleep_too_short_to_block(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _sleeps_per_wait(True, 30_000, 200, monkeypatch)  # 30 us: 5 us of sleep would be all CPU
    assert slept == [] or all(s * 1e9 >= replay.RT_MIN_SLEEP_NS for s in slept)


def test_normal_scheduling_keeps_its_wide_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _sleeps_per_wait(False, 1_000_000, 20, monkeypatch)
    assert slept and all(s * 1e9 <= 1_000_000 - replay.SPIN_NS for s in slept)


def test_a_long_wait_sleeps_in_slices_a_signal_can_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 60 s gap is slept in slices of SLEEP_SLICE_S, so a stop request that the sleep itself
    does not end (the NetBSD guest: SIGINT did not cut a 60 s sleep short) ends the wait within
    one slice; the handler raises Interrupted between slices, as it does for a real signal."""
    stop = replay.StopRequest()
    pacer = replay.Pacer(False, stop)
    real_sleep = time.sleep
    slices: List[float] = []

    def sleep_that_no_signal_cuts(seconds: float) -> None:
        slices.append(seconds)
        real_sleep(seconds)
        if len(slices) == 2:
            stop(2, None)  # SIGINT's handler, run once the slice is over

    monkeypatch.setattr(replay.time, "sleep", sleep_that_no_signal_cuts)
    started = time.monotonic()
    with pytest.raises(replay.Interrupted):
        pacer.wait_until(time.perf_counter_ns() + 60 * 10**9)
    assert time.monotonic() - started < 2 * replay.SLEEP_SLICE_S + 0.5
    assert all(s <= replay.SLEEP_SLICE_S for s in slices) and len(slices) == 2


def test_lateness_percentiles_to_the_microsecond_in_fixed_memory() -> None:
    """Replay kept every lateness in a list (memory growing with the file); the histogram
    gives the nearest-rank percentile rounded up to the microsecond, and says when it is
    beyond its last bucket instead of inventing a figure."""
    late = replay.Lateness()
    for ns in [500] * 98 + [7_300, 9_999]:
        late.add(ns)
    assert late.percentile_us(50) == 1.0 and late.percentile_us(99) == 8.0 and late.percentile_us(100) == 9.999
    assert late.max_ns == 9_999 and late.describe(99) == "8.0 us"
    late.add(10**9)  # a second late: past the last bucket
    for _ in range(2):
        late.add(10**9)
    assert late.percentile_us(99) == float("inf") and late.describe(99) == f"over {replay.Lateness.BUCKETS} us"
    assert len(late.counts) == replay.Lateness.BUCKETS + 1
