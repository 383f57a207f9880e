"""Send a capture's payloads again at the recorded pace (an absolute schedule)."""
from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from .core import multicast_sender
from .endpoint import Endpoint
from .pcapio import Record

SPIN_NS = 300_000  # sleep until this close to the send time, then spin


@dataclass
class ReplayResult:
    sent: int = 0
    loops: int = 0
    lateness_ns: List[int] = field(default_factory=list)  # send time minus scheduled time
    realtime: Optional[str] = None  # why SCHED_FIFO could not be had, or "SCHED_FIFO"


def set_realtime(priority: int = 10) -> str:
    """Ask for SCHED_FIFO so other load cannot delay the sends; returns what happened."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError) as exc:
        return f"normal scheduling ({getattr(exc, 'strerror', None) or exc})"
    return "SCHED_FIFO"


def schedule(records: Sequence[Record]) -> Tuple[List[Tuple[int, bytes]], int]:
    """(offset from the first datagram in ns, payload) of the UDP datagrams, and the
    period of one loop (span plus the mean inter-arrival time)."""
    datagrams = [(r.ts_ns, r.payload) for r in records if r.payload is not None]
    if not datagrams:
        raise ValueError("no UDP datagrams to replay")
    first = datagrams[0][0]
    plan = [(ts - first, payload) for ts, payload in datagrams]
    span = plan[-1][0]
    period = span + (span // (len(plan) - 1) if len(plan) > 1 else 1_000_000)
    return plan, max(period, 1)


def wait_until(target_ns: int, clock: Callable[[], int] = time.perf_counter_ns) -> int:
    """Sleep, then spin, until ``clock()`` reaches ``target_ns``; returns the time reached."""
    while True:
        now = clock()
        left = target_ns - now
        if left <= 0:
            return now
        if left > SPIN_NS:
            time.sleep((left - SPIN_NS) / 1e9)


def replay(
    records: Sequence[Record],
    to: Endpoint,
    *,
    speed: float = 1.0,
    loop: bool = False,
    iface: Optional[str] = None,
    realtime: bool = False,
    progress: Optional[bool] = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ReplayResult:
    """Send each payload to ``to`` at its recorded offset divided by ``speed``.

    Send times come from one absolute schedule (start + offset), so a late send
    never delays the ones after it.  ``loop`` repeats until ``should_stop()``.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    if not speed > 0:
        raise ValueError(f"--speed must be above 0, not {speed}")
    plan, period = schedule(records)
    result = ReplayResult()
    if realtime:
        result.realtime = set_realtime()
    with socket.socket(to.family, socket.SOCK_DGRAM) as sock:
        if to.is_multicast:
            multicast_sender(sock, iface)
        sock.connect(tuple(to))
        bar = tqdm(total=None if loop else len(plan), unit="dgram", file=sys.stderr, leave=False,
                   disable=None if progress is None else not progress, mininterval=0.5, desc="replay")
        start = time.perf_counter_ns() + 1_000_000
        with bar:
            while True:
                base = start + round(result.loops * period / speed)
                for offset, payload in plan:
                    target = base + round(offset / speed)
                    sent_at = wait_until(target)
                    try:
                        sock.send(payload)
                    except ConnectionRefusedError:
                        pass  # no receiver right now (ICMP port unreachable): keep the schedule
                    result.lateness_ns.append(sent_at - target)
                    result.sent += 1
                    bar.update(1)
                    if should_stop():
                        return result
                result.loops += 1
                if not loop:
                    return result
