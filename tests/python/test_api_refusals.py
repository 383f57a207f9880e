"""The API fails loudly (issue 20 item 7, issue 22 items 9-10): sockets it cannot serve are
refused with an OSError naming what failed, ``enable`` says what is in force, a cut datagram
says so, and TX stamps are never read from a kernel without the error queue."""
from __future__ import annotations

import errno
import socket
import struct
import time
from typing import Any, Callable, Iterator, Tuple

import pytest

import sotimestamp
from sotimestamp import batch as batch_mod
from sotimestamp import constants as C
from sotimestamp import core

from conftest import loopback_pair

Pair = Tuple[socket.socket, socket.socket]


@pytest.fixture
def tcp_pair() -> Iterator[Pair]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _addr = listener.accept()
        with client, server:
            server.settimeout(2.0)
            yield server, client


@pytest.fixture
def unix_pair() -> Iterator[Pair]:
    rx, tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with rx, tx:
        rx.settimeout(2.0)
        yield rx, tx


RECEIVERS: list[Callable[[socket.socket], Any]] = [sotimestamp.recv, sotimestamp.recv_batch]


@pytest.mark.parametrize("receive", RECEIVERS, ids=["recv", "recv_batch"])
def test_receive_refuses_tcp_and_keeps_its_bytes(tcp_pair: Pair, receive: Callable[[socket.socket], Any]) -> None:
    """recv_batch on TCP raised struct.error (the stream's empty source address); recv gave a Packet of stream bytes."""
    server, client = tcp_pair
    client.sendall(b"stream bytes")
    time.sleep(0.05)
    with pytest.raises(sotimestamp.UnsupportedSocketError) as caught:
        receive(server)
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.EPROTOTYPE
    assert receive.__name__ in str(caught.value) and "SOCK_STREAM" in str(caught.value)
    assert server.recv(100) == b"stream bytes"  # nothing was read


@pytest.mark.parametrize("receive", RECEIVERS, ids=["recv", "recv_batch"])
def test_receive_refuses_af_unix(unix_pair: Pair, receive: Callable[[socket.socket], Any]) -> None:
    rx, tx = unix_pair
    tx.send(b"local")
    with pytest.raises(sotimestamp.UnsupportedSocketError) as caught:
        receive(rx)
    assert caught.value.errno == errno.EAFNOSUPPORT
    assert receive.__name__ in str(caught.value) and "AF_UNIX" in str(caught.value)
    assert rx.recv(100) == b"local"


def test_enable_refuses_af_unix(unix_pair: Pair) -> None:
    """enable() said software stamps were in force on AF_UNIX, and none ever came."""
    rx, _tx = unix_pair
    with pytest.raises(sotimestamp.UnsupportedSocketError) as caught:
        sotimestamp.enable(rx)
    assert caught.value.errno == errno.EAFNOSUPPORT and "enable" in str(caught.value)


def test_enable_keeps_tcp() -> None:
    """TCP has RX and TX stamps (Linux; NetBSD with the series): enable() accepts it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        assert sotimestamp.enable(s).flags & sotimestamp.SOF_TIMESTAMPING_RX_SOFTWARE


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_enable_hardware_on_loopback_is_refused(host: str) -> None:
    """enable(hardware=True) on 127.0.0.1 returned success and recv then gave source='software'."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, 0))
        except OSError as exc:
            pytest.skip(f"{host} unavailable here: {exc.strerror}")
        with pytest.raises(sotimestamp.UnsupportedError) as caught:
            sotimestamp.enable(s, hardware=True)
        assert caught.value.errno == errno.EOPNOTSUPP
        assert host in str(caught.value) and "loopback" in str(caught.value)


def test_enable_says_what_is_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rx, _tx = loopback_pair("ipv4")
    with rx, _tx:
        got = sotimestamp.enable(rx)
    assert isinstance(got, sotimestamp.StampingInForce)
    assert got.flags & sotimestamp.SOF_TIMESTAMPING_RX_SOFTWARE
    table = C.current()
    assert table is not None
    if C.kernel_has("SO_TIMESTAMPING"):
        assert (got.option, got.resolution_ns) == ("SO_TIMESTAMPING", 1)
    assert got.taken == table.rx_stamp_taken and got.clock == "realtime" and not got.hardware


