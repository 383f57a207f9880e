"""capture's receive path: each received datagram as a row for the pcapng writer.

A row is (stamp, stamp source, sender, :class:`~sotimestamp.pcap.HeaderFields`,
payload); :meth:`~sotimestamp.pcap.PcapngWriter.write_rows` turns rows into
blocks.  The header fields are what the kernel reports with each datagram once
:func:`enable_header_messages` asked for them: the address it was sent to
(``IP_PKTINFO``/``IPV6_PKTINFO``, ``IP_RECVDSTADDR`` on the BSDs), its TTL or
hop limit, its TOS or traffic class.

At hundreds of thousands of datagrams a second the Python work per datagram is
what limits a capture, so the ``recvmmsg()`` path makes no
:class:`~sotimestamp.core.Packet` and no ``bytes`` copy of the payload.  A batch
that is one flow (one sender, one payload length, the same control bytes after
every stamp: the same destination, TTL and TOS) is read and written in bulk,
with no Python bytecode per datagram (:func:`~sotimestamp.batch.uniform_slots`,
:meth:`~sotimestamp.pcap.PcapngWriter.write_flow`); its header fields are
decoded once and then looked up by those bytes.  Any other batch goes slot by
slot: a slot whose control buffer is one software SCM_TIMESTAMPING followed by
control messages already seen takes its stamp where ``recvmmsg()`` left it and
its header fields from that lookup; any other slot is decoded in full.  Without
``recvmmsg`` each datagram is one ``recvmsg()``, with the same result.
"""
from __future__ import annotations

import collections
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import batch as B
from .constants import HEADER_OPTIONS, NS_PER_S, HeaderOptions, platform_name
from .core import ANCBUFSIZE, DropCounter, packet_from
from .pcap import Address, HeaderFields, PcapngWriter, Row
from .stampsource import StampSource, recorded_stamp

#: Control-buffer tails remembered (distinct destination/TTL/TOS/drop-count combinations).
_MAX_TAILS = 4096


def header_options() -> HeaderOptions:
    """The running platform's header-field options (none on a platform we have no numbers for)."""
    return HEADER_OPTIONS.get(platform_name(), HeaderOptions())


def _turn_on(sock: socket.socket, level: int, option: int | None) -> bool:
    if option is None:
        return False
    try:
        sock.setsockopt(level, option, 1)
    except OSError:
        return False
    return True


def enable_header_messages(sock: socket.socket, options: HeaderOptions | None = None,
                           interface: bool = False) -> list[str]:
    """Ask the kernel to attach each datagram's destination, TTL (hop limit) and TOS
    (traffic class) to it, as far as it can; returns what the file will hold as sent, of
    "destination", "TTL", "TOS" (for :func:`~sotimestamp.pcap.write.rebuilt_fields_note`).
    Call it on a bound socket: the packet info (destination and receiving interface) is
    only asked for where the destination can differ from the bound address, a wildcard,
    or where ``interface`` says the receiving interface cannot be told otherwise (each
    control message costs the kernel and the loop time per datagram).  An IPv6 socket
    bound to the wildcard also asks for the IPv4 ones: it receives IPv4 datagrams too,
    and the kernel reports theirs at the IPv4 level."""
    o = options or header_options()
    wildcard = ipaddress.ip_address(sock.getsockname()[0].partition("%")[0]).is_unspecified
    info = wildcard or interface
    v6 = sock.family == socket.AF_INET6
    told = [not wildcard, False, False]
    if not v6 or wildcard:
        ip = [info and (_turn_on(sock, socket.IPPROTO_IP, o.IP_PKTINFO)
                        or _turn_on(sock, socket.IPPROTO_IP, o.IP_RECVDSTADDR)),
              _turn_on(sock, socket.IPPROTO_IP, o.IP_RECVTTL), _turn_on(sock, socket.IPPROTO_IP, o.IP_RECVTOS)]
        if not v6:
            told = [told[0] or ip[0], ip[1], ip[2]]
    if v6:
        told = [(info and _turn_on(sock, socket.IPPROTO_IPV6, o.IPV6_RECVPKTINFO)) or told[0],
                _turn_on(sock, socket.IPPROTO_IPV6, o.IPV6_RECVHOPLIMIT),
                _turn_on(sock, socket.IPPROTO_IPV6, o.IPV6_RECVTCLASS)]
    return [name for name, on in zip(("destination", "TTL", "TOS"), told) if on]


def _small_int(data: bytes) -> int | None:
    """A TTL, TOS, hop limit or traffic class: an int (Linux, IPv6) or one byte (the BSDs' IPv4)."""
    if len(data) >= 4:
        return int(B.INT32.unpack_from(data)[0])
    return data[0] if data else None


def _same_interface(_index: int | None) -> int:
    return 0


