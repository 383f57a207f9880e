"""Capture under real faults: kernel drops, a write error, bad addresses, other control messages,
stdout output, receive buffer sizes.  Real loopback sockets and real files throughout."""
from __future__ import annotations

import errno
import io
import json
import os
import re
import resource
import signal
import socket
import sys
import struct
import subprocess
import time
from pathlib import Path
from typing import Any, List, Tuple

import pytest

import sotimestamp
from sotimestamp import capture as capture_mod
from sotimestamp.batch import recv_batch
from sotimestamp.capture import CaptureResult, capture
from sotimestamp.endpoint import Endpoint
from sotimestamp.pcap import read_records

from conftest import loopback_name, loopback_pair, need_tool
from test_cli import CLI, run, send, start_capture

# The option that makes received datagrams carry an IP_PKTINFO message: Linux's
# IP_PKTINFO (8; CPython leaves it out there), the BSDs' IP_RECVPKTINFO (NetBSD 26).
if sys.platform.startswith("linux"):
    IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
else:
    IP_PKTINFO = getattr(socket, "IP_RECVPKTINFO", 26 if sys.platform.startswith("netbsd") else 0)


def _blocks(path: Path) -> List[Tuple[int, bytes]]:
    """(type, body) of each block of a little-endian pcapng file written by us."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        assert total >= 12 and pos + total <= len(data), f"partial block at byte {pos}"
        assert struct.unpack_from("<I", data, pos + total - 4)[0] == total
        out.append((kind, data[pos + 8:pos + total - 4]))
        pos += total
    return out


def _isb_options(path: Path) -> dict[int, bytes]:
    """The options of the file's Interface Statistics Block (type 5), which must be the last block."""
    kind, body = _blocks(path)[-1]
    assert kind == 5, "the capture must end with an Interface Statistics Block"
    options, pos = {}, 12
    while pos + 4 <= len(body):
        code, length = struct.unpack_from("<HH", body, pos)
        if code == 0:
            break
        options[code] = body[pos + 4:pos + 4 + length]
        pos += 4 + length + (-length % 4)
    return options


# --- row 3: recv_batch with other control messages --------------------------------

