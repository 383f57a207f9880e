"""`sotimestamp replay` as tcpreplay users drive it (issue 21): --pps, --mbps, --topspeed,
--multiplier, --loop N, .gz and .zst input, a streamed file, flows chosen and mapped, the recorded
source port, multicast TTL.  The rates are read back by capinfos from a re-capture, and
what was sent is compared with tshark's reading of the file.  Loopback only."""
from __future__ import annotations

import gzip
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from sotimestamp.pcap import PcapngWriter, read_records

from conftest import need_tool
from test_cli import start_capture

CLI = [sys.executable, "-m", "sotimestamp"]
BASE = 1764128000_000000000
V4 = (("127.0.0.1", 4000), ("127.0.0.1", 5000))


def write(path: Path, rows: List[Tuple[Tuple, Tuple, bytes, int]]) -> Path:
    with PcapngWriter(open(path, "wb")) as writer:
        for src, dst, payload, ts in rows:
            writer.write(payload, src, dst, ts, "software")
    return path


def evenly(n: int, step_ns: int, size: int = 20, flow: Tuple = V4) -> List[Tuple[Tuple, Tuple, bytes, int]]:
    return [(*flow, (b"%06d" % i).ljust(size, b"x"), BASE + i * step_ns) for i in range(n)]


def replay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    res = subprocess.run(CLI + ["replay", *args], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return res


def receiver(host: str = "127.0.0.1") -> socket.socket:
    rx = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((host, 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.settimeout(0.5)
    return rx


def drain(rx: socket.socket) -> List[Tuple[bytes, int]]:
    got = []
    try:
        while True:
            data, sender = rx.recvfrom(70000)
            got.append((data, sender[1]))
    except socket.timeout:
        return got


def capinfos_rate(capinfos: str, path: Path) -> float:
    """capinfos' "Average packet rate" (packets/s) of ``path``."""
    out = subprocess.run([capinfos, "-x", "-M", str(path)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Average packet rate:\s+([\d.]+)", out).group(1))


def recapture(original: Path, tmp_path: Path, *options: str) -> Path:
    """Replay ``original`` with ``options`` into `sotimestamp capture` and return the new file."""
    n = sum(1 for r in read_records(str(original)) if r.payload is not None)
    again = tmp_path / "again.pcapng"
    proc, port = start_capture("127.0.0.1:0", again, "--count", str(n), "--duration", "60")
    replay(str(original), "--to", f"127.0.0.1:{port}", *options)
    _o, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and f"captured {n} datagrams" in err, err
    return again


@pytest.mark.parametrize("option,value,expected", [("--pps", "2000", 2000.0), ("--mbps", "8", 1000.0),
                                                   ("--multiplier", "4", 400.0)])
def test_rate_options_read_back_by_capinfos(tmp_path: Path, option: str, value: str, expected: float) -> None:
    """200 datagrams recorded 10 ms apart (100/s).  --pps 2000: 2000/s; --mbps 8 of 972-byte
    payloads (1000-byte IPv4 packets, 8000 bits): 1000/s; --multiplier 4: 400/s."""
    capinfos = need_tool("capinfos")
    original = write(tmp_path / "o.pcapng", evenly(200, 10_000_000, size=972))
    per_gap = 199 / 200  # capinfos divides the 200 packets by the span of their 199 gaps
    assert abs(capinfos_rate(capinfos, original) * per_gap - 100.0) < 0.01  # capinfos prints 2 decimals
    rate = capinfos_rate(capinfos, recapture(original, tmp_path, option, value)) * per_gap
    assert abs(rate - expected) / expected < 0.1, f"{option} {value}: capinfos reads {rate}/s, expected {expected}"


def test_topspeed_does_not_wait(tmp_path: Path) -> None:
    """2000 datagrams recorded 1 ms apart (2 s) go out as fast as they can: far under 2 s."""
    capinfos = need_tool("capinfos")
    original = write(tmp_path / "o.pcapng", evenly(2000, 1_000_000))
    again = recapture(original, tmp_path, "--topspeed")
    info = subprocess.run([capinfos, "-u", "-M", str(again)], capture_output=True, text=True).stdout
    seconds = float(re.search(r"Capture duration:\s+([\d.]+)", info).group(1))
    assert seconds < 1.0, info
    assert [r.payload for r in read_records(str(again))] == [r.payload for r in read_records(str(original))]


def test_loop_n_sends_the_file_n_times_with_the_total_in_the_summary(tmp_path: Path) -> None:
    """--loop 3 of a gzip-compressed file: 3 x what capinfos counts in it, in order."""
    capinfos = need_tool("capinfos")
    plain = write(tmp_path / "o.pcapng", evenly(40, 100_000))
    packed = tmp_path / "o.pcapng.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    count = int(re.search(r"Number of packets:\s+(\d+)",
                          subprocess.run([capinfos, "-c", "-M", str(packed)], capture_output=True, text=True,
                                         check=True).stdout).group(1))
    with receiver() as rx:
        res = replay(str(packed), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--loop", "3", "--pps", "20000")
        got = [data for data, _port in drain(rx)]
    assert got == [r.payload for r in read_records(str(plain))] * 3 and len(got) == 3 * count == 120
    assert re.search(rf"sent {3 * count} datagrams to 127\.0\.0\.1:\d+ in 3 whole loops of {count}", res.stderr), \
        res.stderr


def test_concatenated_gzip_members_are_read_whole(tmp_path: Path) -> None:
    """`cat a.gz b.gz` is one gzip stream of two members, as gzip -d and tshark read it."""
    plain = write(tmp_path / "o.pcapng", evenly(300, 100_000, size=100))
    data = plain.read_bytes()
    packed = tmp_path / "two.pcapng.gz"
    packed.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))
    assert [r.payload for r in read_records(str(packed))] == [r.payload for r in read_records(str(plain))]


def test_a_cut_gzip_file_is_read_up_to_its_last_whole_packet(tmp_path: Path) -> None:
    plain = write(tmp_path / "o.pcapng", evenly(400, 100_000, size=200))
    packed = tmp_path / "cut.pcapng.gz"
    data = gzip.compress(plain.read_bytes())
    packed.write_bytes(data[:len(data) // 2])
    with receiver() as rx:
        res = replay(str(packed), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--topspeed")
        got = [data for data, _port in drain(rx)]
    assert "truncated" in res.stderr and 0 < len(got) < 400, res.stderr
    assert got == [r.payload for r in read_records(str(plain))][:len(got)]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc/self/status to read the peak RSS from")
def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """The whole file was read into a list first: 136 MB RSS for a 49 MB file.  A 60 MB file
    must now take no more than a 3 MB one, give or take 12 MB (the process's own noise)."""
    def peak_rss_kb(path: Path) -> int:
        with receiver() as rx:  # never read: the kernel drops what its buffer cannot hold
            # Linux: VmHWM, the peak of this process's own memory (its ru_maxrss would start at
            # pytest's, copied by fork); the BSDs (no /proc/self/status): ru_maxrss, which exec resets
            code = ("import os, re, resource, sys; from sotimestamp.cli import main; s = main(sys.argv[1:]); "
                    "p = '/proc/self/status'; hwm = re.search(r'VmHWM:\\s+(\\d+)', open(p).read()) "
                    "if os.path.exists(p) else None; "
                    "print(hwm.group(1) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(s)")
            res = subprocess.run([sys.executable, "-c", code, "replay", str(path), "--to",
                                  f"127.0.0.1:{rx.getsockname()[1]}", "--topspeed", "--quiet"],
                                 capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return int(res.stdout.split()[-1])

    small = write(tmp_path / "small.pcapng", evenly(10_000, 10_000, size=300))
    big = write(tmp_path / "big.pcapng", evenly(200_000, 10_000, size=300))
    assert big.stat().st_size > 60_000_000
    small_kb, big_kb = peak_rss_kb(small), peak_rss_kb(big)
    print(f"replay peak RSS: {small_kb} KiB for {small.stat().st_size} bytes, {big_kb} KiB for {big.stat().st_size}")
    assert big_kb - small_kb < 12_000, (small_kb, big_kb)
    # gzip-compressed (the padded payloads compress ~20 to 1): a 1 MiB read once inflated to 27 MB at a time
    packed = tmp_path / "big.pcapng.gz"
    with open(big, "rb") as raw, gzip.open(packed, "wb", compresslevel=1) as out:
        shutil.copyfileobj(raw, out)
    packed_kb = peak_rss_kb(packed)
    print(f"replay peak RSS: {packed_kb} KiB for {packed.stat().st_size} bytes of gzip")
    assert packed_kb - small_kb < 12_000, (small_kb, packed_kb)


def test_flows_chosen_and_mapped_as_tshark_reads_them(tmp_path: Path) -> None:
    """Three recorded flows (two IPv4 multicast, one IPv6): --map sends two of them to loopback
    receivers, IPv6 as IPv6; the third has no destination and is not sent.  Each receiver gets
    exactly the payloads tshark finds for that flow in the file."""
    tshark = need_tool("tshark")
    a = (("10.0.0.1", 4000), ("239.1.1.1", 5000))
    b = (("10.0.0.1", 4001), ("239.1.1.2", 5001))
    c = (("fe80::1", 4002), ("ff12::1", 6000))
    rows = [(*(a, b, c)[i % 3], b"p%03d" % i, BASE + i * 100_000) for i in range(60)]
    path = write(tmp_path / "abc.pcapng", rows)

    def tshark_payloads(display_filter: str) -> List[bytes]:
        out = subprocess.run([tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "udp.payload"],
                             capture_output=True, text=True, check=True).stdout
        return [bytes.fromhex(line) for line in out.split()]

    with receiver() as rx4, receiver("::1") as rx6:
        res = replay(str(path), "--map", f"239.1.1.1:5000=127.0.0.1:{rx4.getsockname()[1]}",
                     "--map", f"[ff12::1]:6000=[::1]:{rx6.getsockname()[1]}", "--pps", "10000")
        got4, got6 = [d for d, _p in drain(rx4)], [d for d, _p in drain(rx6)]
    assert got4 == tshark_payloads("ip.dst == 239.1.1.1 && udp.dstport == 5000") and len(got4) == 20
    assert got6 == tshark_payloads("ipv6.dst == ff12::1") and len(got6) == 20
    assert re.search(r"sent 40 datagrams to 127\.0\.0\.1:\d+, \[::1\]:\d+ in 1 whole loops of 40", res.stderr), \
        res.stderr

    with receiver() as rx:  # --flow with --to: only the chosen flow
        replay(str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--flow", "src=10.0.0.1:4001", "--topspeed")
        assert [d for d, _p in drain(rx)] == tshark_payloads("udp.srcport == 4001")


def test_keep_source_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        recorded = probe.getsockname()[1]  # a port free now: the replay may bind it
    path = write(tmp_path / "p.pcapng", evenly(5, 100_000, flow=(("10.0.0.1", recorded), ("10.0.0.2", 5000))))
    with receiver() as rx:
        replay(str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--keep-source-port")
        assert [port for _d, port in drain(rx)] == [recorded] * 5
    with receiver() as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))  # the recorded port is in use: a warning, and sent all the same
        path = write(tmp_path / "q.pcapng", evenly(5, 100_000, flow=(("10.0.0.1", taken.getsockname()[1]),
                                                                     ("10.0.0.2", 5000))))
        res = replay(str(path), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--keep-source-port")
        assert len(drain(rx)) == 5 and "--keep-source-port: source port" in res.stderr, res.stderr


def test_multicast_ttl_is_set(tmp_path: Path) -> None:
    """--ttl 5: the IPv4 TTL of the multicast packets tshark reads in a loopback capture
    (the packets are looped back to this host; nothing leaves it)."""
    tshark = need_tool("tshark")
    if shutil.which("dumpcap") is None:
        pytest.skip("dumpcap not installed")
    path = write(tmp_path / "m.pcapng", evenly(3, 100_000))
    wire = tmp_path / "wire.pcapng"
    lo = "lo"
    dump = subprocess.Popen(["dumpcap", "-q", "-i", lo, "-f", "udp and dst host 239.255.77.77", "-c", "3",
                             "-a", "duration:20", "-w", str(wire)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time
        time.sleep(1.5)  # dumpcap opens the interface
        replay(str(path), "--to", "239.255.77.77:5999", "--iface", lo, "--ttl", "5")
        dump.wait(timeout=30)
    finally:
        if dump.poll() is None:
            dump.kill()
    ttls = subprocess.run([tshark, "-r", str(wire), "-T", "fields", "-e", "ip.ttl"], capture_output=True,
                          text=True).stdout.split()
    if not ttls:
        pytest.skip("dumpcap saw no multicast on lo here (no multicast route through lo)")
    assert ttls == ["5", "5", "5"]


def test_progress_of_a_gzip_file_counts_the_file_s_bytes(tmp_path: Path) -> None:
    """The progress bar's total is the file's size: a .gz must advance it by the compressed bytes
    read, not the larger decompressed ones (the bar would run past 100 %)."""
    from sotimestamp.pcap import frames

    plain = write(tmp_path / "o.pcapng", evenly(2000, 100_000, size=300))
    packed = tmp_path / "o.pcapng.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    told: List[int] = []
    assert sum(1 for _f in frames(str(packed), told.append)) == 2000
    assert sum(told) == packed.stat().st_size < plain.stat().st_size


def _zstd_compressed(plain: Path, packed: Path) -> Path:
    """``plain`` compressed by the zstd command where there is one (an encoder independent of the
    reader's library), else by the zstandard package; skips when neither is here."""
    zstd = shutil.which("zstd")
    if zstd:
        subprocess.run([zstd, "-q", "-f", str(plain), "-o", str(packed)], check=True)
        return packed
    zstandard = pytest.importorskip("zstandard", reason="no zstandard package (the zstd extra) and no zstd command")
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    return packed


def test_a_zst_file_replays_and_gives_the_stats_of_the_plain_one(tmp_path: Path) -> None:
    """.zst input, as tshark and capinfos read it: replay sends the same datagrams, stats
    prints the same figures, and tshark counts what stats counts."""
    pytest.importorskip("zstandard", reason="reading .zst needs the zstandard package (the zstd extra)")
    plain = write(tmp_path / "o.pcapng", [*evenly(300, 100_000, size=100),
                                          *evenly(200, 150_000, size=40, flow=(("127.0.0.1", 4001), V4[1]))])
    packed = _zstd_compressed(plain, tmp_path / "o.pcapng.zst")
    assert packed.stat().st_size < plain.stat().st_size / 3
    with receiver() as rx:
        replay(str(packed), "--to", f"127.0.0.1:{rx.getsockname()[1]}", "--topspeed")
        got = [data for data, _port in drain(rx)]
    assert got == [r.payload for r in read_records(str(plain))] and len(got) == 500

    def stats(path: Path) -> dict:
        res = subprocess.run(CLI + ["stats", str(path), "--json"], capture_output=True, text=True, check=True)
        return {k: v for k, v in json.loads(res.stdout).items() if k != "path"}

    figures = stats(packed)
    assert figures == stats(plain) and figures["udp_datagrams"] == 500 and len(figures["flows"]) == 2
    tshark = shutil.which("tshark")
    if tshark:
        lines = subprocess.run([tshark, "-r", str(packed), "-T", "fields", "-e", "frame.number", "udp"],
                               capture_output=True, text=True, check=True).stdout.split()
        assert len(lines) == 500


def test_a_cut_or_concatenated_zst_file(tmp_path: Path) -> None:
    """`cat a.zst b.zst` (two frames) reads whole; a file cut short yields its whole packets and
    says it was cut, as the .gz reader does."""
    zstandard = pytest.importorskip("zstandard", reason="reading .zst needs the zstandard package (the zstd extra)")
    plain = write(tmp_path / "o.pcapng", evenly(4000, 100_000, size=200))  # zstd blocks hold 128 KiB: several
    data = plain.read_bytes()
    two = tmp_path / "two.pcapng.zst"
    two.write_bytes(zstandard.ZstdCompressor().compress(data[:1000]) + zstandard.ZstdCompressor().compress(data[1000:]))
    assert [r.payload for r in read_records(str(two))] == [r.payload for r in read_records(str(plain))]
    packed = zstandard.ZstdCompressor().compress(data)
    cut = tmp_path / "cut.pcapng.zst"
    cut.write_bytes(packed[:len(packed) // 2])
    res = subprocess.run(CLI + ["stats", str(cut)], capture_output=True, text=True)
    assert res.returncode == 0 and "the zstd stream is cut short" in res.stderr, res.stderr
    held = int(re.search(r"packets\s+(\d+)", res.stdout).group(1))
    assert 0 < held < 4000


def test_without_zstandard_a_zst_file_names_the_package(tmp_path: Path) -> None:
    """The zstd extra not installed: one line that names the package and how to get it."""
    plain = write(tmp_path / "o.pcapng", evenly(10, 100_000))
    packed = _zstd_compressed(plain, tmp_path / "o.pcapng.zst")
    code = ("import sys; sys.modules['zstandard'] = None; from sotimestamp.cli import main; "
            "sys.argv = ['sotimestamp', 'stats', sys.argv[1]]; sys.exit(main())")
    res = subprocess.run([sys.executable, "-c", code, str(packed)], capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr.strip() == (
        f"sotimestamp: error: {packed}: zstd-compressed; reading it needs the zstandard package: "
        "pip install 'sotimestamp[zstd]'"), res.stderr
