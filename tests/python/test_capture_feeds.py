"""capture's feeds, files and interfaces (issue 21, capture): several endpoints in one file,
rotation and ring buffer, snap length, the real receiving interface, a group shared with
its application.  Each file is read by tshark, capinfos, editcap or mergecap.

Multicast delivery on loopback does not work on every host (this one: "Network is
unreachable" sending to a group on lo), so the feeds here are 127.0.0.1 and ::1 unicast;
the group tests check what needs no delivery (binding beside an application).
"""
from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from conftest import loopback_name, need_tool
from test_cli import CLI, _READY, run


def start_feeds(binds: List[str], out: Path, *extra: str) -> Tuple[subprocess.Popen, List[int]]:
    """Start `sotimestamp capture BIND...` and return it with each feed's port, read from its
    'capturing on' lines (one per feed, in the order of the endpoints)."""
    proc = subprocess.Popen(CLI + ["capture", *binds, "-o", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    ports: List[int] = []
    raw = b""
    deadline = time.monotonic() + 20
    while len(ports) < len(binds):
        if not select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))[0]:
            proc.kill()
            raise AssertionError(f"capture did not announce {len(binds)} feeds within 20 s: {raw!r}")
        byte = os.read(proc.stderr.fileno(), 1)
        if not byte:
            proc.kill()
            raise AssertionError(f"capture ended: {raw!r} {proc.communicate()[1]}")
        raw += byte
        if byte == b"\n":
            ready = _READY.match(raw.decode())
            assert ready, raw
            ports.append(int(ready.group(2)))
            raw = b""
    return proc, ports


def fields(path: Path, *names: str, ports: Tuple[int, ...] = ()) -> List[List[str]]:
    tshark = need_tool("tshark")
    decode = [x for port in ports for x in ("-d", f"udp.port=={port},data")]
    res = subprocess.run([tshark, "-r", str(path), *decode, "-T", "fields", "-E", "separator=|",
                          *[x for n in names for x in ("-e", n)]], capture_output=True, text=True, check=True)
    return [line.split("|") for line in res.stdout.splitlines()]


