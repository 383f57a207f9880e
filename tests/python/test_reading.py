"""Reading recordings as users bring them: cut short, classic pcap from tcpdump/editcap,
a million packets (bounded memory, a progress bar on a terminal only), a replay
missing a datagram compared with its original, and `stats | head`."""
from __future__ import annotations

import fcntl
import inspect
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import tracemalloc
import warnings
from pathlib import Path
from typing import List, Tuple

import pytest

from sotimestamp.pcap import PcapngWriter, build_datagram
from sotimestamp.pcap.read import PcapFileError, TruncatedFileWarning, frames, read_records

from conftest import need_tool

CLI = [sys.executable, "-m", "sotimestamp"]
BASE = 1764128000_000000000
V4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))
V6 = (("::1", 4001), ("::1", 5001))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=120)


def write_pcapng(path: Path, stamped: List[Tuple[int, bytes]], flow: Tuple = V4) -> Path:
    with PcapngWriter(open(path, "wb")) as writer:
        for ts, payload in stamped:
            writer.write(payload, flow[0], flow[1], ts, "software")
    return path


def regular(n: int, step_ns: int = 1_000_000, jitter=lambda i: 0) -> List[Tuple[int, bytes]]:
    return [(BASE + i * step_ns + jitter(i), b"datagram %d" % i) for i in range(n)]


# --- 1. a file cut short -----------------------------------------------------------

def test_truncated_pcapng_yields_every_whole_block_and_warns_once(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "t.pcapng", regular(10))
    path.write_bytes(path.read_bytes()[:-7])  # the last block loses its end
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(read_records(str(path)))
    assert [r.payload for r in records] == [b"datagram %d" % i for i in range(9)]
    assert len(caught) == 1 and issubclass(caught[0].category, TruncatedFileWarning)
    assert "truncated" in str(caught[0].message) and "9 packets" in str(caught[0].message)
    told: List[str] = []
    assert len(list(read_records(str(path), on_truncated=told.append))) == 9 and len(told) == 1


