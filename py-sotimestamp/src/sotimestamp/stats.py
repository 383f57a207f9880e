"""Statistics of a capture's UDP datagrams: count, duration, rate, inter-arrival percentiles,
gaps, overall and per flow (sender and destination address and port), sequence gaps of a
counter the payloads carry, and the plot of each flow.

Other packets (TCP, ICMP, the later fragments of a datagram) are counted, not
timed.  A stamp earlier than the one before it (a clock stepped back, or files
concatenated) is reported as such, not averaged into the inter-arrival times.

A recording is read once, as a stream (:func:`collect`): only each datagram's
stamp and packet number are kept, in file order and in its flow's, in arrays (32
bytes a datagram), so a million-packet file needs tens of megabytes, not the
hundreds a list of records would.
"""
from __future__ import annotations

import bisect
import contextlib
import heapq
import itertools
import math
import operator
import os
import sys
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import compress, repeat
from typing import Any

from .flows import FlowFilter, flow_name, key_addresses
from .pcap.format import Batch, Progress
from .pcap.read import Record, udp_flows

PERCENTILES = (0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def _rank(pct: float, count: int) -> int:
    """The nearest rank (1 = the smallest) of percentile ``pct`` among ``count`` values."""
    return min(max(1, math.ceil(pct / 100.0 * count)), count)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    return sorted_values[_rank(pct, len(sorted_values)) - 1]


class Ordered:
    """Integers in ascending order, for nearest-rank percentiles and counts above a limit.
    Where values repeat (the ns inter-arrival times of a steady feed: thousands of distinct
    values in a million) they are counted (``collections.Counter``, C) and only the distinct
    values sorted, several times quicker than sorting them all; else they are sorted."""

    # Counted a chunk at a time; past 1 distinct value in 2 so far, sorting them all is quicker
    # (on 250 000 values: counting 0.012 s for 1 000 distinct ones, 0.053 s for 108 000,
    # 0.101 s for 143 000; sorting 0.044 to 0.083 s).  The share of distinct values falls as
    # more are seen (one flow of the bench's file: 41 % of the first 65 536, 18 % of all).
    _CHUNK = 1 << 16

    def __init__(self, values: Sequence[int], already_sorted: bool = False) -> None:
        self.count = len(values)
        self.values: Sequence[int] = values
        self.cumulative: list[int] | None = None  # of the distinct values' counts, when counted
        if not already_sorted:
            counts: Counter[int] = Counter()
            for start in range(0, len(values), self._CHUNK):
                counts.update(values[start:start + self._CHUNK])
                if 2 * len(counts) > min(start + self._CHUNK, len(values)):
                    self.values = sorted(values)
                    break
            else:
                self.values = sorted(counts)
                self.cumulative = list(itertools.accumulate(map(counts.__getitem__, self.values)))
                self.total = sum(map(operator.mul, self.values, map(counts.__getitem__, self.values)))
                return
        self.total = sum(values)

    def at(self, rank: int) -> int:
        """The ``rank``-th smallest value (1 = the smallest)."""
        if self.cumulative is None:
            return self.values[rank - 1]
        return self.values[bisect.bisect_left(self.cumulative, rank)]

    def above(self, limit: int) -> int:
        """How many values are greater than ``limit``."""
        below = bisect.bisect_right(self.values, limit)
        if self.cumulative is None:
            return self.count - below
        return self.count - (self.cumulative[below - 1] if below else 0)


def summarize_ordered(ordered: Ordered) -> dict[str, float]:
    """min, mean, percentiles and max of ``ordered`` (ns), in microseconds."""
    out: dict[str, float] = {}
    if not ordered.count:
        return out
    out["mean_us"] = ordered.total / ordered.count / 1000.0
    for pct in PERCENTILES:
        name = {0.0: "min", 100.0: "max"}.get(pct, f"p{pct:g}")
        out[f"{name}_us"] = ordered.at(_rank(pct, ordered.count)) / 1000.0
    return out


def summarize_sorted(ordered: Sequence[int]) -> dict[str, float]:
    """min, mean, percentiles and max of already sorted ``ordered`` (ns), in microseconds."""
    return summarize_ordered(Ordered(ordered, already_sorted=True))


def summarize(values_ns: Iterable[int]) -> dict[str, float]:
    """min, mean, percentiles and max of ``values_ns``, in microseconds."""
    return summarize_sorted(sorted(values_ns))


@dataclass
class Gap:
    number: int  # the packet after the gap (1 = the first of the file, as tshark counts)
    offset_s: float  # its time since the first datagram
    gap_us: float


@dataclass
class ClockSteps:
    """Stamps earlier than the datagram's before them in the file: a clock stepped back, or
    files concatenated out of order.  They are left out of the inter-arrival times."""

    count: int = 0
    largest_s: float = 0.0  # the largest step back
    number: int | None = None  # the packet it happened at


@dataclass(frozen=True)
class SeqCounter:
    """Where a datagram's payload carries a counter (``--seq-offset``, ``--seq-size``,
    ``--seq-endian``): each flow's counter should go up by one from datagram to datagram."""

    offset: int
    size: int = 4
    endian: str = "big"

    def __post_init__(self) -> None:
        if self.size not in (1, 2, 4, 8) or self.endian not in ("big", "little") or self.offset < 0:
            raise ValueError(f"--seq-offset {self.offset} --seq-size {self.size} --seq-endian {self.endian}: "
                             "the offset is 0 or more, the size 1, 2, 4 or 8 bytes, the byte order big or little")


@dataclass
class SeqGap:
    number: int  # the packet after the gap
    expected: int
    got: int


@dataclass
class SeqReport:
    """A flow's counter: datagrams missing (the sum of the gaps' sizes), the first gaps, the
    datagrams whose counter did not go up (repeated or late) and those too short to hold it."""

    missing: int = 0
    gap_count: int = 0
    gaps: list[SeqGap] = field(default_factory=list)
    out_of_order: int = 0
    too_short: int = 0


class _SeqTracker:
    def __init__(self, spec: SeqCounter, max_gaps: int) -> None:
        self.spec, self.max_gaps = spec, max_gaps
        self.end = spec.offset + spec.size
        self.last: int | None = None
        self.report = SeqReport()

    def add(self, number: int, payload: bytes) -> None:
        report = self.report
        if len(payload) < self.end:
            report.too_short += 1
            return
        value = int.from_bytes(payload[self.spec.offset:self.end], self.spec.endian)  # type: ignore[arg-type]
        last, self.last = self.last, value
        if last is None:
            return
        step = (value - last) % (1 << (8 * self.spec.size))  # the counter wraps
        if step == 1:
            return
        if step == 0 or step > 1 << (8 * self.spec.size - 1):  # the same, or behind: repeated or late
            report.out_of_order += 1
            self.last = last
            return
        report.missing += step - 1
        report.gap_count += 1
        if len(report.gaps) < self.max_gaps:
            report.gaps.append(SeqGap(number, (last + 1) % (1 << (8 * self.spec.size)), value))


@dataclass
class FlowStats:
    """One UDP flow: sender and destination address and port.  ``bytes`` counts the packets as
    captured (IP and UDP headers too, and a link layer if the file has one), as
    ``tshark -z conv,udp`` and capinfos count them."""

    flow: str
    datagrams: int
    bytes: int
    duration_s: float
    rate_per_s: float
    bits_per_s: float
    inter_arrival: dict[str, float]
    gap_threshold_us: float
    gap_count: int
    gaps: list[Gap]
    steps_back: int
    sequence: SeqReport | None = None


@dataclass
class Stats:
    path: str
    packets: int  # every packet of the file
    udp_datagrams: int  # what the rest counts
    duration_s: float  # first to last stamp of the UDP datagrams (earliest to latest)
    rate_per_s: float
    sources: dict[str, int]
    inter_arrival: dict[str, float]
    gap_threshold_us: float
    gaps: list[Gap] = field(default_factory=list)
    gap_count: int = 0
    clock_steps_back: ClockSteps = field(default_factory=ClockSteps)
    flows: list[FlowStats] = field(default_factory=list)
    left_out: int = 0  # UDP datagrams --flow, --from or --to left out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Window:
    """``--from``/``--to``: the datagrams stamped from ``start`` to ``end`` (ns), each either
    since the epoch or, ``relative``, since the file's first packet (as tshark's
    frame.time_relative)."""

    start: int | None = None
    end: int | None = None
    relative: tuple[bool, bool] = (True, True)

    def bounds(self, first_ns: int) -> tuple[float, float]:
        lo = -math.inf if self.start is None else self.start + (first_ns if self.relative[0] else 0)
        hi = math.inf if self.end is None else self.end + (first_ns if self.relative[1] else 0)
        return lo, hi


@dataclass
class Collected:
    """What one pass over a recording keeps: the chosen UDP datagrams' stamps and packet numbers
    in file order, and per flow (an index into ``flow_keys``) its own stamps and packet numbers,
    32 bytes a datagram; and per flow its bytes, whether it is chosen and its counter's tracker."""

    stamps: array[int] = field(default_factory=lambda: array("q"))
    numbers: array[int] = field(default_factory=lambda: array("q"))
    flow_keys: list[Any] = field(default_factory=list)  # raw address bytes (udp_flow) or (src, dst)
    flow_stamps: list[array[int]] = field(default_factory=list)
    flow_numbers: list[array[int]] = field(default_factory=list)
    flow_bytes: list[int] = field(default_factory=list)
    flow_chosen: list[bool] = field(default_factory=list)
    flow_seq: list[_SeqTracker | None] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    packets: int = 0
    left_out: int = 0

    @property
    def udp_datagrams(self) -> int:
        return len(self.stamps)

    def number(self, position: int) -> int:
        """The packet number of the ``position``-th datagram (0 = the first)."""
        return self.numbers[position]

    def new_flow(self, key: Any, chosen: bool, seq: _SeqTracker | None = None) -> int:
        self.flow_keys.append(key)
        self.flow_stamps.append(array("q"))
        self.flow_numbers.append(array("q"))
        self.flow_bytes.append(0)
        self.flow_chosen.append(chosen)
        self.flow_seq.append(seq)
        return len(self.flow_keys) - 1

    def add(self, fid: int, ts: int, number: int, length: int) -> None:
        """One datagram of flow ``fid`` (the per-record path; :func:`collect` adds columns)."""
        self.stamps.append(ts)
        self.numbers.append(number)
        self.flow_stamps[fid].append(ts)
        self.flow_numbers[fid].append(number)
        self.flow_bytes[fid] += length

    def per_flow(self) -> list[tuple[int, array[int], array[int]]]:
        """(flow index, stamps, packet numbers) of each flow with datagrams counted."""
        return [(fid, stamps, self.flow_numbers[fid]) for fid, stamps in enumerate(self.flow_stamps) if stamps]


@contextlib.contextmanager
def progress_bar(path: str, disable: bool = False) -> Iterator[Progress]:
    """A callback that advances a bar of the bytes of ``path`` read, drawn on stderr
    only when stderr is a terminal (tqdm's ``disable=None``), and cleared at the end."""
    if disable or not sys.stderr.isatty():  # tqdm would draw nothing: spare its import (0.06 s)
        yield lambda _n: None
        return
    from tqdm import tqdm  # type: ignore[import-untyped]

    try:
        size: int | None = os.stat(path).st_size or None
    except OSError:
        size = None  # the reader says what is wrong with the path (or it is standard input)
    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=os.path.basename(path),
              file=sys.stderr, leave=False, mininterval=0.25) as bar:
        yield bar.update


