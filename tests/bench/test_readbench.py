"""The reading side of `invoke bench` on a small scale: the figures come out and add up
(the figures themselves are the bench's job)."""
from __future__ import annotations

import shutil
from pathlib import Path

from devtools.pybench import readbench


def test_stats_against_capinfos_gives_a_ratio_and_the_childs_peak(tmp_path: Path) -> None:
    result = readbench.stats_vs_capinfos(tmp_path, n=3000, rounds=2)
    assert result["packets"] == 3000 and len(result["runs"]) == 2
    for run in result["runs"]:
        assert run["stats_s"] > 0 and 5 < run["rss_mb"] < 1000  # a Python process's own peak, in MB
        assert 0 < run["stats_cpu_s"] < 2 * run["stats_s"] + 1  # one thread's user and system time
        if shutil.which("capinfos"):
            assert run["capinfos_s"] > 0 and abs(run["ratio"] - run["stats_s"] / run["capinfos_s"]) < 1e-9
            assert run["cpu_ratio"] == run["stats_cpu_s"] / run["capinfos_cpu_s"]
    lines, verdicts = readbench.report_stats(result)
    assert len([line for line in lines if line.startswith("| ") and line[2].isdigit()]) == 2
    assert any("peak RSS" in v for v in verdicts)


def test_the_long_recording_is_as_varied_as_a_capture(tmp_path: Path) -> None:
    """stats is timed on a file whose stamps go forward with ns jitter, in several flows: the
    earlier generator's "2 us" jitter was 2 ms, so a fifth of its stamps stepped back and the
    forward inter-arrival times had one value (a sort of one value flatters stats' time)."""
    from sotimestamp.pcap.read import read_records

    records = list(read_records(str(readbench.write_recording(tmp_path / "r.pcapng", 5000))))
    stamps = [r.ts_ns for r in records]
    deltas = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(records) == 5000 and min(deltas) > 0 and len(set(deltas)) > 1000
    assert len({r.dst for r in records}) == readbench.FLOWS and {len(r.payload or b"") for r in records} == {64}
    varied = list(read_records(str(readbench.write_recording(tmp_path / "v.pcapng", 5000, sizes=True))))
    assert {len(r.payload or b"") for r in varied} == set(range(28, 209))  # blocks walked one by one


def test_stats_on_both_files_labels_the_varied_one(tmp_path: Path) -> None:
    lines, verdicts = readbench.stats_both_files(tmp_path, n=2000, rounds=1)
    text = "\n".join(lines)
    assert "payloads of 64 bytes" in text and "payloads of 28-208 bytes" in text
    assert len([v for v in verdicts if v.endswith("(payloads of 28-208 bytes)")]) == len(verdicts) // 2


def test_pacing_over_matched_datagrams(tmp_path: Path) -> None:
    out = readbench.measure_pacing(tmp_path, rate=2000, seconds=0.2, realtime=False)
    assert out["rate"] == 2000 and out["received"] == 400 and out["lost"] == 0
    assert 0 <= out["p50_us"] <= out["p99_us"] <= out["max_us"]
    lines, verdicts = readbench.report_pacing([dict(out, target=200.0)], seconds=0.2)
    assert "| 2,000 | recorded | normal | 400 | 0 |" in "\n".join(lines) and "at 2,000/s" in verdicts[0]


def test_pps_pacing_keeps_its_own_schedule(tmp_path: Path) -> None:
    """--pps 2000 of a file recorded at an uneven third of that rate: measured against --pps's
    schedule, the errors are those of pacing (a replay at the recorded pace would be off by
    hundreds of milliseconds by the end)."""
    out = readbench.measure_pacing(tmp_path, rate=2000, seconds=0.5, realtime=False, pps=True)
    assert out["received"] == 1000 and out["lost"] == 0 and out["schedule"] == "--pps 2000"
    assert out["p50_us"] < 5000, out


def test_topspeed_rate_from_the_replay_summary(tmp_path: Path) -> None:
    out = readbench.measure_topspeed(tmp_path, n=3000, size=100)
    assert out["datagrams"] == 3000 and out["rate"] > 1000
    # the summary prints the seconds to 3 decimals: the rate lies within that rounding
    half_ms = 0.0005
    assert out["datagrams"] / (out["seconds"] + half_ms) <= out["rate"] <= out["datagrams"] / (out["seconds"] - half_ms)
    lines, verdicts = readbench.report_replay_rates([out], [])
    assert f"| 1 | {out['seconds']:.2f} | {out['rate']:,.0f} |" in lines and "--topspeed" in verdicts[-1]