@pytest.mark.parametrize("fallback", [False, True])
def test_identical_payloads_with_pktinfo_each_get_their_own_stamp(fallback: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """IP_PKTINFO adds a second control message, so the batch takes the slot-by-slot path;
    equal payloads must not share the first one's stamp."""
    if fallback:
        monkeypatch.setattr(sotimestamp.batch, "HAVE_RECVMMSG", False)
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        rx.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        for _ in range(20):
            tx.sendto(b"same", rx.getsockname())
            time.sleep(0.0005)  # stamps at least 0.5 ms apart
        got = recv_batch(rx, 64)
        assert len(got) == 20 and {p.data for p in got} == {b"same"}
        stamps = [p.software_ns for p in got]
        assert all(s is not None for s in stamps)
        assert stamps == sorted(stamps) and len(set(stamps)) == 20
        assert all(b - a >= 400_000 for a, b in zip(stamps, stamps[1:]))  # type: ignore[operator]


# --- row 2: kernel drops -------------------------------------------------------------

def _burst_capture(tmp_path: Path, sent: int) -> Tuple[CaptureResult, Path]:
    """A capture whose 4 KiB receive buffer overflows: the burst is sent before the loop reads."""
    out = tmp_path / "burst.pcapng"

    def burst(sock: socket.socket) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(sent):
                tx.sendto(b"burst %05d" % i, sock.getsockname())

    result = capture(Endpoint("127.0.0.1", 0), str(out), duration=0.5, buffer_size=4096, progress=False, ready=burst)
    return result, out


def test_burst_drops_are_counted_and_recorded(tmp_path: Path) -> None:
    sent = 2000
    result, out = _burst_capture(tmp_path, sent)
    assert result.dropped is not None and result.dropped > 0
    assert result.packets + result.dropped == sent
    records = list(read_records(str(out)))
    assert len(records) == result.packets
    # the ones that got in are the first ones, in order (the buffer filled, then the rest was dropped)
    assert [r.payload for r in records] == [b"burst %05d" % i for i in range(result.packets)]
    options = _isb_options(out)
    assert struct.unpack("<Q", options[5])[0] == result.dropped  # isb_ifdrop
    assert struct.unpack("<Q", options[4])[0] == sent  # isb_ifrecv
    assert struct.unpack("<Q", options[8])[0] == result.packets  # isb_usrdeliv
    start, end = (struct.unpack("<II", options[code]) for code in (2, 3))
    assert (start[0] << 32 | start[1]) <= (end[0] << 32 | end[1]) <= time.time_ns()


def test_tshark_and_capinfos_read_the_statistics_block(tmp_path: Path) -> None:
    capinfos, tshark = need_tool("capinfos"), need_tool("tshark")
    result, out = _burst_capture(tmp_path, 500)
    info = subprocess.run([capinfos, str(out)], capture_output=True, text=True)
    assert info.returncode == 0 and "Number of stat entries = 1" in info.stdout, info.stderr
    assert f"Number of packets:   {result.packets}" in info.stdout
    shown = subprocess.run([tshark, "-r", str(out), "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True)
    assert shown.returncode == 0 and len(shown.stdout.split()) == result.packets
    assert "rror" not in shown.stderr and "ppears to" not in shown.stderr, shown.stderr


def test_cli_summary_and_json_say_what_the_kernel_dropped(tmp_path: Path) -> None:
    out = tmp_path / "c.pcapng"
    proc, port = start_capture("127.0.0.1:0", out, "--buffer-size", "4096", "--duration", "2", "--json")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(3000):
            tx.sendto(b"%d" % i, ("127.0.0.1", port))
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["kernel_dropped"] > 0 and report["captured"] + report["kernel_dropped"] == 3000
    assert f"captured {report['captured']} datagrams" in stderr
    assert f"kernel dropped {report['kernel_dropped']}\n" in stderr


# --- row 4: a write error ------------------------------------------------------------

def _file_size_limit(limit: int) -> Any:
    def apply() -> None:
        # SIGXFSZ ignored (Python's default too): a write past the limit fails with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_write_error_leaves_whole_blocks_and_says_how_many(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the file "full" at 20 000 bytes (EFBIG), as a full disk would (ENOSPC)."""
    out = tmp_path / "full.pcapng"
    proc = subprocess.Popen(CLI + ["capture", "127.0.0.1:0", "--duration", "20", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_file_size_limit(20_000))
    assert proc.stderr is not None
    line = proc.stderr.readline()
    port = int(line.rsplit(" to ", 1)[0].rsplit(":", 1)[1])
    send("127.0.0.1", port, [b"%04d" % i + b"z" * 96 for i in range(1000)], gap=0)
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"sotimestamp: error: writing {out}: {os.strerror(errno.EFBIG)}; it holds the first ")
    saved = int(last.split("it holds the first ")[1].split()[0])
    assert 0 < saved < 1000
    # one count per line: the summary once said "captured 700 ... (stamps: software 897", two
    # counts of different things on one line
    captured = re.search(r"^sotimestamp: captured (\d+) datagrams in [\d.]+ s to \S+ \(stopped by write error\)$",
                         err, re.M)
    received = re.search(r"^sotimestamp: received (\d+) datagrams \(stamps: software (\d+)\)$", err, re.M)
    assert captured and received, err
    assert int(captured.group(1)) == saved and int(received.group(1)) == int(received.group(2)) >= saved
    size = out.stat().st_size
    assert size <= 20_000
    blocks = _blocks(out)  # asserts every block is whole
    assert sum(1 for kind, _b in blocks if kind == 6) == saved
    records = list(read_records(str(out)))
    assert [r.payload for r in records] == [b"%04d" % i + b"z" * 96 for i in range(saved)]
    stats = run("stats", str(out), "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["packets"] == saved, stats.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        replay = run("replay", str(out), "--to", f"127.0.0.1:{sink.getsockname()[1]}", "--speed", "1000", "--quiet")
    assert replay.returncode == 0, replay.stderr
    capinfos = need_tool("capinfos")
    info = subprocess.run([capinfos, "-c", "-M", str(out)], capture_output=True, text=True)
    assert info.returncode == 0 and f"Number of packets:   {saved}" in info.stdout, info.stderr


def test_no_room_even_for_the_header_is_a_one_line_error(tmp_path: Path) -> None:
    out = tmp_path / "tiny.pcapng"
    res = subprocess.run(CLI + ["capture", "127.0.0.1:0", "--count", "1", "-o", str(out)],
                         capture_output=True, text=True, timeout=30, preexec_fn=_file_size_limit(64))
    assert _last_error(res) == f"sotimestamp: error: write {out}: File too large"


# --- row 5: errors that say what failed ------------------------------------------------

def _last_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    return res.stderr.strip().splitlines()[-1]


def test_bind_error_names_step_and_address(tmp_path: Path) -> None:
    res = run("capture", "192.0.2.77:5000", "--count", "1", "-o", str(tmp_path / "x.pcapng"))
    # the system's own words: "Cannot assign ..." on Linux, "Can't assign ..." on NetBSD
    assert _last_error(res) == f"sotimestamp: error: bind 192.0.2.77:5000: {os.strerror(errno.EADDRNOTAVAIL)}"


def test_port_in_use_names_the_address(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        res = run("capture", f"127.0.0.1:{port}", "--count", "1", "-o", str(tmp_path / "x.pcapng"))
    assert _last_error(res) == f"sotimestamp: error: bind 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}"


def test_group_must_be_multicast(tmp_path: Path) -> None:
    res = run("capture", "0.0.0.0:0", "--group", "10.0.0.1", "--count", "1", "-o", str(tmp_path / "x.pcapng"))
    # a usage error, as argparse's own: status 2
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "argument --group: '10.0.0.1' is not a multicast address" in res.stderr.splitlines()[-1]
    assert not (tmp_path / "x.pcapng").exists()


def test_scoped_ipv6_multicast_keeps_its_scope(tmp_path: Path) -> None:
    """``[ff02::1%lo]:PORT`` binds with lo's scope id and joins ff02::1 there (without the scope
    the kernel refuses a link-local bind with EINVAL)."""
    lo = loopback_name()
    out = tmp_path / "scoped.pcapng"
    try:
        proc, port = start_capture(f"[ff02::1%{lo}]:0", out, "--count", "3")
    except AssertionError as exc:
        if "No such device" in str(exc) or "Address family" in str(exc):
            pytest.skip(f"no IPv6 multicast on {lo} here: {exc}")
        raise
    # bound and joined: without the scope the bind would have failed (EINVAL)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as tx:
        sotimestamp.multicast_sender(tx, lo)
        try:
            for i in range(3):
                tx.sendto(b"scoped %d" % i, ("ff02::1", port, 0, socket.if_nametoindex(lo)))
        except OSError as exc:
            proc.send_signal(signal.SIGINT)
            _o, err = proc.communicate(timeout=30)
            assert proc.returncode == 128 + signal.SIGINT and "stopped by SIGINT" in err, err
            pytest.skip(f"the capture bound [ff02::1%{lo}] and joined, but this host cannot send "
                        f"multicast on {lo}: {exc.strerror}")
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    records = list(read_records(str(out)))
    assert [r.payload for r in records] == [b"scoped %d" % i for i in range(3)]
    assert all(r.dst is not None and r.dst[0] == "ff02::1" for r in records)


# --- row 6: --hardware where there is none -----------------------------------------------

def test_hardware_on_an_interface_without_it_is_an_error(tmp_path: Path) -> None:
    if sotimestamp.constants.platform_name() != "linux":
        pytest.skip("ETHTOOL_GET_TS_INFO is Linux's (elsewhere capture warns and waits for datagrams)")
    lo = loopback_name()
    res = run("capture", "127.0.0.1:0", "--hardware", "--count", "1", "-o", str(tmp_path / "x.pcapng"))
    error = _last_error(res)
    assert f"--hardware: interface {lo} has no hardware receive stamps (it supports " in error
    assert "SOFTWARE" in error


# --- row 7: -o - -----------------------------------------------------------------------

def test_output_dash_writes_pcapng_to_stdout(tmp_path: Path) -> None:
    proc = subprocess.Popen(CLI + ["capture", "127.0.0.1:0", "--count", "5", "-o", "-", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    port = int(line.rsplit(" to ", 1)[0].rsplit(":", 1)[1])
    assert line.endswith(" to -\n")
    send("127.0.0.1", port, [b"out %d" % i for i in range(5)])
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert not (Path.cwd() / "-").exists()
    path = tmp_path / "stdout.pcapng"
    path.write_bytes(stdout)
    assert [r.payload for r in read_records(str(path))] == [b"out %d" % i for i in range(5)]
    assert b"captured 5 datagrams" in stderr and b'"captured": 5' in stderr  # status and JSON on stderr


# --- row 8: --buffer-size ----------------------------------------------------------------

class _ClampingSocket:
    """A Linux-like socket without CAP_NET_ADMIN: SO_RCVBUFFORCE refused, SO_RCVBUF clamped to rmem_max."""

    def __init__(self, rmem_max: int) -> None:
        self.rmem_max, self.size = rmem_max, 212992

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if option == 33:  # SO_RCVBUFFORCE
            raise OSError(errno.EPERM, "Operation not permitted")
        self.size = 2 * min(value, self.rmem_max)

    def getsockopt(self, level: int, option: int) -> int:
        return self.size


def test_buffer_size_clamped_gives_a_warning_with_the_size_obtained() -> None:
    if sotimestamp.constants.platform_name() != "linux":
        pytest.skip("Linux's SO_RCVBUFFORCE and doubling")
    got, warning = capture_mod._buffer_warning(_ClampingSocket(rmem_max=1 << 20), 8 << 20)  # type: ignore[arg-type]
    assert got == 2 << 20
    assert warning is not None and f"gave a receive buffer of {2 << 20} bytes" in warning and "rmem_max" in warning
    got, warning = capture_mod._buffer_warning(_ClampingSocket(rmem_max=1 << 20), 1 << 19)  # type: ignore[arg-type]
    assert got == 1 << 20 and warning is None


def test_buffer_size_on_a_real_socket(tmp_path: Path) -> None:
    out = tmp_path / "b.pcapng"
    want = 3 << 20
    proc, port = start_capture("127.0.0.1:0", out, "--buffer-size", str(want), "--duration", "0.3", "--json")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    got = json.loads(stdout)["receive_buffer"]
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text()) if Path("/proc/sys/net/core/rmem_max").exists() else None
    # Linux reports twice the size asked (its bookkeeping); the BSDs report the size itself
    full = 2 * want if sotimestamp.constants.platform_name() == "linux" else want
    if got >= full:
        assert "warning" not in stderr  # SO_RCVBUFFORCE (root), or rmem_max was large enough
    else:
        assert f"warning: --buffer-size {want}: the kernel gave a receive buffer of {got} bytes" in stderr
        assert rmem_max is None or got <= 2 * rmem_max
    tiny = start_capture("127.0.0.1:0", tmp_path / "t.pcapng", "--buffer-size", "100", "--duration", "0.2",
                         "--json")[0]
    out_tiny, err = tiny.communicate(timeout=30)
    if json.loads(out_tiny)["receive_buffer"] > (200 if full == 2 * want else 100):
        # Linux raises it to its minimum (SOCK_MIN_RCVBUF); NetBSD takes 100 as it is
        assert "warning: --buffer-size 100: the kernel raised the receive buffer to its minimum" in err
    else:
        assert "warning" not in err



# --- row 1: what the fast capture loop writes -------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_captured_checksums_are_what_tshark_expects(tmp_path: Path, host: str) -> None:
    """IPv4: header checksum valid, UDP checksum 0 ("not present", legal); IPv6: UDP checksum valid
    (mandatory there), odd and even payload lengths."""
    tshark = need_tool("tshark")
    out = tmp_path / "sums.pcapng"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    payloads = [b"sum %d " % i + b"y" * i for i in range(9)]

    def ready(sock: socket.socket) -> None:
        with socket.socket(family, socket.SOCK_DGRAM) as tx:
            for p in payloads:
                tx.sendto(p, sock.getsockname()[:2])

    try:
        capture(Endpoint(host, 0), str(out), count=len(payloads), progress=False, ready=ready)
    except OSError as exc:
        pytest.skip(f"{host} unavailable: {exc}")
    rows = subprocess.run(
        [tshark, "-r", str(out), "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-E", "separator=,", "-e", "udp.checksum.status", "-e", "ip.checksum.status", "-e", "data"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(rows) == len(payloads)
    for row, payload in zip(rows, payloads):
        udp, ip, data = row.split(",")
        assert bytes.fromhex(data) == payload
        assert (udp, ip) == (("3", "1") if family == socket.AF_INET else ("1", "")), row  # 3: not present, 1: good


def test_capture_without_recvmmsg_writes_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recvmsg() fallback (a Python without ctypes) records the same datagrams and sources."""
    monkeypatch.setattr(sotimestamp.batch, "HAVE_RECVMMSG", False)
    out = tmp_path / "fallback.pcapng"

    def ready(sock: socket.socket) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(30):
                tx.sendto(b"fb %d" % i, sock.getsockname())

    result = capture(Endpoint("127.0.0.1", 0), str(out), count=30, progress=False, ready=ready)
    assert result.packets == 30 and result.sources == {"software": 30}
    records = list(read_records(str(out)))
    assert [r.payload for r in records] == [b"fb %d" % i for i in range(30)]
    assert all(r.source == "software" for r in records)


class _RefusesPastLimit(io.RawIOBase):
    """A file that refuses a whole write() passing its size limit, as NetBSD does at
    RLIMIT_FSIZE (Linux writes up to the limit instead)."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if len(self.data) + len(b) > self.limit:
            raise OSError(errno.EFBIG, "File too large")
        self.data += bytes(b)
        return len(b)


def test_a_write_refused_whole_still_keeps_every_block_that_fits() -> None:
    from sotimestamp.pcap.write import PcapngWriter, WriteFailed

    stream = _RefusesPastLimit(4000)
    writer = PcapngWriter(stream)  # type: ignore[arg-type]
    with pytest.raises(WriteFailed) as failed:
        for i in range(200):
            writer.write(b"%04d" % i + b"z" * 60, ("127.0.0.1", 4000), ("127.0.0.1", 5000), 10**18 + i, "software")
        writer.flush()
    saved = failed.value.saved
    assert 0 < saved < 200
    assert len(stream.data) == writer.whole_bytes and len(stream.data) > 4000 - 200
