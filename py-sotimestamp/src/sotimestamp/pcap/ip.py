"""IPv4/IPv6 UDP packets of a recording, decoded, and IP fragments reassembled.

A datagram larger than the path MTU is in the file as several IP fragments:
only the first holds the UDP header, and only all of them together hold the
payload.  :class:`Reassembler` puts them together as tshark does (IPv4 by
source, destination and identification; IPv6 by the fragment header's
identification), and the datagram counts at its last fragment.  A packet
captured shorter than it was sent (a snap length) keeps its UDP length field:
:attr:`Datagram.length` says how long the payload was, so a replay can refuse
to send what was never recorded.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from .format import Address

_V6_SKIPPABLE = (0, 43, 60)  # hop-by-hop, routing, destination options: followed to the next header
_V6_FRAGMENT = 44
UDP = 17
#: Fragmented datagrams held at once; past this the oldest is given up (a file of lost fragments).
MAX_PENDING = 1024


@dataclass(frozen=True)
class Datagram:
    """A UDP datagram: its payload as far as the file holds it, and the payload length its UDP
    header gives (``len(payload) < length``: the capture cut it short)."""

    payload: bytes
    src: Address
    dst: Address
    length: int


@dataclass
class _Fragments:
    """The fragments of one datagram seen so far: offset -> data, the total once the last came."""

    first_index: int
    pieces: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None

    def whole(self) -> bytes | None:
        if self.total is None:
            return None
        out, pos = bytearray(), 0
        for offset in sorted(self.pieces):
            if offset > pos:
                return None  # a hole
            out += self.pieces[offset][pos - offset:]
            pos = max(pos, offset + len(self.pieces[offset]))
        return bytes(out[:self.total]) if pos >= self.total else None


def _udp(data: bytes, src_ip: str, dst_ip: str, limit: int) -> Datagram | None:
    """The UDP datagram in ``data`` (the IP payload; ``limit``: its length per the IP header)."""
    if len(data) < 8:
        return None
    sport, dport, ulen = struct.unpack_from("!HHH", data)
    length = (ulen if ulen >= 8 else limit) - 8  # ulen 0: an IPv6 jumbogram; take the IP length
    return Datagram(data[8:8 + length], (src_ip, sport), (dst_ip, dport), length)


class Reassembler:
    """Decodes the packets of one file in order; keeps the fragments of datagrams not yet whole."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, bytes, bytes, int], _Fragments] = {}

    def incomplete(self) -> list[int]:
        """The index of the first fragment of each datagram the file did not hold whole."""
        return sorted(f.first_index for f in self._pending.values())

    def datagram(self, packet: bytes, index: int) -> Datagram | None:
        """The UDP datagram ``packet`` completes (itself, or its fragments with the ones before),
        or None: not UDP, or a fragment of a datagram still missing others."""
        if not packet:
            return None
        version = packet[0] >> 4
        if version == 4 and len(packet) >= 20:
            ihl = (packet[0] & 0x0F) * 4
            total, ident, flags_offset = struct.unpack_from("!HHH", packet, 2)
            if packet[9] != UDP or len(packet) < ihl:
                return None
            src_ip = socket.inet_ntop(socket.AF_INET, packet[12:16])
            dst_ip = socket.inet_ntop(socket.AF_INET, packet[16:20])
            data = packet[ihl:total] if total >= ihl else packet[ihl:]
            offset, more = (flags_offset & 0x1FFF) * 8, bool(flags_offset & 0x2000)
            if offset == 0 and not more:
                return _udp(data, src_ip, dst_ip, max(total - ihl, len(data)))
            key = (4, packet[12:16], packet[16:20], ident)
            return self._fragment(key, index, offset, more, data, src_ip, dst_ip)
        if version == 6 and len(packet) >= 40:
            src_ip = socket.inet_ntop(socket.AF_INET6, packet[8:24])
            dst_ip = socket.inet_ntop(socket.AF_INET6, packet[24:40])
            end = 40 + struct.unpack_from("!H", packet, 4)[0]
            nxt, pos = packet[6], 40
            while nxt in _V6_SKIPPABLE and pos + 8 <= len(packet):
                nxt, pos = packet[pos], pos + 8 + packet[pos + 1] * 8
            if nxt == _V6_FRAGMENT and pos + 8 <= len(packet):
                nxt, flags_offset, ident = struct.unpack_from("!BxHI", packet, pos)
                if nxt != UDP:
                    return None
                data = packet[pos + 8:end]
                key = (6, packet[8:24], packet[24:40], ident)
                return self._fragment(key, index, flags_offset & 0xFFF8, bool(flags_offset & 1), data,
                                      src_ip, dst_ip)
            if nxt != UDP:
                return None
            return _udp(packet[pos:end], src_ip, dst_ip, end - pos)
        return None

    def _fragment(self, key: tuple[int, bytes, bytes, int], index: int, offset: int, more: bool, data: bytes,
                  src_ip: str, dst_ip: str) -> Datagram | None:
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            pending = self._pending[key] = _Fragments(index)
        pending.pieces[offset] = data
        if not more:
            pending.total = offset + len(data)
        whole = pending.whole()
        if whole is None:
            return None
        del self._pending[key]
        return _udp(whole, src_ip, dst_ip, len(whole))


def udp_payload(packet: bytes) -> tuple[bytes, Address, Address] | None:
    """(payload, src, dst) of one unfragmented IPv4/IPv6 UDP packet, or None if it is not one."""
    found = Reassembler().datagram(packet, 0)
    return None if found is None else (found.payload, found.src, found.dst)
