"""Writing pcapng files of UDP datagrams with nanosecond stamps.

Each datagram is stored as its IPv4/IPv6 + UDP packet (link type RAW, 101) so
Wireshark/tshark dissect it, in an Enhanced Packet Block of an interface with
``if_tsresol`` 9 (nanoseconds).  The stamp source is the packet comment
``sotimestamp: ts=software`` (or ``hardware``, or ``user`` when the kernel gave
no stamp and the capture fell back to a user-space clock).  A capture ends with
an Interface Statistics Block: start and end time, datagrams received and
dropped by the kernel.

A socket gives the payload, not the packet, so the IP and UDP headers are
rebuilt here, once for every writer: from the sender's address and what the
kernel reported of each datagram (:class:`HeaderFields`: the destination it was
sent to, its TTL or hop limit, its TOS or traffic class); what no kernel
reports (the IPv4 identification, DF, the UDP checksum of IPv4) is written as
a constant, and :func:`rebuilt_fields_note` says so in the interface description.

Every block is encoded here (no pcapng library): a capture writes hundreds of
thousands of blocks a second, so the per-datagram work is one ``struct.pack``
plus cached bytes, and a batch is one ``write()``.
"""
from __future__ import annotations

import functools
import ipaddress
import os
import platform as _platform
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, NamedTuple, final

from ..stampsource import StampSource
from .format import COMMENT_PREFIX, LINKTYPE_RAW, Address

_OPT_HEAD = struct.Struct("<HH")
_TRAILER = struct.Struct("<I")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
_END_OF_OPTIONS = b"\0\0\0\0"


class WriteFailed(OSError):
    """Writing the capture file failed (disk full, file too large, I/O error).

    The file holds ``saved`` whole datagram blocks when this is raised by
    :meth:`PcapngWriter.write_packets`; :meth:`PcapngWriter.cut_to_whole_blocks`
    then removes the partial block after them."""

    def __init__(self, cause: OSError, saved: int) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.saved = saved


# --- options and blocks ----------------------------------------------------------

def _option(code: int, value: bytes) -> bytes:
    return _OPT_HEAD.pack(code, len(value)) + value + _PAD[len(value) % 4]


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + _TRAILER.pack(total)


def section_header(application: str, os_name: str) -> bytes:
    """A little-endian Section Header Block (version 1.0, section length unknown)."""
    options = _option(3, os_name.encode()) + _option(4, application.encode()) + _END_OF_OPTIONS
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options)


def interface_description(name: str, description: str, link_type: int = LINKTYPE_RAW, snaplen: int = 0) -> bytes:
    """An Interface Description Block with ``if_tsresol`` 9 (timestamps count nanoseconds) and
    ``snaplen`` (0: not limited, as the pcapng specification reads it)."""
    options = _option(2, name.encode()) + _option(3, description.encode()) + _option(9, b"\x09") + _END_OF_OPTIONS
    return _block(1, struct.pack("<HHI", link_type, 0, snaplen) + options)


def _ts_option(code: int, ts_ns: int) -> bytes:
    return _option(code, struct.pack("<II", ts_ns >> 32, ts_ns & 0xFFFFFFFF))


def interface_statistics(ts_ns: int, start_ns: int, end_ns: int, received: int | None,
                         dropped: int | None, delivered: int, interface: int = 0) -> bytes:
    """An Interface Statistics Block: ``isb_starttime``/``isb_endtime``, ``isb_ifrecv`` (datagrams
    that reached the socket), ``isb_ifdrop`` (dropped by the kernel: receive buffer full) and
    ``isb_usrdeliv`` (written to this file); the counts we do not know are left out."""
    options = _ts_option(2, start_ns) + _ts_option(3, end_ns)
    if received is not None:
        options += _option(4, struct.pack("<Q", received))
    if dropped is not None:
        options += _option(5, struct.pack("<Q", dropped))
    options += _option(8, struct.pack("<Q", delivered)) + _END_OF_OPTIONS
    return _block(5, struct.pack("<III", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF) + options)