_NOT_UDP = -1  # the flow "index" of a packet that is no UDP datagram
_NEW = -2  # of a datagram whose flow is not known yet


def collect(batches: Iterable[Batch], chosen: FlowFilter | None = None, window: Window | None = None) -> Collected:
    """UDP stamps per flow, stamp sources and counts of the packets of ``batches`` (see
    :func:`sotimestamp.pcap.read.batches`), of the flows ``chosen`` and the time ``window`` only.
    The hot loop of ``stats``: a batch's columns are taken whole where they can be (``map``,
    ``extend``: C), packet by packet only where a batch mixes what is counted with what is not."""
    out = Collected()
    ids: dict[bytes | None, int] = {None: _NOT_UDP}
    sources: Counter[str | None] = Counter()
    lo, hi = -math.inf, math.inf
    number = 0
    for batch in batches:
        count = len(batch.starts)
        if window is not None and number == 0 and count:
            lo, hi = window.bounds(batch.stamps[0])
        keys = udp_flows(batch)
        fids = list(map(ids.get, keys, repeat(_NEW)))
        if _NEW in fids:  # a flow seen for the first time (maybe more than once in this batch)
            for i, key in enumerate(keys):
                if fids[i] == _NEW and key is not None:
                    fid = ids.get(key)
                    if fid is None:
                        fid = ids[key] = out.new_flow(key, chosen is None or chosen.matches(*key_addresses(key)))
                    fids[i] = fid
        numbers: Sequence[int] = range(number + 1, number + 1 + count)
        number += count
        stamps, lengths, batch_sources = batch.stamps, batch.lengths, batch.sources
        flows = set(fids)
        if window is not None or _NOT_UDP in flows or not all(out.flow_chosen[f] for f in flows):
            take = [f != _NOT_UDP and out.flow_chosen[f] and lo <= ts <= hi for f, ts in zip(fids, stamps)]
            out.left_out += count - fids.count(_NOT_UDP) - take.count(True)
            fids = list(compress(fids, take))
            if not fids:
                continue
            stamps, numbers, lengths = (list(compress(column, take)) for column in (stamps, numbers, lengths))
            batch_sources = list(compress(batch_sources, take))
            flows = set(fids)
        out.stamps.extend(stamps)
        out.numbers.extend(numbers)
        _add_per_flow(out, flows, fids, stamps, numbers, lengths)
        if batch_sources.count(batch_sources[0]) == len(batch_sources):
            sources[batch_sources[0]] += len(batch_sources)
        else:
            sources.update(batch_sources)
    out.packets = number
    for source, count in sources.items():
        name = source or "unknown"
        out.sources[name] = out.sources.get(name, 0) + count
    return out


