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
