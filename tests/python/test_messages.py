"""Messages and exit statuses as tcpdump and tcpreplay users read them (issue 20, item 8)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import loopback_name
from test_cli import CLI, run

MAN = Path(__file__).resolve().parents[2] / "py-sotimestamp" / "man" / "sotimestamp.1"


def _recording(tmp_path: Path, n: int = 20) -> Path:
    """A small capture file, written by the command itself."""
    from test_cli import record

    return record(tmp_path / "r.pcapng", [b"m %d" % i for i in range(n)], gap=0.002)


def test_replay_stops_on_sigint_even_when_started_with_it_ignored(tmp_path: Path) -> None:
    """A shell starts a script's background job with SIGINT ignored; tcpdump and tcpreplay still
    stop on it, and so must replay (it looped on, exit status -)."""
    path = _recording(tmp_path)
    proc = subprocess.Popen(CLI + ["replay", str(path), "--to", "127.0.0.1:9", "--loop", "--quiet"],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(1.5)  # past the interpreter's start and the file's reading
    proc.send_signal(signal.SIGINT)
    try:
        _o, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("replay went on after SIGINT") from None
    assert proc.returncode == 128 + signal.SIGINT and "sent " in err, err


def test_replay_iface_errors_blame_the_interface_not_the_file(tmp_path: Path) -> None:
    path = _recording(tmp_path, 2)
    res = run("replay", str(path), "--to", "239.1.2.3:5000", "--iface", "nosuch")
    assert res.returncode == 1, res.stderr
    assert res.stderr == "sotimestamp: error: no network interface named 'nosuch'\n"


def test_iface_with_a_unicast_destination_is_a_usage_error(tmp_path: Path) -> None:
    path = _recording(tmp_path, 2)
    res = run("replay", str(path), "--to", "127.0.0.1:5000", "--iface", loopback_name())
    assert res.returncode == 2 and "is not a multicast address" in res.stderr, res.stderr


def test_link_local_without_scope_says_a_scope_is_needed() -> None:
    res = run("capture", "[fe80::1]:5000", "-o", os.devnull, "--count", "1")
    assert res.returncode == 2 and "link-local: it needs a scope" in res.stderr, res.stderr
    assert "[fe80::1%eth0]:5000" in res.stderr


def test_group_that_is_not_multicast_is_a_usage_error() -> None:
    res = run("capture", "0.0.0.0:5000", "--group", "10.0.0.1", "-o", os.devnull)
    assert res.returncode == 2 and "'10.0.0.1' is not a multicast address" in res.stderr, res.stderr


def test_binding_a_group_with_iface_needs_no_group_option(tmp_path: Path) -> None:
    res = run("capture", "239.1.2.3:0", "--iface", loopback_name(), "-o", str(tmp_path / "g.pcapng"),
              "--duration", "0.3")
    assert "--group" not in res.stderr, res.stderr
    if res.returncode != 0:  # a host that will not join a group on loopback: the join is what failed
        assert res.returncode == 1 and "join group 239.1.2.3" in res.stderr, res.stderr
    res = run("capture", "127.0.0.1:0", "--iface", loopback_name(), "-o", str(tmp_path / "u.pcapng"))
    assert res.returncode == 2 and "there is no group to join" in res.stderr, res.stderr


def test_stats_dash_reads_standard_input(tmp_path: Path) -> None:
    path = _recording(tmp_path, 30)
    from_file = run("stats", "--json", str(path))
    with open(path, "rb") as stdin:
        piped = subprocess.run(CLI + ["stats", "--json", "-"], stdin=stdin, capture_output=True, text=True,
                               timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.replace('"path": "-"', "") == from_file.stdout.replace(f'"path": "{path}"', "")
    with open(os.devnull, "rb") as stdin:
        empty = subprocess.run(CLI + ["stats", "-"], stdin=stdin, capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and empty.stderr == (
        "sotimestamp: error: standard input: empty file, not pcapng or pcap\n")


@pytest.mark.parametrize("page", ["ip 4", "ip 7", "udp 4", "udp 7", "ip6 4", "ipv6 7"])
def test_man_page_refers_to_the_linux_and_bsd_pages(page: str) -> None:
    """ip(4) is the BSDs' page, ip(7) Linux's: a reader on either finds theirs."""
    assert f".Xr {page}" in MAN.read_text()


def test_capture_exit_status_is_the_man_pages(tmp_path: Path) -> None:
    """The man page lists 129 (SIGHUP), 130 (SIGINT) and 143 (SIGTERM) for capture too."""
    text = MAN.read_text()
    exit_status = text[text.index(".Sh EXIT STATUS"):text.index(".Sh EXAMPLES")]
    for status, name in ((129, "SIGHUP"), (130, "SIGINT"), (143, "SIGTERM")):
        assert f".It {status}\n" in exit_status and name in exit_status
    assert sys.platform  # the statuses themselves: test_cli.test_signal_ends_with_complete_file
