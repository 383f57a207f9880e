"""pcapng (and classic pcap) files of UDP datagrams with nanosecond stamps.

:mod:`.format` walks both file formats block by block and holds what reading and
writing share (link types, the stamp-source comment); :mod:`.read` decodes the
frames into UDP datagrams (:func:`read_records`); :mod:`.write` rebuilds each
received datagram's IP/UDP headers and writes the blocks (:class:`PcapngWriter`).

>>> from sotimestamp.pcap import PcapngWriter, read_records
"""
from __future__ import annotations

from .format import COMMENT_PREFIX, LINKTYPE_RAW, Address, PcapFileError
from .ip import udp_payload
from .read import Record, TruncatedFileWarning, frames, read_records
from .write import HeaderFields, Interface, PcapngWriter, Row, WriteFailed, build_datagram, encode_epb

__all__ = [
    "COMMENT_PREFIX", "LINKTYPE_RAW", "Address", "HeaderFields", "Interface", "PcapFileError", "PcapngWriter", "Record", "Row",
    "TruncatedFileWarning", "WriteFailed", "build_datagram", "encode_epb", "frames", "read_records", "udp_payload",
]