def _add_per_flow(out: Collected, flows: set[int], fids: list[int], stamps: Sequence[int], numbers: Sequence[int],
                  lengths: Sequence[int]) -> None:
    """Each datagram (of the ``flows`` in ``fids``) its stamp, number and length to its flow's,
    with ``map`` over the columns."""
    if len(flows) == 1:
        (fid,) = flows
        out.flow_stamps[fid].extend(stamps)
        out.flow_numbers[fid].extend(numbers)
        out.flow_bytes[fid] += sum(lengths)
        return
    before = {fid: len(out.flow_stamps[fid]) for fid in flows}
    # array.append called with each datagram's flow's array and its value: a loop in C
    deque(map(array.append, map(out.flow_stamps.__getitem__, fids), stamps), maxlen=0)
    deque(map(array.append, map(out.flow_numbers.__getitem__, fids), numbers), maxlen=0)
    if lengths.count(lengths[0]) == len(lengths):  # datagrams of one size: each flow's count of them
        for fid in flows:
            out.flow_bytes[fid] += (len(out.flow_stamps[fid]) - before[fid]) * lengths[0]
    else:
        sizes = {fid: array("q") for fid in flows}
        deque(map(array.append, map(sizes.__getitem__, fids), lengths), maxlen=0)
        for fid, flow_sizes in sizes.items():
            out.flow_bytes[fid] += sum(flow_sizes)


