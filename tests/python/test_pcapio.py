"""pcapng writing/reading against python-pcapng and tshark; bad files give one-line errors."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from conftest import need_tool
from pcapng import FileScanner, FileWriter, blocks

from sotimestamp.pcap import (
    COMMENT_PREFIX,
    PcapFileError,
    PcapngWriter,
    build_datagram,
    encode_epb,
    read_records,
    udp_payload,
)

TS = 1764128000_123456789
# python-pcapng itself warns about if_tsresol's untyped field when the tests use it directly.
pytestmark = pytest.mark.filterwarnings("ignore:Field type should not be:DeprecationWarning")


def write_sample(path: Path, n: int = 5) -> None:
    with PcapngWriter(open(path, "wb")) as w:
        for i in range(n):
            src, dst = (("127.0.0.1", 4000), ("127.0.0.1", 5000)) if i % 2 == 0 else (("::1", 4001), ("::1", 5001))
            w.write(b"payload-%d" % i + b"x" * i, src, dst, TS + i * 1001, "software" if i else "hardware")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 1400])
def test_encode_epb_is_byte_identical_to_python_pcapng(size: int) -> None:
    shb = blocks.SectionHeader(options={})
    shb.new_member(blocks.InterfaceDescription, link_type=101, snaplen=0, options={"if_tsresol": b"\x09"})
    out = io.BytesIO()
    writer = FileWriter(out, shb)
    start = out.tell()
    packet = build_datagram(("127.0.0.1", 1), ("127.0.0.1", 2), b"z" * size)
    comment = COMMENT_PREFIX + "software" + "!" * size
    writer.write_block(shb.new_member(
        blocks.EnhancedPacket, interface_id=0, timestamp_high=TS >> 32, timestamp_low=TS & 0xFFFFFFFF,
        packet_data=packet, packet_len=len(packet), options={"opt_comment": [comment]}))
    assert out.getvalue()[start:] == encode_epb(packet, TS, comment)


def test_reader_agrees_with_python_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "s.pcapng"
    write_sample(path)
    ours = list(read_records(str(path)))
    with open(path, "rb") as f:
        theirs = [b for b in FileScanner(f) if isinstance(b, blocks.EnhancedPacket)]
    assert len(ours) == len(theirs) == 5
    for rec, blk in zip(ours, theirs):
        assert rec.ts_ns == (blk.timestamp_high << 32 | blk.timestamp_low)  # if_tsresol 9: ticks are ns
        assert udp_payload(blk.packet_data)[0] == rec.payload
        assert blk.options.get_all("opt_comment") == [COMMENT_PREFIX + rec.source]
    assert [r.source for r in ours] == ["hardware"] + ["software"] * 4
    assert ours[1].src == ("::1", 4001) and ours[0].dst == ("127.0.0.1", 5000)


def test_tshark_dissects_with_valid_checksums(tmp_path: Path) -> None:
    tshark = need_tool("tshark")
    path = tmp_path / "s.pcapng"
    write_sample(path)
    out = subprocess.run(
        [tshark, "-r", str(path), "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-E", "separator=,", "-e", "frame.time_epoch", "-e", "udp.srcport",
         "-e", "udp.checksum.status", "-e", "data", "-e", "frame.comment"],
        check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(out) == 5
    for i, line in enumerate(out):
        epoch, sport, status, data, comment = line.split(",")
        assert epoch == f"{(TS + i * 1001) // 10**9}.{(TS + i * 1001) % 10**9:09d}"
        assert int(sport) in (4000, 4001) and status == "1"  # 1 = checksum good
        assert bytes.fromhex(data) == b"payload-%d" % i + b"x" * i
        assert comment.startswith(COMMENT_PREFIX)


def test_reads_foreign_ethernet_microsecond_file(tmp_path: Path) -> None:
    """A pcapng by another writer (python-pcapng): Ethernet + VLAN frames, default microsecond stamps."""
    shb = blocks.SectionHeader(options={})
    shb.new_member(blocks.InterfaceDescription, link_type=1, snaplen=0)
    path = tmp_path / "eth.pcapng"
    ip = build_datagram(("127.0.0.1", 7), ("127.0.0.1", 9), b"eth payload")
    frame = bytes(12) + b"\x81\x00\x00\x05" + b"\x08\x00" + ip
    with open(path, "wb") as f:
        w = FileWriter(f, shb)
        w.write_block(shb.new_member(blocks.EnhancedPacket, interface_id=0, timestamp_high=0,
                                     timestamp_low=1_500_000, packet_data=frame, packet_len=len(frame)))
        w.write_block(shb.new_member(blocks.EnhancedPacket, interface_id=0, timestamp_high=0,
                                     timestamp_low=1_500_001, packet_data=bytes(14), packet_len=14))
    records = list(read_records(str(path)))
    assert records[0].ts_ns == 1_500_000_000 and records[0].payload == b"eth payload"
    assert records[0].source is None and records[1].payload is None  # not UDP


def _error(path: Path) -> str:
    with pytest.raises(PcapFileError) as info:
        list(read_records(str(path)))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_garbage_and_foreign_files(tmp_path: Path) -> None:
    garbage = tmp_path / "g.pcapng"
    garbage.write_bytes(b"GIF89a" + bytes(100))
    assert "not a pcapng file" in _error(garbage)
    empty = tmp_path / "e.pcapng"
    empty.write_bytes(b"")
    assert "empty" in _error(empty)
    assert "No such file" in _error(tmp_path / "missing.pcapng")


def test_corrupt_block_length(tmp_path: Path) -> None:
    path = tmp_path / "bad.pcapng"
    write_sample(path, 2)
    data = bytearray(path.read_bytes())
    data[-4:] = b"\x01\x00\x00\x00"  # trailing length of the last block
    path.write_bytes(bytes(data))
    assert "corrupt" in _error(path)


def _foreign_runs(path: Path, order: str = "<") -> list[tuple[int, str | None, bytes]]:
    """A python-pcapng file of 3000 packets on two interfaces (ns and us stamps): runs of one
    block size with one comment, of one size with comments that differ, of varied sizes, and
    packets that are no plain UDP (TCP, a later IPv4 fragment, IPv6): what the reader walks as
    strided columns and what it walks block by block, in byte ``order``.  Returns (ns stamp,
    source, frame)."""
    shb = blocks.SectionHeader(endianness=order, options={})
    shb.new_member(blocks.InterfaceDescription, link_type=101, snaplen=0, options={"if_tsresol": b"\x09"})
    shb.new_member(blocks.InterfaceDescription, link_type=101, snaplen=0, options={"if_tsresol": b"\x06"})
    expected = []
    with open(path, "wb") as out:
        writer = FileWriter(out, shb)
        for i in range(3000):
            size = 64 if i < 1000 else 64 + i % 7 if i < 2000 else 100
            packet = bytearray(build_datagram(("10.0.0.1", 4000 + i % 3), ("239.1.1.1", 5000), b"p" * size))
            if i % 97 == 5:
                packet[9] = 6  # TCP
            elif i % 89 == 7:
                packet[7] = 0x10  # a later fragment
            elif i % 83 == 11:
                packet = bytearray(build_datagram(("::1", 4000), ("::1", 5001), b"6" * size))
            iface = 1 if 2500 <= i < 2600 else 0
            ticks = TS + i * 1001 if iface == 0 else TS // 1000 + i
            source = None if 1500 <= i < 1510 else "hardware" if 1000 <= i < 2000 and i % 3 == 0 else "software"
            options = {"opt_comment": [COMMENT_PREFIX + source]} if source else {}
            writer.write_block(shb.new_member(
                blocks.EnhancedPacket, interface_id=iface, timestamp_high=ticks >> 32,
                timestamp_low=ticks & 0xFFFFFFFF, packet_data=bytes(packet), packet_len=len(packet), options=options))
            expected.append((ticks if iface == 0 else ticks * 1000, source, bytes(packet)))
    return expected


@pytest.mark.parametrize("order", ["<", ">"])
def test_strided_and_block_by_block_reading_agree_with_python_pcapng(tmp_path: Path, order: str) -> None:
    from sotimestamp.pcap.read import batches, frames

    path = tmp_path / "runs.pcapng"
    expected = _foreign_runs(path, order)
    assert path.read_bytes()[8:12] == (b"\x4d\x3c\x2b\x1a" if order == "<" else b"\x1a\x2b\x3c\x4d")
    assert [(ts, source, frame) for ts, source, _link, frame in frames(str(path))] == expected
    assert any(isinstance(b.starts, range) and len(b.starts) > 50 for b in batches(str(path)))  # strided runs


def test_udp_flows_of_a_batch_are_udp_flow_of_each_packet(tmp_path: Path) -> None:
    from sotimestamp.pcap.read import batches, udp_flow, udp_flows

    path = tmp_path / "runs.pcapng"
    _foreign_runs(path)
    keys, each = [], []
    for batch in batches(str(path)):
        keys += udp_flows(batch)
        each += [udp_flow(link, frame) for _ts, _source, link, frame in batch.frames()]
    assert keys == each and keys.count(None) > 30 and len(set(keys)) == 5  # 3 IPv4 flows, 1 IPv6, None


def _varied(path: Path, order: str) -> tuple[list[tuple[int, str | None, bytes]], list[int]]:
    """A python-pcapng file of 800 packets in byte ``order`` whose every block differs in size
    from the one before (payloads of 20-220 bytes: pads of 0 to 3), with no options, our
    comment, another comment before ours, or one that is not ours; a stretch of 40 blocks of
    one size in the middle (captured lengths and comments differing within it) and 50 stamps
    of a microsecond interface.  Returns (ns stamp, source,
    frame) of each packet and the byte offset of each EPB."""
    shb = blocks.SectionHeader(endianness=order, options={})
    shb.new_member(blocks.InterfaceDescription, link_type=101, snaplen=0, options={"if_tsresol": b"\x09"})
    shb.new_member(blocks.InterfaceDescription, link_type=101, snaplen=0, options={"if_tsresol": b"\x06"})
    expected, offsets = [], []
    with open(path, "wb") as out:
        writer = FileWriter(out, shb)
        for i in range(800):
            size = 100 + i % 4 if 400 <= i < 440 else 20 + (i * 37) % 201  # 400-439: one block size, pads 3 to 0
            packet = build_datagram(("10.0.0.1", 4000 + i % 2), ("239.1.1.1", 5000), b"%05d" % i + b"v" * size)
            kind = 1 + i % 2 if 400 <= i < 440 else i % 5  # the stretch: comments of one length
            source = None if kind in (0, 4) else "hardware" if kind == 1 else "software"
            comments = ([] if kind == 0 else ["an operator's note", COMMENT_PREFIX + "software"] if kind == 3
                        else ["not ours"] if kind == 4 else [COMMENT_PREFIX + str(source)])
            iface = 1 if 600 <= i < 650 else 0
            ticks = TS + i * 1001 if iface == 0 else TS // 1000 + i
            offsets.append(out.tell())
            writer.write_block(shb.new_member(
                blocks.EnhancedPacket, interface_id=iface, timestamp_high=ticks >> 32,
                timestamp_low=ticks & 0xFFFFFFFF, packet_data=packet, packet_len=len(packet),
                options={"opt_comment": comments} if comments else {}))
            expected.append((ticks if iface == 0 else ticks * 1000, source, packet))
    return expected, offsets


@pytest.mark.parametrize("order", ["<", ">"])
def test_varied_sizes_read_alike_as_columns_and_block_by_block(tmp_path: Path, order: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from sotimestamp.pcap import format as pcap_format
    from sotimestamp.pcap.read import batches, frames, udp_flow, udp_flows

    path = tmp_path / "varied.pcapng"
    expected, _offsets = _varied(path, order)
    assert [(ts, source, frame) for ts, source, _link, frame in frames(str(path))] == expected
    runs = [b for b in batches(str(path)) if len(b.starts) > 1]
    assert [type(b.starts) for b in runs] == [list, range, list]  # varied, the stretch of one size, varied
    assert sum(len(b.starts) for b in runs) > 700  # nearly all read as columns
    for batch in runs:
        assert udp_flows(batch) == [udp_flow(link, frame) for _ts, _source, link, frame in batch.frames()]
    monkeypatch.setattr(pcap_format, "_epb_run", lambda *_args: None)  # every block through the loop
    assert all(len(b.starts) == 1 for b in batches(str(path)))
    assert [(ts, source, frame) for ts, source, _link, frame in frames(str(path))] == expected


@pytest.mark.parametrize("damage", ["trailing length", "captured length"])
def test_damaged_block_amid_varied_sizes_is_named(tmp_path: Path, damage: str) -> None:
    """A block of a run of varied sizes that does not add up is not read as columns: the
    error names it, as it would without the run."""
    path = tmp_path / "varied.pcapng"
    _expected, offsets = _varied(path, "<")
    at = offsets[123]
    data = bytearray(path.read_bytes())
    total = int.from_bytes(data[at + 4:at + 8], "little")
    if damage == "trailing length":
        data[at + total - 4:at + total] = (total + 4).to_bytes(4, "little")
    else:
        data[at + 20:at + 24] = (total - 31).to_bytes(4, "little")  # one byte past the options' start
    path.write_bytes(bytes(data))
    assert f"corrupt block at byte {at}" in _error(path)


def test_a_packet_of_another_size_now_and_then_is_not_walked_past(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A feed of one size with a packet of another every 83rd: each such packet starts a walk of
    varied sizes, which must end soon after it (the blocks of one size again), not at the chunk's
    end (walked so, 3000 packets took some 50 000 steps of the walk)."""
    from sotimestamp.pcap import format as pcap_format
    from sotimestamp.pcap.read import frames

    path = tmp_path / "feed.pcapng"
    payloads = [b"%08d" % i + b"x" * (120 if i % 83 == 11 else 56) for i in range(3000)]
    with PcapngWriter(open(path, "wb")) as writer:
        for i, payload in enumerate(payloads):
            writer.write(payload, ("127.0.0.1", 4000), ("239.1.1.1", 5000), TS + i * 1000, "software")
    walked: list[int] = []
    walk = pcap_format._walk
    monkeypatch.setattr(pcap_format, "_walk", lambda *args: walked.append(len(starts := walk(*args))) or starts)
    assert [udp_payload(frame)[0] for _ts, _source, _link, frame in frames(str(path))] == payloads
    assert 30 <= len(walked) and sum(walked) < len(payloads)
