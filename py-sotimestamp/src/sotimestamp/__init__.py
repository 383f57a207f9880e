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


def __getattr__(name: str) -> str:
    """``__version__``, looked up on first use: importlib.metadata costs a tenth of a second
    to import and search, which every ``sotimestamp stats`` would otherwise pay."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("sotimestamp")
    except PackageNotFoundError:  # running from a source tree without installing
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found

__all__ = [
    "HAVE_RECVMMSG", "Packet", "StampSource", "StampingInForce", "Stamps", "TxStamp", "UnsupportedError",
    "UnsupportedSocketError",
    "disable", "enable", "for_platform", "grow_rcvbuf", "join_multicast", "multicast_sender",
    "opt_id_message", "parse_control", "recv", "recv_batch", "tx_timestamps",
]