def collect_records(records: Iterable[Record], chosen: FlowFilter | None = None, window: Window | None = None,
                    sequence: SeqCounter | None = None, max_gaps: int = 10,
                    each: Callable[[Record, str], None] | None = None) -> Collected:
    """:func:`collect` of already decoded records; also follows a ``sequence`` counter in the
    payloads, and calls ``each`` with every datagram counted and its flow's name."""
    out = Collected()
    ids: dict[Any, int] = {}
    names: list[str] = []
    lo, hi = -math.inf, math.inf
    for rec in records:
        out.packets += 1
        if out.packets == 1 and window is not None:
            lo, hi = window.bounds(rec.ts_ns)
        if rec.payload is None or rec.src is None or rec.dst is None:
            continue
        key = (rec.src, rec.dst)
        fid = ids.get(key)
        if fid is None:
            fid = ids[key] = out.new_flow(key, chosen is None or chosen.matches(rec.src, rec.dst),
                                          _SeqTracker(sequence, max_gaps) if sequence else None)
            names.append(flow_name(rec.src, rec.dst))
        if not out.flow_chosen[fid] or not lo <= rec.ts_ns <= hi:
            out.left_out += 1
            continue
        out.add(fid, rec.ts_ns, rec.number, rec.frame_length or 0)
        seq = out.flow_seq[fid]
        if seq is not None:
            seq.add(rec.number, rec.payload)
        name = rec.source or "unknown"
        out.sources[name] = out.sources.get(name, 0) + 1
        if each is not None:
            each(rec, names[fid])
    return out


