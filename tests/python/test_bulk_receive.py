"""The bulk receive paths (issue 20's speed items) give what the slot-by-slot paths give.

``recv_batch`` and capture's recorder read a batch whose control buffers all have one
shape with a few C calls (``batch.uniform_slots``: strided views of the slots' fields, or
``struct`` where they are not aligned to their size; ``PcapngWriter.write_flow``); any
other batch goes slot by slot, as before.  Each test
fills real ``recvmmsg()`` slots on loopback, then compares the bulk result with the
slot-by-slot one on the very same slots, and checks the bulk path refuses batches it
must not take (a TTL that changes within the batch, a stamp missing from one slot).
"""
from __future__ import annotations

import io
import socket
import struct
import sys
import time
from typing import Any, Iterator, List, Tuple

import pytest

import sotimestamp
from sotimestamp import batch as batch_mod
from sotimestamp.pcap import HeaderFields, PcapngWriter
from sotimestamp.pcap.format import pcapng_batches
from sotimestamp.pcap.write import pack_stamps
from sotimestamp.recorder import Recorder, enable_header_messages
from sotimestamp.stampsource import StampSource

from conftest import loopback_pair

Pair = Tuple[socket.socket, socket.socket]
LINUX_RECVMMSG = batch_mod.HAVE_RECVMMSG and sys.platform.startswith("linux")
needs_recvmmsg = pytest.mark.skipif(not LINUX_RECVMMSG, reason="Linux recvmmsg slots (ctypes)")
TS2_OFFSET = 16 + 32  # CMSG_DATA on LP64 Linux, then ts[2]


@pytest.fixture(autouse=True, params=["columns", "struct"])
def bulk_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs with both readers of a batch's headers: strided views of its fields
    (64-bit hosts) and the ``struct`` unpacking that a host whose fields are not aligned to
    their size (32-bit) uses."""
    if request.param == "struct":
        monkeypatch.setattr(batch_mod._Columns, "of", classmethod(lambda _cls, _batch: None))
    batch_mod._local.__dict__.pop("batches", None)  # buffers made under the other reader
    if LINUX_RECVMMSG:  # 64-bit Linux: the views are the reader in use, unless turned off
        assert (batch_mod._Batch(2, 64).columns is not None) == (request.param == "columns")


@pytest.fixture(params=["ipv4", "ipv6"])
def stamped(request: pytest.FixtureRequest) -> Iterator[Pair]:
    rx, tx = loopback_pair(request.param)
    with rx, tx:
        sotimestamp.grow_rcvbuf(rx, 1 << 20)
        sotimestamp.enable(rx)
        time.sleep(0.05)  # Linux turns RX stamping on from a workqueue: the first datagrams may have none
        yield rx, tx


def fresh_slots(count: int, bufsize: int) -> Any:
    """This thread's receive buffers, made anew (as a new capture's are: no bytes of
    another test's datagrams in them)."""
    batch_mod._local.__dict__.pop("batches", None)
    return batch_mod._get_batch(count, bufsize)


def fill_slots(rx: socket.socket, payloads: List[bytes], tx: socket.socket, bufsize: int = 2048) -> Any:
    """Send ``payloads`` to ``rx`` and receive them all into one batch of fresh slots."""
    for payload in payloads:
        tx.sendto(payload, rx.getsockname())
    time.sleep(0.05)
    batch = fresh_slots(64, bufsize)
    assert batch_mod._recvmmsg_once(rx, batch, 64) == len(payloads)
    return batch


