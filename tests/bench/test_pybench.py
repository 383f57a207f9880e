"""`invoke bench`'s own code on a small scale: each measurement runs and
gives figures that can be checked (the figures themselves are the bench's
job, not a test's)."""
from __future__ import annotations

from pathlib import Path

from devtools import pybench


def test_pacing_measures_every_replayed_datagram(tmp_path: Path) -> None:
    out = pybench.measure_pacing(tmp_path, rate=1000, seconds=0.2, realtime=False)
    assert out["received"] == 200 and out["scheduling"] == "normal"
    assert 0 <= out["min_us"] <= out["p50_us"] <= out["max_us"]


def test_each_receive_path_drains_what_was_queued() -> None:
    for mode in pybench.MODES:  # 100 small datagrams fit any default receive buffer
        result = pybench.worker(mode, 100, 2)
        assert result["datagrams"] == 200 and float(result["seconds"]) > 0, (mode, result)  # type: ignore[arg-type]
