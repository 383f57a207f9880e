"""What `invoke anita` reads back from the guest: atf-report CSV, pytest's
summary line, and the marked lines in console output."""
from __future__ import annotations

from devtools import anitarun as a


def test_atf_csv_counts_cases_and_broken_programs() -> None:
    tally = a.Tally()
    a.atf_csv(
        "net/timestamp tp, 1764136000.1, t_tstamp_rx, passed\n"
        "net/timestamp tc, 1764136000.2, t_tstamp_rx, rx_udp4, passed\n"
        "net/timestamp tc, 1764136000.3, t_tstamp_rx, rx_udp6, failed, stamp before send, by 3 us\n"
        "net/timestamp tc, 1764136000.4, t_hwtstamp, hw_info, skipped, no wm0\n"
        "net/net tc, 1764136000.5, t_pktinfo, pktinfo, expected_failure, PR 1\n"
        "net/timestamp tp, 1764136000.6, t_hwtstamp_tx, bogus, Invalid format\n", tally)
    assert tally.passed == ["atf net/timestamp/t_tstamp_rx:rx_udp4", "atf net/net/t_pktinfo:pktinfo"]
    assert ("atf net/timestamp/t_tstamp_rx:rx_udp6", "failed stamp before send, by 3 us") in tally.failed
    assert ("atf net/timestamp/t_hwtstamp_tx", "test program bogus Invalid format") in tally.failed
    assert tally.skipped == [("atf net/timestamp/t_hwtstamp:hw_info", "no wm0")]
    assert tally.summary() == "2 passed, 2 failed"


def test_pytest_counts_reads_the_last_summary_line() -> None:
    out = ("tests/python/test_cli.py ....\n"
           "=========== 3 failed, 150 passed, 7 skipped, 1 error in 41.20s ===========\n")
    assert a.pytest_counts(out) == {"failed": 3, "passed": 150, "skipped": 7, "errors": 1}
    assert a.pytest_counts("== 12 passed in 1.00s ==") == {"passed": 12}
    assert a.pytest_counts("Traceback: no pytest here") == {}


def test_marked_keeps_only_tagged_lines() -> None:
    out = "noise\n@@ATF tc, a, b, passed\nmore @@ATF not at start\n@@ATF tp, a, passed\n"
    assert a.marked(out, "@@ATF") == "tc, a, b, passed\ntp, a, passed"


def test_tally_check_records_both_outcomes() -> None:
    t = a.Tally()
    t.check("pkg_add", True)
    t.check("pkg_delete", False, "left /usr/pkg/lib/python3.11")
    assert t.passed == ["pkg_add"] and t.failed == [("pkg_delete", "left /usr/pkg/lib/python3.11")]


def test_ansi_colours_are_stripped_before_counting() -> None:
    coloured = "\x1b[32m\x1b[1m72 passed\x1b[0m, \x1b[33m15 skipped\x1b[0m\x1b[32m in 138.16s (0:02:18)\x1b[0m"
    assert a.pytest_counts(a._ANSI.sub("", coloured)) == {"passed": 72, "skipped": 15}  # -q: no rules
