"""capture's hot loop: received ``recvmmsg()`` slots straight into pcapng blocks.

At hundreds of thousands of datagrams a second the Python work per datagram is
what limits a capture, so this loop makes no :class:`~sotimestamp.core.Packet`
and no ``bytes`` copy of the payload: each slot's stamp is read where
``recvmmsg()`` left it (the fast path of :func:`~sotimestamp.batch.recv_batch`),
its payload joins the batch's blocks as a memoryview, and the batch becomes one
``bytes`` for the writer before the buffers are reused.  Without ``recvmmsg``
it is ``recv_batch`` + :meth:`PcapngWriter.write_packets`, with the same result.
"""
from __future__ import annotations

import collections
import operator
import socket
import time
from typing import Any

from . import batch as B
from .constants import NS_PER_S
from .core import DropCounter
from .pcapread import Address
from .pcapwriter import EPB_START_TS, PcapngWriter

_SOURCE = operator.attrgetter("source")


def record_batch(sock: socket.socket, writer: PcapngWriter, dst: Address, max_packets: int, bufsize: int,
                 drops: DropCounter, sources: collections.Counter[str]) -> int:
    """Receive up to ``max_packets`` datagrams sent to ``dst`` (waiting per the socket's timeout,
    as :func:`~sotimestamp.batch.recv_batch` does, with the same exceptions) and add their blocks
    to ``writer``; ``sources`` counts the stamp sources.  Returns how many were received."""
    if not B.HAVE_RECVMMSG:
        packets = B.recv_batch(sock, max_packets, bufsize, drops)
        writer.write_packets(packets, dst)
        sources.update(source or "user" for source in map(_SOURCE, packets))
        return len(packets)
    batch, got = B.receive_slots(sock, max_packets, bufsize)
    parts: list[Any] = []
    add = parts.extend
    flows = writer.flows_to(dst)
    new_flow = writer.flow
    start_ts = EPB_START_TS.pack
    space, lone_stamp, ns = batch.fast_space, batch.lone_stamp, NS_PER_S
    others: collections.Counter[str] = collections.Counter()  # the software stamps are got - these
    for i, ((_namelen, controllen, length), src, (clen, level, kind, s0, n0, s2, n2), slot) in \
            enumerate(B.slot_rows(batch, got)):
        if (clen, level, kind) == lone_stamp and not (s2 or n2) and (s0 or n0) and (
                controllen == space or batch.nothing_timed_after_stamp(i, controllen, drops)):
            ts, source = s0 * ns + n0, "software"
        else:  # a hardware stamp, no stamp, or other control messages
            sw, hw = batch.slot_stamps(i, controllen, drops) if controllen else (None, None)
            if hw is not None:
                ts, source = hw, "hardware"
            elif sw is not None:
                ts, source = sw, "software"
            else:
                ts, source = time.time_ns(), "user"
            others[source] += 1
        flow = flows.get((src, length, source)) or new_flow(flows, src, dst, length, source)
        data = slot[:length]
        if flow.v6:
            add((start_ts(flow.start, ts >> 32, ts & 0xFFFFFFFF), flow.after_ts, flow.checksum(data), data, flow.tail))
        else:
            add((start_ts(flow.start, ts >> 32, ts & 0xFFFFFFFF), flow.after_ts, data, flow.tail))
    writer.add_blocks(b"".join(parts), got)  # copied out before this thread's buffers are reused
    sources["software"] += got - sum(others.values())
    sources.update(others)
    return got