def _flow_label(key: Any) -> str:
    """``src:port > dst:port`` of a flow key: raw header bytes from :func:`udp_flow`, or (src, dst)."""
    return flow_name(*key) if isinstance(key, tuple) else flow_name(*key_addresses(key))


def compute(path: str, records: Iterable[Record], gap_us: float | None = None, max_gaps: int = 10) -> Stats:
    """Statistics of ``records``; see :func:`compute_collected`."""
    return compute_collected(path, collect_records(records), gap_us, max_gaps)


def _forward_deltas(deltas: array[int]) -> tuple[Ordered, list[int]]:
    """Of successive stamps' differences: those that go forward, in order, and the positions of
    the stamps that went back instead (left out of the times).  Ordered first, all of them: the
    smallest says whether any went back (usually none), which spares a pass to find out."""
    ordered = Ordered(deltas)
    if not deltas or ordered.at(1) >= 0:
        return ordered, []
    back = [i + 1 for i, d in enumerate(deltas) if d < 0]
    return Ordered(array("q", (d for d in deltas if d >= 0))), back


@dataclass
class _Timing:
    inter: dict[str, float]
    threshold_us: float
    gap_count: int
    gaps: list[Gap]
    back: list[int]
    deltas: array[int]


def _timing(stamps: array[int], numbers: array[int], gap_us: float | None, max_gaps: int, t0: int) -> _Timing:
    """Inter-arrival times, gaps (with the packet after each; offsets from ``t0``) and steps back."""
    deltas_all = array("q", map(operator.sub, stamps[1:], stamps))
    ordered, back = _forward_deltas(deltas_all)  # gives the percentiles and the gaps above a threshold
    inter = summarize_ordered(ordered)
    threshold = gap_us if gap_us is not None else 10.0 * inter.get("p50_us", 0.0)
    limit_ns = math.floor(threshold * 1000.0)  # a delta d is a gap when d / 1000 > threshold
    gap_count = ordered.above(limit_ns)
    gaps = []
    if gap_count:
        where = compress(range(len(deltas_all)), map(limit_ns.__lt__, deltas_all))  # C, not a loop of ours
        # the largest first, the earlier of two equal ones first
        largest = heapq.nlargest(max_gaps, ((deltas_all[i], -i) for i in where))
        gaps = [Gap(numbers[1 - i], (stamps[1 - i] - t0) / 1e9, d / 1000.0) for d, i in largest]
    return _Timing(inter, threshold, gap_count, gaps, back, deltas_all)


def _duration_ns(stamps: array[int], steps_back: int) -> int:
    """From the earliest stamp to the latest (the first and the last when none stepped back)."""
    if len(stamps) < 2:
        return 0
    return stamps[-1] - stamps[0] if not steps_back else max(stamps) - min(stamps)


def compute_collected(path: str, seen: Collected, gap_us: float | None = None, max_gaps: int = 10) -> Stats:
    """Statistics of the UDP datagrams of one pass over a recording, overall and per flow.
    The duration runs from the earliest stamp to the latest; the inter-arrival times and gaps
    are of successive datagrams whose stamps go forward (see :class:`ClockSteps`); a gap is
    an inter-arrival time above ``gap_us`` (default: 10 x the median inter-arrival time, of
    the file and of each flow)."""
    stamps = seen.stamps
    t0 = stamps[0] if stamps else 0
    timing = _timing(stamps, seen.numbers, gap_us, max_gaps, t0)
    steps = ClockSteps()
    if timing.back:
        step, worst = min((timing.deltas[pos - 1], pos) for pos in timing.back)
        steps = ClockSteps(len(timing.back), -step / 1e9, seen.number(worst))
    del timing.deltas  # before the flows' own
    duration_ns = _duration_ns(stamps, len(timing.back))
    udp = len(stamps)
    return Stats(
        path=path,
        packets=seen.packets,
        udp_datagrams=udp,
        duration_s=duration_ns / 1e9,
        rate_per_s=(udp - 1) / (duration_ns / 1e9) if duration_ns > 0 else 0.0,
        sources=dict(seen.sources),
        inter_arrival=timing.inter,
        gap_threshold_us=timing.threshold_us,
        gaps=timing.gaps,
        gap_count=timing.gap_count,
        clock_steps_back=steps,
        flows=[_flow_stats(seen, fid, flow_stamps, numbers, gap_us, max_gaps, t0,
                           timing if len(flow_stamps) == udp else None)  # one flow: the file's own figures
               for fid, flow_stamps, numbers in seen.per_flow()],
        left_out=seen.left_out,
    )


