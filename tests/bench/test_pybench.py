"""`invoke bench`'s own code on a small scale: each measurement runs and
gives figures that can be checked (the figures themselves are the bench's
job, not a test's)."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.pybench import bench as pybench


def test_pacing_measures_every_replayed_datagram(tmp_path: Path) -> None:
    out = pybench.measure_pacing(tmp_path, rate=1000, seconds=0.2, realtime=False)
    assert out["received"] == 200 and out["scheduling"] == "normal"
    assert 0 <= out["min_us"] <= out["p50_us"] <= out["max_us"]


def test_each_receive_path_drains_what_was_queued() -> None:
    for mode in pybench.MODES:  # 100 small datagrams fit any default receive buffer
        result = pybench.worker(mode, 100, 2)
        assert result["datagrams"] == 200 and float(result["seconds"]) > 0, (mode, result)  # type: ignore[arg-type]


def test_capture_write_path_is_measured(tmp_path: Path) -> None:
    assert pybench.measure_capture_write(tmp_path, batches=5) > 0


def test_capture_knee_trial_counts_every_datagram(tmp_path: Path) -> None:
    """One short trial per receiver at a rate any machine holds: all received, none dropped,
    and the achieved rate is the sender's (the knee search itself needs 10 s trials)."""
    from devtools.pybench import capture_knee

    bins = capture_knee.build(tmp_path)
    if bins is None:
        pytest.skip("the capture knee needs Linux and a C compiler")
    for receiver in ("c", "capture"):
        t = capture_knee.trial(receiver, bins, 64, 5_000, 0.4, tmp_path)
        assert t.sent == 2_000 and t.clean, (receiver, t)
        assert 4_000 < t.achieved < 6_000, (receiver, t)
    knee = capture_knee.Knee("capture", 64, [t, capture_knee.Trial(7_500, 7_490, 10, 9, 1)])
    assert knee.rate == t.achieved and not knee.sender_bound  # stopped at a drop
    short = capture_knee.Knee("c", 64, [t, capture_knee.Trial(7_500, 6_000, 10, 10, 0)])
    assert short.rate == 6_000 and short.sender_bound  # stopped where the sender fell short
    short_and_dropping = capture_knee.Knee("c", 64, [t, capture_knee.Trial(7_500, 6_000, 10, 9, 1)])
    assert short_and_dropping.rate == t.achieved and not short_and_dropping.sender_bound
    assert "| 1 | 64 B |" in capture_knee.table([{"c 64": knee, "capture 64": knee}], 0.4)
