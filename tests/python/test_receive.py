"""Real kernel sockets on loopback: RX stamps, recv_batch, TX stamps, multicast."""
from __future__ import annotations

import errno
import socket
import struct
import time
from typing import Callable, Tuple

import pytest

import sotimestamp
from sotimestamp import batch as batch_mod

from conftest import loopback_name, loopback_pair, requires_kernel, wait_tx

Pair = Tuple[socket.socket, socket.socket]


def test_enable_returns_rx_software_flags(pair: Pair) -> None:
    rx, _tx = pair
    flags = sotimestamp.enable(rx).flags
    assert flags & sotimestamp.SOF_TIMESTAMPING_RX_SOFTWARE
    assert flags & sotimestamp.SOF_TIMESTAMPING_SOFTWARE
    assert not flags & sotimestamp.SOF_TIMESTAMPING_TX_SOFTWARE


def test_recv_stamp_between_send_and_recv(pair: Pair) -> None:
    rx, tx = pair
    sotimestamp.enable(rx)
    before = time.time_ns()
    tx.sendto(b"hello", rx.getsockname())
    pkt = sotimestamp.recv(rx)
    after = time.time_ns()
    assert pkt.data == b"hello"
    assert pkt.address[:2] == tx.getsockname()[:2]
    assert pkt.source == "software" and pkt.hardware_ns is None
    assert before <= pkt.software_ns <= after


@pytest.mark.parametrize("receive", [sotimestamp.recv, sotimestamp.recv_batch], ids=["recv", "recv_batch"])
def test_receive_honours_timeout(pair: Pair, receive: Callable[[socket.socket], object]) -> None:
    rx, tx = pair
    sotimestamp.enable(rx)
    rx.settimeout(0.05)
    with pytest.raises(socket.timeout):
        receive(rx)
    rx.settimeout(0.0)
    with pytest.raises(BlockingIOError):
        receive(rx)
    rx.settimeout(2.0)  # then the first datagram ends the wait
    tx.sendto(b"one", rx.getsockname())
    got = receive(rx)
    first = got[0] if isinstance(got, list) else got
    assert first.data == b"one" and first.source == "software"


def test_disable_stops_stamps(pair: Pair) -> None:
    rx, tx = pair
    sotimestamp.enable(rx)
    sotimestamp.disable(rx)
    tx.sendto(b"x", rx.getsockname())
    pkt = sotimestamp.recv(rx)
    assert pkt.source is None and pkt.software_ns is None


@pytest.mark.parametrize("option", ["SO_TIMESTAMP", pytest.param("SO_TIMESTAMPNS", marks=requires_kernel("SO_TIMESTAMPNS"))])
def test_recv_parses_older_options(pair: Pair, option: str) -> None:
    rx, tx = pair
    rx.setsockopt(socket.SOL_SOCKET, getattr(sotimestamp, option), 1)
    before = time.time_ns()
    tx.sendto(b"old", rx.getsockname())
    pkt = sotimestamp.recv(rx)
    resolution = 1000 if option == "SO_TIMESTAMP" else 1
    assert before - resolution <= pkt.software_ns <= time.time_ns()


