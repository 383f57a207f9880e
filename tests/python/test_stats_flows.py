"""`sotimestamp stats` per flow (issue 21): datagrams and bytes as `tshark -z conv,udp` counts
them, gaps with tshark's frame numbers, sequence gaps in a payload counter, --flow/--from/--to
as the matching tshark display filter keeps them, --json per flow and --csv per datagram."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from sotimestamp.pcap import PcapngWriter, build_datagram, encode_epb

from conftest import need_tool

CLI = [sys.executable, "-m", "sotimestamp"]
BASE = 1764128000_000000000
A = (("10.0.0.1", 4000), ("239.1.1.1", 5000))
B = (("10.0.0.1", 4001), ("239.1.1.2", 5001))
C = (("fe80::1", 4002), ("ff12::1", 6000))
NAMES = {A: "10.0.0.1:4000 > 239.1.1.1:5000", B: "10.0.0.1:4001 > 239.1.1.2:5001",
         C: "[fe80::1]:4002 > [ff12::1]:6000"}


def stats(*args: str) -> subprocess.CompletedProcess:
    res = subprocess.run(CLI + ["stats", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def stats_json(*args: str) -> Dict[str, Any]:
    return json.loads(stats("--json", *args).stdout)


def fields(tshark: str, path: Path, *names: str, display_filter: str = "") -> List[List[str]]:
    cmd = [tshark, "-r", str(path), "-T", "fields", *sum((["-e", n] for n in names), [])]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def three_flows(path: Path) -> Path:
    """60 datagrams, A, B, C in turn every 1 ms, a counter (big-endian, at byte 4) per flow;
    A skips its counter values 7 and 12-14 and has a 50 ms gap before its 15th datagram;
    one TCP packet among them (counted, not timed)."""
    counters = {A: 0, B: 0, C: 0}
    with PcapngWriter(open(path, "wb")) as writer:
        ts = BASE
        for i in range(60):
            flow = (A, B, C)[i % 3]
            counters[flow] += 1
            if flow == A and counters[A] in (7, 12):
                counters[A] += 1 if counters[A] == 7 else 3
            if flow == A and counters[A] == 18:
                ts += 50_000_000
            payload = b"hdr:" + counters[flow].to_bytes(4, "big") + b"p" * (i % 5)
            writer.write(payload, flow[0], flow[1], ts, "software")
            if i == 30:
                tcp = bytearray(build_datagram(("192.0.2.1", 7), ("192.0.2.2", 9), b"t"))
                tcp[9] = 6
                writer._put(encode_epb(bytes(tcp), ts + 1, "c"), 1)
            ts += 1_000_000
    return path


def test_per_flow_counts_and_bytes_match_tshark_conv_udp(tmp_path: Path) -> None:
    tshark = need_tool("tshark")
    path = three_flows(tmp_path / "f.pcapng")
    out = subprocess.run([tshark, "-r", str(path), "-q", "-z", "conv,udp"], capture_output=True, text=True,
                         check=True).stdout
    theirs = {}
    for m in re.finditer(r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+\d+ \d+ bytes\s+\d+ \d+ bytes\s+(\d+) (\d+) bytes",
                         out, re.M):
        theirs[(m.group(1), int(m.group(2)), m.group(3), int(m.group(4)))] = (int(m.group(5)), int(m.group(6)))
    assert len(theirs) == 3, out
    data = stats_json(str(path))
    assert data["packets"] == 61 and data["udp_datagrams"] == 60
    ours = {}
    for flow in data["flows"]:
        src, dst = flow["flow"].split(" > ")
        (sh, sp), (dh, dp) = (end.rsplit(":", 1) for end in (src, dst))
        ours[(sh.strip("[]"), int(sp), dh.strip("[]"), int(dp))] = (flow["datagrams"], flow["bytes"])
        for key in ("mean_us", "p50_us", "p99_us", "max_us"):
            assert key in flow["inter_arrival"], flow
        assert flow["rate_per_s"] > 0 and flow["bits_per_s"] > 0
    assert ours == theirs


def test_gaps_per_flow_with_tshark_frame_numbers(tmp_path: Path) -> None:
    """Flow A's one gap over 10 ms is at the frame tshark finds after its 10 ms+ delta."""
    tshark = need_tool("tshark")
    path = three_flows(tmp_path / "f.pcapng")
    rows = fields(tshark, path, "frame.number", "frame.time_delta_displayed",
                  display_filter="ip.dst == 239.1.1.1 && udp.dstport == 5000")
    theirs = [int(n) for n, delta in rows if float(delta) > 0.010]
    assert len(theirs) == 1
    flow = next(f for f in stats_json("--gap", "10000", str(path))["flows"] if f["flow"] == NAMES[A])
    assert flow["gap_count"] == 1 and [g["number"] for g in flow["gaps"]] == theirs
    assert abs(flow["gaps"][0]["gap_us"] - 53_000.0) < 1e-6  # 3 ms apart plus the 50 ms


