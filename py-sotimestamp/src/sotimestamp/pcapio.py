"""pcapng files of UDP datagrams with nanosecond stamps (python-pcapng underneath).

Each datagram is stored as its IPv4/IPv6 + UDP packet (link type RAW, 101) so
Wireshark/tshark dissect it, in an Enhanced Packet Block of an interface with
``if_tsresol`` 9 (nanoseconds).  The stamp source is the packet comment
``sotimestamp: ts=software`` (or ``hardware``, or ``user`` when the kernel gave
no stamp and the capture fell back to a user-space clock).
"""
from __future__ import annotations

import functools
import io
import os
import platform as _platform
import socket
import struct
import warnings
from itertools import count
from typing import BinaryIO, Optional, Tuple

from pcapng import FileWriter, blocks  # type: ignore[import-untyped]

from . import __version__
from .pcapread import COMMENT_PREFIX, LINKTYPE_RAW, Address, PcapFileError, Record, read_records, udp_payload

# The reader lives in pcapread with the format knowledge this writer shares;
# its names are re-exported so ``from sotimestamp.pcapio import read_records`` keeps working.
__all__ = [
    "COMMENT_PREFIX", "LINKTYPE_RAW", "Address", "PcapFileError", "PcapngWriter", "Record",
    "build_datagram", "encode_epb", "read_records", "udp_payload",
]


# --- building IPv4/IPv6 + UDP packets ------------------------------------------

def _ones_sum(data: bytes) -> int:
    """The 16-bit one's-complement sum of ``data``: 2**16 = 1 (mod 0xFFFF) turns it into one modulo."""
    if len(data) % 2:
        data += b"\0"
    rest = int.from_bytes(data, "big") % 0xFFFF
    return rest if rest or not any(data) else 0xFFFF


@functools.lru_cache(maxsize=256)
def _route(src: Address, dst: Address) -> Tuple[bool, bytes, bytes, int, int]:
    """Per address pair: (IPv6?, source, destination, the constant part of the UDP
    checksum sum (addresses, protocol, ports), the constant part of the IPv4 header sum)."""
    v6 = ":" in src[0]
    family = socket.AF_INET6 if v6 else socket.AF_INET
    saddr, daddr = socket.inet_pton(family, src[0]), socket.inet_pton(family, dst[0])
    udp_const = _ones_sum(saddr + daddr) + 17 + src[1] + dst[1]
    ip_const = 0 if v6 else _ones_sum(struct.pack("!BBxxxxHBBxx", 0x45, 0, 0x4000, 64, 17) + saddr + daddr)
    return v6, saddr, daddr, udp_const, ip_const


def build_datagram(src: Address, dst: Address, payload: bytes, ident: int = 0) -> bytes:
    """The IPv4 or IPv6 packet carrying ``payload`` from ``src`` to ``dst`` (UDP, checksums set).

    One's-complement sums add modulo 0xFFFF, so the per-pair constant parts are
    computed once and each datagram adds its length and payload."""
    v6, saddr, daddr, udp_const, ip_const = _route(tuple(src[:2]), tuple(dst[:2]))
    udp_len = 8 + len(payload)
    total = (udp_const + 2 * udp_len + int.from_bytes(payload + b"\0" * (len(payload) & 1), "big")) % 0xFFFF
    csum = 0xFFFF - (total or 0xFFFF) or 0xFFFF  # a computed 0 is sent as 0xFFFF (RFC 768)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len & 0xFFFF, csum)
    if v6:
        return struct.pack("!IHBB", 6 << 28, udp_len, 17, 64) + saddr + daddr + udp + payload
    ident &= 0xFFFF
    ip_sum = (ip_const + 20 + udp_len + ident) % 0xFFFF
    header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + udp_len, ident, 0x4000, 64, 17, 0xFFFF - (ip_sum or 0xFFFF))
    return header + saddr + daddr + udp + payload



# --- writing ------------------------------------------------------------------

_EPB_HEAD = struct.Struct("<IIIIIII")
_OPT_HEAD = struct.Struct("<HH")
_TRAILER = struct.Struct("<I")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


@functools.lru_cache(maxsize=64)
def _comment_options(comment: str) -> bytes:
    """An ``opt_comment`` option and ``opt_endofopt``, padded (a capture uses a handful of comments)."""
    text = comment.encode()
    return _OPT_HEAD.pack(1, len(text)) + text + _PAD[len(text) % 4] + b"\0\0\0\0"


def encode_epb(packet: bytes, ts_ns: int, comment: str, interface_id: int = 0) -> bytes:
    """One little-endian Enhanced Packet Block with an ``opt_comment``.

    python-pcapng writes the section and interface blocks, but its per-block
    encoder costs 60-95 us, which caps a capture near 10 000 datagrams/s; this
    is the same encoding in one ``struct.pack`` (the tests check it byte for
    byte against python-pcapng's ``EnhancedPacket``)."""
    options = _comment_options(comment)
    size = len(packet)
    pad = _PAD[size % 4]
    total = 32 + size + len(pad) + len(options)
    return b"".join((
        _EPB_HEAD.pack(6, total, interface_id, (ts_ns >> 32) & 0xFFFFFFFF, ts_ns & 0xFFFFFFFF, size, size),
        packet, pad, options, _TRAILER.pack(total),
    ))


class PcapngWriter:
    """Append datagrams with their stamps to a pcapng file (nanosecond resolution).

    >>> with PcapngWriter(open("out.pcapng", "wb"), "udp 127.0.0.1:5000") as w:  # doctest: +SKIP
    ...     w.write(b"payload", ("127.0.0.1", 4000), ("127.0.0.1", 5000), 1764128000123456789, "software")
    """

    def __init__(self, stream: BinaryIO, description: str = "sotimestamp capture") -> None:
        self.stream = stream
        with warnings.catch_warnings():
            # python-pcapng warns that if_tsresol has no declared field type; the raw byte is right.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._start(stream, description)
        self.ident = count(1)
        self.packets = 0

    def _start(self, stream: BinaryIO, description: str) -> None:
        self.shb = blocks.SectionHeader(
            options={
                "shb_userappl": f"sotimestamp {__version__}",
                "shb_os": f"{_platform.system()} {_platform.release()}",
            }
        )
        self.shb.new_member(
            blocks.InterfaceDescription,
            link_type=LINKTYPE_RAW,
            snaplen=0,
            options={"if_name": "sotimestamp", "if_description": description, "if_tsresol": b"\x09"},
        )
        self.writer = FileWriter(stream, self.shb)

    def block(self, payload: bytes, src: Address, dst: Address, ts_ns: int, source: Optional[str]) -> bytes:
        """The Enhanced Packet Block of one datagram (IP+UDP) stamped ``ts_ns`` (ns since the epoch)."""
        self.packets += 1
        packet = build_datagram(src, dst, payload, next(self.ident))
        return encode_epb(packet, ts_ns, COMMENT_PREFIX + (source or "user"))

    def write(self, payload: bytes, src: Address, dst: Address, ts_ns: int, source: Optional[str]) -> None:
        """Write one datagram (see :meth:`block`; a capture writes a batch of blocks at once)."""
        self.stream.write(self.block(payload, src, dst, ts_ns, source))

    def flush(self) -> None:
        self.stream.flush()
        try:
            os.fsync(self.stream.fileno())
        except (OSError, AttributeError, io.UnsupportedOperation):
            pass

    def close(self) -> None:
        self.flush()
        self.stream.close()

    def __enter__(self) -> "PcapngWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
