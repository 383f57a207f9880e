"""Statistics of a capture: count, duration, rate, inter-arrival percentiles, gaps.

A recording is read once, as a stream (:func:`collect`): only its stamps are
kept, in an ``array`` of 8 bytes each, so a million-packet file needs tens of
megabytes, not the hundreds a list of records would.
"""
from __future__ import annotations

import bisect
import contextlib
import heapq
import math
import operator
import os
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .pcap.format import Progress
from .pcap.read import Frame, Record, is_udp

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
    index: int  # the packet after the gap
    offset_s: float  # its time since the first packet
    gap_us: float


@dataclass
class Stats:
    path: str
    packets: int
    udp_datagrams: int
    duration_s: float
    rate_per_s: float
    sources: dict[str, int]
    inter_arrival: dict[str, float]
    gap_threshold_us: float
    gaps: list[Gap] = field(default_factory=list)
    gap_count: int = 0
    out_of_order: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Collected:
    """What one pass over a recording keeps: every stamp, and counts."""

    stamps: array[int] = field(default_factory=lambda: array("q"))
    sources: dict[str, int] = field(default_factory=dict)
    udp_datagrams: int = 0


@contextlib.contextmanager
def progress_bar(path: str, disable: bool = False) -> Iterator[Progress]:
    """A callback that advances a bar of the bytes of ``path`` read, drawn on stderr
    only when stderr is a terminal (tqdm's ``disable=None``), and cleared at the end."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    try:
        size: int | None = os.stat(path).st_size or None
    except OSError:
        size = None  # the reader says what is wrong with the path
    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=os.path.basename(path),
              file=sys.stderr, leave=False, mininterval=0.25, disable=True if disable else None) as bar:
        yield bar.update


def collect(frames: Iterable[Frame]) -> Collected:
    """Stamps, stamp sources and the UDP count of ``frames`` (see :func:`sotimestamp.pcapread.frames`)."""
    out = Collected()
    append, sources, udp = out.stamps.append, out.sources, 0
    for ts, source, link_type, frame in frames:
        append(ts)
        name = source or "unknown"
        sources[name] = sources.get(name, 0) + 1
        if is_udp(link_type, frame):
            udp += 1
    out.udp_datagrams = udp
    return out


def collect_records(records: Iterable[Record]) -> Collected:
    """:func:`collect` of already decoded records."""
    out = Collected()
    for rec in records:
        out.stamps.append(rec.ts_ns)
        name = rec.source or "unknown"
        out.sources[name] = out.sources.get(name, 0) + 1
        out.udp_datagrams += rec.payload is not None
    return out


def compute(path: str, records: Iterable[Record], gap_us: float | None = None, max_gaps: int = 10) -> Stats:
    """Statistics of ``records``; see :func:`compute_collected`."""
    return compute_collected(path, collect_records(records), gap_us, max_gaps)


def compute_collected(path: str, seen: Collected, gap_us: float | None = None, max_gaps: int = 10) -> Stats:
    """Statistics of one pass over a recording; a gap is an inter-arrival time above
    ``gap_us`` (default: 10 x the median inter-arrival time)."""
    stamps = seen.stamps
    deltas = array("q", map(operator.sub, stamps[1:], stamps))
    ordered = sorted(deltas)  # one sort gives the percentiles, the gaps above a threshold and the negatives
    duration_ns = (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0
    inter = summarize_sorted(ordered)
    threshold = gap_us if gap_us is not None else 10.0 * inter.get("p50_us", 0.0)
    limit_ns = math.floor(threshold * 1000.0)  # a delta d is a gap when d / 1000 > threshold
    gap_count = len(ordered) - bisect.bisect_right(ordered, limit_ns)
    # the largest first, the earlier of two equal ones first
    largest = heapq.nlargest(max_gaps, ((d, -i) for i, d in enumerate(deltas) if d > limit_ns)) if gap_count else []
    gaps = [Gap(1 - i, (stamps[1 - i] - stamps[0]) / 1e9, d / 1000.0) for d, i in largest]
    packets = len(stamps)
    return Stats(
        path=path,
        packets=packets,
        udp_datagrams=seen.udp_datagrams,
        duration_s=duration_ns / 1e9,
        rate_per_s=(packets - 1) / (duration_ns / 1e9) if duration_ns > 0 else 0.0,
        sources=dict(seen.sources),
        inter_arrival=inter,
        gap_threshold_us=threshold,
        gaps=gaps,
        gap_count=gap_count,
        out_of_order=bisect.bisect_left(ordered, 0),
    )


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
        f"packets       {stats.packets} ({stats.udp_datagrams} UDP datagrams)",
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
        lines.append(f"  packet {gap.index} at +{gap.offset_s:.6f} s after {gap.gap_us:.1f} us")
    if stats.out_of_order:
        lines.append(f"out of order  {stats.out_of_order} stamps earlier than the one before")
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
