"""Reading recordings: pcapng files (any writer's) and classic pcap, into UDP datagrams with stamps.

The blocks and records are walked by :mod:`.format`; here each frame's IPv4/IPv6
UDP packet is decoded.

>>> for rec in read_records("capture.pcapng"):  # doctest: +SKIP
...     print(rec.ts_ns, rec.source, rec.payload)
"""
from __future__ import annotations

import functools
import struct
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import add, itemgetter
from typing import Any, BinaryIO, NamedTuple, cast

from .format import (
    CHUNK,
    COMMENT_PREFIX,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    PCAP_MAGICS,
    RAW_IP_LINKS,
    SHB_TYPE,
    Address,
    Batch,
    Frame,
    PcapFileError,
    Progress,
    Truncated,
    pcap_batches,
    pcapng_batches,
)
from .ip import Reassembler, udp_payload

__all__ = [
    "COMMENT_PREFIX", "LINKTYPE_RAW", "Address", "Batch", "Frame", "PcapFileError", "Record", "TruncatedFileWarning",
    "batches", "frames", "network_packet", "read_records", "udp_flow", "udp_flows", "udp_payload",
]


class TruncatedFileWarning(UserWarning):
    """A recording ends inside a block: the packets before it were read."""


# --- decoding IPv4/IPv6 + UDP packets -------------------------------------------

def network_packet(link_type: int, frame: bytes) -> bytes | None:
    """The IP packet inside a frame of ``link_type``, or None for other protocols."""
    if link_type in RAW_IP_LINKS:
        return frame
    if link_type == LINKTYPE_ETHERNET:
        off, ethertype = 12, None
        while len(frame) >= off + 2:
            ethertype = struct.unpack_from("!H", frame, off)[0]
            if ethertype in (0x8100, 0x88A8):  # VLAN tags
                off += 4
                continue
            break
        return frame[off + 2:] if ethertype in (0x0800, 0x86DD) else None
    if link_type == LINKTYPE_LINUX_SLL:
        return frame[16:] if len(frame) >= 16 and frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return frame[4:]
    return None

def udp_flow(link_type: int, frame: bytes) -> bytes | None:
    """The flow of a UDP datagram :func:`read_records` would decode, as raw header bytes (source,
    destination, ports: 12 bytes for IPv4, 36 for IPv6), or None for any other packet and for a
    fragment after the first (the per-packet test of ``stats``, without building addresses)."""
    if link_type in RAW_IP_LINKS:
        packet: bytes | None = frame
    else:
        packet = network_packet(link_type, frame)
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        if len(packet) >= ihl + 8 and packet[9] == 17 and not (packet[6] & 0x1F or packet[7]):
            return packet[12:20] + packet[ihl:ihl + 4]
    elif version == 6 and len(packet) >= 48:
        if packet[6] == 17:
            return packet[8:40] + packet[40:44]
        if packet[6] == 44 and packet[40] == 17 and len(packet) >= 52 and not (
                (packet[42] << 8 | packet[43]) & 0xFFF8):
            return packet[8:40] + packet[48:52]  # the first fragment holds the UDP header
    return None


_FRAGMENT_OFFSET_HIGH = bytes(b & 0x1F for b in range(256))  # the offset's bits of byte 6, DF and MF left out


@functools.lru_cache(maxsize=64)
def _flow_record(size: int) -> struct.Struct:
    """A ``size``-byte record that begins with an IPv4 header of 20 bytes: its addresses and ports."""
    return struct.Struct(f"12x12s{size - 24}x")


def _byte_column(buf: bytes, starts: range, offset: int) -> bytes:
    """Byte ``offset`` of each frame beginning at ``starts``: a strided slice."""
    return buf[starts.start + offset:starts.stop + offset:starts.step]