class HeaderDecoder:
    """Control messages -> :class:`HeaderFields`, one object per distinct (destination, TTL,
    TOS, receiving interface); the destination defaults to ``destination`` (the bound address
    or group) where the kernel reports none.  ``interface_of`` turns the receiving
    interface's index (from the packet info; None where the kernel gave none) into the
    file's interface number."""

    def __init__(self, destination: Address, options: HeaderOptions | None = None,
                 interface_of: Callable[[int | None], int] = _same_interface) -> None:
        self.options = options or header_options()
        self.destination = destination
        self.interface_of = interface_of
        self._made: dict[tuple[str | None, int | None, int | None, int | None], HeaderFields] = {}

    def fields(self, ancdata: Iterable[tuple[int, int, bytes]]) -> HeaderFields:
        o = self.options
        dst = ttl = tos = index = None
        for level, kind, data in ancdata:
            if level == socket.IPPROTO_IP:
                if kind == o.IP_PKTINFO and len(data) >= 12:  # Linux's in_pktinfo: ifindex, spec_dst, addr
                    index = B.INT32.unpack_from(data)[0]
                    dst = socket.inet_ntop(socket.AF_INET, data[8:12])  # ipi_addr: the header's destination
                elif kind == o.IP_RECVDSTADDR and len(data) >= 4:
                    dst = socket.inet_ntop(socket.AF_INET, data[:4])
                elif kind == o.IP_TTL_CMSG:
                    ttl = _small_int(data)
                elif kind == o.IP_TOS_CMSG and data:
                    tos = data[0]
            elif level == socket.IPPROTO_IPV6:
                if kind == o.IPV6_PKTINFO and len(data) >= 20:  # in6_pktinfo: addr, ifindex
                    dst = socket.inet_ntop(socket.AF_INET6, data[:16])
                    index = B.INT32.unpack_from(data, 16)[0]
                elif kind == o.IPV6_HOPLIMIT:
                    ttl = _small_int(data)
                elif kind == o.IPV6_TCLASS:
                    tos = _small_int(data)
        key = (dst, ttl, tos, index)
        made = self._made.get(key)
        if made is None:
            if len(self._made) > _MAX_TAILS:
                self._made.clear()
            made = self._made[key] = HeaderFields((dst or self.destination[0], self.destination[1]), ttl, tos,
                                                  self.interface_of(index))
        return made