def test_stats_and_replay_read_a_truncated_file_as_capinfos_does(tmp_path: Path) -> None:
    capinfos = need_tool("capinfos")
    path = write_pcapng(tmp_path / "t.pcapng", regular(20, step_ns=200_000))
    path.write_bytes(path.read_bytes()[:-30])
    info = subprocess.run([capinfos, "-c", "-M", str(path)], capture_output=True, text=True)
    theirs = int(re.search(r"Number of packets:\s+(\d+)", info.stdout).group(1))
    res = run("stats", str(path), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["packets"] == theirs == 19
    warning = [line for line in res.stderr.splitlines() if line]
    assert len(warning) == 1 and warning[0].startswith("sotimestamp: warning:") and "truncated" in warning[0]

    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        res = run("replay", str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}")
        got = [rx.recv(2048) for _ in range(19)]
    assert res.returncode == 0 and res.stderr.count("truncated") == 1 and "sent 19 datagrams" in res.stderr
    assert got == [b"datagram %d" % i for i in range(19)]


def test_corrupt_block_is_still_an_error(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "c.pcapng", regular(3))
    data = bytearray(path.read_bytes())
    data[-4:] = b"\x01\x00\x00\x00"  # the last block's trailing length: damage, not a cut
    path.write_bytes(bytes(data))
    with pytest.raises(PcapFileError, match="corrupt block at byte"):
        list(read_records(str(path)))
    shb_end = int.from_bytes(data[4:8], "little")
    first_epb = shb_end + int.from_bytes(data[shb_end + 4:shb_end + 8], "little")  # after the section and interface
    assert data[first_epb:first_epb + 4] == b"\x06\x00\x00\x00"
    data[first_epb + 4:first_epb + 8] = (0x7FFFFFF0).to_bytes(4, "little")  # a length no block has
    path.write_bytes(bytes(data))
    with pytest.raises(PcapFileError, match=f"corrupt block at byte {first_epb}: block length"):
        list(read_records(str(path)))  # damage, not a file cut short: not buffered to the end first


# --- 2. classic pcap ------------------------------------------------------------

@pytest.mark.parametrize("fmt, resolution_ns", [("pcap", 1000), ("nsecpcap", 1)])
def test_classic_pcap_written_by_editcap(tmp_path: Path, fmt: str, resolution_ns: int) -> None:
    editcap = need_tool("editcap")
    stamped = regular(50, step_ns=1_000_333)
    original = write_pcapng(tmp_path / "o.pcapng", stamped)
    converted = tmp_path / f"o.{fmt}"
    subprocess.run([editcap, "-F", fmt, str(original), str(converted)], check=True, capture_output=True)
    magic = converted.read_bytes()[:4]
    assert magic == struct.pack("=I", 0xA1B2C3D4 if fmt == "pcap" else 0xA1B23C4D)
    records = list(read_records(str(converted)))
    assert [r.payload for r in records] == [p for _ts, p in stamped]
    assert [r.ts_ns for r in records] == [ts // resolution_ns * resolution_ns for ts, _p in stamped]
    assert records[0].src == V4[0] and records[0].dst == V4[1] and records[0].source is None
    res = run("stats", str(converted), "--json")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    data = json.loads(res.stdout)
    assert data["packets"] == data["udp_datagrams"] == 50 and data["sources"] == {"unknown": 50}
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        res = run("replay", str(converted), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--speed", "10")
        assert res.returncode == 0 and "sent 50 datagrams" in res.stderr, res.stderr
        assert [rx.recv(2048) for _ in range(50)] == [p for _ts, p in stamped]


def _classic(order: str, magic: int, link_type: int, packets: List[Tuple[int, int, bytes]]) -> bytes:
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, link_type)
    for seconds, fraction, frame in packets:
        out += struct.pack(order + "IIII", seconds, fraction, len(frame), len(frame)) + frame
    return out


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("magic, per_second", [(0xA1B2C3D4, 10**6), (0xA1B23C4D, 10**9)])
def test_hand_built_classic_pcap_either_byte_order(tmp_path: Path, order: str, magic: int, per_second: int) -> None:
    ip = build_datagram(("192.0.2.1", 7), ("192.0.2.2", 9), b"over ethernet")
    ethernet = bytes(12) + b"\x08\x00" + ip
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    path = tmp_path / "h.pcap"
    path.write_bytes(_classic(order, magic, 1, [(1_700_000_000, 250, ethernet), (1_700_000_001, 7, arp)]))
    records = list(read_records(str(path)))
    scale = 10**9 // per_second
    assert [r.ts_ns for r in records] == [1_700_000_000 * 10**9 + 250 * scale, 1_700_000_001 * 10**9 + 7 * scale]
    assert records[0].payload == b"over ethernet" and records[0].dst == ("192.0.2.2", 9)
    assert records[1].payload is None  # ARP: read, not UDP
    counted = json.loads(run("stats", str(path), "--json").stdout)
    assert counted["packets"] == 2 and counted["udp_datagrams"] == 1
    path.write_bytes(path.read_bytes()[:-5])  # cut inside the second record
    told: List[str] = []
    assert [r.payload for r in read_records(str(path), on_truncated=told.append)] == [b"over ethernet"]
    assert len(told) == 1 and "truncated" in told[0]


# --- 3. a long recording: streamed, bounded memory, a progress bar on a terminal only ------

def test_stats_streams_in_bounded_memory(tmp_path: Path) -> None:
    """100 000 packets: the old reader kept every record (~40 MB here); stats now keeps
    8 bytes a stamp and one sorted copy of the inter-arrival times."""
    path = write_pcapng(tmp_path / "big.pcapng", regular(100_000, step_ns=10_000, jitter=lambda i: i * 7919 % 3001))
    assert inspect.isgenerator(frames(str(path)))
    from sotimestamp.cli import main

    tracemalloc.start()
    try:
        assert main(["stats", str(path), "--json"]) == 0
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 2**20, f"stats of 100 000 packets peaked at {peak / 2**20:.1f} MiB of Python objects"


def _stderr_of_stats(path: Path, on_terminal: bool) -> str:
    if not on_terminal:
        return run("stats", str(path)).stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen(CLI + ["stats", str(path)], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    said = b""
    while True:  # read until the child closes its end (EIO on Linux once it exits)
        if not select.select([leader], [], [], 60)[0]:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        said += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return said.decode(errors="replace")


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "p.pcapng", regular(30_000, step_ns=10_000))
    assert _stderr_of_stats(path, on_terminal=False) == ""
    shown = _stderr_of_stats(path, on_terminal=True)
    assert "p.pcapng" in shown and re.search(r"\d+%\|", shown), shown


# --- 4. --reference: a datagram missing -----------------------------------------------

def _pacing(observed: Path, reference: Path) -> dict:
    res = run("stats", str(observed), "--reference", str(reference), "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["pacing_error_vs_reference"]


def _jitter(i: int) -> int:
    return 20_000 + (i * 7919 % 11) * 1_000  # 20 us of delivery delay, 0-10 us of jitter


@pytest.mark.parametrize("distinct", [1000, 3])  # unique payloads; three payloads over and over
def test_reference_pairs_by_payload_when_one_is_lost(tmp_path: Path, distinct: int) -> None:
    original = [(BASE + i * 100_000, b"tick %d" % (i % distinct)) for i in range(1000)]
    replayed = [(ts + _jitter(i), payload) for i, (ts, payload) in enumerate(original)]
    reference = write_pcapng(tmp_path / "ref.pcapng", original)
    full = _pacing(write_pcapng(tmp_path / "full.pcapng", replayed), reference)
    assert full["lost"] == full["extra"] == 0 and full["compared"] == 1000
    dropped = _pacing(write_pcapng(tmp_path / "drop.pcapng", replayed[:400] + replayed[401:]), reference)
    assert dropped["lost"] == 1 and dropped["extra"] == 0 and dropped["compared"] == 999
    assert dropped["first_lost"]["packet"] == 401  # tshark's frame number
    assert dropped["p99_us"] <= full["p99_us"] + 1.0, (dropped, full)  # by index it is ~100 us
    assert full["p99_us"] <= 11.0


def test_reference_reports_extra_datagrams(tmp_path: Path) -> None:
    original = [(BASE + i * 100_000, b"n %d" % i) for i in range(200)]
    replayed = [(ts + _jitter(i), p) for i, (ts, p) in enumerate(original)]
    replayed.insert(50, (replayed[49][0] + 30_000, b"stray"))
    reference = write_pcapng(tmp_path / "ref.pcapng", original)
    report = run("stats", str(write_pcapng(tmp_path / "x.pcapng", replayed)), "--reference", str(reference))
    assert report.returncode == 0 and "0 lost, 1 extra" in report.stdout and "first extra is packet 51" in report.stdout


def test_reference_with_a_real_replay_missing_one(tmp_path: Path) -> None:
    """Record, replay and re-capture for real (as test_cli does), then lose datagram 30 of the re-capture."""
    from test_cli import record, start_capture

    payloads = [b"real %d" % i for i in range(60)]
    original = record(tmp_path / "orig.pcapng", payloads, gap=0.002)
    again = tmp_path / "again.pcapng"
    proc, port = start_capture("127.0.0.1:0", again, "--count", "60")
    assert run("replay", str(original), "--to", f"127.0.0.1:{port}").returncode == 0
    assert proc.wait(timeout=30) == 0
    recaptured = [(r.ts_ns, r.payload) for r in read_records(str(again))]
    full = _pacing(write_pcapng(tmp_path / "full.pcapng", recaptured), original)
    dropped = _pacing(write_pcapng(tmp_path / "drop.pcapng", recaptured[:30] + recaptured[31:]), original)
    assert dropped["lost"] == 1 and dropped["first_lost"]["packet"] == 31 and dropped["compared"] == 59
    # One error fewer; the others move only as much as the schedule's alignment on their
    # median does (by index, every datagram after the lost one would be 2 ms off).
    assert dropped["p99_us"] <= full["p99_us"] + 100 and dropped["p50_us"] <= full["p50_us"] + 100


# --- 7. a reader that goes away --------------------------------------------------

def test_stats_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "s.pcapng", regular(100))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before stats writes a byte
    proc = subprocess.run(CLI + ["stats", str(path), "--json"], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 128 + 13  # as a process SIGPIPE ended


def test_stats_json_piped_to_head(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "h.pcapng", regular(100))
    # POSIX sh (no bash on NetBSD): the subshell reports the status of stats itself
    cmd = "( " + " ".join(CLI) + f" stats {path} --json; echo \"status $?\" >&2 ) | head -1"
    res = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert res.stdout == "{\n"
    assert re.fullmatch(r"status (0|141)\n", res.stderr), res.stderr