@functools.lru_cache(maxsize=64)
def _comment_options(comment: str) -> bytes:
    """An ``opt_comment`` option and ``opt_endofopt`` (a capture uses a handful of comments)."""
    return _option(1, comment.encode()) + _END_OF_OPTIONS


_EPB_HEAD = struct.Struct("<IIIIIII")


def encode_epb(packet: bytes, ts_ns: int, comment: str, interface_id: int = 0) -> bytes:
    """One little-endian Enhanced Packet Block of ``packet`` with an ``opt_comment``."""
    options = _comment_options(comment)
    size = len(packet)
    pad = _PAD[size % 4]
    total = 32 + size + len(pad) + len(options)
    return b"".join((
        _EPB_HEAD.pack(6, total, interface_id, (ts_ns >> 32) & 0xFFFFFFFF, ts_ns & 0xFFFFFFFF, size, size),
        packet, pad, options, _TRAILER.pack(total),
    ))


# --- IPv4/IPv6 + UDP headers ------------------------------------------------------

#: Written where the kernel did not report a datagram's TTL (hop limit) or TOS (traffic class).
DEFAULT_TTL = 64
DEFAULT_TOS = 0


class HeaderFields:
    """What the kernel reported of one datagram's IP header: the address it was sent to
    (``IP_PKTINFO``, ``IPV6_PKTINFO``, ``IP_RECVDSTADDR``), its TTL or hop limit and its
    TOS or traffic class (None: not reported; :data:`DEFAULT_TTL`/:data:`DEFAULT_TOS`
    are written), and the file's interface (the Interface Description Block's number,
    :meth:`PcapngWriter.add_interface`) it came in on.  Compared by identity: the receive
    path hands the same object to every datagram of a flow, so it is a cheap part of the
    writer's template key."""

    __slots__ = ("dst", "interface", "tos", "ttl")

    def __init__(self, dst: Address, ttl: int | None = None, tos: int | None = None, interface: int = 0) -> None:
        self.dst, self.ttl, self.tos, self.interface = dst, ttl, tos, interface

    def __repr__(self) -> str:
        return f"HeaderFields(dst={self.dst!r}, ttl={self.ttl!r}, tos={self.tos!r}, interface={self.interface})"


class Interface(NamedTuple):
    """One Interface Description Block: the receiving interface's name (``lo``, ``eth0``; "any"
    where it cannot be told) and what was received on it (the feed, the rebuilt-headers note)."""

    name: str
    description: str


#: One received datagram for :meth:`PcapngWriter.write_rows`: (stamp ns, its source,
#: sender address, header fields, payload as bytes or a memoryview)
Row = tuple[int, StampSource, Address, HeaderFields, Any]


def rebuilt_fields_note(reported: Iterable[str]) -> str:
    """The interface description's note of which header fields are the sender's and which
    are rebuilt; ``reported`` names what the kernel gives per datagram ("destination",
    "TTL", "TOS")."""
    told = list(reported)
    given = ", ".join(["addresses" if "destination" in told else "source address", "ports", "length",
                       *(name for name in told if name != "destination")])
    missing = [f"{name} {value}" for name, value in (("TTL", DEFAULT_TTL), ("TOS", DEFAULT_TOS))
               if name not in told]
    return (f"IP/UDP headers rebuilt from the socket: {given} as received"
            + ("" if "destination" in told else "; destination: the bound address or group")
            + (f"; {', '.join(missing)} (not reported by this kernel)" if missing else "")
            + "; IPv4 identification 0, DF set, IPv4 UDP checksum 0, IPv6 UDP checksum computed")


def _ones_sum(data: bytes) -> int:
    """The 16-bit one's-complement sum of ``data``: 2**16 = 1 (mod 0xFFFF) turns it into one modulo."""
    if len(data) % 2:
        data += b"\0"
    rest = int.from_bytes(data, "big") % 0xFFFF
    return rest if rest or not any(data) else 0xFFFF