def slot_by_slot(batch: Any, got: int, monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    with monkeypatch.context() as m:
        m.setattr(batch_mod, "uniform_slots", lambda _b, _g: None)
        return batch_mod._packets(batch, got)


@needs_recvmmsg
def test_recv_batch_bulk_gives_the_slot_by_slot_packets(stamped: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    rx, tx = stamped
    payloads = [b"%05d" % i + b"x" * (i % 7) for i in range(40)]  # lengths differ: one struct call per slot
    before = time.time_ns()
    batch = fill_slots(rx, payloads, tx)
    assert batch_mod.uniform_slots(batch, 40) is not None  # the bulk path is the one measured
    bulk = batch_mod._packets(batch, 40)
    assert bulk == slot_by_slot(batch, 40, monkeypatch)
    assert [p.data for p in bulk] == payloads
    assert all(p.source == StampSource.SOFTWARE and before <= p.software_ns <= time.time_ns() for p in bulk)
    assert {p.address[:2] for p in bulk} == {tx.getsockname()[:2]}


@needs_recvmmsg
def test_recv_batch_bulk_reads_hardware_stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    """lo has no hardware stamps: write ts[2] into received slots and decode them again."""
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        time.sleep(0.05)
        batch = fill_slots(rx, [b"hw%d" % i for i in range(3)], tx)
        for i in range(3):
            struct.pack_into("=qq", batch.controls, i * batch_mod.ANCBUFSIZE + TS2_OFFSET, 42, i)
        bulk = batch_mod._packets(batch, 3)
        assert [(p.source, p.hardware_ns) for p in bulk] == [(StampSource.HARDWARE, 42_000_000_000 + i)
                                                             for i in range(3)]
        assert bulk == slot_by_slot(batch, 3, monkeypatch)
        # a hardware stamp in one slot only: not one shape; slot by slot it is
        struct.pack_into("=qq", batch.controls, TS2_OFFSET + batch_mod.ANCBUFSIZE, 0, 0)
        assert batch_mod.uniform_slots(batch, 3) is None
        assert [p.source for p in batch_mod._packets(batch, 3)] == [StampSource.HARDWARE, StampSource.SOFTWARE,
                                                                    StampSource.HARDWARE]


@needs_recvmmsg
def test_bulk_path_refuses_a_cut_slot(stamped: Pair) -> None:
    """A slot filled to its last byte may hold a cut datagram: only the slot-by-slot path says which."""
    rx, tx = stamped
    batch = fill_slots(rx, [b"a" * 64, b"b" * 300], tx, bufsize=256)
    assert batch_mod.uniform_slots(batch, 2) is None
    got = batch_mod._packets(batch, 2)
    assert [(len(p.data), p.truncated) for p in got] == [(64, False), (256, True)]


def ttl_sender(family: int) -> socket.socket:
    return socket.socket(family, socket.SOCK_DGRAM)


def set_ttl(sock: socket.socket, ttl: int) -> None:
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def file_packets(data: bytes) -> List[Tuple[int, bytes]]:
    """(stamp ns, IP packet) of each datagram block of a pcapng file in memory."""
    return [(ts, frame) for batch in pcapng_batches("mem", io.BytesIO(data), lambda _n: None, lambda _m: None)
            for ts, _source, _link, frame in batch.frames()]


def hop_limit(packet: bytes) -> int:
    return packet[7] if packet[0] >> 4 == 6 else packet[8]


def recorder_pair(rx: socket.socket) -> Tuple[Recorder, io.BytesIO, Recorder, io.BytesIO]:
    out_bulk, out_slots = io.BytesIO(), io.BytesIO()
    dest = rx.getsockname()
    return (Recorder(rx, PcapngWriter(out_bulk), dest), out_bulk,  # type: ignore[arg-type]
            Recorder(rx, PcapngWriter(out_slots), dest), out_slots)  # type: ignore[arg-type]


@needs_recvmmsg
def test_capture_bulk_writes_the_slot_by_slot_file(stamped: Pair) -> None:
    """One flow, TTL 7: the bulk writer's file is byte for byte the per-row writer's, and says TTL 7."""
    rx, tx = stamped
    enable_header_messages(rx)
    set_ttl(tx, 7)
    payloads = [b"%04d" % i + b"y" * 61 for i in range(50)]  # odd length: IPv6's checksum pads it
    batch = fill_slots(rx, payloads, tx, bufsize=65535)
    bulk, out_bulk, slots, out_slots = recorder_pair(rx)
    assert bulk._write_one_flow(batch, 50)
    rows, decoded = slots._slot_rows(batch, 50)
    slots.writer.write_rows(rows, 50)
    slots.sources[StampSource.SOFTWARE] += 50 - decoded  # as record_batch counts the rows it did not decode
    for rec in (bulk, slots):
        rec.writer.flush()
    assert out_bulk.getvalue() == out_slots.getvalue()
    assert bulk.sources == slots.sources == {StampSource.SOFTWARE: 50}
    written = file_packets(out_bulk.getvalue())
    assert [packet[-65:] for _ts, packet in written] == payloads
    assert {hop_limit(packet) for _ts, packet in written} == {7}
    stamps = [ts for ts, _p in written]
    assert stamps == sorted(stamps) and stamps[0] > 1_600_000_000 * 10**9


def written_both_ways(rx: socket.socket, batch: Any, got: int) -> Tuple[bytes, bytes]:
    """The file of ``got`` filled slots from the bulk writer and from the per-row writer."""
    bulk, out_bulk, slots, out_slots = recorder_pair(rx)
    assert bulk._write_one_flow(batch, got)
    rows, _decoded = slots._slot_rows(batch, got)
    slots.writer.write_rows(rows, got)
    for rec in (bulk, slots):
        rec.writer.flush()
    return out_bulk.getvalue(), out_slots.getvalue()


@needs_recvmmsg
def test_capture_bulk_other_stamp_shapes(stamped: Pair) -> None:
    """The batches the three-item read does not take: a second that ends within the batch,
    and hardware stamps (written into the slots: lo has none)."""
    rx, tx = stamped
    enable_header_messages(rx)
    batch = fill_slots(rx, [b"s%03d" % i for i in range(8)], tx, bufsize=65535)
    sec_at = 16  # CMSG_DATA: ts[0].tv_sec
    second = struct.unpack_from("=q", batch.controls, sec_at)[0]
    for i in range(4, 8):  # the second ended after slot 3
        struct.pack_into("=q", batch.controls, i * batch_mod.ANCBUFSIZE + sec_at, second + 1)
    same = batch_mod.uniform_slots(batch, 8)
    assert same is not None and same.second == -1 and same.source == StampSource.SOFTWARE
    by_flow, by_rows = written_both_ways(rx, batch, 8)
    assert by_flow == by_rows
    assert [ts // 10**9 for ts, _p in file_packets(by_flow)] == [second] * 4 + [second + 1] * 4
    for i in range(8):
        struct.pack_into("=qq", batch.controls, i * batch_mod.ANCBUFSIZE + TS2_OFFSET, 42, i)
    assert batch_mod.uniform_slots(batch, 8).source == StampSource.HARDWARE  # type: ignore[union-attr]
    by_flow, by_rows = written_both_ways(rx, batch, 8)
    assert by_flow == by_rows
    assert [ts for ts, _p in file_packets(by_flow)] == [42_000_000_000 + i for i in range(8)]


@needs_recvmmsg
def test_capture_batch_whose_ttl_changes_records_each_ttl(stamped: Pair) -> None:
    """A TTL that changes within a batch makes the control bytes differ: no slot takes another's TTL."""
    rx, tx = stamped
    enable_header_messages(rx)
    ttls = [7] * 5 + [9] * 5 + [7] * 5
    for ttl in ttls:
        set_ttl(tx, ttl)
        tx.sendto(b"t%d" % ttl, rx.getsockname())
    time.sleep(0.05)
    batch = fresh_slots(64, 65535)
    assert batch_mod._recvmmsg_once(rx, batch, 64) == 15
    assert batch_mod.uniform_slots(batch, 15) is None
    out = io.BytesIO()
    recorder = Recorder(rx, PcapngWriter(out), rx.getsockname())  # type: ignore[arg-type]
    assert not recorder._write_one_flow(batch, 15)
    rows, _decoded = recorder._slot_rows(batch, 15)
    recorder.writer.write_rows(rows, 15)
    recorder.writer.flush()
    assert [hop_limit(packet) for _ts, packet in file_packets(out.getvalue())] == ttls


@pytest.mark.parametrize("src", [("127.0.0.1", 4000), ("::1", 4000, 0, 0)])
@pytest.mark.parametrize("snaplen", [0, 60])
@pytest.mark.parametrize("size", [64, 65])
def test_write_flow_writes_what_write_rows_writes(src: Tuple[Any, ...], snaplen: int, size: int) -> None:
    """The blocks of one flow made at once are the blocks made row by row, stamps across a
    2**32 ns boundary (the EPB's high word changes within the batch) included."""
    fields = HeaderFields(("::1" if ":" in src[0] else "127.0.0.1", 5000), 7, 0xB8)
    stamps = [(5 << 32) - 3 + i for i in range(6)] + [1_764_128_000_123_456_789 + i for i in range(6)]
    payloads = [bytes([i]) * size for i in range(len(stamps))]
    by_rows, by_flow = io.BytesIO(), io.BytesIO()
    rows_writer = PcapngWriter(by_rows, snaplen=snaplen)  # type: ignore[arg-type]
    flow_writer = PcapngWriter(by_flow, snaplen=snaplen)  # type: ignore[arg-type]
    rows_writer.write_rows([(ts, StampSource.SOFTWARE, src, fields, p) for ts, p in zip(stamps, payloads)],
                           len(stamps))
    flow_writer.write_flow(src, fields, StampSource.SOFTWARE, pack_stamps(stamps[:6]), payloads[:6])
    flow_writer.write_flow(src, fields, StampSource.SOFTWARE, pack_stamps(stamps[6:]), payloads[6:])
    for writer in (rows_writer, flow_writer):
        writer.flush()
    assert by_flow.getvalue() == by_rows.getvalue()
    assert [ts for ts, _p in file_packets(by_flow.getvalue())] == stamps
    assert flow_writer.packets == flow_writer.saved == len(stamps)


@needs_recvmmsg
def test_bytes_left_by_other_messages_cost_one_batch() -> None:
    """The kernel does not write a control message's padding: after datagrams with IP_PKTINFO,
    the TTL message's padding in the slots they used holds their bytes, so slots of one
    flow differ.  That batch goes slot by slot (and is right); the next is read in bulk."""
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        enable_header_messages(rx)  # TTL and TOS after the stamp
        time.sleep(0.05)
        pktinfo = getattr(socket, "IP_PKTINFO", 8)  # CPython leaves it out on Linux
        batch = fresh_slots(8, 2048)

        def receive(count: int) -> List[Any]:
            for i in range(count):
                tx.sendto(b"p%d" % i, rx.getsockname())
            time.sleep(0.05)
            return sotimestamp.recv_batch(rx, 8, 2048)

        rx.setsockopt(socket.IPPROTO_IP, pktinfo, 1)
        assert len(receive(3)) == 3
        rx.setsockopt(socket.IPPROTO_IP, pktinfo, 0)
        left = receive(6)  # slots 0-2 hold IP_PKTINFO's bytes in a padding, 3-5 do not
        assert batch_mod.uniform_slots(batch, 6) is None
        again = receive(6)
        assert batch_mod.uniform_slots(batch, 6) is not None
        for packets in (left, again):
            assert [p.data for p in packets] == [b"p%d" % i for i in range(6)]
            assert {p.source for p in packets} == {StampSource.SOFTWARE}


@needs_recvmmsg
def test_a_batch_from_another_sender_gets_its_own_address(stamped: Pair) -> None:
    """The bulk path keeps the batch before's one sender and compares the next batch's address
    slots with it: a batch of the same size from another sender, or from both, must not be
    given the kept address."""
    rx, tx = stamped
    with socket.socket(rx.family, socket.SOCK_DGRAM) as other:
        other.bind((rx.getsockname()[0], 0))
        for senders in ([tx] * 4, [other] * 4, [tx, other, tx, other], [tx] * 4):
            for i, sender in enumerate(senders):
                sender.sendto(b"s%d" % i, rx.getsockname())
            time.sleep(0.05)
            got = sotimestamp.recv_batch(rx, 4, 2048)
            assert [p.address[:2] for p in got] == [s.getsockname()[:2] for s in senders]


@needs_recvmmsg
def test_fewer_messages_with_the_same_bytes_left_are_not_read_as_before() -> None:
    """The bulk reader keeps what the batch before said.  Once the TTL and TOS messages are
    turned off, the next batch's slots still hold their bytes past the stamp (the kernel
    leaves them), so the slots compare equal to the kept ones: only their controllen tells
    the difference, and the batch must not get the old header-field bytes as its tail."""
    rx, tx = loopback_pair("ipv4")
    with rx, tx:
        sotimestamp.enable(rx)
        enable_header_messages(rx)
        time.sleep(0.05)
        batch = fresh_slots(8, 2048)

        def receive() -> Any:
            for i in range(4):
                tx.sendto(b"h%d" % i, rx.getsockname())
            time.sleep(0.01)
            assert batch_mod._recvmmsg_once(rx, batch, 8) == 4
            return batch_mod.uniform_slots(batch, 4)

        with_fields = receive()
        assert with_fields is not None and with_fields.tail  # TTL and TOS after the stamp
        for option in (12, 13):  # Linux IP_RECVTTL, IP_RECVTOS
            rx.setsockopt(socket.IPPROTO_IP, option, 0)
        without = receive()
        assert without is not None and without.tail == b""
        assert without.controllen == batch.fast_space
        assert batch_mod._packets(batch, 4) == slot_by_slot(batch, 4, pytest.MonkeyPatch())


@needs_recvmmsg
def test_a_batch_unlike_the_kept_one_is_read_anew(stamped: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a batch read in bulk, the next batch of the same size whose stamps differ in their
    second, or carry a hardware stamp, must not be taken for the kept one."""
    rx, tx = stamped
    batch = fill_slots(rx, [b"k%d" % i for i in range(4)], tx)
    first = batch_mod.uniform_slots(batch, 4)
    assert first is not None and first.second > 0
    struct.pack_into("=q", batch.controls, 2 * batch_mod.ANCBUFSIZE + TS2_OFFSET - 32, first.second + 1)
    moved = batch_mod.uniform_slots(batch, 4)  # ts[0]'s second one later in slot 2
    assert moved is not None and moved.second == -1
    assert [p.software_ns // 10**9 for p in batch_mod._packets(batch, 4)] == [first.second] * 2 + [
        first.second + 1, first.second]
    assert batch_mod._packets(batch, 4) == slot_by_slot(batch, 4, monkeypatch)
    for i in range(4):
        struct.pack_into("=qq", batch.controls, i * batch_mod.ANCBUFSIZE + TS2_OFFSET, 7, i)
    assert batch_mod.uniform_slots(batch, 4).source == StampSource.HARDWARE  # type: ignore[union-attr]


@needs_recvmmsg
def test_bulk_read_leaves_the_slots_as_received(stamped: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk reader zeroes each slot's nanoseconds while it compares the slots; they are back
    when it returns, and when it fails."""
    rx, tx = stamped
    batch = fill_slots(rx, [b"r%d" % i for i in range(5)], tx)
    received = bytes(batch.controls)
    assert batch_mod.uniform_slots(batch, 5) is not None
    assert bytes(batch.controls) == received

    def fail(*_args: Any) -> None:
        raise RuntimeError("decoding slot 0 failed")

    batch_mod._local.__dict__.pop("batches", None)
    batch = fill_slots(rx, [b"f%d" % i for i in range(5)], tx)
    received = bytes(batch.controls)
    with monkeypatch.context() as m:
        m.setattr(batch_mod, "_lone_software_stamp", fail)
        m.setattr(batch_mod, "_STAMP_HEAD", None)  # the struct reader fails here too
        with pytest.raises((RuntimeError, AttributeError)):
            batch_mod.uniform_slots(batch, 5)
    assert bytes(batch.controls) == received
