"""What `invoke anita` reads back from the guest: atf-report CSV, pytest's
summary line, and the marked lines in console output."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.installed import anitarun as a


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


def _fake_atf(tmp_path, monkeypatch):
    """A /usr/tests stand-in and atf-run/atf-report that record how they ran."""
    base = tmp_path / "usr-tests"
    (base / "net" / "timestamp").mkdir(parents=True)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "atf-run").write_text(f'#!/bin/sh\necho "$PWD $*" >> {tmp_path}/atf-run.args\n')
    (bin_ / "atf-report").write_text(
        "#!/bin/sh\ncat >/dev/null\n"
        'for a; do case $a in csv:*) echo "tc, 1.0, t_hwtstamp, hw_info, skipped, why" > "${a#csv:}";; esac; done\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:/usr/bin:/bin")
    monkeypatch.setenv("TESTSBASE", str(base))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return base


def test_anita_atf_step_sets_the_harness_variable_and_bare_does_not(tmp_path, monkeypatch) -> None:
    import subprocess
    base = _fake_atf(tmp_path, monkeypatch)
    out = subprocess.run(["sh", str(a.STEPS), "atf", "net/timestamp"], capture_output=True, text=True,
                         check=True).stdout
    assert "@@ATF net/timestamp tc, 1.0, t_hwtstamp, hw_info, skipped, why" in out
    out = subprocess.run(["sh", str(a.STEPS), "atf-bare", "net/timestamp"], capture_output=True, text=True,
                         check=True).stdout
    assert "@@ATFBARE net/timestamp tc, 1.0, t_hwtstamp, hw_info, skipped, why" in out
    runs = (tmp_path / "atf-run.args").read_text().splitlines()
    assert runs == [f"{base}/net/timestamp -v {a.HARNESS_VAR}=yes", f"{base}/net/timestamp "]


def test_check_bare_wants_skips_and_no_failure() -> None:
    ok = ("@@ATFBARE net/timestamp tc, 1.0, t_hwtstamp, hw_info, skipped, needs wm0\n"
          "@@ATFBARE net/timestamp tc, 1.1, t_tstamp_rx, rx_udp4, passed\n")
    t = a.Tally()
    bare = a.check_bare(ok, t)
    assert (len(bare.passed), len(bare.skipped), t.failed) == (1, 1, [])
    t = a.Tally()
    a.check_bare(ok + "@@ATFBARE net/timestamp tc, 1.2, t_hwtstamp_tx, hw_tx, failed, timed out\n", t)
    assert len(t.failed) == 1 and "failed" in t.failed[0][1]
    t = a.Tally()
    a.check_bare("@@ATFBARE net/timestamp tc, 1.1, t_tstamp_rx, rx_udp4, passed\n", t)
    assert len(t.failed) == 1  # nothing skipped: the harness cases ran or are gone


def test_reinstall_discards_anitas_copy_of_the_release(tmp_path, monkeypatch) -> None:
    """anita reuses the sets it copied on its first run: a reinstall after
    `invoke sets` installed the old tests.tgz until the copy went too."""
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path))
    src = tmp_path / "netbsd-src"
    wd = a.workdir(src)
    stale = wd / "download" / "amd64" / "binary" / "sets" / "tests.tgz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    (wd / "wd0.img").write_bytes(b"disk")
    (wd / "packages").mkdir()
    a.discard_image(src)
    assert not (wd / "wd0.img").exists()
    assert not (wd / "download").exists()
    assert (wd / "packages").is_dir()


def test_guest_kernel_steps_on_this_host(tmp_path: Path) -> None:
    """anita-steps.sh's kernel-refuse and kernel-apply, run here with the guest's
    paths pointed at a scratch directory: the extras ISO's kernel-src (pristine files
    of NETBSDSRCDIR) and the command with the project's series."""
    import os
    import subprocess
    import sys

    from devtools import config
    from devtools.installed.anitarun import STEPS, kernel_sources
    src = config.netbsdsrcdir_if_set()
    if src is None or not (src / "build.sh").is_file():
        pytest.skip("NETBSDSRCDIR not set: no NetBSD tree to take the series' files from")
    mnt = tmp_path / "mnt"
    kernel_sources(src, mnt / "kernel-src")
    command = tmp_path / "sotimestamp-kernel"
    command.write_text(f"#!/bin/sh\nexec {sys.executable} {config.PROJECT / 'sys/tools/sotimestamp_kernel.py'} "
                       f"--series {config.PROJECT / 'sys'} \"$@\"\n")
    command.chmod(0o755)
    script = tmp_path / "steps.sh"
    script.write_text(STEPS.read_text().replace("/mnt/", f"{mnt}/")
                      .replace("/usr/pkg/sbin/sotimestamp-kernel", str(command))
                      .replace("/tmp/ksrc", str(tmp_path / "ksrc"))
                      .replace("pkg_delete sotimestamp-kernel-patches", f"rm {command}")
                      .replace("$PY ", f"{sys.executable} "))
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    refuse = subprocess.run(["sh", str(script), "kernel-refuse"], capture_output=True, text=True, env=env)
    assert refuse.returncode == 0 and "kernel-refused-untouched" in refuse.stdout, refuse.stdout + refuse.stderr
    assert "is NetBSD 10.0" in refuse.stderr
    apply = subprocess.run(["sh", str(script), "kernel-apply"], capture_output=True, text=True, env=env)
    assert apply.returncode == 0 and "kernel-applied-reverted" in apply.stdout, apply.stdout + apply.stderr
    orphan = subprocess.run(["sh", str(script), "kernel-orphan-revert"], capture_output=True, text=True, env=env)
    assert orphan.returncode == 0 and "kernel-reverted-after-delete" in orphan.stdout, orphan.stdout + orphan.stderr
    assert not command.exists()
