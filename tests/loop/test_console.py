"""Reading the guest console: results, requests, panics, the summary line."""
from __future__ import annotations

from devtools.loop.console import ConsoleReport, SendRequest
from devtools.loop.vmtest import finish


def feed(lines: list[str]) -> ConsoleReport:
    r = ConsoleReport()
    for line in lines:
        r.feed(line + "\r\n")
    return r


def test_counts_results_and_ends_on_done() -> None:
    r = feed(["@@BOOTED x", "@@RUN t_a:so_timestamp_one", "ok t_a:so_timestamp_one",
              "@@RUN t_a:tstamp_two", "FAIL t_a:tstamp_two: stamp after recv", "skip t_b:c: no wm0",
              "@@DONE"])
    assert r.passed == ["t_a:so_timestamp_one"]
    assert r.failed == [("t_a:tstamp_two", "stamp after recv")]
    assert r.skipped == [("t_b:c", "no wm0")]
    assert r.finished and not r.ok()
    assert r.summary() == "1 passed, 1 failed, 1 skipped"


def test_send_request_is_returned() -> None:
    r = ConsoleReport()
    assert r.feed("@@SEND udp6 4242 3\n") == SendRequest("udp6", 4242, 3)
    assert r.feed("@@SEND tcp 1 1\n") is None
    assert r.feed("@@SEND ptp2 7 100\n") == SendRequest("ptp2", 7, 100)


def test_panic_collects_backtrace_until_ddb_prompt(capsys) -> None:
    r = feed(["@@RUN t_a:tstamp_fuzz", "panic: kernel diagnostic assertion \"m != NULL\" failed",
              "fatal breakpoint trap in supervisor mode", "vpanic() at netbsd:vpanic+0x13c",
              "sbappend() at netbsd:sbappend+0x20", "db{0}> "])
    assert r.finished and r.panic_over
    assert r.panic[0].startswith("panic: kernel diagnostic")
    assert "sbappend() at netbsd:sbappend+0x20" in r.panic
    assert finish(r) == 1
    out = capsys.readouterr().out
    assert "PANIC in the guest" in out and "FAILED t_a:tstamp_fuzz: kernel panic" in out
    assert out.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_all_passed_exits_zero_with_summary_last(capsys) -> None:
    r = feed(["@@RUN t:a", "ok t:a", "ok t:b", "@@DONE"])
    assert finish(r) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_no_results_is_a_failure(capsys) -> None:
    r = feed(["@@BOOTED", "@@DONE"])
    assert finish(r) == 1
    assert "no results" in capsys.readouterr().out


def test_ansi_noise_from_grub_is_ignored() -> None:
    r = feed(["\x1b[2J\x1b[1;1Hok t:a"])
    assert r.passed == ["t:a"]


def test_i386_cases_must_end_as_their_64_bit_cases(capsys) -> None:
    r = feed(["ok t:a", "ok i386/t:a", "ok t:b", "skip i386/t:b: no", "skip noharness/t:b: x",
              "skip noharness/i386/t:b: x", "ok t_tstamp_rx:tstamp_recvmmsg_64",
              "skip i386/t_tstamp_rx:tstamp_recvmmsg_64:: no recvmmsg", "@@DONE"])
    line, differ = r.i386_summary()
    assert line == "i386: 1 passed, 0 failed, 3 skipped; 2 of 4 end as their 64-bit case, 1 known not to"
    assert differ == [("i386/t:b", "skip as a 32-bit program, ok as a 64-bit one")]
    assert ("i386/t_tstamp_rx:tstamp_recvmmsg_64", "no recvmmsg") in r.skipped
    assert finish(r) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2] == line and out[-1] == "4 passed, 1 failed, 4 skipped"
