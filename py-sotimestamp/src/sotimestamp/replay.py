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
import math
import os
import signal
import socket
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import multicast_sender
from .endpoint import Endpoint
from .flows import FlowFilter
from .pcap.format import Address
from .pcap.read import Record, read_records

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


@dataclass(frozen=True)
class Pace:
    """When each datagram is sent, as tcpreplay's options choose: the recorded pace times
    ``speed`` (``-x``), ``pps`` datagrams a second (``-p``), ``mbps`` megabits a second of IP
    packets (``-M``; the UDP and IP headers counted, as tcpreplay counts whole frames), or
    ``topspeed`` (``-t``: no waiting at all)."""

    speed: float = 1.0
    pps: float | None = None
    mbps: float | None = None
    topspeed: bool = False

    def __post_init__(self) -> None:
        for name in ("speed", "pps", "mbps"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise ValueError(f"--{name} must be a finite number above 0, not {value}")
        if sum((self.pps is not None, self.mbps is not None, self.topspeed, self.speed != 1.0)) > 1:
            raise ValueError("choose one of --multiplier (--speed), --pps, --mbps and --topspeed")


@dataclass(frozen=True)
class Destinations:
    """Where each recorded destination is sent: its ``--map`` entry, else ``--to``; a flow with
    neither is not replayed (never to its recorded address: that is someone's real service)."""

    to: Endpoint | None = None
    mapping: dict[Endpoint, Endpoint] = field(default_factory=dict)

    def of(self, dst: Address) -> Endpoint | None:
        return self.mapping.get(Endpoint(str(dst[0]), int(dst[1])), self.to)

    def __str__(self) -> str:
        targets = {str(e) for e in self.mapping.values()} | ({str(self.to)} if self.to else set())
        return ", ".join(sorted(targets))


class Lateness:
    """Send lateness (ns after the scheduled time) in 1 us buckets up to :data:`BUCKETS` us and
    the exact largest: percentiles to the microsecond in memory that does not grow with the file."""

    BUCKETS = 100_000

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * (self.BUCKETS + 1)))
        self.count = 0
        self.max_ns = 0

    def add(self, late_ns: int) -> None:
        self.counts[min(max(late_ns, 0) // 1000, self.BUCKETS)] += 1
        self.count += 1
        self.max_ns = max(self.max_ns, late_ns)

    def percentile_us(self, pct: float) -> float:
        """The nearest-rank percentile, rounded up to the microsecond (never above the largest);
        ``math.inf`` when it is in the last bucket, :data:`BUCKETS` us or more."""
        rank, seen = max(1, math.ceil(pct / 100.0 * self.count)), 0
        for bucket, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return math.inf if bucket == self.BUCKETS else min(bucket + 1, self.max_ns / 1000.0)
        return self.max_ns / 1000.0

    def describe(self, pct: float) -> str:
        value = self.percentile_us(pct)
        return f"over {self.BUCKETS} us" if value == math.inf else f"{value:.1f} us"


@dataclass
class ReplayResult:
    sent: int = 0
    attempted: int = 0
    bytes_sent: int = 0  # UDP payload bytes
    per_loop: int = 0  # datagrams of the file one loop sends
    loops: int = 0  # whole loops done
    seconds: float = 0.0
    lateness: Lateness | None = None  # None with --topspeed: there is no schedule to be late on
    realtime: str | None = None  # why SCHED_FIFO could not be had, or "SCHED_FIFO"
    failed: dict[str, int] = field(default_factory=dict)  # per kind (see FAULT_KINDS, or the errno name)
    #: ICMP errors that came back for datagrams sent (per ICMP_REPORTED kind): nobody listening, ...
    icmp_errors: dict[str, int] = field(default_factory=dict)
    first_failure: dict[str, FailedSend] = field(default_factory=dict)
    interrupted: int | None = None  # the signal that ended the replay early
    warnings: list[str] = field(default_factory=list)

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


@dataclass(frozen=True)
class Checked:
    """What the check pass found: the datagrams one loop sends."""

    datagrams: int


def check(path: str, destinations: Destinations, flows: FlowFilter, warn: Callable[[str], None],
          progress: Callable[[int], None] = lambda _n: None) -> Checked:
    """Read ``path`` once before sending anything: refuse a file whose chosen datagrams a snap
    length cut (naming the first), or that has none to send."""
    count = udp = 0
    first_cut: Record | None = None
    cut = 0
    for rec in read_records(path, progress, warn):
        if rec.payload is None or rec.src is None or rec.dst is None:
            continue
        udp += 1
        if not flows.matches(rec.src, rec.dst) or destinations.of(rec.dst) is None:
            continue
        if rec.length is not None and len(rec.payload) < rec.length:
            first_cut, cut = first_cut or rec, cut + 1
        count += 1
    if first_cut is not None:
        short = first_cut
        raise NothingToReplay(f"packet {short.number}: only {len(short.payload or b'')} bytes of its {short.length}-byte "
                              f"UDP payload are in the file ({cut} datagrams cut short, as by a snap length: "
                              f"tcpdump -s 0 captures them whole); replay sends whole datagrams only")
    if not udp:
        raise NothingToReplay("no UDP datagrams to replay")
    if not count:
        raise NothingToReplay(f"none of its {udp} UDP datagrams is of a flow chosen (--flow) with a destination "
                              f"(--to, --map)")
    return Checked(count)


class Schedule:
    """Send times (ns after the start of the replay) of successive datagrams, loop after loop:
    one absolute schedule, so a late send never delays the ones after it.  At the recorded pace
    a loop lasts its span plus its mean inter-arrival time (the next loop's first datagram comes
    as another of the recording would)."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.count = 0  # datagrams so far, all loops
        self.bits = 0  # their IP packets' bits
        self.base = 0.0  # the loop's start at the recorded pace
        self.first: int | None = None  # the loop's first and last stamps
        self.last = 0
        self.in_loop = 0

    def at(self, ts_ns: int, ip_bytes: int) -> int | None:
        """When the next datagram (stamped ``ts_ns``, ``ip_bytes`` long as sent) is due; None: now."""
        pace = self.pace
        if pace.topspeed:
            due = None
        elif pace.pps is not None:
            due = round(self.count * 1e9 / pace.pps)
        elif pace.mbps is not None:
            due = round(self.bits * 1e3 / pace.mbps)
        else:
            if self.first is None:
                self.first = ts_ns
            self.last = ts_ns
            due = round(self.base + (ts_ns - self.first) / pace.speed)
        self.count += 1
        self.in_loop += 1
        self.bits += 8 * ip_bytes
        return due

    def next_loop(self) -> None:
        if self.first is not None:
            span = max(self.last - self.first, 0)
            period = span + (span // (self.in_loop - 1) if self.in_loop > 1 else 1_000_000)
            self.base += max(period, 1) / self.pace.speed
        self.first, self.in_loop = None, 0


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


class _Senders:
    """One connected socket per destination (and recorded source port, with ``keep_source_port``):
    connected, each reports the ICMP errors of its own destination."""

    def __init__(self, iface: str | None, ttl: int, keep_source_port: bool, result: ReplayResult) -> None:
        self.iface, self.ttl, self.keep_source_port, self.result = iface, ttl, keep_source_port, result
        self.sockets: dict[tuple[Endpoint, int | None], socket.socket] = {}
        self.refused_ports: set[int] = set()

    def get(self, to: Endpoint, source_port: int) -> socket.socket:
        port = source_port if self.keep_source_port and source_port not in self.refused_ports else None
        sock = self.sockets.get((to, port))
        if sock is None:
            sock = socket.socket(to.family, socket.SOCK_DGRAM)
            if port is not None:
                try:
                    sock.bind(("::" if to.family == socket.AF_INET6 else "0.0.0.0", port))
                except OSError as exc:  # in use, or below 1024 without the privilege
                    self.refused_ports.add(port)
                    self.result.warnings.append(f"--keep-source-port: source port {port} not available "
                                                f"({exc.strerror}); those datagrams are sent from a port the "
                                                f"kernel chooses")
            if to.is_multicast:
                multicast_sender(sock, self.iface, ttl=self.ttl)
            sock.connect(tuple(to))
            self.sockets[(to, port)] = sock
        return sock

    def close(self) -> None:
        for sock in self.sockets.values():
            _count_icmp(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), self.result)  # the last datagram's
            sock.close()


def replay(
    path: str,
    destinations: Destinations,
    *,
    pace: Pace = Pace(),
    loops: int = 1,
    flows: FlowFilter | None = None,
    iface: str | None = None,
    ttl: int = 1,
    keep_source_port: bool = False,
    realtime: bool = False,
    progress: bool | None = None,
    stop: StopRequest | None = None,
    warn: Callable[[str], None] = lambda _m: None,
) -> ReplayResult:
    """Send the UDP payloads of ``path``'s chosen flows (``flows``) to their ``destinations``
    as ``pace`` says, ``loops`` times (0: until interrupted).

    The file is read as a stream, once to check it (:func:`check`) and once per loop to
    send, so memory does not grow with its size.  A send the kernel refuses is counted by
    kind in ``failed`` (the first one of each kind kept in ``first_failure``) and the
    schedule goes on.  ``stop`` (installed by the caller as a signal handler) or
    KeyboardInterrupt ends the replay, with the signal in ``interrupted``.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    if loops < 0:
        raise ValueError(f"--loop must be 0 (until interrupted) or more, not {loops}")
    flows = flows or FlowFilter()
    checked = check(path, destinations, flows, warn)
    result = ReplayResult(per_loop=checked.datagrams)
    if realtime:
        result.realtime = set_realtime()
    stop = stop or StopRequest()
    pacer = Pacer(result.realtime == "SCHED_FIFO", stop)
    schedule = Schedule(pace)
    lateness = result.lateness = None if pace.topspeed else Lateness()
    senders = _Senders(iface, ttl, keep_source_port, result)
    routes: dict[tuple[Address, Address], Endpoint | None] = {}
    bar = tqdm(total=checked.datagrams * loops or None, unit="dgram", file=sys.stderr, leave=False,
               disable=None if progress is None else not progress, mininterval=0.5, desc="replay")
    start = time.perf_counter_ns() + 1_000_000
    first_ts: int | None = None
    try:
        with bar:
            while not loops or result.loops < loops:
                for rec in read_records(path, on_truncated=lambda _m: None):  # check() warned
                    payload, src, dst = rec.payload, rec.src, rec.dst
                    if payload is None or src is None or dst is None:
                        continue
                    route = (src, dst)
                    if route in routes:
                        to = routes[route]
                    else:
                        to = routes[route] = destinations.of(dst) if flows.matches(src, dst) else None
                    if to is None:
                        continue
                    if first_ts is None:
                        first_ts = rec.ts_ns
                    sock = senders.get(to, int(src[1]))
                    due = schedule.at(rec.ts_ns, len(payload) + (48 if to.family == socket.AF_INET6 else 28))
                    if due is not None:
                        target = start + due
                        sent_at = pacer.wait_until(target)
                        if lateness is not None:
                            lateness.add(sent_at - target)
                    result.attempted += 1
                    failure = _send(sock, payload, result)
                    if failure is None:
                        result.sent += 1
                        result.bytes_sent += len(payload)
                    else:
                        kind = _fault_kind(failure)
                        result.failed[kind] = result.failed.get(kind, 0) + 1
                        result.first_failure.setdefault(kind, FailedSend(
                            rec.number, (rec.ts_ns - first_ts) / 1e9, len(payload), failure.strerror or str(failure)))
                    bar.update(1)
                    if stop.signum is not None:
                        raise Interrupted(stop.signum)
                result.loops += 1
                schedule.next_loop()
    except Interrupted as exc:
        result.interrupted = exc.signum
    except KeyboardInterrupt:
        result.interrupted = signal.SIGINT
    finally:
        result.seconds = max(time.perf_counter_ns() - start, 0) / 1e9
        senders.close()
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


def summary(result: ReplayResult, destinations: Destinations) -> list[str]:
    """The lines ``sotimestamp replay`` prints at the end (also when interrupted)."""
    late = result.lateness
    seconds = result.seconds or math.nan
    lines = [f"sent {result.sent} datagrams to {destinations}"
             + (f" ({result.attempted - result.sent} of {result.attempted} not sent)" if result.failures else "")
             + f" in {result.loops} whole loops of {result.per_loop}"
             + f"; {result.bytes_sent} bytes in {result.seconds:.3f} s, {result.sent / seconds:.1f} datagrams/s, "
               f"{result.bytes_sent * 8 / seconds / 1e6:.3f} Mbit/s of payload"
             + (f"; send lateness p50 {late.describe(50)}, p99 {late.describe(99)}, "
                f"max {late.max_ns / 1000:.1f} us" if late is not None and late.count else "")
             + (f"; {result.realtime}" if result.realtime else "")]
    for kind, count in result.failed.items():
        first = result.first_failure[kind]
        lines.append(f"{count} not sent: {kind} ({first.error}); the first is packet {first.number} of the file, "
                     f"at +{first.offset_s:.6f} s, {first.size} bytes")
    for kind, count in result.icmp_errors.items():
        lines.append(f"{count} ICMP {kind} errors came back from {destinations} for datagrams sent"
                     + (" (nothing listening there?)" if kind == "port unreachable" else ""))
    return lines