def _flow_stats(seen: Collected, fid: int, stamps: array[int], numbers: array[int], gap_us: float | None,
                max_gaps: int, t0: int, timing: _Timing | None = None) -> FlowStats:
    """One flow's figures (``timing``: already worked out, when the flow is the whole file)."""
    timing = timing or _timing(stamps, numbers, gap_us, max_gaps, t0)
    duration_s = _duration_ns(stamps, len(timing.back)) / 1e9
    size, seq = seen.flow_bytes[fid], seen.flow_seq[fid]
    return FlowStats(_flow_label(seen.flow_keys[fid]), len(stamps), size, duration_s,
                     (len(stamps) - 1) / duration_s if duration_s > 0 else 0.0,
                     size * 8 / duration_s if duration_s > 0 else 0.0,
                     timing.inter, timing.threshold_us, timing.gap_count, timing.gaps, len(timing.back),
                     seq.report if seq is not None else None)


def schedule_errors(reference_ns: Sequence[int], observed_ns: Sequence[int], speed: float = 1.0) -> list[int]:
    """Per-packet pacing error (ns) of a replay: where packet i arrived minus where
    the reference schedule (divided by ``speed``) put it, both taken from the
    start of their stream.  The start is the one that makes the median error
    zero, so a constant delivery delay (or a late first datagram) is not
    counted as a pacing error."""
    n = min(len(reference_ns), len(observed_ns))
    if n == 0:
        return []
    r0, o0 = reference_ns[0], observed_ns[0]
    raw = [(observed_ns[i] - o0) - round((reference_ns[i] - r0) / speed) for i in range(n)]
    shift = sorted(raw)[n // 2]
    return [e - shift for e in raw]


def format_text(stats: Stats) -> str:
    ia = stats.inter_arrival
    lines = [
        f"file          {stats.path}",
        f"packets       {stats.packets} ({stats.udp_datagrams} UDP datagrams; the figures below are theirs)",
        "stamps        " + ", ".join(f"{k} {v}" for k, v in sorted(stats.sources.items())),
        f"duration      {stats.duration_s:.6f} s",
        f"rate          {stats.rate_per_s:.1f} datagrams/s",
    ]
    if ia:
        lines.append(
            "inter-arrival "
            + "  ".join(f"{k[:-3]} {v:.3f}" for k, v in ia.items())
            + "  (us)"
        )
    lines.append(f"gaps          {stats.gap_count} above {stats.gap_threshold_us:.1f} us")
    for gap in stats.gaps:
        lines.append(f"  packet {gap.number} at +{gap.offset_s:.6f} s after {gap.gap_us:.1f} us")
    steps = stats.clock_steps_back
    if steps.count:
        lines.append(f"clock         stepped back {steps.count} times (the largest {steps.largest_s:.6f} s, at "
                     f"packet {steps.number}): left out of the inter-arrival times")
    if stats.left_out:
        lines.append(f"left out      {stats.left_out} UDP datagrams (--flow, --from, --to)")
    lines.append(f"flows         {len(stats.flows)}")
    for flow in stats.flows:
        lines.extend(format_flow(flow))
    return "\n".join(lines)


def format_flow(flow: FlowStats) -> list[str]:
    """The text lines of one flow."""
    fia = "  ".join(f"{k[:-3]} {flow.inter_arrival[k]:.3f}" for k in ("mean_us", "p50_us", "p99_us", "max_us")
                    if k in flow.inter_arrival)
    lines = [f"  {flow.flow}",
             f"    {flow.datagrams} datagrams, {flow.bytes} bytes in {flow.duration_s:.6f} s, "
             f"{flow.rate_per_s:.1f}/s, {flow.bits_per_s / 1e6:.3f} Mbit/s"
             + (f", clock stepped back {flow.steps_back} times" if flow.steps_back else "")]
    if fia:
        lines.append(f"    inter-arrival {fia}  (us)")
    lines.append(f"    gaps {flow.gap_count} above {flow.gap_threshold_us:.1f} us"
                 + "".join(f"; packet {g.number} at +{g.offset_s:.6f} s after {g.gap_us:.1f} us" for g in flow.gaps))
    seq = flow.sequence
    if seq is not None:
        lines.append(f"    sequence {seq.missing} missing in {seq.gap_count} gaps, {seq.out_of_order} out of order"
                     + (f", {seq.too_short} too short to hold it" if seq.too_short else "")
                     + "".join(f"; packet {g.number}: {g.got}, expected {g.expected}" for g in seq.gaps))
    return lines


#: Flows drawn by --plot (the largest, by datagrams); a plot of more would be unreadable.
PLOT_FLOWS = 8
PLOT_FORMATS = (".png", ".svg")


def plot(seen: Collected, stats: Stats, output: str, title: str) -> list[str]:
    """Per flow, a row of three panels: the inter-arrival distribution on a log scale, the
    rate over time, and the inter-arrival times over time with the gaps marked.  PNG or SVG
    by ``output``'s extension (SVG text stays text, so the flow names can be searched);
    needs matplotlib.  Returns the names of the flows drawn."""
    extension = os.path.splitext(output)[1].lower()
    if extension not in PLOT_FORMATS:
        raise ValueError(f"--plot {output}: the file name ends in .png or .svg, the format it is written in")
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'sotimestamp[plot]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt

    by_name = {_flow_label(seen.flow_keys[fid]): flow_stamps for fid, flow_stamps, _n in seen.per_flow()}
    drawn = sorted((f for f in stats.flows if f.datagrams >= 2), key=lambda f: -f.datagrams)[:PLOT_FLOWS]
    if not drawn:
        raise ValueError("--plot needs a flow of at least two datagrams")
    fig, axes = plt.subplots(len(drawn), 3, figsize=(15, 3.2 * len(drawn)), squeeze=False, constrained_layout=True)
    fig.suptitle(title + ("" if len(drawn) == len(stats.flows) else
                          f" ({len(drawn)} largest of {len(stats.flows)} flows)"))
    t0 = seen.stamps[0]
    for row, flow in zip(axes, drawn):
        stamps = by_name[flow.flow]
        t = [(ts - t0) / 1e9 for ts in stamps[1:]]
        d = [max(delta, 1) / 1000.0 for delta in map(operator.sub, stamps[1:], stamps)]  # log scale: > 0
        hist, rate, times = row
        low, high = min(d), max(d)
        edges = [low * (high / low) ** (i / 60) for i in range(61)] if high > low else [low * 0.9, low * 1.1]
        hist.hist(d, bins=edges)
        hist.set_xscale("log")
        hist.set_yscale("log")
        hist.set_xlabel("inter-arrival (us)")
        hist.set_ylabel("datagrams")
        hist.set_title(flow.flow, fontsize=9)
        span = max(t[-1] - t[0], 1e-9) if t else 1e-9
        width = span / 100
        counts = [0] * 101
        for x in t:
            counts[min(int((x - t[0]) / width), 100)] += 1
        rate.plot([t[0] + i * width for i in range(101)], [c / width for c in counts], "-")
        rate.set_xlabel("time since the first packet (s)")
        rate.set_ylabel("datagrams/s")
        times.plot(t, d, ".", markersize=2)
        gaps = [(g.offset_s, g.gap_us) for g in flow.gaps]  # offsets from the file's first datagram, as t
        if gaps:
            times.plot([x for x, _g in gaps], [g for _x, g in gaps], "rv", label=f"gaps > {flow.gap_threshold_us:.0f} us")
            times.legend(loc="upper right", fontsize=8)
        times.set_yscale("log")
        times.set_xlabel("time since the first packet (s)")
        times.set_ylabel("inter-arrival (us)")
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return [f.flow for f in drawn]
