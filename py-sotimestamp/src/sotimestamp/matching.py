"""Pair a replay's datagrams with the recording it replays, by content.

Pairing by position breaks at the first lost datagram: every later one is
compared with its predecessor's schedule.  Here a datagram pairs with a
reference datagram of the same payload.  A payload sent n times in both files
pairs in order (first with first).  One whose counts differ (a copy lost or
duplicated) pairs in order too, but skips the copies whose time is further
from where the schedule, estimated from the unambiguous pairs, puts them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Datagram = tuple[int, int, bytes]  # (packet number in its file, 1 for the first; ts_ns; payload)


@dataclass
class Matching:
    """Matched pairs in reference order, and what has no counterpart."""

    reference_ns: list[int] = field(default_factory=list)
    observed_ns: list[int] = field(default_factory=list)
    lost: list[Datagram] = field(default_factory=list)  # in the reference, not in the replay
    extra: list[Datagram] = field(default_factory=list)  # in the replay, not in the reference


def _positions(datagrams: Sequence[Datagram]) -> dict[bytes, list[int]]:
    by_payload: dict[bytes, list[int]] = {}
    for pos, (_index, _ts, payload) in enumerate(datagrams):
        by_payload.setdefault(payload, []).append(pos)
    return by_payload


def _align(predicted: Sequence[int], observed: Sequence[int]) -> list[tuple[int, int]]:
    """In-order pairs (i, j) of two time lists of different lengths: where one list has
    copies to spare, a copy is skipped when the next one is closer to its counterpart."""
    pairs = []
    i = j = 0
    m, n = len(predicted), len(observed)
    while i < m and j < n:
        here = abs(predicted[i] - observed[j])
        if m - i > n - j and abs(predicted[i + 1] - observed[j]) < here:
            i += 1  # reference copy i was lost
        elif n - j > m - i and abs(predicted[i] - observed[j + 1]) < here:
            j += 1  # replay copy j is extra
        else:
            pairs.append((i, j))
            i += 1
            j += 1
    return pairs


def match(reference: Sequence[Datagram], observed: Sequence[Datagram], speed: float = 1.0) -> Matching:
    """Pair ``observed`` (a replay at ``speed``, re-captured) with ``reference`` by payload."""
    ref_at, obs_at = _positions(reference), _positions(observed)
    pairs: list[tuple[int, int]] = []  # (position in reference, position in observed)
    uneven: list[bytes] = []
    for payload, refs in ref_at.items():
        obs = obs_at.get(payload, [])
        if len(obs) == len(refs):
            pairs.extend(zip(refs, obs))
        elif obs:
            uneven.append(payload)
    if uneven:
        r0 = reference[0][1]  # offsets from it: a stamp since the epoch divided by speed would lose nanoseconds
        # Where the replay put the schedule: the median offset of the unambiguous pairs
        # (or, without any, of all copies paired in order).
        basis = pairs or [p for payload in uneven for p in zip(ref_at[payload], obs_at[payload])]
        offsets = sorted(observed[o][1] - round((reference[r][1] - r0) / speed) for r, o in basis)
        shift = offsets[len(offsets) // 2]
        for payload in uneven:
            refs, obs = ref_at[payload], obs_at[payload]
            predicted = [round((reference[r][1] - r0) / speed) + shift for r in refs]
            times = [observed[o][1] for o in obs]
            pairs.extend((refs[i], obs[j]) for i, j in _align(predicted, times))
    pairs.sort()
    result = Matching()
    paired_obs = set()
    for r, o in pairs:
        result.reference_ns.append(reference[r][1])
        result.observed_ns.append(observed[o][1])
        paired_obs.add(o)
    paired_ref = {r for r, _o in pairs}
    result.lost = [d for pos, d in enumerate(reference) if pos not in paired_ref]
    result.extra = [d for pos, d in enumerate(observed) if pos not in paired_obs]
    return result