def capinfos(path: Path) -> str:
    res = subprocess.run([need_tool("capinfos"), str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr  # a file cut short or malformed makes capinfos fail
    return res.stdout


def test_two_feeds_in_one_file_interleaved_in_stamp_order(tmp_path: Path) -> None:
    """127.0.0.1 and ::1 into one file: one interface block per socket, named as the system
    names the interface; the datagrams of both in stamp order (capinfos: strict time order)."""
    out = tmp_path / "ab.pcapng"
    n = 300
    proc, (p4, p6) = start_feeds(["127.0.0.1:0", "[::1]:0"], out, "--count", str(2 * n))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as b:
        for i in range(n):  # bursts of 10 per feed: each round of reads holds both
            a.sendto(b"A%04d" % i, ("127.0.0.1", p4))
            b.sendto(b"B%04d" % i, ("::1", p6))
            if i % 10 == 9:
                time.sleep(0.002)
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    info = capinfos(out)
    assert "Number of interfaces in file: 2" in info and "Strict time order:   True" in info, info
    assert f"Number of packets:   {2 * n}" in info
    assert info.count("Number of stat entries = 1") == 2  # an Interface Statistics Block per feed
    rows = fields(out, "frame.interface_id", "frame.interface_name", "frame.interface_description", "data",
                  "frame.time_epoch", ports=(p4, p6))
    by_feed: Dict[str, List[bytes]] = {"0": [], "1": []}
    for interface, name, description, data, _epoch in rows:
        by_feed[interface].append(bytes.fromhex(data))
        assert name == loopback_name()
        assert f"udp {'127.0.0.1' if interface == '0' else '[::1]'}:{p4 if interface == '0' else p6}" in description
    assert by_feed["0"] == [b"A%04d" % i for i in range(n)]
    assert by_feed["1"] == [b"B%04d" % i for i in range(n)]
    stamps = [int(r[4].replace(".", "")) for r in rows]
    assert stamps == sorted(stamps)
    assert 10 < sum(1 for x, y in zip(rows, rows[1:]) if x[0] != y[0])  # interleaved, not one feed then the other


def test_wildcard_feed_names_the_interface_the_packet_info_gives(tmp_path: Path) -> None:
    """Bound to 0.0.0.0 the receiving interface cannot be told at setup: each datagram's
    IP_PKTINFO names it, and its packets are on an interface block of that name (the
    interface was the constant "sotimestamp")."""
    out = tmp_path / "any.pcapng"
    proc, (port,) = start_feeds(["0.0.0.0:0"], out, "--count", "3")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(3):
            tx.sendto(b"w%d" % i, ("127.0.0.1", port))
    assert proc.wait(timeout=30) == 0
    rows = fields(out, "frame.interface_name", "data", ports=(port,))
    assert [r[0] for r in rows] == [loopback_name()] * 3
    assert "Name = any" in capinfos(out)  # the socket's own block (its statistics), before the packets told


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_snap_length_cuts_and_is_in_the_interface_block(tmp_path: Path, host: str) -> None:
    out = tmp_path / "snap.pcapng"
    proc, (port,) = start_feeds([f"[{host}]:0" if ":" in host else f"{host}:0"], out, "-s", "64", "--count", "2")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as tx:
        tx.sendto(b"x" * 200, (host, port))
        tx.sendto(b"short", (host, port))
    assert proc.wait(timeout=30) == 0
    headers = 48 if ":" in host else 28
    rows = fields(out, "frame.cap_len", "frame.len")
    assert rows == [["64", str(headers + 200)], [str(headers + 5)] * 2]
    assert "Capture length = 64" in capinfos(out)
    # editcap copies it whole (it reads every block as the format says)
    copy = tmp_path / "copy.pcapng"
    subprocess.run([need_tool("editcap"), str(out), str(copy)], check=True, capture_output=True)
    assert fields(copy, "frame.cap_len", "frame.len") == rows


def _send_numbered(port: int, n: int, size: int, gap_every: int = 50, gap: float = 0.001) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(n):
            tx.sendto(b"%06d" % i + b"." * (size - 6), ("127.0.0.1", port))
            if i % gap_every == gap_every - 1:
                time.sleep(gap)


def _rotated(tmp_path: Path, stem: str) -> List[Path]:
    return sorted(tmp_path.glob(f"{stem}_*.pcapng"))


def test_rotation_by_size_loses_and_splits_nothing(tmp_path: Path) -> None:
    """-C: each file is complete (capinfos reads it, an Interface Statistics Block ends it), none
    is much over the size, and mergecap of all of them gives every datagram once, in order."""
    n, size = 3000, 200
    proc, (port,) = start_feeds(["127.0.0.1:0"], tmp_path / "ring.pcapng", "-C", "0.1", "--count", str(n))
    _send_numbered(port, n, size)
    _o, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    files = _rotated(tmp_path, "ring")
    assert len(files) >= 5, files  # 3000 x 284-byte blocks: ~850 kB, files of 100 kB
    assert f"to {len(files)} files" in err
    numbers = [int(p.name.split("_")[1]) for p in files]
    assert numbers == list(range(1, len(files) + 1))
    total = 0
    for path in files:
        info = capinfos(path)
        count = int(info.split("Number of packets:")[1].split()[0])
        total += count
        assert count > 0
        assert "Number of stat entries = 1" in info  # closed with its Interface Statistics Block
        assert path.stat().st_size < 100_000 + 256 * 1024 + 4096  # the size, at most one write's blocks over
    assert total == n
    merged = tmp_path / "merged.pcapng"
    subprocess.run([need_tool("mergecap"), "-w", str(merged), *map(str, files)], check=True, capture_output=True)
    payloads = [bytes.fromhex(r[0])[:6] for r in fields(merged, "data", ports=(port,))]
    assert payloads == [b"%06d" % i for i in range(n)]


def test_rotation_by_time_with_ring_keeps_the_last_files(tmp_path: Path) -> None:
    """-G 0.3 -W 2 over ~2 s: a file every 0.3 s, the oldest removed, the last two complete and
    together holding the most recent datagrams in order, through the last one."""
    proc, (port,) = start_feeds(["127.0.0.1:0"], tmp_path / "t.pcapng", "-G", "0.3", "-W", "2")
    n = 400
    _send_numbered(port, n, 40, gap_every=1, gap=0.005)
    time.sleep(0.3)
    proc.send_signal(2)
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    files = _rotated(tmp_path, "t")
    assert len(files) == 2, files
    assert "older removed by -W" in err
    assert int(files[0].name.split("_")[1]) >= 5  # ~2.3 s at one file per 0.3 s
    got = [int(bytes.fromhex(r[0])[:6]) for f in files for r in fields(f, "data", ports=(port,))]
    assert got and got == list(range(got[0], n))  # contiguous up to the last: nothing lost at a rotation


@pytest.mark.parametrize("args, needle", [
    (["-W", "3"], "give -C or -G too"),
    (["-C", "1", "-o", "-"], "not -"),
    (["127.0.0.2:0", "--group", "239.1.2.3"], "--group 239.1.2.3 goes with one ADDR:PORT"),
    (["-s", "20"], "a snap length is 0 (all) or at least 48"),
])
def test_capture_usage_errors(tmp_path: Path, args: List[str], needle: str) -> None:
    argv = ["capture", "127.0.0.1:0", *args]
    if "-o" not in args:
        argv += ["-o", str(tmp_path / "x.pcapng")]
    res = run(*argv)
    assert res.returncode == 2 and needle in res.stderr, res.stderr


def test_group_capture_binds_beside_an_application_with_so_reuseport(tmp_path: Path) -> None:
    """An application that set SO_REUSEPORT (alone) on its group socket: Linux lets a second
    socket bind the same group and port only if it set SO_REUSEPORT too (the capture set only
    SO_REUSEADDR: "Address already in use")."""
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT on this system")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as app:
        app.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        app.bind(("239.1.2.7", 0))
        port = app.getsockname()[1]
        proc, (got,) = start_feeds([f"239.1.2.7:{port}"], tmp_path / "g.pcapng", "--duration", "0.2",
                                   "--iface", loopback_name())
        assert got == port
        _o, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def _mcfilter_rows(kind: str) -> List[List[str]]:
    path = Path(f"/proc/net/{kind}")
    return [line.split() for line in path.read_text().splitlines()[1:]] if path.exists() else []


@pytest.mark.skipif(not Path("/proc/net/mcfilter").exists(), reason="no /proc/net/mcfilter (Linux's SSM table)")
def test_source_specific_join_is_in_the_kernels_filter_table(tmp_path: Path) -> None:
    """--source: each group is joined for its sender only (Linux lists such joins in
    /proc/net/mcfilter{,6}: interface, group, source, INCLUDE).  Delivery itself is not tested:
    this host cannot send multicast on lo."""
    lo = loopback_name()
    proc, _ports = start_feeds(["239.1.2.11:0", f"[ff12::11%{lo}]:0"], tmp_path / "ssm.pcapng",
                               "--source", "127.0.0.1", "--source", "ff12::11=::1", "--iface", lo,
                               "--duration", "20")
    try:
        v4 = v6 = False
        deadline = time.monotonic() + 10
        while not (v4 and v6) and time.monotonic() < deadline:
            v4 = [lo, "0xef01020b", "0x7f000001", "1", "0"] in [r[1:] for r in _mcfilter_rows("mcfilter")]
            v6 = [lo, "ff120000000000000000000000000011", "0" * 31 + "1", "1", "0"] in \
                [r[1:] for r in _mcfilter_rows("mcfilter6")]
            time.sleep(0.1)
        assert v4 and v6, (_mcfilter_rows("mcfilter"), _mcfilter_rows("mcfilter6"))
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=30)


def test_source_of_a_group_not_captured_is_an_error(tmp_path: Path) -> None:
    res = run("capture", "239.1.2.12:0", "--source", "239.1.2.13=127.0.0.1", "-o", str(tmp_path / "x.pcapng"))
    assert res.returncode == 1 and "--source 239.1.2.13=127.0.0.1: 239.1.2.13 is not a group this capture joins" \
        in res.stderr, res.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCGHWTSTAMP on Linux only")
def test_hardware_setup_says_what_it_got_on_an_interface_without_it() -> None:
    """--hardware sets SIOCSHWTSTAMP where it may and says what it got; an interface whose driver
    has no hardware stamping (lo) answers the first ioctl with an error, named in the note."""
    from sotimestamp.nic import stamp_all_received

    lo = loopback_name()
    got, note = stamp_all_received(lo)
    assert got is None and note.startswith(f"SIOCGHWTSTAMP {lo}: "), note


def test_rotation_of_two_feeds_repeats_every_interface_block(tmp_path: Path) -> None:
    """Each rotated file describes every feed's interface (a reader of one file alone needs them),
    with the same numbers, and mergecap of the files gives both feeds whole."""
    n = 1500
    proc, (p4, p6) = start_feeds(["127.0.0.1:0", "[::1]:0"], tmp_path / "ab.pcapng", "-C", "0.05",
                                 "--count", str(2 * n))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as b:
        for i in range(n):
            a.sendto(b"A%05d" % i + b"." * 100, ("127.0.0.1", p4))
            b.sendto(b"B%05d" % i + b"." * 100, ("::1", p6))
            if i % 20 == 19:
                time.sleep(0.002)
    _o, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    files = _rotated(tmp_path, "ab")
    assert len(files) >= 3, files
    for path in files:
        info = capinfos(path)
        assert "Number of interfaces in file: 2" in info and info.count("Number of stat entries = 1") == 2, info
    merged = tmp_path / "merged.pcapng"
    subprocess.run([need_tool("mergecap"), "-w", str(merged), *map(str, files)], check=True, capture_output=True)
    rows = fields(merged, "frame.interface_id", "data", ports=(p4, p6))
    for feed, letter in (("0", b"A"), ("1", b"B")):
        assert [bytes.fromhex(d)[:6] for i, d in rows if i == feed] == [letter + b"%05d" % k for k in range(n)]
