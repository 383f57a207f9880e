"""The two capture file formats, walked block by block: pcapng and classic pcap;
and what the reader (:mod:`.read`) and the writer (:mod:`.write`) both need to know
of them: link types, the stamp-source comment, the address type.

Each walker yields :class:`Batch` es: the packets of one chunk of :data:`CHUNK`
bytes as columns (stamp, stamp source, link type, where the frame lies in the
chunk), reading the file chunk by chunk so memory stays flat however long the
recording is.  A file that ends inside a block (a crash, a full disk, a copy
cut short) is not an error: every complete block is used and ``on_truncated``
is called once with what was cut.  Anything else that does not parse raises
:class:`PcapFileError` naming the byte offset.

The pcapng walker is the hot path of ``sotimestamp stats`` (a million packets
in no more than 1.5 times capinfos' time), so it works on the chunk's 32-bit
words (an ``array``): a run of Enhanced Packet Blocks of one size is found by
comparing its type and length words as strided slices, and each field of the
run (stamp, interface, captured length, options) is a strided slice too, all
copied and compared in C; blocks of varied sizes are walked one by one (an
index and an add each: where each begins), their fields gathered with one
``itemgetter`` of those starts and their options sliced with ``map``.  No
Python statement runs per packet but that walk.  Any block a run does not vouch for
(lengths that disagree, a captured length past its block, an undescribed
interface) is left to the block-by-block loop, which says what is wrong and
where.
"""
from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import add, eq, itemgetter, le, lshift, sub
from typing import Any, BinaryIO, NamedTuple

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


class Batch(NamedTuple):
    """Consecutive packets of one chunk of a file, as columns: packet i is
    ``buf[starts[i]:starts[i] + lengths[i]]``, stamped ``stamps[i]`` (ns since the epoch,
    0 for a Simple Packet Block), from ``sources[i]`` (the stamp-source comment, or None),
    of link type ``link_types[i]``."""

    buf: bytes
    starts: Sequence[int]
    lengths: Sequence[int]
    stamps: Sequence[int]
    sources: Sequence[str | None]
    link_types: Sequence[int]

    def frames(self) -> Iterator[Frame]:
        buf = self.buf
        for ts, source, link_type, start, length in zip(self.stamps, self.sources, self.link_types, self.starts,
                                                         self.lengths):
            yield ts, source, link_type, buf[start:start + length]


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
    """The stamp source of an EPB's ``options`` (which may begin with the 1 to 3 bytes that pad
    the packet to 4: options come in whole words, so they are ``len(options) % 4`` long)."""
    prefix = COMMENT_PREFIX.encode()
    for code, value in _options(options, len(options) % 4, len(options), order):
        if code == 1 and value.startswith(prefix):
            return value[len(prefix):].decode("utf-8", "replace")
    return None


def _stamp_source(options: bytes, sources: dict[bytes, str | None], order: str) -> str | None:
    """:func:`_comment_source` of ``options``, remembered in ``sources`` (up to :data:`_MAX_SOURCES`
    of them: a foreign file may make each one unique)."""
    if options in sources:  # None is an answer too: no comment
        return sources[options]
    source = sources[options] = _comment_source(options, order)
    if len(sources) > _MAX_SOURCES:
        del sources[options]
    return source
_SWAPPED = {"<": sys.byteorder != "little", ">": sys.byteorder != "big"}
_PROBE = 16  # blocks compared at once to find a run of one size
_STEADY = b"\x01" * (_PROBE - 1)  # _PROBE lengths in a row that are each the one before


def _words(buf: bytes, order: str) -> array[int]:
    """The whole 32-bit words of ``buf`` as numbers, read in the file's byte ``order``."""
    words = array("I")
    words.frombytes(buf[:len(buf) & ~3])
    if _SWAPPED[order]:
        words.byteswap()
    return words


