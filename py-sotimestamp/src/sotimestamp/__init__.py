"""Kernel timestamps of UDP datagrams: SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING.

    >>> import socket, sotimestamp
    >>> s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    >>> s.bind(("127.0.0.1", 0))
    >>> in_force = sotimestamp.enable(s)         # RX software stamps: option, resolution, ...
    >>> pkt = sotimestamp.recv(s)                # doctest: +SKIP
    >>> pkt.data, pkt.software_ns, pkt.source    # doctest: +SKIP

The constants (``SO_TIMESTAMPING``, ``SCM_TIMESTAMPNS``, ``SOF_TIMESTAMPING_*``,
``MSG_ERRQUEUE``, ...) carry the running platform's values; see
:mod:`sotimestamp.constants` for every platform's table.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .batch import HAVE_RECVMMSG, recv_batch
from .constants import *
from .constants import for_platform
from .control import Stamps, parse_control
from .core import (
    Packet,
    StampingInForce,
    TxStamp,
    UnsupportedError,
    UnsupportedSocketError,
    disable,
    enable,
    grow_rcvbuf,
    join_multicast,
    multicast_sender,
    opt_id_message,
    recv,
    tx_timestamps,
)
from .stampsource import StampSource

try:
    __version__ = _version("sotimestamp")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "HAVE_RECVMMSG", "Packet", "StampSource", "StampingInForce", "Stamps", "TxStamp", "UnsupportedError",
    "UnsupportedSocketError",
    "disable", "enable", "for_platform", "grow_rcvbuf", "join_multicast", "multicast_sender",
    "opt_id_message", "parse_control", "recv", "recv_batch", "tx_timestamps",
]
