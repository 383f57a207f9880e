"""Record datagrams with their kernel stamps into a pcapng file."""
from __future__ import annotations

import collections
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Callable, Counter, Dict, List, Optional, Tuple

from .batch import recv_batch
from .core import Packet, enable, grow_rcvbuf, join_multicast
from .endpoint import Endpoint
from .pcapio import PcapngWriter

RCVBUF = 8 << 20


@dataclass
class CaptureResult:
    path: str
    packets: int = 0
    sources: Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    stopped_by: str = "count"


def open_receiver(bind: Endpoint, group: Optional[str] = None, iface: Optional[str] = None,
                  hardware: bool = False) -> socket.socket:
    """A UDP socket bound to ``bind``, in ``group`` if given, with kernel stamping on."""
    sock = socket.socket(bind.family, socket.SOCK_DGRAM)
    try:
        if group:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        grow_rcvbuf(sock, RCVBUF)
        sock.bind(tuple(bind))
        if group:
            join_multicast(sock, group, iface)
        enable(sock, software=True, hardware=hardware)
    except BaseException:
        sock.close()
        raise
    return sock


class _StopFlag:
    """SIGINT/SIGTERM set a flag (the capture loop checks it between batches)."""

    def __init__(self) -> None:
        self.signal: Optional[str] = None
        self.saved: Dict[int, object] = {}

    def __enter__(self) -> "_StopFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.saved[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: rely on count/duration
                pass
        return self

    def _handle(self, signum: int, _frame: Optional[FrameType]) -> None:
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def capture(
    bind: Endpoint,
    output: str,
    *,
    group: Optional[str] = None,
    iface: Optional[str] = None,
    count: Optional[int] = None,
    duration: Optional[float] = None,
    hardware: bool = False,
    progress: Optional[bool] = None,
    ready: Optional[Callable[[socket.socket], None]] = None,
) -> CaptureResult:
    """Capture until ``count`` datagrams, ``duration`` seconds, SIGINT or SIGTERM.

    Every datagram already queued when a stop comes is still written; the file
    is a complete pcapng file whenever this returns.  ``ready(sock)`` is called
    once the socket is bound (tests and the demo start their senders there).
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    sock = open_receiver(bind, group, iface, hardware)
    dst = (group or bind.host, sock.getsockname()[1])
    result = CaptureResult(output)
    with sock, open(output, "wb") as stream, _StopFlag() as stop:
        writer = PcapngWriter(stream, f"udp {Endpoint(*dst)}")
        writer.flush()
        if ready is not None:
            ready(sock)
        start = time.monotonic()
        deadline = start + duration if duration is not None else None
        bar = tqdm(total=count, unit="dgram", file=sys.stderr, disable=None if progress is None else not progress,
                   mininterval=0.5, leave=False, desc="capture")
        with bar:
            while True:
                if stop.signal:
                    result.stopped_by = stop.signal
                    break
                if count is not None and result.packets >= count:
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    result.stopped_by = "duration"
                    break
                wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - now))
                sock.settimeout(wait)
                want = 64 if count is None else min(64, count - result.packets)
                try:
                    packets = recv_batch(sock, want)
                except (socket.timeout, BlockingIOError, InterruptedError):
                    continue
                _write(writer, packets, dst, result)
                bar.update(len(packets))
            _drain(sock, writer, dst, result, count)
        result.seconds = time.monotonic() - start
        writer.flush()
    return result


def _write(writer: PcapngWriter, packets: List[Packet], dst: Tuple[str, int], result: CaptureResult) -> None:
    """One ``write()`` per batch; a block is only ever written whole."""
    blocks = []
    for pkt in packets:
        if pkt.hardware_ns is not None:
            ts, source = pkt.hardware_ns, "hardware"
        elif pkt.software_ns is not None:
            ts, source = pkt.software_ns, "software"
        else:
            ts, source = time.time_ns(), "user"  # the kernel gave no stamp
        blocks.append(writer.block(pkt.data, pkt.address, dst, ts, source))
    writer.stream.write(b"".join(blocks))
    result.sources.update(p.source or "user" for p in packets)
    result.packets += len(packets)


def _drain(sock: socket.socket, writer: PcapngWriter, dst: Tuple[str, int], result: CaptureResult,
           count: Optional[int]) -> None:
    """Write what is still queued in the socket (a stop must not lose received datagrams)."""
    sock.settimeout(0.0)
    while count is None or result.packets < count:
        want = 64 if count is None else min(64, count - result.packets)
        try:
            packets = recv_batch(sock, want)
        except (BlockingIOError, socket.timeout, InterruptedError):
            return
        _write(writer, packets, dst, result)
