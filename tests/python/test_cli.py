"""The sotimestamp command end to end: real captures on loopback, tshark/capinfos, exit codes."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from sotimestamp.endpoint import Endpoint
from sotimestamp.pcap import COMMENT_PREFIX, read_records

from conftest import loopback_name, need_tool

CLI = [sys.executable, "-m", "sotimestamp"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)


_READY = re.compile(r"^sotimestamp: capturing on \[?([^\]]*?)\]?:(\d+) to ")


class CaptureDidNotStart(AssertionError):
    pass


def _reap(proc: subprocess.Popen) -> str:
    """Kill a capture that did not start; returns the rest of its stderr."""
    proc.kill()
    _out, err = proc.communicate()
    return err


def start_capture(bind: str, out: Path, *extra: str) -> Tuple[subprocess.Popen, int]:
    """Start `sotimestamp capture BIND` and return it with its port once it says it is capturing.

    BIND with port 0 lets the kernel choose: no port is picked here and then
    raced for (probing a port by binding it can take it from the capture).
    """
    proc = subprocess.Popen(CLI + ["capture", bind, "-o", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    # Byte by byte from the pipe itself: a buffered readline could swallow
    # what follows the line, and communicate() later reads the pipe directly.
    raw = b""
    deadline = time.monotonic() + 20
    while not raw.endswith(b"\n"):
        if not select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))[0]:
            _reap(proc)
            raise AssertionError(f"capture said no whole line within 20 s: {raw!r}")
        byte = os.read(proc.stderr.fileno(), 1)
        if not byte:
            break
        raw += byte
    line = raw.decode()
    ready = _READY.match(line)
    if not ready:
        raise CaptureDidNotStart(f"capture did not start: {(line + _reap(proc)).strip()}")
    return proc, int(ready.group(2))


def any_port(host: str) -> str:
    return str(Endpoint(host, 0))


def send(host: str, port: int, payloads: List[bytes], gap: float = 0.0005) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        for p in payloads:
            s.sendto(p, (host, port))
            if gap:
                time.sleep(gap)


def record(path: Path, payloads: List[bytes], gap: float = 0.0005) -> Path:
    """`sotimestamp capture --count` of ``payloads`` sent to it on 127.0.0.1."""
    proc, port = start_capture("127.0.0.1:0", path, "--count", str(len(payloads)))
    send("127.0.0.1", port, payloads, gap=gap)
    assert proc.wait(timeout=30) == 0
    return path


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_capture_count_read_by_tshark_and_capinfos(tmp_path: Path, host: str) -> None:
    capinfos, tshark = need_tool("capinfos"), need_tool("tshark")
    n = 50
    out = tmp_path / "cap.pcapng"
    proc, port = start_capture(any_port(host), out, "--count", str(n))
    payloads = [b"datagram %03d " % i + os.urandom(i % 7) for i in range(n)]
    before = time.time_ns()
    send(host, port, payloads)
    _o, err = proc.communicate(timeout=30)
    after = time.time_ns()
    assert proc.returncode == 0, err
    assert f"captured {n} datagrams" in err
    info = subprocess.run([capinfos, "-c", "-M", str(out)], capture_output=True, text=True, check=True).stdout
    assert f"Number of packets:   {n}" in info
    assert "nanoseconds (9)" in subprocess.run([capinfos, str(out)], capture_output=True, text=True).stdout
    fields = subprocess.run(
        # -d: the free port may be one Wireshark assigns a protocol (47000 is
        # "hcrt"), which would leave the payload out of the "data" field.
        [tshark, "-r", str(out), "-d", f"udp.port=={port},data",
         "-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch",
         "-e", "udp.dstport", "-e", "data", "-e", "frame.comment", "-e", "ipv6.src" if ":" in host else "ip.src"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(fields) == n
    epochs = []
    for line, payload in zip(fields, payloads):
        epoch, dport, data, comment, src = line.split("|")
        assert int(dport) == port and bytes.fromhex(data) == payload and src == host
        assert comment == COMMENT_PREFIX + "software"
        sec, frac = epoch.split(".")
        assert len(frac) == 9  # nanosecond digits
        epochs.append(int(sec) * 10**9 + int(frac))
    assert before <= epochs[0] and epochs[-1] <= after and epochs == sorted(epochs)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_ends_with_complete_file(tmp_path: Path, sig: signal.Signals) -> None:
    """Each stop signal writes every received datagram and closes the file; the exit status
    is 128 + the signal's number, as the man page says (SIGHUP killed the capture with its
    datagrams still in memory: exit 129, 0 packets in the file)."""
    out = tmp_path / "sig.pcapng"
    proc, port = start_capture("127.0.0.1:0", out)
    payloads = [b"keep %d" % i for i in range(300)]
    send("127.0.0.1", port, payloads, gap=0)
    time.sleep(0.3)
    proc.send_signal(sig)
    _o, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    assert [r.payload for r in read_records(str(out))] == payloads


def test_stats_text_json_plot(tmp_path: Path) -> None:
    out = record(tmp_path / "s.pcapng", [b"s%d" % i for i in range(40)], gap=0.002)
    text = run("stats", str(out))
    assert text.returncode == 0 and "packets       40" in text.stdout and "p99" in text.stdout
    data = json.loads(run("stats", str(out), "--json").stdout)
    assert data["packets"] == 40 and data["sources"] == {"software": 40}
    assert data["inter_arrival"]["min_us"] <= data["inter_arrival"]["p50_us"] <= data["inter_arrival"]["max_us"]
    assert data["duration_s"] > 0 and data["rate_per_s"] > 0
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (matplotlib)")
    png = tmp_path / "ia.png"
    res = run("stats", str(out), "--plot", str(png))
    assert res.returncode == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_recapture_measures_pacing(tmp_path: Path) -> None:
    """Record 100 datagrams 2 ms apart, replay them at 2x, re-capture, compare the schedule."""
    payloads = [b"replay %d" % i for i in range(100)]
    original = record(tmp_path / "orig.pcapng", payloads, gap=0.002)

    again = tmp_path / "again.pcapng"
    proc, port2 = start_capture("127.0.0.1:0", again, "--count", "100")
    res = run("replay", str(original), "--to", f"127.0.0.1:{port2}", "--speed", "2")
    assert res.returncode == 0 and "sent 100 datagrams" in res.stderr
    assert proc.wait(timeout=30) == 0
    assert [r.payload for r in read_records(str(again))] == payloads
    report = json.loads(run("stats", str(again), "--reference", str(original), "--speed", "2", "--json").stdout)
    pacing = report["pacing_error_vs_reference"]
    assert pacing["compared"] == 100
    # Measured, not judged against a deadline here (that is `invoke bench`'s job):
    print(f"replay pacing error p50 {pacing['p50_us']:.1f} us, p99 {pacing['p99_us']:.1f} us")
    orig_span = [r.ts_ns for r in read_records(str(original))]
    again_span = [r.ts_ns for r in read_records(str(again))]
    assert again_span[-1] - again_span[0] < orig_span[-1] - orig_span[0]  # 2x faster


def _one_line_error(res: subprocess.CompletedProcess, code: int, needle: str) -> None:
    assert res.returncode == code, res
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr
    assert needle in lines[-1]
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("sotimestamp: error:")


def test_exit_codes_on_bad_input(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pcapng"
    garbage.write_bytes(b"\x00garbage" * 50)
    _one_line_error(run("stats", str(garbage)), 1, "not a pcapng file")
    _one_line_error(run("replay", str(garbage), "--to", "127.0.0.1:9"), 1, "not a pcapng file")
    _one_line_error(run("stats", str(tmp_path / "missing.pcapng")), 1, "No such file")
    _one_line_error(run("capture", "localhost:5000", "-o", "x.pcapng"), 2, "not an IPv4 or IPv6 address")
    _one_line_error(run("capture", "127.0.0.1:99999", "-o", "x.pcapng"), 2, "port")
    _one_line_error(run("capture", "127.0.0.1:5000"), 2, "-o")
    _one_line_error(run("capture", "127.0.0.1:0", "--count", "0", "-o", "x"), 2, "at least 1")
    _one_line_error(run("replay", str(garbage), "--to", "127.0.0.1:9", "--speed", "0"), 2, "above 0")
    _one_line_error(run("capture", "127.0.0.1:0", "--iface", "lo", "-o", str(tmp_path / "x")), 2,
                    "--iface lo: there is no group to join on it")
    _one_line_error(run("capture", "127.0.0.1:1", "--group", "239.1.1.1", "--iface", "nosuchif0",
                        "-o", str(tmp_path / "y")), 1, "nosuchif0")
    _one_line_error(run("nosuchcommand"), 2, "invalid choice")


def test_replay_file_without_udp(tmp_path: Path) -> None:
    from pcapng import FileWriter, blocks

    shb = blocks.SectionHeader(options={})
    shb.new_member(blocks.InterfaceDescription, link_type=1, snaplen=0)
    path = tmp_path / "arp.pcapng"
    with open(path, "wb") as f:
        FileWriter(f, shb).write_block(shb.new_member(blocks.EnhancedPacket, interface_id=0, packet_data=bytes(42), packet_len=42))
    _one_line_error(run("replay", str(path), "--to", "127.0.0.1:9"), 1, "no UDP datagrams")


def test_probe_json_and_help() -> None:
    res = run("probe", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    names = {o["option"]: o for o in report["options"]}
    if sys.platform.startswith("linux"):
        assert names["SO_TIMESTAMPING"]["accepted"] and "SCM_TIMESTAMPING" in names["SO_TIMESTAMPING"]["messages"]
        assert report["tx"]["supported"] and report["tx"]["keys"] == [0, 1, 2]
    text = run("--help").stdout
    for command in ("probe", "capture", "replay", "stats"):
        assert command in text
    assert run("capture", "--help").returncode == 0




def test_capture_multicast_group_on_lo(tmp_path: Path) -> None:
    group = "239.255.77.2"
    out = tmp_path / "mc.pcapng"
    try:  # it says it is capturing once it has joined
        proc, port = start_capture(f"{group}:0", out, "--group", group, "--iface", loopback_name(),
                                   "--count", "5", "--duration", "10")
    except CaptureDidNotStart as exc:
        pytest.skip(f"cannot join a multicast group on lo here: {exc}")
    import sotimestamp

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.bind(("127.0.0.1", 0))
        sotimestamp.multicast_sender(tx, "127.0.0.1")
        try:
            for i in range(5):
                tx.sendto(b"mc %d" % i, (group, port))
        except OSError as exc:
            proc.kill()
            pytest.skip(f"multicast on lo not allowed by this kernel: {exc}")
    _o, err = proc.communicate(timeout=30)
    if "captured 0 datagrams" in err:
        pytest.skip("multicast datagrams not delivered on lo here")
    assert proc.returncode == 0, err
    records = list(read_records(str(out)))
    assert [r.payload for r in records] == [b"mc %d" % i for i in range(5)]
    assert records[0].dst == (group, port) and records[0].src[0] == "127.0.0.1"


def test_replay_loop_until_sigint(tmp_path: Path) -> None:
    original = record(tmp_path / "o.pcapng", [b"l%d" % i for i in range(5)], gap=0.002)
    again = tmp_path / "again.pcapng"
    capture, port2 = start_capture("127.0.0.1:0", again, "--count", "15")
    # As a Ctrl-C at a terminal finds it: SIGINT at its default.  (A shell's
    # background job, e.g. `pytest &`, starts with SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler.)
    replay = subprocess.Popen(CLI + ["replay", str(original), "--to", f"127.0.0.1:{port2}", "--loop"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert capture.wait(timeout=30) == 0  # three loops arrived
    replay.send_signal(signal.SIGINT)
    _o, err = replay.communicate(timeout=30)
    lines = err.strip().splitlines()
    assert replay.returncode == 130 and lines[0] == "sotimestamp: interrupted", err
    sent = re.match(r"sotimestamp: sent (\d+) datagrams to ", lines[1])  # the summary, as at a normal end
    assert sent and int(sent.group(1)) >= 15 and "Traceback" not in err
    assert [r.payload for r in read_records(str(again))] == [b"l%d" % i for i in range(5)] * 3


def test_duration_ends_an_idle_capture(tmp_path: Path) -> None:
    capinfos = need_tool("capinfos")
    out = tmp_path / "idle.pcapng"
    res = run("capture", "127.0.0.1:0", "--duration", "0.3", "-o", str(out))
    assert res.returncode == 0 and "captured 0 datagrams" in res.stderr and "stopped by duration" in res.stderr
    info = subprocess.run([capinfos, "-c", str(out)], capture_output=True, text=True)
    assert info.returncode == 0 and "Number of packets:   0" in info.stdout
    _one_line_error(run("stats", str(out)), 1, "no packets")


def test_port_zero_is_announced_and_quiet_says_nothing(tmp_path: Path) -> None:
    out = tmp_path / "q.pcapng"
    said = run("capture", "[::1]:0", "--duration", "0.2", "-o", str(out))
    first = said.stderr.splitlines()[0]
    ready = _READY.match(first)
    assert said.returncode == 0 and ready and ready.group(1) == "::1" and int(ready.group(2)) > 0, said.stderr
    assert first.endswith(f" to {out}")
    from sotimestamp.cli import CAPTURING  # what scripts driving capture parse
    parsed = CAPTURING.match(first)
    assert parsed and parsed.group("port") == ready.group(2)
    quiet = run("capture", "127.0.0.1:0", "--duration", "0.2", "--quiet", "-o", str(out))
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_port_taken_is_one_line_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(CaptureDidNotStart, match="Address already in use"):
            start_capture(f"127.0.0.1:{port}", tmp_path / "t.pcapng", "--duration", "1")
        _one_line_error(run("capture", f"127.0.0.1:{port}", "--duration", "1", "-o", str(tmp_path / "u.pcapng")),
                        1, "Address already in use")
    assert not (tmp_path / "u.pcapng").exists()  # a capture that cannot bind writes nothing
