"""Send a capture's payloads again at the recorded pace (an absolute schedule).

Waiting for a send time is a sleep until shortly before it, then a spin.  Under
SCHED_FIFO the spin must not keep the CPU: a real-time task that runs for
95 % of a second (``kernel.sched_rt_runtime_us``) is stopped by the kernel
for the rest of it, a 50 ms hole in the schedule ("sched: RT throttling
activated").  At 20 000 datagrams/s the gaps are 50 us, so every gap must
include a real sleep.  A sleep request shorter than about 10 us does not
block at all (the timer has expired before the task is switched out; it is
all CPU time, ~19 us of it on a 2-CPU VM), and a longer one returns about
:data:`RT_WAKE_NS` after its deadline.  So under SCHED_FIFO the loop asks to
sleep until :data:`RT_WAKE_NS` before the send time whenever that sleep is
at least :data:`RT_MIN_SLEEP_NS`, and spins the rest: about a third of each
50 us gap is then idle.  Should it still run :data:`RT_MAX_BUSY_NS` without
sleeping (late, or a dense burst), it sleeps briefly on purpose.  A normal
task wakes its timer slack (50 us) and more late, so it keeps a wider margin
and never needs to give way.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .core import multicast_sender
from .endpoint import Endpoint
from .pcap.read import Record

SPIN_NS = 300_000  # normal scheduling: sleep until this close to the send time, then spin
RT_WAKE_NS = 25_000  # under SCHED_FIFO: a sleep returns ~17 us late (median, loaded 2-CPU VM), and spins the rest
RT_MIN_SLEEP_NS = 10_000  # under SCHED_FIFO, a shorter sleep would not block (all CPU, no idle): spin instead
RT_MAX_BUSY_NS = 50_000_000  # under SCHED_FIFO, never run longer than this without sleeping ...
RT_BREATHER_S = 0.005  # ... and then sleep this long: 10 % idle, twice what RT throttling wants
SLEEP_SLICE_S = 0.25  # a long wait sleeps in slices of this, so a signal ends it within one

# Errors a connected UDP socket reports in place of a send when an ICMP error came back
# for an earlier datagram (the kernel keeps it in so_error): the datagram at hand was not
# sent, so it is sent again, and the ICMP error counted on its own.
ICMP_REPORTED = {errno.ECONNREFUSED: "port unreachable", errno.EHOSTUNREACH: "host unreachable",
                 errno.ENETUNREACH: "network unreachable"}

# send errors, by what they mean for the datagram: (name, errno values)
FAULT_KINDS = {
    "refused": (errno.ECONNREFUSED,),  # nobody listening (an ICMP port unreachable came back)
    "too long": (errno.EMSGSIZE,),  # e.g. a 65 515-byte IPv6 payload sent over IPv4
}


class NothingToReplay(ValueError):
    """The recording holds nothing a replay can send as it was recorded (the message says why,
    naming the packet)."""


class Interrupted(Exception):
    """Ends a replay early from a signal handler (see :class:`StopRequest`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


class StopRequest:
    """A signal handler (``signal.signal(SIGTERM, stop)``) that ends a replay: at once
    while it sleeps, else after the send in progress, so what was sent is counted."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.sleeping = False

    def __call__(self, signum: int, _frame: object) -> None:
        self.signum = signum
        if self.sleeping:
            raise Interrupted(signum)


@dataclass
class FailedSend:
    """The first datagram a kind of send error hit."""

    number: int  # the packet's number in the file (1 = the first, as tshark counts)
    offset_s: float  # its recorded time since the first datagram
    size: int  # payload bytes
    error: str


@dataclass
class Plan:
    """What a replay sends: offset from the first datagram (ns), payload, index in the file."""

    offsets_ns: list[int]
    payloads: list[bytes]
    indexes: list[int]
    period_ns: int  # one loop: the span plus the mean inter-arrival time


@dataclass
class ReplayResult:
    sent: int = 0
    attempted: int = 0
    loops: int = 0
    lateness_ns: list[int] = field(default_factory=list)  # send time minus scheduled time
    realtime: str | None = None  # why SCHED_FIFO could not be had, or "SCHED_FIFO"
    failed: dict[str, int] = field(default_factory=dict)  # per kind (see FAULT_KINDS, or the errno name)
    #: ICMP errors that came back for datagrams sent (per ICMP_REPORTED kind): nobody listening, ...
    icmp_errors: dict[str, int] = field(default_factory=dict)
    first_failure: dict[str, FailedSend] = field(default_factory=dict)
    interrupted: int | None = None  # the signal that ended the replay early

    @property
    def failures(self) -> int:
        return sum(self.failed.values())


def set_realtime(priority: int = 10) -> str:
    """Ask for SCHED_FIFO so other load cannot delay the sends; returns what happened."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError) as exc:
        return f"normal scheduling ({getattr(exc, 'strerror', None) or exc})"
    return "SCHED_FIFO"


def schedule(records: Sequence[Record]) -> Plan:
    """The plan of ``records``' UDP datagrams."""
    datagrams = [r for r in records if r.payload is not None]
    if not datagrams:
        raise NothingToReplay("no UDP datagrams to replay")
    cut = [r for r in datagrams if r.length is not None and len(r.payload or b"") < r.length]
    if cut:
        short = cut[0]
        raise NothingToReplay(f"packet {short.number}: only {len(short.payload or b'')} bytes of its {short.length}-byte "
                         f"UDP payload are in the file ({len(cut)} datagrams cut short, as by a snap length: "
                         f"tcpdump -s 0 captures them whole); replay sends whole datagrams only")
    first = datagrams[0].ts_ns
    offsets = [r.ts_ns - first for r in datagrams]
    span = offsets[-1]
    period = span + (span // (len(offsets) - 1) if len(offsets) > 1 else 1_000_000)
    return Plan(offsets, [r.payload or b"" for r in datagrams], [r.index for r in datagrams], max(period, 1))


class Pacer:
    """Waits for send times; see the module's docstring for why it sleeps as it does."""

    def __init__(self, realtime: bool, stop: StopRequest) -> None:
        self.margin_ns = RT_WAKE_NS if realtime else SPIN_NS
        self.min_sleep_ns = RT_MIN_SLEEP_NS if realtime else 1
        self.realtime = realtime
        self.stop = stop
        self.slept_at = time.perf_counter_ns()

    def _sleep(self, seconds: float) -> int:
        self.stop.sleeping = True
        try:
            # In slices of at most SLEEP_SLICE_S: the signal handler runs (and ends the
            # replay) between them even where a long sleep outlives the signal, as a 60 s
            # wait outlived SIGINT in the NetBSD guest.  Only long gaps are cut.
            if seconds <= SLEEP_SLICE_S:
                if self.stop.signum is None:
                    time.sleep(seconds)
            else:
                end = time.perf_counter() + seconds
                while self.stop.signum is None:
                    left = end - time.perf_counter()
                    if left > SLEEP_SLICE_S:
                        time.sleep(SLEEP_SLICE_S)
                    else:
                        # the rest in one sleep, unless too short to block (the caller spins)
                        if left * 1e9 >= self.min_sleep_ns:
                            time.sleep(left)
                        break
        finally:
            self.stop.sleeping = False
        self.slept_at = now = time.perf_counter_ns()
        return now

    def wait_until(self, target_ns: int) -> int:
        """Sleep, then spin, until ``perf_counter_ns()`` reaches ``target_ns``; returns the time reached."""
        clock = time.perf_counter_ns
        now = clock()
        sleep_ns = target_ns - now - self.margin_ns
        if sleep_ns >= self.min_sleep_ns:
            now = self._sleep(sleep_ns / 1e9)
        elif self.realtime and now - self.slept_at > RT_MAX_BUSY_NS:
            now = self._sleep(RT_BREATHER_S)
        while now < target_ns:
            now = clock()
        return now


def _fault_kind(exc: OSError) -> str:
    for kind, numbers in FAULT_KINDS.items():
        if exc.errno in numbers:
            return kind
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def replay(
    records: Sequence[Record],
    to: Endpoint,
    *,
    speed: float = 1.0,
    loop: bool = False,
    iface: str | None = None,
    realtime: bool = False,
    progress: bool | None = None,
    stop: StopRequest | None = None,
) -> ReplayResult:
    """Send each payload to ``to`` at its recorded offset divided by ``speed``.

    Send times come from one absolute schedule (start + offset), so a late send
    never delays the ones after it.  A send the kernel refuses is counted by
    kind in ``failed`` (the first one of each kind kept in ``first_failure``)
    and the schedule goes on.  ``loop`` repeats until interrupted: ``stop``
    (installed by the caller as a signal handler) or KeyboardInterrupt ends
    the replay, with the signal in ``interrupted``.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    if not speed > 0:
        raise ValueError(f"--speed must be above 0, not {speed}")
    plan = schedule(records)
    result = ReplayResult()
    if realtime:
        result.realtime = set_realtime()
    stop = stop or StopRequest()
    pacer = Pacer(result.realtime == "SCHED_FIFO", stop)
    with socket.socket(to.family, socket.SOCK_DGRAM) as sock:
        if to.is_multicast:
            multicast_sender(sock, iface)
        sock.connect(tuple(to))
        bar = tqdm(total=None if loop else len(plan.payloads), unit="dgram", file=sys.stderr, leave=False,
                   disable=None if progress is None else not progress, mininterval=0.5, desc="replay")
        steps = list(zip(plan.offsets_ns, plan.payloads, plan.indexes))
        start = time.perf_counter_ns() + 1_000_000
        try:
            with bar:
                while True:
                    base = start + round(result.loops * plan.period_ns / speed)
                    for offset, payload, index in steps:
                        target = base + round(offset / speed)
                        sent_at = pacer.wait_until(target)
                        result.attempted += 1
                        failure = _send(sock, payload, result)
                        if failure is None:
                            result.sent += 1
                        else:
                            kind = _fault_kind(failure)
                            result.failed[kind] = result.failed.get(kind, 0) + 1
                            result.first_failure.setdefault(kind, FailedSend(
                                index + 1, offset / 1e9, len(payload), failure.strerror or str(failure)))
                        result.lateness_ns.append(sent_at - target)
                        bar.update(1)
                        if stop.signum is not None:
                            result.interrupted = stop.signum
                            return result
                    result.loops += 1
                    if not loop:
                        return result
        except Interrupted as exc:
            result.interrupted = exc.signum
        except KeyboardInterrupt:
            result.interrupted = signal.SIGINT
        finally:
            _count_icmp(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), result)  # the last datagram's
        return result


def _count_icmp(error: int, result: ReplayResult) -> bool:
    kind = ICMP_REPORTED.get(error)
    if kind is None:
        return False
    result.icmp_errors[kind] = result.icmp_errors.get(kind, 0) + 1
    return True


def _send(sock: socket.socket, payload: bytes, result: ReplayResult) -> OSError | None:
    """Send ``payload``; None when it went out, else the error.  An earlier datagram's ICMP
    error reported in its place is counted in ``result.icmp_errors`` and the send retried once."""
    try:
        sock.send(payload)
        return None
    except OSError as exc:
        if not _count_icmp(exc.errno or 0, result):
            return exc
    try:
        sock.send(payload)
        return None
    except OSError as exc:
        return exc


def summary(result: ReplayResult, to: Endpoint) -> list[str]:
    """The lines ``sotimestamp replay`` prints at the end (also when interrupted)."""
    from .stats import summarize

    late = summarize(result.lateness_ns)
    lines = [f"sent {result.sent} datagrams to {to}"
             + (f" ({result.attempted - result.sent} of {result.attempted} not sent)" if result.failures else "")
             + (f" ({result.loops} whole loops)" if result.loops > 1 else "")
             + (f"; send lateness p50 {late['p50_us']:.1f} us, p99 {late['p99_us']:.1f} us, "
                f"max {late['max_us']:.1f} us" if late else "")
             + (f"; {result.realtime}" if result.realtime else "")]
    for kind, count in result.failed.items():
        first = result.first_failure[kind]
        lines.append(f"{count} not sent: {kind} ({first.error}); the first is packet {first.number} of the file, "
                     f"at +{first.offset_s:.6f} s, {first.size} bytes")
    for kind, count in result.icmp_errors.items():
        lines.append(f"{count} ICMP {kind} errors came back from {to} for datagrams sent"
                     + (" (nothing listening there?)" if kind == "port unreachable" else ""))
    return lines