def test_recv_batch_100_in_two_calls(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    if not batch_mod.HAVE_RECVMMSG:
        pytest.skip("no recvmmsg through ctypes on this Python")
    rx, tx = pair
    sotimestamp.grow_rcvbuf(rx, 1 << 20)
    sotimestamp.enable(rx)
    syscalls = []
    real = batch_mod._recvmmsg

    def counting(*args):  # the real libc recvmmsg, counted
        syscalls.append(args[2])
        return real(*args)

    monkeypatch.setattr(batch_mod, "_recvmmsg", counting)
    before = time.time_ns()
    for i in range(100):
        tx.sendto(b"%03d" % i, rx.getsockname())
    after = time.time_ns()
    first = sotimestamp.recv_batch(rx, 64)
    second = sotimestamp.recv_batch(rx, 64)
    assert (len(first), len(second)) == (64, 36)
    assert len(syscalls) == 2  # one recvmmsg per batch
    packets = first + second
    assert [p.data for p in packets] == [b"%03d" % i for i in range(100)]
    stamps = [p.software_ns for p in packets]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    assert all(p.address[:2] == tx.getsockname()[:2] for p in packets)


def test_recv_batch_fallback_matches(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recvmsg fallback (Pythons without _ctypes) gives the same packets."""
    rx, tx = pair
    sotimestamp.enable(rx)
    monkeypatch.setattr(batch_mod, "HAVE_RECVMMSG", False)
    for i in range(10):
        tx.sendto(b"%d" % i, rx.getsockname())
    got = sotimestamp.recv_batch(rx, 4) + sotimestamp.recv_batch(rx, 64)
    assert [p.data for p in got] == [b"%d" % i for i in range(10)]
    assert all(p.source == "software" for p in got)


@requires_kernel("SO_TIMESTAMPING", "MSG_ERRQUEUE")
def test_tx_stamps_with_opt_id_in_order(pair: Pair) -> None:
    rx, tx = pair
    flags = sotimestamp.enable(tx, tx=True, opt_id=True).flags
    assert flags & sotimestamp.SOF_TIMESTAMPING_OPT_ID
    n = 20
    before = time.time_ns()
    for i in range(n):
        tx.sendto(b"tx%d" % i, rx.getsockname())
    after = time.time_ns()
    stamps = wait_tx(tx, n)
    assert [s.key for s in stamps] == list(range(n))
    assert all(s.kind == sotimestamp.SCM_TSTAMP_SND and s.hardware_ns is None for s in stamps)
    assert all(before <= s.software_ns <= after for s in stamps)
    assert sotimestamp.tx_timestamps(tx) == []  # drained, and it did not block


@requires_kernel("SO_TIMESTAMPING", "MSG_ERRQUEUE")
def test_opt_id_message_keys_one_datagram(pair: Pair) -> None:
    """SCM_TS_OPT_ID gives that datagram the key; the socket counter does not move."""
    rx, tx = pair
    sotimestamp.enable(tx, tx=True, opt_id=True)
    dest = rx.getsockname()
    tx.sendto(b"a", dest)
    try:
        tx.sendmsg([b"b"], [sotimestamp.opt_id_message(1000)], 0, dest)
    except OSError as e:
        if e.errno == errno.EINVAL:
            pytest.skip("this kernel has no SCM_TS_OPT_ID (Linux < 6.13)")
        raise
    tx.sendmsg([b"c"], [sotimestamp.opt_id_message(0xFFFFFFFF)], 0, dest)
    tx.sendto(b"d", dest)
    assert [s.key for s in wait_tx(tx, 4)] == [0, 1000, 0xFFFFFFFF, 1]


@requires_kernel("SO_TIMESTAMPING", "MSG_ERRQUEUE")
def test_opt_id_message_needs_opt_id_and_a_u32(pair: Pair) -> None:
    rx, tx = pair
    with pytest.raises(ValueError, match="not a u32"):
        sotimestamp.opt_id_message(1 << 32)
    with pytest.raises(ValueError, match="not a u32"):
        sotimestamp.opt_id_message(-1)
    sotimestamp.enable(tx, tx=True)  # no OPT_ID: the kernel refuses the key
    with pytest.raises(OSError) as info:
        tx.sendmsg([b"x"], [sotimestamp.opt_id_message(5)], 0, rx.getsockname())
    assert info.value.errno == errno.EINVAL
    assert sotimestamp.tx_timestamps(tx) == []


@requires_kernel("SO_TIMESTAMPING", "MSG_ERRQUEUE")
def test_tx_timestamps_keeps_socket_timeout(pair: Pair) -> None:
    _rx, tx = pair
    sotimestamp.enable(tx, tx=True)
    tx.settimeout(1.5)
    start = time.monotonic()
    assert sotimestamp.tx_timestamps(tx) == []
    assert time.monotonic() - start < 1.0  # never waited for the socket timeout
    assert tx.gettimeout() == 1.5


def test_enable_rejects_what_linux_cannot_do() -> None:
    if not sotimestamp.constants.platform_name().startswith("linux"):
        pytest.skip("Linux behaviour")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(sotimestamp.UnsupportedError, match="CLOCK_REALTIME"):
            sotimestamp.enable(s, clock="monotonic")
        with pytest.raises(ValueError, match="clock must be"):
            sotimestamp.enable(s, clock="tai")
        with pytest.raises(ValueError, match="needs tx=True"):
            sotimestamp.enable(s, opt_id=True)


def test_enable_without_so_timestamping_refuses_tx(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel without SO_TIMESTAMPING: RX falls back to SO_TIMESTAMPNS, TX is refused by name."""
    from sotimestamp import core

    table = sotimestamp.constants.current()
    assert table is not None
    fake = sotimestamp.constants.PlatformConstants(**{**table.__dict__, "SO_TIMESTAMPING": None})
    monkeypatch.setattr(sotimestamp.constants, "current", lambda: fake)
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        with pytest.raises(core.UnsupportedError, match="tx stamps need SO_TIMESTAMPING"):
            core.enable(rx, tx=True)
        flags = core.enable(rx).flags
        assert flags == sotimestamp.SOF_TIMESTAMPING_RX_SOFTWARE | sotimestamp.SOF_TIMESTAMPING_SOFTWARE
        tx.sendto(b"ns", rx.getsockname())
        assert sotimestamp.recv(rx).source == "software"


@pytest.mark.parametrize("group,host,family", [
    ("239.255.77.1", "127.0.0.1", socket.AF_INET),
    ("ff02::7731", "::1", socket.AF_INET6),
])
def test_multicast_on_lo(group: str, host: str, family: int) -> None:
    rx = socket.socket(family, socket.SOCK_DGRAM)
    tx = socket.socket(family, socket.SOCK_DGRAM)
    with rx, tx:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rx.bind((group, 0) if family == socket.AF_INET else ("::", 0))
        rx.settimeout(1.0)
        try:
            tx.bind((host, 0))  # loopback source address only
            sotimestamp.join_multicast(rx, group, loopback_name())
            sotimestamp.multicast_sender(tx, host if family == socket.AF_INET else loopback_name())
            sotimestamp.enable(rx)
            dest = (group, rx.getsockname()[1]) if family == socket.AF_INET else \
                (group, rx.getsockname()[1], 0, socket.if_nametoindex(loopback_name()))
            tx.sendto(b"mcast", dest)
            pkt = sotimestamp.recv(rx)
        except (OSError, socket.timeout) as exc:
            pytest.skip(f"multicast on lo not allowed by this kernel: {exc}")
        assert pkt.data == b"mcast" and pkt.source == "software"


@requires_kernel("SO_TIMESTAMPNS")
def test_recv_batch_mixed_senders_and_control_messages(pair: Pair) -> None:
    """Slots from two senders, and datagrams carrying two control messages, take the slot-by-slot path."""
    rx, tx = pair
    host = rx.getsockname()[0]
    other = socket.socket(rx.family, socket.SOCK_DGRAM)
    with other:
        other.bind((host, 0))
        sotimestamp.enable(rx)
        rx.setsockopt(socket.SOL_SOCKET, sotimestamp.SO_TIMESTAMPNS, 1)  # a second stamp message
        before = time.time_ns()
        for i in range(10):
            (tx if i % 2 else other).sendto(b"%d" % i, rx.getsockname())
        got = sotimestamp.recv_batch(rx, 64)
        assert [p.data for p in got] == [b"%d" % i for i in range(10)]
        for i, p in enumerate(got):
            assert p.address[:2] == (tx if i % 2 else other).getsockname()[:2]
            assert p.source == "software" and before <= p.software_ns <= time.time_ns()


def test_recv_batch_from_two_threads(pair: Pair) -> None:
    """Each thread has its own recvmmsg buffers (the call runs without the GIL)."""
    import threading

    rx, tx = pair
    N = 200  # fits an unprivileged SO_RCVBUF (rmem_max) too
    rx2, tx2 = loopback_pair("ipv4")
    with rx2, tx2:
        for sock in (rx, rx2):
            sotimestamp.grow_rcvbuf(sock, 1 << 20)
            sotimestamp.enable(sock)
        for i in range(N):
            tx.sendto(b"a%d" % i, rx.getsockname())
            tx2.sendto(b"b%d" % i, rx2.getsockname())
        results = {}

        def drain(name: str, sock: socket.socket) -> None:
            got = []
            while len(got) < N:
                got += [p.data for p in sotimestamp.recv_batch(sock, 16)]
            results[name] = got

        threads = [threading.Thread(target=drain, args=(n, s)) for n, s in (("a", rx), ("b", rx2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert results["a"] == [b"a%d" % i for i in range(N)]
        assert results["b"] == [b"b%d" % i for i in range(N)]


def test_recv_batch_decodes_hardware_stamp_slot() -> None:
    """lo has no hardware stamps: write ts[2] into a received slot and decode it again."""
    if not batch_mod.HAVE_RECVMMSG or sotimestamp.constants.platform_name() != "linux":
        pytest.skip("Linux recvmmsg layout")
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        for i in range(2):
            tx.sendto(b"hw%d" % i, rx.getsockname())
        time.sleep(0.05)
        batch = batch_mod._get_batch(4, 256)
        assert batch_mod._recvmmsg_once(rx, batch, 4) == 2
        first = batch_mod._packets(batch, 2)
        assert [p.source for p in first] == ["software", "software"]
        data_off = 16  # CMSG_DATA on LP64 Linux; ts[2] is 32 bytes further
        batch.controls[data_off + 32:data_off + 48] = struct.pack("=qq", 42, 7)
        again = batch_mod._packets(batch, 2)
        assert again[0].source == "hardware" and again[0].hardware_ns == 42_000_000_007
        assert again[0].software_ns == first[0].software_ns and again[1] == first[1]


class _RefusingSocket:
    """A socket whose kernel refuses receive buffers above ``limit`` (BSD ENOBUFS)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.asked, self.size = limit, [], 41600

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.asked.append(value)
        if value > self.limit:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        self.size = value

    def getsockopt(self, level: int, option: int) -> int:
        return self.size


def test_grow_rcvbuf_halves_until_the_kernel_takes_it() -> None:
    sock = _RefusingSocket(limit=200_000)
    assert sotimestamp.grow_rcvbuf(sock, 1 << 20) == 1 << 17  # type: ignore[arg-type]
    assert sock.asked == [1 << 20, 1 << 19, 1 << 18, 1 << 17]


def test_grow_rcvbuf_on_a_real_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert sotimestamp.grow_rcvbuf(s, 1 << 20) >= 64 * 1024