def _fold(total: int) -> int:
    """The checksum field for a one's-complement sum (mod 0xFFFF): a computed 0 is sent as 0xFFFF (RFC 768)."""
    return 0xFFFF - (total % 0xFFFF or 0xFFFF) or 0xFFFF


def _ipv4_of(host: str) -> str | None:
    """``host`` as IPv4 if it is one, or an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``: an
    IPv4 datagram received on a dual-stack socket); None for any other IPv6 address."""
    if ":" not in host:
        return host
    mapped = ipaddress.IPv6Address(host.partition("%")[0]).ipv4_mapped
    return None if mapped is None else str(mapped)


@functools.lru_cache(maxsize=256)
def _route(src: Address, dst: Address) -> tuple[bool, bytes, bytes, int]:
    """Per address pair: (IPv6?, source, destination, the constant part of the UDP checksum
    sum: addresses, protocol, ports).  A datagram from an IPv4(-mapped) sender is IPv4."""
    src_v4 = _ipv4_of(src[0])
    if src_v4 is not None:
        dst_v4 = _ipv4_of(dst[0])
        if dst_v4 is None:  # "::", a wildcard bind that the kernel gave no destination for
            dst_v4 = "0.0.0.0"
        saddr, daddr = socket.inet_aton(src_v4), socket.inet_aton(dst_v4)
    else:
        saddr = socket.inet_pton(socket.AF_INET6, src[0].partition("%")[0])
        daddr = socket.inet_pton(socket.AF_INET6, dst[0].partition("%")[0])
    udp_const = _ones_sum(saddr + daddr) + 17 + src[1] + dst[1]
    return src_v4 is None, saddr, daddr, udp_const


def _payload_sum(payload: Any) -> int:
    """One's-complement sum of a payload (bytes or memoryview), mod 0xFFFF; an odd
    length counts as padded with a zero byte, which is a shift, not a copy."""
    return (int.from_bytes(payload, "big") << (8 * (len(payload) & 1))) % 0xFFFF


def _ip_udp_header(src: Address, dst: Address, payload_len: int, ident: int, udp_checksum: int | None,
                   ttl: int | None = None, tos: int | None = None) -> bytes:
    """The IPv4 (identification ``ident``, DF) or IPv6 header and the UDP header of one datagram."""
    v6, saddr, daddr, _udp_const = _route(tuple(src[:2]), tuple(dst[:2]))
    ttl = DEFAULT_TTL if ttl is None else ttl
    tos = DEFAULT_TOS if tos is None else tos
    udp_len = 8 + payload_len
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len & 0xFFFF, udp_checksum or 0)
    if v6:
        return struct.pack("!IHBB", 6 << 28 | tos << 20, udp_len, 17, ttl) + saddr + daddr + udp
    head = struct.pack("!BBHHHBB", 0x45, tos, 20 + udp_len, ident & 0xFFFF, 0x4000, ttl, 17)
    checksum = 0xFFFF - (_ones_sum(head + saddr + daddr) or 0xFFFF)
    return head + struct.pack("!H", checksum) + saddr + daddr + udp


def build_datagram(src: Address, dst: Address, payload: bytes, ident: int = 0,
                   ttl: int | None = None, tos: int | None = None) -> bytes:
    """The IPv4 or IPv6 packet carrying ``payload`` from ``src`` to ``dst`` (UDP, both checksums set).

    One's-complement sums add modulo 0xFFFF, so the per-pair constant part is
    computed once and each datagram adds its length and payload."""
    udp_const = _route(tuple(src[:2]), tuple(dst[:2]))[3]
    csum = _fold(udp_const + 2 * (8 + len(payload)) + _payload_sum(payload))
    return _ip_udp_header(src, dst, len(payload), ident, csum, ttl, tos) + payload