def _leading(column: array[int], value: int) -> int:
    """How many of ``column``'s first numbers are ``value`` (bytes compared, not numbers)."""
    got, want = column.tobytes(), array("I", [value]).tobytes() * len(column)
    if got == want:
        return len(column)
    lo, hi = 0, len(column) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if got[:4 * mid] == want[:4 * mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


_LOW_TWO_BITS = bytes(b & 3 for b in range(256))
_LOW_BYTE = 0 if sys.byteorder == "little" else 3  # of a 32-bit number in the host's order


def _multiples_of_4(column: Sequence[int]) -> bool:
    """Whether every number of ``column`` (32-bit) is a multiple of 4: their low bytes' low two bits
    compared as bytes."""
    low_bytes = array("I", column).tobytes()[_LOW_BYTE::4]
    return low_bytes.translate(_LOW_TWO_BITS) == bytes(len(low_bytes))


def _all_are(column: Sequence[int], value: int) -> bool:
    """Whether every number of ``column`` is ``value``."""
    return _leading(column, value) == len(column) if isinstance(column, array) else column.count(value) == len(column)


class _Run:
    """Enhanced Packet Blocks one after the other in a chunk, beginning at the words
    ``starts``: a ``range`` of step ``stride`` when they are all of one size (each field
    then a strided slice of the words, copied in C), else a list (``stride`` 0) whose
    fields are gathered by one ``itemgetter`` of the starts (in C too)."""

    def __init__(self, words: array[int], starts: Sequence[int], stride: int = 0) -> None:
        self.words, self.starts, self.stride = words, starts, stride
        self._gather = None if stride else itemgetter(*starts)
        self._gathered: dict[int, Sequence[int]] = {}

    def column(self, offset: int) -> Sequence[int]:
        """Word ``offset`` of each block (-1: the word before it, the previous block's length)."""
        words, starts = self.words, self.starts
        if self.stride:
            begin = starts[0] + offset
            return words[begin:begin + len(starts) * self.stride:self.stride]
        column = self._gathered.get(offset)
        if column is None:  # gathered from a view (or a copy after -offset zero words) whose word i is i + offset
            assert self._gather is not None
            view = memoryview(words)[offset:] if offset >= 0 else array("I", bytes(-4 * offset)) + words
            column = self._gathered[offset] = self._gather(view)
        return column

    def seed(self, offset: int, column: tuple[int, ...]) -> None:
        """Word ``offset`` of each block, gathered already (as :meth:`column` would: a tuple)."""
        self._gathered[offset] = column

    @property
    def end(self) -> int:
        """The word after the last block."""
        return self.starts[-1] + (self.words[self.starts[-1] + 1] >> 2)


def _walk(words: array[int], w: int, wend: int, limit: int) -> list[int]:
    """Where each of up to ``limit`` blocks from word ``w`` on begins, as far as they lie whole
    in the first ``wend`` words, found by following their length words: an index and an add a
    block, the one Python loop over packets.  Stops at a length under an EPB's 32 bytes."""
    starts: list[int] = []
    keep = starts.append
    try:
        for _ in range(min((wend - w) >> 3, limit)):  # each step is of 8 words at least
            step = words[w + 1] >> 2
            if step < 8:
                break
            keep(w)
            w += step
    except IndexError:  # a length word past the chunk
        pass
    if starts and starts[-1] + (words[starts[-1] + 1] >> 2) > wend:  # only the last can run past
        starts.pop()
    return starts


def _epb_run(words: array[int], w: int, wend: int) -> _Run | None:
    """The Enhanced Packet Blocks from word ``w`` on, as far as they lie whole in the chunk
    (``wend`` words).  Blocks of one size are found by comparing their type and length words
    as strided slices; where sizes vary, :func:`_walk` finds where each block begins and
    their type words are compared once gathered.  Any block that is no EPB ends the run
    (the block-by-block loop judges it); None if fewer than two blocks are left."""
    total = words[w + 1] if w + 8 <= wend else 0
    stride = total >> 2
    if stride >= 8:
        fits = (wend - w) // stride
        probe = min(fits, _PROBE)
        count = min(_leading(words[w:w + probe * stride:stride], _EPB),
                    _leading(words[w + 1:w + 1 + probe * stride:stride], total))
        if count == _PROBE < fits:
            count = min(_leading(words[w:w + fits * stride:stride], _EPB),
                        _leading(words[w + 1:w + 1 + fits * stride:stride], total))
        if count > 1:
            return _Run(words, range(w, w + count * stride, stride), stride)
    # walked on 4 times as far each time nothing ends the run: a run ended soon (a feed of one size
    # with now and then a packet of another) is not walked to the chunk's end
    starts: list[int] = []
    types: list[int] = []
    totals: list[int] = []
    limit, cut = 4 * _PROBE, -1
    while cut < 0:
        more = _walk(words, starts[-1] + (totals[-1] >> 2) if starts else w, wend, limit)
        if len(more) > 1:
            gather = itemgetter(*more)
            types += gather(words)
            totals += gather(memoryview(words)[1:])
        elif more:
            types.append(words[more[0]])
            totals.append(words[more[0] + 1])
        starts += more
        if types.count(_EPB) != len(types):  # a block of another kind: the run ends before it
            cut = next(i for i, kind in enumerate(types) if kind != _EPB)
        last = len(totals) if cut < 0 else cut
        steady = bytes(map(eq, totals[1:last], totals[:last - 1])).find(_STEADY)
        if steady >= 0:  # blocks of one size again: the run ends before them, they make a strided one
            cut = steady
        if cut < 0 and len(more) < limit:  # the chunk's end, or a block too short for an EPB
            cut = len(starts)
        limit *= 4
    if cut < 2:
        return None
    run = _Run(words, starts[:cut])
    run.seed(0, tuple(types[:cut]))
    run.seed(1, tuple(totals[:cut]))
    return run


def _epb_batch(buf: bytes, run: _Run, interfaces: list[_Interface], sources: dict[bytes, str | None],
               order: str) -> Batch | None:
    """The packets of a run of EPBs, each field taken as a column of the run (in C, not a
    Python statement per packet); None if any block of the run is not sound (the
    block-by-block loop then says which and why)."""
    count = len(run.starts)
    ifaces, caplens, totals = run.column(2), run.column(5), run.column(1)
    caplen = caplens[0]
    one_caplen = _all_are(caplens, caplen)  # bytes compared: quicker than max() of numbers
    byte_stride = 4 * run.stride
    # A block's options lie from its packet's end (their pad first: see _comment_source) to its
    # last word, its length again; the next block's packet begins 32 bytes after that.
    frame_starts: Sequence[int]
    options_end: Sequence[int]
    if byte_stride:  # one length, so one test of it; each block ends with it
        frame_starts = range(4 * run.starts[0] + 28, 4 * run.end + 28, byte_stride)
        options_end = range(frame_starts.start + byte_stride - 32, frame_starts.stop + byte_stride - 32, byte_stride)
        options_start: Iterable[int] = map(add, frame_starts, caplens)
        sound = (not byte_stride & 3 and _all_are(run.column(run.stride - 1), byte_stride)
                 and (caplen if one_caplen else max(caplens)) + 32 <= byte_stride)
    else:
        frame_starts = list(map(add, map(lshift, run.starts, repeat(2)), repeat(28)))
        options_end = list(map(sub, frame_starts[1:], repeat(32)))
        options_end.append(4 * run.end - 4)
        options_start = list(map(add, frame_starts, caplens))  # a list: tested, then sliced
        sound = (run.column(-1)[1:] == totals[:-1] and run.words[run.end - 1] == totals[-1]
                 and _multiples_of_4(totals)
                 and all(map(le, options_start, options_end)))  # the packet lies inside
    one_iface = _all_are(ifaces, ifaces[0])
    if not sound or (ifaces[0] if one_iface else max(ifaces)) >= len(interfaces):
        return None
    found: list[str | None]
    options_word = 7 + (caplen + 3) // 4  # where the options begin in the block, in words
    if byte_stride and one_caplen and all(
            _all_are(run.column(word), run.words[run.starts[0] + word])
            for word in range(options_word, run.stride - 1)):  # every block's options are the first's
        options = [buf[4 * (run.starts[0] + options_word):4 * (run.starts[0] + run.stride - 1)]]
    else:
        options = list(map(buf.__getitem__, map(slice, options_start, options_end)))
    distinct = set(options)
    if len(distinct) == 1:
        found = [_stamp_source(options[0], sources, order)] * count
    else:
        found = list(map({raw: _stamp_source(raw, sources, order) for raw in distinct}.__getitem__, options))
    used = [interfaces[ifaces[0]]] if one_iface else [interfaces[i] for i in set(ifaces)]
    highs, lows = run.column(3), run.column(4)
    stamps: Sequence[int]
    if all(iface.in_ns for iface in used):
        # high and low words side by side, in the host's order, are the 64-bit stamps: copied in C
        halves = array("I", bytes(8 * count))
        low_words, high_words = (column if isinstance(column, array) else array("I", column) for column in (lows, highs))
        halves[0::2], halves[1::2] = (low_words, high_words) if sys.byteorder == "little" else (high_words, low_words)
        stamps = array("q")
        stamps.frombytes(halves.tobytes())
    else:
        stamps = [interfaces[i].ns(high << 32 | low) for i, high, low in zip(ifaces, highs, lows)]
    if len({iface.link_type for iface in used}) == 1:
        link_types: Sequence[int] = [used[0].link_type] * count
    else:
        link_types = [interfaces[i].link_type for i in ifaces]
    return Batch(buf, frame_starts, caplens, stamps, found, link_types)


def pcapng_batches(path: str, stream: BinaryIO, progress: Progress, on_truncated: Truncated) -> Iterator[Batch]:
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
        words: array[int] | None = None  # of this chunk, once an EPB asks for them
        one_by_one = 0  # up to here, the blocks of a run that was not sound go through the loop below
        while pos + 12 <= end:
            if pos + 24 <= end:
                btype, total, iface_id, high, low, caplen = fixed.unpack_from(buf, pos)
            else:
                (btype, total), iface_id = head.unpack_from(buf, pos), -1
            if btype == _EPB and interfaces and pos >= one_by_one:
                if words is None:
                    words = _words(buf, order)
                run = _epb_run(words, pos >> 2, end >> 2)  # pos is a multiple of 4: blocks are
                batch = _epb_batch(buf, run, interfaces, sources, order) if run else None
                if run is not None and batch is not None:
                    yield batch
                    packets += len(run.starts)
                    pos = 4 * run.end
                    continue
                if run is not None:
                    one_by_one = 4 * run.end
            if btype == SHB_TYPE:
                order = _BYTE_ORDER.get(buf[pos + 8:pos + 12], "")
                if not order:
                    raise PcapFileError(f"{path}: corrupt section header at byte {offset + pos}: "
                                        f"bad byte-order magic {buf[pos + 8:pos + 12].hex()}")
                fixed, head = _EPB_FIXED[order], _HEAD[order]
                (btype, total) = head.unpack_from(buf, pos)
                interfaces, sources, words = [], {}, None
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
                    ts = (high << 32) | low
                    yield Batch(buf, [pos + 28], [caplen], [ts if iface.in_ns else iface.ns(ts)],
                                [_stamp_source(buf[data_end + (-caplen % 4):nxt - 4], sources, order)],
                                [iface.link_type])
                    packets += 1
                elif btype == _IDB:
                    interfaces.append(_interface(buf, pos + 8, nxt - 4, order))
                elif btype == _SPB:
                    iface = interfaces[0]
                    (origlen,) = struct.unpack_from(order + "I", buf, pos + 8)
                    caplen = min(origlen, iface.snaplen or origlen, total - 16)
                    yield Batch(buf, [pos + 12], [caplen], [0], [None], [iface.link_type])
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


def pcap_batches(path: str, stream: BinaryIO, progress: Progress, on_truncated: Truncated) -> Iterator[Batch]:
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
        starts: list[int] = []
        lengths: list[int] = []
        stamps: list[int] = []
        while pos + 16 <= end:
            seconds, fraction, caplen, _origlen = record.unpack_from(buf, pos)
            if caplen > MAX_PACKET_BYTES:
                if starts:  # the packets before it first, as they come
                    yield Batch(buf, starts, lengths, stamps, [None] * len(starts), [link_type] * len(starts))
                raise PcapFileError(f"{path}: corrupt record at byte {offset + pos}: captured length {caplen}")
            nxt = pos + 16 + caplen
            if nxt > end:
                break
            starts.append(pos + 16)
            lengths.append(caplen)
            stamps.append(seconds * NS + fraction * scale)
            pos = nxt
        if starts:
            packets += len(starts)
            yield Batch(buf, starts, lengths, stamps, [None] * len(starts), [link_type] * len(starts))
        if not more:
            if pos < end:
                on_truncated(f"{path}: truncated: the file ends {end - pos} bytes into the record at byte "
                             f"{offset + pos}; read the {packets} packets before it")
            return