class Recorder:
    """Receives from ``sock`` into ``writer``: :meth:`record_batch` is capture's hot loop.

    ``destination`` is the bound address (or group) and port, the destination written
    where the kernel reports none; ``sources`` counts the datagrams per stamp source,
    ``drops`` learns the kernel's drop counter from SO_RXQ_OVFL messages."""

    def __init__(self, sock: socket.socket, writer: PcapngWriter, destination: Address,
                 drops: DropCounter | None = None, options: HeaderOptions | None = None,
                 interface_of: Callable[[int | None], int] = _same_interface) -> None:
        self.sock, self.writer = sock, writer
        self.drops = drops or DropCounter()
        self.decoder = HeaderDecoder(destination, options, interface_of)
        self.sources: collections.Counter[StampSource] = collections.Counter()
        self.received = 0  #: datagrams received from ``sock``
        # (controllen, the bytes after a lone software stamp) -> the header fields they say
        self._tails: dict[tuple[int, bytes], HeaderFields] = {}
        # (controllen, the exact bytes after the stamp) -> header fields, for whole batches
        self._flow_tails: dict[tuple[int, bytes], HeaderFields] = {}

    def record_batch(self, max_packets: int, bufsize: int) -> int:
        """Receive up to ``max_packets`` datagrams (waiting per the socket's timeout, as
        :func:`~sotimestamp.batch.recv_batch` does, with the same exceptions) and hand them
        to the writer.  Returns how many were received."""
        if not B.HAVE_RECVMMSG:
            received = self._receive_each(max_packets, bufsize)
            self.received += len(received)
            self.writer.write_rows(self._rows_of(received), len(received))
            return len(received)
        batch, got = B.receive_slots(self.sock, max_packets, bufsize)
        self.received += got
        if not self._write_one_flow(batch, got):
            rows, decoded = self._slot_rows(batch, got)
            self.writer.write_rows(rows, got)
            self.sources[StampSource.SOFTWARE] += got - decoded
        return got

    def _write_one_flow(self, batch: Any, got: int) -> bool:
        """Write ``got`` filled slots in bulk when they are one flow: one sender, one payload
        length, and control buffers that :func:`~sotimestamp.batch.uniform_slots` reads in bulk
        (the same bytes after each stamp: the same header fields); False, having written
        nothing, when they are not.  The header fields are decoded from slot 0 the first time
        its control bytes are seen, and then looked up by them."""
        same = B.uniform_slots(batch, got)
        if same is None:
            return False
        lengths = same.lengths
        if lengths.count(lengths[0]) != got:
            return False
        src = B.one_sender(batch, got)
        if src is None:
            return False
        key = (same.controllen, same.tail)
        fields = self._flow_tails.get(key)
        if fields is None:
            if not batch.nothing_timed_after_stamp(0, same.controllen, self.drops):
                return False  # another time message: each slot is decoded in full
            if len(self._flow_tails) > _MAX_TAILS:
                self._flow_tails.clear()
            fields = self._flow_tails[key] = self.decoder.fields(batch.ancdata(0, same.controllen))
        self.writer.write_flow(src, fields, same.source, B.packed_stamps(same), B.payload_views(batch, got, lengths[0]))
        self.sources[same.source] += got
        return True

    def stamped_batch(self, max_packets: int, bufsize: int) -> list[tuple[int, bytes]]:
        """As :meth:`record_batch`, but the datagrams' (stamp, block) are returned, not written:
        a capture of several sockets merges them in stamp order first."""
        if not B.HAVE_RECVMMSG:
            received = self._receive_each(max_packets, bufsize)
            self.received += len(received)
            return self.writer.stamped_blocks(self._rows_of(received))
        batch, got = B.receive_slots(self.sock, max_packets, bufsize)
        self.received += got
        rows, decoded = self._slot_rows(batch, got)
        self.sources[StampSource.SOFTWARE] += got - decoded
        return self.writer.stamped_blocks(rows)  # now: the rows are views of buffers the next receive reuses

    def _slot_rows(self, batch: Any, got: int) -> tuple[list[Row], int]:
        """The rows of ``got`` filled slots, and how many of them were decoded in full (which
        counts their stamp sources; the others have a software stamp)."""
        lone_stamp, ns = batch.lone_stamp, NS_PER_S
        known = self._tails
        software = StampSource.SOFTWARE
        rows: list[Row] = []
        append = rows.append
        decode = self._decoded_row
        decoded = 0
        last: tuple[int, bytes] | None = None  # the key of the slot before: most often this one's too
        fields = self.decoder.fields(())  # replaced before its first use: set when ``last`` is
        for i, ((_namelen, controllen, length), src, (clen, level, kind, s0, n0, s2, n2, window), slot) in \
                enumerate(B.slot_rows_with_tail(batch, got)):
            if (clen, level, kind) == lone_stamp and not (s2 or n2) and (s0 or n0):
                # a comparison (memcmp) is cheaper than hashing the window for the lookup
                if last is None or window != last[1] or controllen != last[0]:
                    last = (controllen, window)
                    found = known.get(last)
                    if found is None:
                        append(decode(batch, i, controllen, src, slot[:length], last))
                        decoded += 1
                        last = None
                        continue
                    fields = found
                append((s0 * ns + n0, software, src, fields, slot[:length]))
            else:
                append(decode(batch, i, controllen, src, slot[:length], None))
                decoded += 1
        return rows, decoded

    def _decoded_row(self, batch: Any, i: int, controllen: int, src: Address, payload: Any,
                     key: tuple[int, bytes] | None) -> Row:
        """A slot decoded in full: its stamps (and the drop counter) and header fields.  When it
        has a lone software stamp, the header fields are remembered under ``key`` (controllen and
        the bytes after the stamp) for the datagrams that repeat it, unless those bytes hold
        another time message or do not fit the window (then such slots are decoded in full)."""
        sw, hw = batch.slot_stamps(i, controllen, self.drops) if controllen else (None, None)
        ts, source = recorded_stamp(hw, sw, time.time_ns())
        self.sources[source] += 1
        cmsgs = batch.cmsgs(i, controllen)
        controls = batch.controls
        fields = self.decoder.fields((level, kind, bytes(controls[start:end])) for level, kind, start, end in cmsgs)
        if key is not None and controllen - batch.fast_space <= B.TAIL_WINDOW and not any(
                level == socket.SOL_SOCKET and kind != batch.ovfl_type for level, kind, _start, _end in cmsgs[1:]):
            if len(self._tails) > _MAX_TAILS:
                self._tails.clear()
            self._tails[key] = fields
        return ts, source, src, fields, payload

    def _receive_each(self, max_packets: int, bufsize: int) -> list[tuple[bytes, list[Any], Any]]:
        """One ``recvmsg()`` per datagram: the first per the socket's timeout, the rest non-blocking."""
        sock = self.sock
        data, ancdata, _flags, address = sock.recvmsg(bufsize, ANCBUFSIZE)
        out = [(data, ancdata, address)]
        saved = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            while len(out) < max_packets:
                try:
                    data, ancdata, _flags, address = sock.recvmsg(bufsize, ANCBUFSIZE)
                except (BlockingIOError, InterruptedError):
                    break
                out.append((data, ancdata, address))
        finally:
            sock.settimeout(saved)
        return out

    def _rows_of(self, received: list[tuple[bytes, list[Any], Any]]) -> Iterator[Row]:
        now = time.time_ns()  # one user-space time for the datagrams of a batch the kernel did not stamp
        for data, ancdata, address in received:
            packet = packet_from(data, ancdata, address, self.drops)
            ts, source = recorded_stamp(packet.hardware_ns, packet.software_ns, now)
            self.sources[source] += 1
            yield ts, source, address, self.decoder.fields(ancdata), data