class FlowBlocks:
    """The constant parts of the blocks of one (sender, header fields, payload length, stamp
    source): everything of an EPB but the timestamp, the payload and (IPv6) the UDP checksum.

    IPv4 datagrams are written with identification 0 (DF set: RFC 6864 allows it) and
    UDP checksum 0 ("not computed", legal for IPv4, as in captures of checksum-offloading
    NICs), so their whole header is constant.  IPv6 requires the UDP checksum; it is
    the constant pseudo-header part plus the payload's sum."""

    __slots__ = ("after_ts", "checksum_base", "kept", "prefix", "separator", "size", "start", "tail", "v6",
                 "written")

    def __init__(self, src: Address, fields: HeaderFields, payload_len: int, source: StampSource,
                 snaplen: int = 0) -> None:
        v6, _s, _d, udp_const = _route(tuple(src[:2]), tuple(fields.dst[:2]))
        header = _ip_udp_header(src, fields.dst, payload_len, 0, None, fields.ttl, fields.tos)
        length = len(header) + payload_len
        caplen = min(length, snaplen) if snaplen else length
        if caplen < len(header):
            raise ValueError(f"snap length {snaplen} is shorter than the {len(header)}-byte IP and UDP headers")
        #: payload bytes written (the rest is cut by the snap length); -1: all of them
        self.kept = caplen - len(header) if caplen < length else -1
        self.written = caplen - len(header)  #: payload bytes in each block
        options = _comment_options(COMMENT_PREFIX + source.value)
        total = 32 + caplen + (-caplen % 4) + len(options)
        self.v6 = v6
        self.start = _EPB_START.pack(6, total, fields.interface)  # block type, length, interface
        # what follows the timestamp: caplen, origlen, the IP+UDP header (IPv6: but its checksum)
        self.after_ts = struct.pack("<II", caplen, length) + (header[:-2] if v6 else header)
        self.tail = _PAD[caplen % 4] + options + _TRAILER.pack(total)
        self.checksum_base = udp_const + 2 * (8 + payload_len)
        # for blocks(): a block up to its payload (stamp and checksum zero), and what lies
        # between one payload and the next
        self.size = total
        self.prefix = self.start + bytes(8) + self.after_ts + (bytes(2) if v6 else b"")
        self.separator = self.tail + self.prefix

    def checksum_value(self, payload: Any) -> int:
        """IPv6's UDP checksum for ``payload`` (bytes or a memoryview)."""
        return _fold(self.checksum_base + _payload_sum(payload))

    def checksum(self, payload: Any) -> bytes:
        """IPv6's UDP checksum field for ``payload`` (bytes or a memoryview)."""
        return _V6_CHECKSUM.pack(self.checksum_value(payload))

    def blocks(self, stamps: bytes, payloads: Sequence[Any]) -> bytearray:
        """The blocks of ``len(payloads)`` datagrams of this flow, stamped ``stamps`` (ns, a
        little-endian 64-bit number each: :func:`pack_stamps`), with no
        Python bytecode per datagram (IPv4): the payloads joined with the bytes between them
        as separator, then the stamps (and IPv6's checksums) copied into their places by
        strided memoryview assignments.  ``payloads`` are ``bytes`` (or views) of the flow's length."""
        count = len(payloads)
        # IPv6: the UDP checksum is the whole payload's, whatever the snap length keeps
        sums = _layout("!", count, "H").pack(*map(self.checksum_value, payloads)) if self.v6 else b""
        if self.kept >= 0:
            payloads = [payload[:self.kept] for payload in payloads]
        out = bytearray(self.prefix)
        out += self.separator.join(payloads)
        out += self.tail
        # An EPB's stamp is its high word, then its low word, each little-endian: the 32-bit
        # halves of a little-endian 64-bit number, swapped.  Blocks are 4-byte aligned.
        stamp_words, out_words = memoryview(stamps).cast("I"), memoryview(out).cast("I")
        at, step = len(self.start) // 4, self.size // 4
        out_words[at::step], out_words[at + 1::step] = stamp_words[1::2], stamp_words[0::2]
        if self.v6:
            halves = memoryview(out).cast("H")
            halves[len(self.prefix) // 2 - 1::self.size // 2] = memoryview(sums).cast("H")
        return out


@functools.lru_cache(maxsize=128)
def _layout(order: str, count: int, code: str) -> struct.Struct:
    """``count`` numbers of one ``struct`` code (:meth:`FlowBlocks.blocks`' checksums, :func:`pack_stamps`)."""
    return struct.Struct(f"{order}{count}{code}")


def pack_stamps(stamps: Sequence[int]) -> bytes:
    """Stamps (ns) as :meth:`PcapngWriter.write_flow` takes them: a little-endian 64-bit number each."""
    return _layout("<", len(stamps), "Q").pack(*stamps)


#: Bytes of blocks gathered before one write(): a few hundred datagrams per system call.
WRITE_SIZE = 256 << 10
#: Templates kept per writer before starting again (a stream of ever new senders or sizes).
MAX_FLOWS = 4096
_EPB_START = struct.Struct("<III")
_BLOCK_HEAD = struct.Struct("<II")


def _whole_blocks(data: memoryview) -> tuple[int, int]:
    """(bytes, Enhanced Packet Blocks) of the whole blocks at the start of ``data``."""
    pos = packets = 0
    while pos + 8 <= len(data):
        block_type, total = _BLOCK_HEAD.unpack_from(data, pos)
        if total < 12 or pos + total > len(data):
            break
        pos += total
        packets += block_type == 6
    return pos, packets


#: An Enhanced Packet Block's first 20 bytes: FlowBlocks.start, then the 64-bit timestamp (high, low)
_EPB_START_TS = struct.Struct("<12sII")
_V6_CHECKSUM = struct.Struct("!H")


@final  # __enter__ returns this very class
class PcapngWriter:
    """Append datagrams with their stamps to a pcapng file (nanosecond resolution).

    ``stream`` should be unbuffered (``open(path, "wb", buffering=0)``): then a
    failed write leaves a known number of whole blocks in the file.  Blocks wait in
    memory until :data:`WRITE_SIZE` bytes are pending, or the oldest of them has
    waited ``flush_interval`` seconds (0: every batch is written as it comes, as
    ``tcpdump -U``; None: only by size and :meth:`flush`).

    >>> with PcapngWriter(open("out.pcapng", "wb", buffering=0), "udp 127.0.0.1:5000") as w:  # doctest: +SKIP
    ...     w.write(b"payload", ("127.0.0.1", 4000), ("127.0.0.1", 5000), 1764128000123456789, "software")
    """

    def __init__(self, stream: BinaryIO, description: str = "sotimestamp capture",
                 flush_interval: float | None = None, *, interfaces: Iterable[Interface] | None = None,
                 snaplen: int = 0) -> None:
        self._stream = stream
        #: the Interface Description Blocks, in order (their numbers are the EPBs' interface ids)
        self.interfaces = [Interface("sotimestamp", description)] if interfaces is None else list(interfaces)
        self.snaplen = snaplen
        self._ident = 0
        self.flush_interval = flush_interval
        self.packets = 0  #: datagram blocks handed to the writer
        self.saved = 0  #: datagram blocks in the file, whole
        self.whole_bytes = 0  #: the file's length up to the end of its last whole block
        # blocks of several batches, written together: fewer, larger write() calls
        self._pending: list[bytes | bytearray] = []
        self._pending_bytes = self._pending_packets = 0
        self._pending_since = 0.0  # time.monotonic() when the oldest pending block came
        self._flows: dict[tuple[Address, HeaderFields, int, StampSource], FlowBlocks] = {}
        from .. import __version__

        self._put(section_header(f"sotimestamp {__version__}", f"{_platform.system()} {_platform.release()}")
                  + b"".join(interface_description(i.name, i.description, snaplen=snaplen) for i in self.interfaces))

    def add_interface(self, interface: Interface) -> int:
        """Describe one more interface (an Interface Description Block may follow packets); its number."""
        self._write_pending()  # the packets before it come first: a reader learns interfaces in file order
        self._put(interface_description(interface.name, interface.description, snaplen=self.snaplen))
        self.interfaces.append(interface)
        return len(self.interfaces) - 1

    def _put(self, data: bytes, packets: int = 0) -> None:
        """Write ``data`` (whole blocks, ``packets`` of them datagrams) to the file, retrying short
        writes; on failure raise :class:`WriteFailed` saying how many datagrams are in the file whole."""
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                wrote = self._stream.write(view[done:])
                done += len(data) - done if wrote is None else wrote
        except OSError as exc:
            if _whole_blocks(view[:done])[0] == done:
                done += self._put_blockwise(view[done:])
            whole_bytes, whole_packets = _whole_blocks(view[:done])
            self.saved += whole_packets
            self.whole_bytes += whole_bytes
            raise WriteFailed(exc, self.saved) from exc
        self.saved += packets
        self.whole_bytes += len(data)

    def _put_blockwise(self, rest: memoryview) -> int:
        """After a failed write(): ``rest`` one block per write() as far as it goes; the bytes
        written.  Some systems refuse a whole write() that would pass a limit (NetBSD at
        RLIMIT_FSIZE) where Linux writes up to it; this keeps every block that fits either way."""
        pos = 0
        while pos + 8 <= len(rest):
            total = _BLOCK_HEAD.unpack_from(rest, pos)[1]
            block, done = rest[pos:pos + total], 0
            try:
                while done < total:
                    wrote = self._stream.write(block[done:])
                    done += total - done if wrote is None else wrote
            except OSError:
                return pos + done
            pos += total
        return pos

    def write_rows(self, rows: Iterable[Row], count: int) -> None:
        """Add ``count`` received datagrams, one :data:`Row` each: the per-datagram block loop
        of every capture.  Each block is made from its flow's template (:class:`FlowBlocks`)
        plus the stamp and the payload; a block is only ever written whole."""
        parts: list[Any] = []
        add = parts.extend
        start_ts = _EPB_START_TS.pack
        # the row before's key: most rows repeat it, and comparing by identity beats hashing
        last_src: Address | None = None
        last_fields: HeaderFields | None = None
        last_source: StampSource | None = None
        last_len = -1
        flow: FlowBlocks | None = None
        for ts, source, src, fields, data in rows:
            size = len(data)
            if flow is None or src is not last_src or fields is not last_fields or size != last_len \
                    or source is not last_source:
                flow = self._flow(src, fields, size, source)
                last_src, last_fields, last_len, last_source = src, fields, size, source
            if flow.v6:
                add((start_ts(flow.start, ts >> 32, ts & 0xFFFFFFFF), flow.after_ts, flow.checksum(data),
                     data if flow.kept < 0 else data[:flow.kept], flow.tail))
            else:
                add((start_ts(flow.start, ts >> 32, ts & 0xFFFFFFFF), flow.after_ts,
                     data if flow.kept < 0 else data[:flow.kept], flow.tail))
        if parts:  # joined now: the payloads may be views of buffers the caller reuses
            self._add_blocks(b"".join(parts), count)

    def write_flow(self, src: Address, fields: HeaderFields, source: StampSource, stamps: bytes,
                   payloads: Sequence[Any]) -> None:
        """:meth:`write_rows` for datagrams of one flow: all from ``src`` with ``fields`` and stamps
        from ``source``, ``payloads`` all ``bytes`` (or views) of one length, ``stamps`` (ns) a
        little-endian 64-bit number each (:func:`pack_stamps`).  Their blocks share one
        template, so they are made in one go (:meth:`FlowBlocks.blocks`)."""
        if payloads:
            flow = self._flow(src, fields, len(payloads[0]), source)
            self._add_blocks(flow.blocks(stamps, payloads), len(payloads))

    def _flow(self, src: Address, fields: HeaderFields, size: int, source: StampSource) -> FlowBlocks:
        key = (src, fields, size, source)
        flow = self._flows.get(key)
        if flow is None:
            if len(self._flows) >= MAX_FLOWS:
                self._flows.clear()
            flow = self._flows[key] = FlowBlocks(src, fields, size, source, self.snaplen)
        return flow

    def stamped_blocks(self, rows: Iterable[Row]) -> list[tuple[int, bytes]]:
        """(stamp, block) of each row, for a caller that merges several sockets' datagrams in stamp
        order before :meth:`add_blocks` (one ``bytes`` per datagram: slower than :meth:`write_rows`)."""
        out: list[tuple[int, bytes]] = []
        start_ts = _EPB_START_TS.pack
        for ts, source, src, fields, data in rows:
            flow = self._flow(src, fields, len(data), source)
            checksum = flow.checksum(data) if flow.v6 else b""
            out.append((ts, b"".join((start_ts(flow.start, ts >> 32, ts & 0xFFFFFFFF), flow.after_ts, checksum,
                                       data if flow.kept < 0 else data[:flow.kept], flow.tail))))
        return out

    def add_blocks(self, blocks: Iterable[bytes], count: int) -> None:
        """Add ``count`` whole datagram blocks made by :meth:`stamped_blocks`."""
        if count:
            self._add_blocks(b"".join(blocks), count)

    def _add_blocks(self, blocks: bytes | bytearray, count: int) -> None:
        """Add ``count`` whole datagram blocks; they are written with the ones before them once
        :data:`WRITE_SIZE` bytes are waiting, the oldest has waited ``flush_interval``, or by
        :meth:`flush`."""
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(blocks)
        self._pending_bytes += len(blocks)
        self.packets += count
        self._pending_packets += count
        if self._pending_bytes >= WRITE_SIZE or (
                self.flush_interval is not None
                and time.monotonic() - self._pending_since >= self.flush_interval):
            self._write_pending()

    def flush_due(self) -> bool:
        """Whether blocks have waited ``flush_interval`` (a capture asks while its socket is quiet)."""
        return bool(self._pending) and self.flush_interval is not None and (
            time.monotonic() - self._pending_since >= self.flush_interval)

    def _write_pending(self) -> None:
        if self._pending:
            data, packets = b"".join(self._pending), self._pending_packets
            self._pending.clear()
            self._pending_bytes = self._pending_packets = 0
            self._put(data, packets)

    def write(self, payload: bytes, src: Address, dst: Address, ts_ns: int, source: str | None,
              ttl: int | None = None, tos: int | None = None) -> None:
        """Write one datagram, with both checksums computed and a new IPv4 identification
        (files generated for tests and benchmarks)."""
        self._ident += 1
        self._write_pending()
        self.packets += 1
        packet = build_datagram(src, dst, payload, self._ident, ttl, tos)
        self._put(encode_epb(packet, ts_ns, COMMENT_PREFIX + (source or StampSource.USER.value)), 1)

    def write_statistics(self, start_ns: int, end_ns: int, received: int | None, dropped: int | None,
                         interface: int = 0, delivered: int | None = None) -> None:
        """A closing Interface Statistics Block of ``interface`` (see :func:`interface_statistics`);
        ``delivered`` defaults to the datagrams in the file."""
        self._write_pending()
        self._put(interface_statistics(end_ns, start_ns, end_ns, received, dropped,
                                       self.saved if delivered is None else delivered, interface))

    @property
    def pending_bytes(self) -> int:
        """Bytes of blocks waiting to be written."""
        return self._pending_bytes

    def cut_to_whole_blocks(self) -> bool:
        """After a failed write: cut the file back to its last whole block.  False when the
        stream cannot be truncated (a pipe: what was written is what the reader got)."""
        try:
            self._stream.truncate(self.whole_bytes)
            self._stream.seek(self.whole_bytes)
        except (OSError, ValueError):
            return False
        return True

    def flush(self) -> None:
        """Write the blocks still waiting."""
        self._write_pending()
        self._stream.flush()

    def sync(self) -> None:
        """Flush and fsync (a capture's file survives a crash of the machine after it ends)."""
        self.flush()
        try:
            os.fsync(self._stream.fileno())
        except (OSError, AttributeError, ValueError):
            pass  # not a file (a pipe, a BytesIO)

    def close(self) -> None:
        self.sync()
        self._stream.close()

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
