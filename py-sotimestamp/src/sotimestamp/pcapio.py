"""pcapng files of UDP datagrams with nanosecond stamps: the writer (:mod:`sotimestamp.pcapwriter`)
and the reader (:mod:`sotimestamp.pcapread`) under one name, so that
``from sotimestamp.pcapio import PcapngWriter, read_records`` keeps working."""
from __future__ import annotations

from .pcapread import (
    COMMENT_PREFIX,
    LINKTYPE_RAW,
    Address,
    PcapFileError,
    Record,
    read_records,
    udp_payload,
)
from .pcapwriter import PcapngWriter, WriteFailed, build_datagram, encode_epb

__all__ = [
    "COMMENT_PREFIX", "LINKTYPE_RAW", "Address", "PcapFileError", "PcapngWriter", "Record", "WriteFailed",
    "build_datagram", "encode_epb", "read_records", "udp_payload",
]