def test_enable_fallback_to_microseconds_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel with only SO_TIMESTAMP (stock NetBSD): the result names the option, the microsecond
    resolution and where the stamp is taken, and the datagram's stamp is the µs one."""
    table = C.current()
    assert table is not None
    stock = C.PlatformConstants(**{**table.__dict__, "SO_TIMESTAMPING": None, "SO_TIMESTAMPNS": None,
                                   "SO_TS_CLOCK": None, "rx_stamp_taken_without_series": "at delivery (test)"})
    monkeypatch.setattr(C, "current", lambda: stock)
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        got = core.enable(rx)
        assert (got.option, got.resolution_ns) == ("SO_TIMESTAMP", 1000)
        assert got.flags == sotimestamp.SOF_TIMESTAMPING_RX_SOFTWARE | sotimestamp.SOF_TIMESTAMPING_SOFTWARE
        assert got.taken == "at delivery (test)"
        assert "µs" in str(got) and "SO_TIMESTAMP" in str(got)
        tx.sendto(b"us", rx.getsockname())
        pkt = sotimestamp.recv(rx)
        assert pkt.source is sotimestamp.StampSource.SOFTWARE and pkt.software_ns % 1000 == 0


@pytest.mark.parametrize("receive", [
    lambda s: sotimestamp.recv(s, 100),
    lambda s: sotimestamp.recv_batch(s, 1, 100)[0],
], ids=["recv", "recv_batch"])
@pytest.mark.parametrize("recvmmsg", [True, False], ids=["recvmmsg", "recvmsg"])
def test_truncated_datagram_is_flagged(receive: Callable[[socket.socket], sotimestamp.Packet], recvmmsg: bool,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """recv(s, 100) of a 3000-byte datagram gave 100 bytes and nothing telling the caller (MSG_TRUNC)."""
    if recvmmsg and not batch_mod.HAVE_RECVMMSG:
        pytest.skip("no recvmmsg through ctypes on this Python")
    monkeypatch.setattr(batch_mod, "HAVE_RECVMMSG", recvmmsg)
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        for size in (3000, 100, 99):
            tx.sendto(bytes(range(256)) * (size // 256) + bytes(size % 256), rx.getsockname())
        cut, exact, short = (receive(rx) for _ in range(3))
    assert (len(cut.data), cut.truncated) == (100, True)
    assert (len(exact.data), exact.truncated) == (100, False)
    assert (len(short.data), short.truncated) == (99, False)
    assert cut.source is sotimestamp.StampSource.SOFTWARE


def test_recv_batch_flags_only_the_cut_slots() -> None:
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        sizes = [10, 300, 200, 201, 5]
        for size in sizes:
            tx.sendto(b"x" * size, rx.getsockname())
        time.sleep(0.05)
        got = sotimestamp.recv_batch(rx, 8, 200)
    assert [(len(p.data), p.truncated) for p in got] == [(10, False), (200, True), (200, False), (200, True), (5, False)]


def _stock_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's answer forced to 'this kernel has no error queue', and MSG_ERRQUEUE made a flag
    the kernel ignores (0): what a stock NetBSD kernel does with 0x00800000."""
    table, netbsd = C.current(), C.for_platform("netbsd")
    assert table is not None
    series = {name: getattr(netbsd, name) for name in ("series_names", "series_probe", "series_provider")}
    monkeypatch.setattr(C, "current", lambda: C.PlatformConstants(**{**table.__dict__, "MSG_ERRQUEUE": 0, **series}))
    monkeypatch.setattr(C, "kernel_has", lambda name: name not in netbsd.series_names, raising=False)


def test_tx_timestamps_refuses_without_error_queue_and_consumes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stock NetBSD ignores MSG_ERRQUEUE: the call was a plain recvmsg that took a queued datagram
    (and returned its RX stamp as a TX stamp).  Now it refuses, naming the kernel package."""
    _stock_kernel(monkeypatch)
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        tx.sendto(b"must stay queued", rx.getsockname())
        time.sleep(0.05)
        with pytest.raises(sotimestamp.UnsupportedError) as caught:
            sotimestamp.tx_timestamps(rx)
        assert caught.value.errno == errno.EOPNOTSUPP
        assert "MSG_ERRQUEUE" in str(caught.value)
        assert "sysutils/sotimestamp-kernel-patches" in str(caught.value)
        assert sotimestamp.recv(rx).data == b"must stay queued"


def test_tx_needs_the_kernel_package_on_a_stock_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """enable(tx=True) / hardware=True on a kernel without SO_TIMESTAMPING names what provides it (NetBSD)."""
    netbsd = C.for_platform("netbsd")
    monkeypatch.setattr(C, "current", lambda: netbsd)
    monkeypatch.setattr(C, "kernel_has", lambda name: name not in netbsd.series_names, raising=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for ask in ({"tx": True}, {"hardware": True, "software": False}):
            with pytest.raises(sotimestamp.UnsupportedError, match="sysutils/sotimestamp-kernel-patches"):
                core.enable(s, **ask)


def test_the_probe_says_what_this_kernel_has() -> None:
    """Linux and FreeBSD kernels have their whole table; NetBSD's series names depend on the probe,
    and a name the platform lacks is never there."""
    table = C.current()
    if table is None:
        pytest.skip("no table for this platform")
    for name, value in table.as_dict().items():
        expected = name not in table.series_names or C.kernel_has(name)
        assert hasattr(sotimestamp, name) is expected, name
        if expected:
            assert getattr(sotimestamp, name) == value
    assert not C.kernel_has("SO_BINTIME") or table.SO_BINTIME is not None
    if table.name == "linux":
        assert C.kernel_has("SO_TIMESTAMPING") and C.kernel_has("MSG_ERRQUEUE")


def test_exported_names_leave_out_what_the_kernel_lacks() -> None:
    netbsd = C.for_platform("netbsd")
    stock = C.exported_names(netbsd, lambda name: False)
    patched = C.exported_names(netbsd, lambda name: True)
    assert "SO_TIMESTAMPING" not in stock and "MSG_ERRQUEUE" not in stock and "SO_TIMESTAMPNS" not in stock
    assert stock["SO_TIMESTAMP"] == 0x2000 and stock["SO_OVERFLOWED"] == 0x1009
    assert patched == netbsd.as_dict()
    assert C.exported_names(C.for_platform("linux"), lambda name: False) == C.for_platform("linux").as_dict()


def _nic_address_without_hardware() -> Tuple[str, str]:
    """(interface, IPv4 address) of an up, non-loopback interface whose NIC has no hardware
    receive stamps (SIOCGIFADDR for the address; Linux only, like the check itself)."""
    import fcntl

    from sotimestamp import nic

    if not getattr(C.current(), "ethtool_ts_info", False):
        pytest.skip("only Linux tells a NIC's stamping capabilities (ETHTOOL_GET_TS_INFO)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            try:
                ifreq = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("16s24x", name.encode()))  # SIOCGIFADDR
            except OSError:
                continue
            host = socket.inet_ntoa(ifreq[20:24])
            if not host.startswith("127.") and nic.interface_rx_hardware(name)[0] is False:
                return name, host
    pytest.skip("no interface with an IPv4 address and without hardware stamps here")


def test_enable_hardware_on_a_nic_without_it_is_refused() -> None:
    """Bound to a NIC's address: the NIC is asked, and one without hardware RX stamps is refused by name."""
    name, host = _nic_address_without_hardware()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        with pytest.raises(sotimestamp.UnsupportedError) as caught:
            sotimestamp.enable(s, hardware=True)
        assert f"{name} (the interface of {host}) has no hardware receive stamps" in str(caught.value)
        assert sotimestamp.enable(s).hardware is False  # software stamps are still there


def test_enable_hardware_on_a_wildcard_says_it_is_unchecked() -> None:
    """Bound to 0.0.0.0 the receiving interface is not known: accepted, and the result says so."""
    if not C.kernel_has("SO_TIMESTAMPING"):
        pytest.skip("hardware stamps need SO_TIMESTAMPING")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        got = sotimestamp.enable(s, hardware=True)
    assert got.hardware and got.flags & sotimestamp.SOF_TIMESTAMPING_RX_HARDWARE
    assert got.unverified == ("hardware stamps: the socket is bound to 0.0.0.0, not to one interface's address: "
                              "not checked",)
    assert "not checked" in str(got)


def test_the_series_probe_asks_the_kernel_once() -> None:
    """The probe is a getsockopt of the table's series_probe option, asked once per table: here
    NetBSD's SO_ERRQUEUE_DROPS (level 0xffff), which no Linux or FreeBSD kernel has."""
    netbsd = C.for_platform("netbsd")
    if C.platform_name() == "netbsd":
        pytest.skip("on NetBSD the answer is this kernel's")
    C._series_running.cache_clear()
    assert C._series_running(netbsd) is False and C._series_running(netbsd) is False
    assert C._series_running.cache_info().misses == 1