def test_sequence_gaps_in_a_payload_counter(tmp_path: Path) -> None:
    """Counter values 7, 12, 13, 14 of flow A are missing: 4 in 2 gaps, at the packets where
    tshark's udp.payload shows the counter jump; B and C lose none."""
    tshark = need_tool("tshark")
    path = three_flows(tmp_path / "f.pcapng")
    rows = fields(tshark, path, "frame.number", "udp.payload", display_filter="udp.srcport == 4000")
    counters = [(int(n), int(payload[8:16], 16)) for n, payload in rows]
    jumps = [n for (n, value), (_m, before) in zip(counters[1:], counters) if value != before + 1]
    data = stats_json("--seq-offset", "4", "--seq-size", "4", "--seq-endian", "big", str(path))
    flows = {f["flow"]: f["sequence"] for f in data["flows"]}
    assert flows[NAMES[A]]["missing"] == 4 and flows[NAMES[A]]["gap_count"] == 2
    assert [g["number"] for g in flows[NAMES[A]]["gaps"]] == jumps
    assert [(g["expected"], g["got"]) for g in flows[NAMES[A]]["gaps"]] == [(7, 8), (12, 15)]
    assert flows[NAMES[B]]["missing"] == flows[NAMES[C]]["missing"] == 0
    text = stats("--seq-offset", "4", str(path)).stdout
    assert "sequence 4 missing in 2 gaps" in text, text
    little = stats_json("--seq-offset", "4", "--seq-endian", "little", str(path))  # the wrong order: gaps everywhere
    assert all(f["sequence"]["gap_count"] > 0 for f in little["flows"])


def test_csv_per_datagram_matches_tshark_fields(tmp_path: Path) -> None:
    tshark = need_tool("tshark")
    path = three_flows(tmp_path / "f.pcapng")
    table = tmp_path / "s.csv"
    stats("--csv", str(table), str(path))
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    theirs = fields(tshark, path, "frame.number", "frame.time_epoch", "udp.length", "frame.comment",
                    display_filter="udp")
    assert len(rows) == len(theirs) == 60
    for row, (number, epoch, udp_length, comment) in zip(rows, theirs):
        assert int(row["packet"]) == int(number)
        seconds, _dot, fraction = epoch.partition(".")
        assert int(row["ts_ns"]) == int(seconds) * 10**9 + int(fraction.ljust(9, "0"))
        assert int(row["length"]) == int(udp_length) - 8
        assert "sotimestamp: ts=" + row["stamp_source"] == comment
        assert row["flow"] in NAMES.values()


@pytest.mark.parametrize("options,display_filter", [
    (["--flow", "dst=239.1.1.2"], "ip.dst == 239.1.1.2"),
    (["--flow", "port=6000", "--flow", "src=10.0.0.1:4000"], "udp.port == 6000 || udp.srcport == 4000"),
    (["--from", "0.010", "--to", "0.030"], "udp && frame.time_relative >= 0.010 && frame.time_relative <= 0.030"),
    (["--from", "2025-11-26T03:33:20.020Z", "--flow", "port=5001"],
     "udp.port == 5001 && frame.time_epoch >= 1764128000.020"),
])
def test_display_filter_keeps_what_tshark_keeps(tmp_path: Path, options: List[str], display_filter: str) -> None:
    tshark = need_tool("tshark")
    path = three_flows(tmp_path / "f.pcapng")
    theirs = [int(n) for (n,) in fields(tshark, path, "frame.number", display_filter=display_filter)]
    data = stats_json(*options, str(path))
    table = tmp_path / "s.csv"
    stats("--csv", str(table), *options, str(path))
    with open(table, newline="") as f:
        ours = [int(row["packet"]) for row in csv.DictReader(f)]
    assert ours == theirs and data["udp_datagrams"] == len(theirs) and data["left_out"] == 60 - len(theirs)


def test_a_filter_that_keeps_nothing_is_an_error(tmp_path: Path) -> None:
    path = three_flows(tmp_path / "f.pcapng")
    res = subprocess.run(CLI + ["stats", "--flow", "port=1", str(path)], capture_output=True, text=True)
    assert res.returncode == 1 and "none of its 60 UDP datagrams is chosen" in res.stderr, res.stderr
    res = subprocess.run(CLI + ["stats", "--flow", "host=1.2.3.4", str(path)], capture_output=True, text=True)
    assert res.returncode == 2 and "terms are src=" in res.stderr, res.stderr


@pytest.mark.parametrize("extension", [".svg", ".png"])
def test_plot_per_flow_names_the_flows(tmp_path: Path, extension: str) -> None:
    """--plot draws one row per flow, titled with its name (SVG keeps its text, so the names are
    found in the file; a PNG is a PNG), with flow A's gap marked."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (matplotlib)")
    path = three_flows(tmp_path / "f.pcapng")
    picture = tmp_path / ("p" + extension)
    data = stats_json("--gap", "10000", "--plot", str(picture), str(path))
    assert sorted(data["plot"]["flows"]) == sorted(NAMES.values())
    if extension == ".svg":
        text = picture.read_text()
        for name in NAMES.values():
            assert name.replace(">", "&gt;") in text, name
        assert "gaps &gt; 10000 us" in text  # the legend of flow A's marked gap
    else:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_refuses_an_unknown_format(tmp_path: Path) -> None:
    path = three_flows(tmp_path / "f.pcapng")
    res = subprocess.run(CLI + ["stats", "--plot", str(tmp_path / "p.jpg"), str(path)], capture_output=True, text=True)
    assert res.returncode == 1 and "ends in .png or .svg" in res.stderr and not (tmp_path / "p.jpg").exists()
