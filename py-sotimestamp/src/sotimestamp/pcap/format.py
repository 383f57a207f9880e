"""The two capture file formats, walked block by block: pcapng and classic pcap;
and what the reader (:mod:`.read`) and the writer (:mod:`.write`) both need to know
of them: link types, the stamp-source comment, the address type.

Each walker yields one :data:`Frame` per packet, ``(ts_ns, source, link_type,
frame bytes)``, reading the file in chunks of :data:`CHUNK` bytes so memory
stays flat however long the recording is.  A file that ends inside a block (a
crash, a full disk, a copy cut short) is not an error: every complete block is
used and ``on_truncated`` is called once with what was cut.  Anything else
that does not parse raises :class:`PcapFileError` naming the byte offset.

The pcapng loop is the hot path of ``sotimestamp stats`` (a million packets
must take no more than a few times capinfos' time), so it unpacks each
Enhanced Packet Block's fixed fields with one ``struct`` call and looks the
options up by their raw bytes instead of parsing them per packet.
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..constants import NS_PER_S

#: The packet comment that carries a datagram's stamp source (``sotimestamp: ts=software``).
COMMENT_PREFIX = "sotimestamp: ts="
LINKTYPE_RAW = 101
LINKTYPE_ETHERNET = 1
LINKTYPE_NULL = 0
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
RAW_IP_LINKS = (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, 12, 14)  # 12 and 14: RAW on some BSDs

Address = tuple[Any, ...]  # (host, port) or (host, port, flowinfo, scope_id)
CHUNK = 1 << 20
NS = NS_PER_S

# (ts_ns, stamp source or None, link type, frame); quoted because an alias is evaluated and 3.9 has no X | None
Frame = tuple[int, "str | None", int, bytes]
Progress = Callable[[int], None]  # told how many more bytes of the file were read
Truncated = Callable[[str], None]  # told once, what was cut short


class PcapFileError(Exception):
    """A file we cannot read: the message says what is wrong and where."""


# --- pcapng ---------------------------------------------------------------------

SHB_TYPE = 0x0A0D0D0A
_IDB, _SPB, _EPB = 1, 3, 6
_BYTE_ORDER = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
# type, total length, then an EPB's interface, stamp high, stamp low, captured length
_EPB_FIXED = {order: struct.Struct(order + "IIIIII") for order in "<>"}
_HEAD = {order: struct.Struct(order + "II") for order in "<>"}
_MAX_SOURCES = 1024  # distinct option byte strings remembered (a foreign file may make each one unique)
# 64 MiB: no link layer has frames that long.  A longer block or record is a damaged
# header, not a file cut short (which would otherwise be buffered to its end first).
MAX_PACKET_BYTES = 0x4000000


@dataclass
class _Interface:
    link_type: int
    snaplen: int
    tsresol: int = 6  # pcapng's default: microseconds
    tsoffset: int = 0
    in_ns: bool = False  # stamps are already nanoseconds since the epoch (our files): no conversion

    def ns(self, ticks: int) -> int:
        value = self.tsresol
        if value & 0x80:
            ns = (ticks * NS) >> (value & 0x7F)
        elif value <= 9:
            ns = ticks * 10 ** (9 - value)
        else:
            ns = ticks // 10 ** (value - 9)
        return ns + self.tsoffset * NS


def _options(body: bytes, pos: int, end: int, order: str) -> Iterator[tuple[int, bytes]]:
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == 0:
            return
        if pos + 4 + length > end:
            raise ValueError(f"option {code} runs past the end of its block")
        yield code, body[pos + 4:pos + 4 + length]
        pos += 4 + length + (-length % 4)


def _interface(buf: bytes, pos: int, end: int, order: str) -> _Interface:
    link_type, snaplen = struct.unpack_from(order + "HxxI", buf, pos)
    iface = _Interface(link_type, snaplen)
    for code, value in _options(buf, pos + 8, end, order):
        if code == 9 and value:
            iface.tsresol = value[0]
        elif code == 14 and len(value) == 8:
            (iface.tsoffset,) = struct.unpack(order + "q", value)
    iface.in_ns = iface.tsresol == 9 and not iface.tsoffset
    return iface


def _comment_source(options: bytes, order: str) -> str | None:
    prefix = COMMENT_PREFIX.encode()
    for code, value in _options(options, 0, len(options), order):
        if code == 1 and value.startswith(prefix):
            return value[len(prefix):].decode("utf-8", "replace")
    return None


def pcapng_frames(path: str, stream: BinaryIO, progress: Progress, on_truncated: Truncated) -> Iterator[Frame]:
    """The packets of a pcapng ``stream`` (any number of sections, either byte order)."""
    order = "<"
    fixed, head = _EPB_FIXED[order], _HEAD[order]
    interfaces: list[_Interface] = []
    sources: dict[bytes, str | None] = {}  # an EPB's raw options -> its stamp source
    buf, pos, offset = b"", 0, 0  # offset: where buf starts in the file
    packets = 0
    while True:
        more = stream.read(CHUNK)
        progress(len(more))
        offset += pos
        buf, pos = buf[pos:] + more, 0
        end = len(buf)
        while pos + 12 <= end:
            if pos + 24 <= end:
                btype, total, iface_id, high, low, caplen = fixed.unpack_from(buf, pos)
            else:
                (btype, total), iface_id = head.unpack_from(buf, pos), -1
            if btype == SHB_TYPE:
                order = _BYTE_ORDER.get(buf[pos + 8:pos + 12], "")
                if not order:
                    raise PcapFileError(f"{path}: corrupt section header at byte {offset + pos}: "
                                        f"bad byte-order magic {buf[pos + 8:pos + 12].hex()}")
                fixed, head = _EPB_FIXED[order], _HEAD[order]
                (btype, total) = head.unpack_from(buf, pos)
                interfaces, sources = [], {}
            nxt = pos + total
            if nxt > end:
                if total > MAX_PACKET_BYTES:
                    raise PcapFileError(f"{path}: corrupt block at byte {offset + pos}: block length {total}")
                break  # the rest of this block is in the next chunk
            if total < 12 or total % 4 or head.unpack_from(buf, nxt - 8)[1] != total:
                raise PcapFileError(f"{path}: corrupt block at byte {offset + pos}: its lengths ({total}) "
                                    "are not a multiple of 4 of at least 12 that the block ends with")
            try:
                if btype == _EPB and iface_id >= 0:
                    iface = interfaces[iface_id]
                    data_end = pos + 28 + caplen
                    if data_end > nxt - 4:
                        raise ValueError(f"captured length {caplen} runs past the end of the block")
                    options = buf[data_end + (-caplen % 4):nxt - 4]
                    source = sources.get(options, "")
                    if source == "":
                        source = _comment_source(options, order)
                        if len(sources) < _MAX_SOURCES:
                            sources[options] = source
                    ts = (high << 32) | low
                    yield (ts if iface.in_ns else iface.ns(ts)), source, iface.link_type, buf[pos + 28:data_end]
                    packets += 1
                elif btype == _IDB:
                    interfaces.append(_interface(buf, pos + 8, nxt - 4, order))
                elif btype == _SPB:
                    iface = interfaces[0]
                    (origlen,) = struct.unpack_from(order + "I", buf, pos + 8)
                    caplen = min(origlen, iface.snaplen or origlen, total - 16)
                    yield 0, None, iface.link_type, buf[pos + 12:pos + 12 + caplen]
                    packets += 1
            except IndexError:
                raise PcapFileError(f"{path}: corrupt block at byte {offset + pos}: "
                                    "a packet of an interface that was never described") from None
            except (ValueError, struct.error) as exc:
                raise PcapFileError(f"{path}: corrupt block at byte {offset + pos}: {exc}") from None
            pos = nxt
        if not more:
            if pos < end:
                on_truncated(f"{path}: truncated: the file ends {end - pos} bytes into the block at byte "
                             f"{offset + pos}; read the {packets} packets before it")
            return


# --- classic pcap (tcpdump's default) ----------------------------------------------

# magic as read little-endian -> (byte order, ticks per second of the fraction field)
PCAP_MAGICS = {
    0xA1B2C3D4: ("<", 1_000_000), 0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", NS), 0x4D3CB2A1: (">", NS),
}


def pcap_frames(path: str, stream: BinaryIO, progress: Progress, on_truncated: Truncated) -> Iterator[Frame]:
    """The packets of a classic pcap ``stream``: a 24-byte file header, then records of
    a 16-byte header (seconds, micro- or nanoseconds, captured and original length) and the frame."""
    header = stream.read(24)
    progress(len(header))
    (magic,) = struct.unpack_from("<I", header)
    order, per_second = PCAP_MAGICS[magic]
    if len(header) < 24:
        on_truncated(f"{path}: truncated: the file ends {len(header)} bytes into its 24-byte pcap header")
        return
    (network,) = struct.unpack_from(order + "I", header, 20)
    link_type = network & 0x0FFFFFFF  # the top bits may say how long a frame check sequence is
    scale = NS // per_second
    record = struct.Struct(order + "IIII")
    buf, pos, offset, packets = b"", 0, 24, 0
    while True:
        more = stream.read(CHUNK)
        progress(len(more))
        offset += pos
        buf, pos = buf[pos:] + more, 0
        end = len(buf)
        while pos + 16 <= end:
            seconds, fraction, caplen, _origlen = record.unpack_from(buf, pos)
            if caplen > MAX_PACKET_BYTES:
                raise PcapFileError(f"{path}: corrupt record at byte {offset + pos}: captured length {caplen}")
            nxt = pos + 16 + caplen
            if nxt > end:
                break
            yield seconds * NS + fraction * scale, None, link_type, buf[pos + 16:nxt]
            packets += 1
            pos = nxt
        if not more:
            if pos < end:
                on_truncated(f"{path}: truncated: the file ends {end - pos} bytes into the record at byte "
                             f"{offset + pos}; read the {packets} packets before it")
            return
