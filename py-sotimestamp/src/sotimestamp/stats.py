"""Statistics of a capture: count, duration, rate, inter-arrival percentiles, gaps."""
from __future__ import annotations

import collections
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from .pcapio import Record, read_records

PERCENTILES = (0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values_ns: Sequence[int]) -> Dict[str, float]:
    """min, mean, percentiles and max of ``values_ns``, in microseconds."""
    ordered = sorted(values_ns)
    out: Dict[str, float] = {}
    if not ordered:
        return out
    out["mean_us"] = sum(ordered) / len(ordered) / 1000.0
    for pct in PERCENTILES:
        name = {0.0: "min", 100.0: "max"}.get(pct, f"p{pct:g}")
        out[f"{name}_us"] = percentile(ordered, pct) / 1000.0
    return out


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
    sources: Dict[str, int]
    inter_arrival: Dict[str, float]
    gap_threshold_us: float
    gaps: List[Gap] = field(default_factory=list)
    gap_count: int = 0
    out_of_order: int = 0

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def compute(path: str, records: Sequence[Record], gap_us: Optional[float] = None, max_gaps: int = 10) -> Stats:
    """Statistics of ``records``; a gap is an inter-arrival time above ``gap_us``
    (default: 10 x the median inter-arrival time)."""
    stamps = [r.ts_ns for r in records]
    deltas = [b - a for a, b in zip(stamps, stamps[1:])]
    duration_ns = (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0
    inter = summarize(deltas)
    threshold = gap_us if gap_us is not None else 10.0 * inter.get("p50_us", 0.0)
    gaps = [
        Gap(i + 1, (stamps[i + 1] - stamps[0]) / 1e9, d / 1000.0)
        for i, d in enumerate(deltas)
        if deltas and d / 1000.0 > threshold
    ]
    sources = collections.Counter(r.source or "unknown" for r in records)
    return Stats(
        path=path,
        packets=len(records),
        udp_datagrams=sum(1 for r in records if r.payload is not None),
        duration_s=duration_ns / 1e9,
        rate_per_s=(len(records) - 1) / (duration_ns / 1e9) if duration_ns > 0 else 0.0,
        sources=dict(sources),
        inter_arrival=inter,
        gap_threshold_us=threshold,
        gaps=sorted(gaps, key=lambda g: -g.gap_us)[:max_gaps],
        gap_count=len(gaps),
        out_of_order=sum(1 for d in deltas if d < 0),
    )


def load(path: str) -> List[Record]:
    return list(read_records(path))


def schedule_errors(reference_ns: Sequence[int], observed_ns: Sequence[int], speed: float = 1.0) -> List[int]:
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
        f"stamps        " + ", ".join(f"{k} {v}" for k, v in sorted(stats.sources.items())),
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


def plot(records: Sequence[Record], output: str, title: str) -> None:
    """Inter-arrival times over time and their histogram, as a PNG (needs matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'sotimestamp[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stamps = [r.ts_ns for r in records]
    if len(stamps) < 2:
        raise ValueError("--plot needs at least two packets")
    t = [(s - stamps[0]) / 1e9 for s in stamps[1:]]
    d = [(b - a) / 1000.0 for a, b in zip(stamps, stamps[1:])]
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