def udp_flows(batch: Batch) -> list[bytes | None]:
    """:func:`udp_flow` of each packet of ``batch``.  A batch whose packets are all unfragmented
    IPv4 UDP with 20-byte headers in raw-IP frames (what capture writes) is decided by comparing
    byte columns (strided slices of the chunk where the blocks are of one size, else of each
    frame's first 24 bytes joined), and its flows taken with ``struct`` (C, not a Python
    statement per packet); any other batch goes packet by packet."""
    buf, starts, lengths, count = batch.buf, batch.starts, batch.lengths, len(batch.starts)
    if count and batch.link_types[0] in RAW_IP_LINKS and batch.link_types.count(batch.link_types[0]) == count \
            and min(lengths) >= 28:
        # byte columns of frames evenly spaced: those of the chunk, or each frame's first 24 bytes side by side
        spaced, even = (buf, starts) if isinstance(starts, range) else (
            b"".join(map(buf.__getitem__, map(slice, starts, map(add, starts, repeat(24))))), range(0, 24 * count, 24))
        zeros = bytes(count)
        if (_byte_column(spaced, even, 0) == b"\x45" * count  # version 4, a 20-byte header
                and _byte_column(spaced, even, 9) == b"\x11" * count  # UDP
                and _byte_column(spaced, even, 6).translate(_FRAGMENT_OFFSET_HIGH) == zeros
                and _byte_column(spaced, even, 7) == zeros):
            # a record of ``step`` bytes from each frame's start (the last one, which may reach
            # past the chunk, on its own)
            first, stop, step = even.start, even.stop, even.step
            keys = list(map(itemgetter(0), _flow_record(step).iter_unpack(memoryview(spaced)[first:stop - step])))
            keys.append(spaced[stop - step + 12:stop - step + 24])
            return keys
    return [udp_flow(link_type, buf[start:start + length])
            for link_type, start, length in zip(batch.link_types, starts, lengths)]


# --- reading --------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One packet of a recording: its stamp, the UDP payload and addresses if it is UDP."""

    index: int  #: 0 for the first packet of the file
    ts_ns: int
    source: str | None
    payload: bytes | None  #: as far as the file holds it (see ``length``)
    src: Address | None
    dst: Address | None
    #: the payload's length per its UDP header: more than ``len(payload)`` when the capture cut it
    length: int | None = None
    #: the packet's bytes as captured (its frame, as tshark's frame.cap_len)
    frame_length: int | None = None

    @property
    def number(self) -> int:
        """The packet's number as tshark and Wireshark count frames: 1 for the first."""
        return self.index + 1


def _warn_truncated(message: str) -> None:
    warnings.warn(message, TruncatedFileWarning, stacklevel=4)


