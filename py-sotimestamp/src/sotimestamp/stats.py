"""Statistics of a capture's UDP datagrams: count, duration, rate, inter-arrival percentiles,
gaps, overall and per flow (sender and destination address and port).

Other packets (TCP, ICMP, the later fragments of a datagram) are counted, not
timed.  A stamp earlier than the one before it (a clock stepped back, or files
concatenated) is reported as such, not averaged into the inter-arrival times.

A recording is read once, as a stream (:func:`collect`): only its stamps are
kept, in arrays of 8 bytes each, so a million-packet file needs tens of
megabytes, not the hundreds a list of records would.
"""
from __future__ import annotations

import bisect
import contextlib
import heapq
import math
import operator
import os
import socket
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .pcap.format import Address, Progress
from .pcap.read import Frame, Record, udp_flow

PERCENTILES = (0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize_sorted(ordered: Sequence[int]) -> dict[str, float]:
    """min, mean, percentiles and max of already sorted ``ordered`` (ns), in microseconds."""
    out: dict[str, float] = {}
    if not ordered:
        return out
    out["mean_us"] = sum(ordered) / len(ordered) / 1000.0
    for pct in PERCENTILES:
        name = {0.0: "min", 100.0: "max"}.get(pct, f"p{pct:g}")
        out[f"{name}_us"] = percentile(ordered, pct) / 1000.0
    return out


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


@dataclass
class FlowStats:
    """One UDP flow: sender and destination address and port."""

    flow: str
    datagrams: int
    duration_s: float
    rate_per_s: float
    inter_arrival: dict[str, float]
    steps_back: int


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Collected:
    """What one pass over a recording keeps: the UDP datagrams' stamps (file order) and packet
    numbers, each flow's stamps, and counts.  Memory is 8 bytes a datagram for a file of one
    flow and nothing else: the numbers are kept once another packet came between them, the
    flows' own stamps once a second flow came."""

    stamps: array[int] = field(default_factory=lambda: array("q"))
    numbers: array[int] | None = None  # None: the datagrams are packets 1, 2, 3, ...
    first_flow: Any = None  # raw address bytes or a label
    flows: dict[Any, array[int]] = field(default_factory=dict)  # {} while there is only first_flow
    sources: dict[str, int] = field(default_factory=dict)
    packets: int = 0

    @property
    def udp_datagrams(self) -> int:
        return len(self.stamps)

    def add(self, number: int, ts: int, flow: Any, source: str | None) -> None:
        """Datagram ``ts`` of ``flow``, packet ``number`` of its file."""
        stamps = self.stamps
        if self.numbers is None and number != len(stamps) + 1:
            self.numbers = array("q", range(1, len(stamps) + 1))
        if self.numbers is not None:
            self.numbers.append(number)
        stamps.append(ts)
        if flow != self.first_flow:
            if self.first_flow is None:
                self.first_flow = flow
            else:
                if not self.flows:
                    self.flows[self.first_flow] = array("q", stamps[:-1])
                self.flows.setdefault(flow, array("q")).append(ts)
        elif self.flows:
            self.flows[flow].append(ts)
        name = source or "unknown"
        self.sources[name] = self.sources.get(name, 0) + 1

    def number(self, position: int) -> int:
        """The packet number of the ``position``-th datagram (0 = the first)."""
        return position + 1 if self.numbers is None else self.numbers[position]


@contextlib.contextmanager
def progress_bar(path: str, disable: bool = False) -> Iterator[Progress]:
    """A callback that advances a bar of the bytes of ``path`` read, drawn on stderr
    only when stderr is a terminal (tqdm's ``disable=None``), and cleared at the end."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    try:
        size: int | None = os.stat(path).st_size or None
    except OSError:
        size = None  # the reader says what is wrong with the path (or it is standard input)
    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=os.path.basename(path),
              file=sys.stderr, leave=False, mininterval=0.25, disable=True if disable else None) as bar:
        yield bar.update


def collect(frames: Iterable[Frame]) -> Collected:
    """UDP stamps per flow, stamp sources and counts of ``frames`` (see :func:`sotimestamp.pcap.read.frames`)."""
    out = Collected()
    add = out.add
    number = 0
    for number, (ts, source, link_type, frame) in enumerate(frames, 1):
        key = udp_flow(link_type, frame)
        if key is not None:
            add(number, ts, key, source)
    out.packets = number
    return out


def collect_records(records: Iterable[Record]) -> Collected:
    """:func:`collect` of already decoded records."""
    out = Collected()
    for rec in records:
        out.packets += 1
        if rec.payload is not None and rec.src is not None and rec.dst is not None:
            out.add(rec.number, rec.ts_ns, f"{_host_port(rec.src)} > {_host_port(rec.dst)}", rec.source)
    return out


def _host_port(address: Address) -> str:
    return f"[{address[0]}]:{address[1]}" if ":" in str(address[0]) else f"{address[0]}:{address[1]}"


def _flow_label(key: Any) -> str:
    """``src:port > dst:port`` of a flow key: raw header bytes from :func:`udp_flow`, or a label."""
    if isinstance(key, str):
        return key
    family, size = (socket.AF_INET, 4) if len(key) == 12 else (socket.AF_INET6, 16)
    src, dst = socket.inet_ntop(family, key[:size]), socket.inet_ntop(family, key[size:2 * size])
    sport, dport = struct.unpack_from("!HH", key, 2 * size)
    return f"{_host_port((src, sport))} > {_host_port((dst, dport))}"


def compute(path: str, records: Iterable[Record], gap_us: float | None = None, max_gaps: int = 10) -> Stats:
    """Statistics of ``records``; see :func:`compute_collected`."""
    return compute_collected(path, collect_records(records), gap_us, max_gaps)


def _forward_deltas(deltas: array[int]) -> tuple[array[int], list[int]]:
    """Of successive stamps' differences: those that go forward (the same array when all do),
    and the positions of the stamps that went back instead (left out of the times)."""
    if not deltas or min(deltas) >= 0:
        return deltas, []
    back = [i + 1 for i, d in enumerate(deltas) if d < 0]
    return array("q", (d for d in deltas if d >= 0)), back


def compute_collected(path: str, seen: Collected, gap_us: float | None = None, max_gaps: int = 10) -> Stats:
    """Statistics of the UDP datagrams of one pass over a recording, overall and per flow.
    The duration runs from the earliest stamp to the latest; the inter-arrival times and gaps
    are of successive datagrams whose stamps go forward (see :class:`ClockSteps`); a gap is
    an inter-arrival time above ``gap_us`` (default: 10 x the median inter-arrival time)."""
    stamps = seen.stamps
    deltas_all = array("q", map(operator.sub, stamps[1:], stamps))
    deltas, back = _forward_deltas(deltas_all)
    ordered = sorted(deltas)  # one sort gives the percentiles and the gaps above a threshold
    duration_ns = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0
    inter = summarize_sorted(ordered)
    threshold = gap_us if gap_us is not None else 10.0 * inter.get("p50_us", 0.0)
    limit_ns = math.floor(threshold * 1000.0)  # a delta d is a gap when d / 1000 > threshold
    gap_count = len(ordered) - bisect.bisect_right(ordered, limit_ns)
    # the largest first, the earlier of two equal ones first
    largest = heapq.nlargest(max_gaps, ((d, -i) for i, d in enumerate(deltas_all) if d > limit_ns)) if gap_count else []
    gaps = [Gap(seen.number(1 - i), (stamps[1 - i] - stamps[0]) / 1e9, d / 1000.0) for d, i in largest]
    steps = ClockSteps()
    if back:
        step, worst = min((deltas_all[pos - 1], pos) for pos in back)
        steps = ClockSteps(len(back), -step / 1e9, seen.number(worst))
    del ordered, deltas, deltas_all  # before the flows' own
    udp = len(stamps)
    flows = {seen.first_flow: stamps} if seen.first_flow is not None and not seen.flows else seen.flows
    return Stats(
        path=path,
        packets=seen.packets,
        udp_datagrams=udp,
        duration_s=duration_ns / 1e9,
        rate_per_s=(udp - 1) / (duration_ns / 1e9) if duration_ns > 0 else 0.0,
        sources=dict(seen.sources),
        inter_arrival=inter,
        gap_threshold_us=threshold,
        gaps=gaps,
        gap_count=gap_count,
        clock_steps_back=steps,
        flows=[_flow_stats(key, flow) for key, flow in flows.items()],
    )


def _flow_stats(key: Any, stamps: array[int]) -> FlowStats:
    deltas, back = _forward_deltas(array("q", map(operator.sub, stamps[1:], stamps)))
    duration_ns = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0
    inter = summarize_sorted(sorted(deltas))
    return FlowStats(_flow_label(key), len(stamps), duration_ns / 1e9,
                     (len(stamps) - 1) / (duration_ns / 1e9) if duration_ns > 0 else 0.0,
                     {k: v for k, v in inter.items() if k in ("p50_us", "p99_us", "max_us")}, len(back))


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
    if len(stats.flows) > 1:
        lines.append(f"flows         {len(stats.flows)}")
        for flow in stats.flows:
            fia = "  ".join(f"{k[:-3]} {v:.3f}" for k, v in flow.inter_arrival.items())
            lines.append(f"  {flow.flow}  {flow.datagrams} datagrams in {flow.duration_s:.6f} s, "
                         f"{flow.rate_per_s:.1f}/s" + (f", inter-arrival {fia} us" if fia else "")
                         + (f", clock stepped back {flow.steps_back} times" if flow.steps_back else ""))
    return "\n".join(lines)


def plot(stamps: Sequence[int], output: str, title: str) -> None:
    """Inter-arrival times over time and their histogram, as a PNG (needs matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'sotimestamp[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(stamps) < 2:
        raise ValueError("--plot needs at least two packets")
    t = [(s - stamps[0]) / 1e9 for s in stamps[1:]]
    d = [delta / 1000.0 for delta in map(operator.sub, stamps[1:], stamps)]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), constrained_layout=True)
    ax1.plot(t, d, ".", markersize=2)
    ax1.set_xlabel("time since first packet (s)")
    ax1.set_ylabel("inter-arrival (us)")
    ax1.set_title(title)
    ax2.hist(d, bins=100)
    ax2.set_xlabel("inter-arrival (us)")
    ax2.set_ylabel("datagrams")
    ax2.set_yscale("log")
    fig.savefig(output, dpi=100)
    plt.close(fig)