class _Rejoined:
    """A stream whose first bytes were read to tell its format: they are read again first
    (standard input cannot seek back)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        head, self._head = self._head, b""
        if size < 0:
            return head + self._stream.read()
        if len(head) >= size:  # never more than asked: gzip reads its header a few bytes at a time
            head, self._head = head[:size], head[size:]
            return head
        return head + self._stream.read(size - len(head))


class _Codec(NamedTuple):
    """A compressed format read as it is, as tshark and capinfos read it: how its streams
    begin, and a decompressor of one frame or member (``decompress``, ``eof``, ``unused_data``)."""

    name: str
    magic: bytes
    decompressor: Callable[[], Any]
    errors: tuple[type[Exception], ...]


def _zstd(name: str) -> _Codec:
    """zstd, from the ``zstandard`` package (the ``zstd`` extra): not in the standard library
    before Python 3.14, and not a dependency of every install for one input format."""
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise PcapFileError(f"{name}: zstd-compressed; reading it needs the zstandard package: "
                            "pip install 'sotimestamp[zstd]'") from None
    return _Codec("zstd", ZSTD_MAGIC, lambda: zstandard.ZstdDecompressor().decompressobj(), (zstandard.ZstdError,))


GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP = _Codec("gzip", GZIP_MAGIC, lambda: zlib.decompressobj(wbits=31), (zlib.error,))  # 31: gzip's header
#: Compressed bytes inflated at a time: a highly compressed stream (a padded payload compresses
#: 27 to 1) must not inflate a whole read at once.
_FEED = 1 << 16


class _Decompressed:
    """The decompressed bytes of a gzip or zstd stream (of one member or frame, or several, as
    ``cat a.gz b.gz`` makes).  A stream cut short yields all it holds and tells ``on_truncated``
    (the walker then reports the packet it cut, too); a corrupt one is a :class:`PcapFileError`."""

    def __init__(self, name: str, codec: _Codec, raw: _Rejoined, on_truncated: Truncated,
                 progress: Progress) -> None:
        self._name, self._codec, self._raw = name, codec, raw
        self._on_truncated, self._progress = on_truncated, progress
        self._decoder = codec.decompressor()

    def read(self, size: int = -1) -> bytes:
        while not self._buffered and not self._ended:
            self._buffered = self._inflated()
        want = len(self._buffered) if size < 0 else size
        out, self._buffered = self._buffered[:want], self._buffered[want:]
        return out

    _buffered = b""
    _ended = False
    _fed = False  # the member being inflated has had input
    _pending = b""  # compressed bytes read and not inflated yet

    def _inflated(self) -> bytes:
        if not self._pending:
            self._pending = self._raw.read(CHUNK)
            self._progress(len(self._pending))  # the file's bytes, which the progress bar's total counts
            if not self._pending:
                if self._fed and not self._decoder.eof:
                    self._on_truncated(f"{self._name}: truncated: the {self._codec.name} stream is cut short")
                self._ended = True
                return b""
        if self._decoder.eof:  # the next member or frame
            self._decoder = self._codec.decompressor()
        piece, self._pending = self._pending[:_FEED], self._pending[_FEED:]
        try:
            self._fed = True
            out: bytes = self._decoder.decompress(piece)
        except self._codec.errors as exc:
            raise PcapFileError(f"{self._name}: {self._codec.name}-compressed, but corrupt: {exc}") from None
        if self._decoder.eof:
            self._pending = self._decoder.unused_data + self._pending
        return out


def _nothing(_n: int) -> None:
    pass


#: The path that names standard input (``sotimestamp stats -``, as ``tshark -r -``).
STDIN = "-"


def batches(path: str, progress: Progress = lambda _n: None,
            on_truncated: Truncated = _warn_truncated) -> Iterator[Batch]:
    """The packets of a pcapng or classic pcap file (``-``: standard input), streamed, a
    :class:`~.format.Batch` of columns per chunk of the file.  ``progress`` is told the bytes
    read as they are; a file cut short yields its complete packets and tells ``on_truncated``
    (default: a :class:`TruncatedFileWarning`) once.  Raises :class:`PcapFileError` (one line:
    what is wrong and at which byte) on a foreign or corrupt file."""
    name = "standard input" if path == STDIN else path
    try:
        stream = open(sys.stdin.fileno(), "rb", closefd=False) if path == STDIN else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise PcapFileError(f"{name}: {exc.strerror}") from None
    with stream:  # closed after the last yield
        source: BinaryIO = stream
        head = source.read(4)
        # as tshark and capinfos read a .gz or .zst (any gzip or zstd stream) directly
        codec = _GZIP if head[:2] == GZIP_MAGIC else _zstd(name) if head == ZSTD_MAGIC else None
        if codec is not None:
            source = cast(BinaryIO, _Decompressed(name, codec, _Rejoined(head, source), on_truncated, progress))
            progress = _nothing  # told by the compressed stream
            head = source.read(4)
        if not head:
            raise PcapFileError(f"{name}: empty file, not pcapng or pcap")
        (magic,) = struct.unpack("<I", head.ljust(4, b"\0"))
        if magic not in PCAP_MAGICS and (magic != SHB_TYPE or len(head) < 4):
            if len(head) < 4:
                raise PcapFileError(f"{name}: truncated at byte {len(head)}: too short for a file header")
            raise PcapFileError(f"{name}: not a pcapng file, nor a classic pcap one (starts with bytes "
                                f"{head.hex()}, expected 0a0d0d0a or a pcap magic such as d4c3b2a1)")
        walker = pcapng_batches if magic == SHB_TYPE else pcap_batches
        yield from walker(name, cast(BinaryIO, _Rejoined(head, source)), progress, on_truncated)


def frames(path: str, progress: Progress = lambda _n: None,
           on_truncated: Truncated = _warn_truncated) -> Iterator[Frame]:
    """``(ts_ns, source, link_type, frame)`` of each packet of a pcapng or classic pcap
    file, streamed (see :func:`batches`)."""
    for batch in batches(path, progress, on_truncated):
        yield from batch.frames()


def read_records(path: str, progress: Progress = lambda _n: None,
                 on_truncated: Truncated = _warn_truncated) -> Iterator[Record]:
    """The packets of a pcapng or classic pcap file, in file order, with their UDP
    payloads and addresses decoded (see :func:`frames` for errors and truncation).
    IP fragments are reassembled: the datagram is the record of its last fragment, the
    other fragments are records without a payload; fragments of datagrams the file does
    not hold whole are told to ``on_truncated`` at the end."""
    fragments = Reassembler()
    for index, (ts, source, link_type, frame) in enumerate(frames(path, progress, on_truncated)):
        packet = frame if link_type in RAW_IP_LINKS else network_packet(link_type, frame)
        found = fragments.datagram(packet, index) if packet is not None else None
        if found is None:
            yield Record(index, ts, source, None, None, None, None, len(frame))
        else:
            yield Record(index, ts, source, found.payload, found.src, found.dst, found.length, len(frame))
    left = fragments.incomplete()
    if left:
        on_truncated(f"{path}: {len(left)} datagrams are only partly in the file (IP fragments missing), "
                     f"left out; the first begins at packet {left[0] + 1}")
