"""`invoke anita`: install the release of `invoke sets` with anita, pkg_add our
packages in the installed system, run our ATF tests and py-sotimestamp's
pytest suite there, and count.

anita (github:gson1703/anita, not on PyPI under that name) is taken from a
git repository named by ANITA_SRC at a pinned commit and installed into this
Python environment.  anita installs with sysinst from the release's
boot-com.iso (TCG: this kernel hangs under KVM here) and keeps the disk image
(persist), so a rerun boots the installed system without installing again.

At boot the guest gets, besides its disk:
  - an ISO with the packages, the Python test suite and pytest (cd0);
  - an igb NIC (wm0) whose other end is devtools/loop/hostnet.py on 127.0.0.1,
    which answers the tests' "@@SEND" requests on the serial console.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from devtools import config
from devtools.installed import fetched, sets
from devtools.loop.tree import TreeError

ANITA_COMMIT = "f3e8b3d074f0a2637da2a77fe53a3ef850d854e6"  # "Fix incorrect exit status from anita test"
# comp: our headers (the Python tests read them); man: our man pages.
INSTALL_SETS = ["kern-GENERIC", "modules", "base", "etc", "comp", "misc", "tests", "man"]
MEMORY = "512M"
DISK = "4G"
# Our tests plus the tree's own socket tests; --full runs all of /usr/tests.
ATF_DIRS = ["net/timestamp", "net/net"]
# The ATF configuration variable that lets the cases needing wm0 and the
# host's answers run (tests/net/timestamp/harness.h); set by the `atf` step.
HARNESS_VAR = "sotimestamp.harness"
STEPS = Path(__file__).resolve().parent / "anita-steps.sh"

_SEND = re.compile(rb"@@SEND (udp4|udp6|ptp2) (\d+) (\d+)")
_PANIC = re.compile(rb"panic: |uvm_fault\(|db\{\d+\}> ")
# colours and cursor moves of the console (pytest, sysinst)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "=== 3 failed, 150 passed in 41.20s ===", or without the rules under -q
_PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s\b.*$", re.M)


# --- anita itself --------------------------------------------------------------

# What the anita run needs here besides anita: pexpect (anita's one dependency)
# and installer (wheel.mk's wheel installer, devtools/installed/guestpkgs.py).  Both are
# pinned in requirements-dev.txt, so the tests that use them run in CI too.
HOST_MODULES = ("pexpect", "installer")


def check_requirements() -> None:
    import importlib.util
    missing = [mod for mod in HOST_MODULES if importlib.util.find_spec(mod) is None]
    if missing:
        raise TreeError(f"missing Python modules {', '.join(missing)}: "
                        "run `make venv` (requirements-dev.txt pins them)")


def install_anita() -> None:
    """anita.py at the pinned commit into this environment's site-packages."""
    check_requirements()
    site = Path(sysconfig.get_paths()["purelib"])
    dest = site / "anita.py"
    if dest.exists() and ANITA_COMMIT in dest.read_text(errors="replace")[:200]:
        return
    src = config.anita_src()
    if not src:
        raise TreeError("anita is not installed: set ANITA_SRC to a git repository of "
                        "github:gson1703/anita (e.g. a fetched mirror) to install it at "
                        f"{ANITA_COMMIT[:7]}")
    res = subprocess.run(["git", "--git-dir" if Path(src, "HEAD").exists() else "-C", src,
                          "show", f"{ANITA_COMMIT}:anita.py"], capture_output=True)
    if res.returncode != 0:
        raise TreeError(f"ANITA_SRC={src}: no anita.py at commit {ANITA_COMMIT[:7]}: "
                        f"{res.stderr.decode(errors='replace').strip()}")
    dest.write_bytes(f"# anita {ANITA_COMMIT} (installed by sotimestamp)\n".encode() + res.stdout)
    print(f"anita {ANITA_COMMIT[:7]} installed into {site}", flush=True)


def _anita():  # type: ignore[no-untyped-def]
    install_anita()
    import anita
    return anita


def workdir(src: Path) -> Path:
    return config.cache() / f"anita-{src.name}"


def _console_to(logf: TextIO) -> contextlib.redirect_stdout[TextIO]:
    """anita echoes the console to the sys.stdout it saw when it was made,
    and prints its QEMU command lines: both go to our log instead."""
    return contextlib.redirect_stdout(logf)


def make_anita(src: Path, vmm_args: list[str], logf: TextIO):  # type: ignore[no-untyped-def]
    anita = _anita()
    dist = anita.distribution(str(sets.amd64_dir(src)) + "/", sets=INSTALL_SETS)
    with _console_to(logf):
        return anita.Anita(dist, workdir=str(workdir(src)), vmm="qemu", vmm_args=vmm_args,
                           disk_size=DISK, memory_size=MEMORY, persist=True)


def discard_image(src: Path) -> None:
    """Throw away the installed image and anita's copy of the release.

    anita copies the sets into its work directory once and reuses a file
    that is there, so without the copy's removal a reinstall would install
    the sets of the first run, not those `invoke sets` built since."""
    image = workdir(src) / "wd0.img"
    if image.exists():
        image.unlink()
        print(f"anita: removed {image}", flush=True)
    download = workdir(src) / "download"
    if download.exists():
        shutil.rmtree(download)
        print(f"anita: removed its copy of the release, {download}", flush=True)


def install(src: Path, logf: TextIO) -> float:
    """sysinst install into wd0.img unless it is there; seconds taken (0: reused)."""
    if (workdir(src) / "wd0.img").exists():
        print(f"anita: installed image {workdir(src) / 'wd0.img'} reused", flush=True)
        return 0.0
    a = make_anita(src, [], logf)
    start = time.monotonic()
    print(f"anita install: sets {','.join(INSTALL_SETS)} (console: {logf.name})", flush=True)
    with _console_to(logf):
        a.install()
    took = time.monotonic() - start
    print(f"anita install: done in {took / 60:.1f} min", flush=True)
    return took


# --- what the guest gets -------------------------------------------------------

def pytest_wheels(dest: Path) -> None:
    """pytest and its pure-Python dependencies, unpacked for PYTHONPATH."""
    wheels = fetched.directory() / "guest-wheels"
    wheels.mkdir(exist_ok=True)
    if not list(wheels.glob("pytest-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "any", "--implementation", "py",
                        "-d", str(wheels), "pytest"], check=True)
    for whl in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(whl) as z:
            z.extractall(dest)


def guest_tests(dest: Path) -> None:
    """tests/python and what it reads (sys/ABI.md, the man page), in the project's layout."""
    shutil.copytree(config.PROJECT / "tests" / "python", dest / "tests" / "python",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "sys").mkdir()
    shutil.copy2(config.PROJECT / "sys" / "ABI.md", dest / "sys" / "ABI.md")
    shutil.copytree(config.PROJECT / "py-sotimestamp" / "man", dest / "py-sotimestamp" / "man")
    (dest / "pytest.ini").write_text("[pytest]\ntestpaths = tests/python\naddopts = -ra -p no:cacheprovider\n")


def kernel_sources(src: Path, dest: Path) -> None:
    """The tree files the series touches as they are without it (the tree of
    the sets has it applied: reversed in the copy, the tree is only read),
    with build.sh: what sotimestamp-kernel needs of a source tree, for the
    guest to apply the installed package's series to."""
    from devtools.loop.refresh import pristine
    from devtools.loop.series import Series
    series = Series.load(config.project_sys())
    pristine(src, series, dest)
    for name in series.new_files:  # the series' own files: not in a pristine tree
        (dest / name).unlink(missing_ok=True)
    shutil.copy2(src / "build.sh", dest / "build.sh")


def make_extras_iso(packages: list[Path], out: Path, src: Path | None = None) -> Path:
    stage = out.parent / "extras"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "packages").mkdir(parents=True)
    for p in packages:
        shutil.copy2(p, stage / "packages" / p.name)
    if src is not None:
        kernel_sources(src, stage / "kernel-src")
    pytest_wheels(stage / "pylib")
    guest_tests(stage / "pytests")
    shutil.copy2(STEPS, stage / "anita-steps.sh")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", "SOTSEXTRAS", "-o", str(out), str(stage)],
                   check=True)
    return out


# --- the run in the guest ------------------------------------------------------

@dataclass
class Tally:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    def check(self, name: str, ok: bool, why: str = "") -> None:
        (self.passed.append(name) if ok else self.failed.append((name, why)))
        print(f"{'ok' if ok else 'FAIL'} {name}{'' if ok else ': ' + why}", flush=True)

    def summary(self) -> str:
        return f"{len(self.passed)} passed, {len(self.failed)} failed"


def atf_csv(text: str, tally: Tally) -> None:
    """Count atf-report CSV lines, each prefixed with its /usr/tests directory:
    `DIR tc, TIME, PROGRAM, CASE, STATE[, REASON]` and
    `DIR tp, TIME, PROGRAM, STATE[, REASON]` (atf-report.cpp's csv_writer)."""
    for line in text.splitlines():
        directory, _, row = line.partition(" ")
        kind = row.split(", ", 1)[0]
        if kind == "tc":
            parts = row.split(", ", 5)
            if len(parts) < 5:
                continue
            name, state = f"atf {directory}/{parts[2]}:{parts[3]}", parts[4]
            reason = parts[5] if len(parts) > 5 else ""
            if state in ("passed", "expected_failure"):
                tally.passed.append(name)
            elif state == "skipped":
                tally.skipped.append((name, reason))
            else:
                tally.failed.append((name, f"{state} {reason}".strip()))
        elif kind == "tp":
            parts = row.split(", ", 4)
            if len(parts) >= 4 and parts[3] != "passed":
                reason = parts[4] if len(parts) > 4 else ""
                tally.failed.append((f"atf {directory}/{parts[2]}", f"test program {parts[3]} {reason}".strip()))


def pytest_counts(output: str) -> dict[str, int]:
    """{'passed': N, 'failed': N, ...} from pytest's last summary line."""
    lines = [m.group(1) for m in _PYTEST_SUMMARY.finditer(output)]
    if not lines:
        return {}
    counts: dict[str, int] = {}
    for part in lines[-1].split(","):
        m = re.match(r"\s*(\d+) (\w+)", part)
        if m:
            key = {"error": "errors", "warning": "warnings"}.get(m.group(2), m.group(2))
            counts[key] = int(m.group(1))
    return counts


class GuestShell:
    """A root shell on the serial console that answers @@SEND on the way."""

    def __init__(self, anita_mod, child, net, log) -> None:  # type: ignore[no-untyped-def]
        self.child, self.net, self.log = child, net, log
        prompt = anita_mod.gen_shell_prompt()
        child.send("exec /bin/sh\n")
        child.expect(r"# ")
        child.send("PS1=" + anita_mod.quote_prompt(prompt) + "\n")
        self.prompt = re.escape(prompt).encode()
        child.expect(self.prompt)

    def run(self, cmd: str, timeout: int = 600) -> tuple[int, str]:
        self.child.send(cmd + "\n")
        out = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TreeError(f"guest command timed out after {timeout} s: {cmd[:80]}")
            i = self.child.expect([self.prompt, _SEND, _PANIC], timeout=left)
            out += self.child.before
            if i == 0:
                break
            out += self.child.after
            if i == 1:
                proto, arg, count = self.child.match.groups()
                self.net.send_udp(proto.decode(), int(arg), int(count))
            else:
                self.child.expect([rb"db\{\d+\}> ", rb"\n"], timeout=30)
                raise TreeError(f"kernel panic in the guest during: {cmd[:80]} (console log {self.log})")
        self.child.send("echo exit_status=$?=\n")
        self.child.expect(rb"exit_status=(\d+)=")
        rc = int(self.child.match.group(1))
        self.child.expect(self.prompt)
        return rc, _ANSI.sub("", out.decode(errors="replace").replace("\r", ""))


def marked(output: str, tag: str) -> str:
    return "\n".join(line[len(tag) + 1:] for line in output.splitlines() if line.startswith(tag + " "))


def check_bare(out: str, tally: Tally) -> Tally:
    """The run of our tests without the harness variable (@@ATFBARE lines):
    one check in tally, passed when some cases pass, some skip and none fails."""
    bare = Tally()
    atf_csv(marked(out, "@@ATFBARE"), bare)
    print(f"guest: atf {ATF_DIRS[0]} without {HARNESS_VAR}: {len(bare.passed)} passed, "
          f"{len(bare.failed)} failed, {len(bare.skipped)} skipped", flush=True)
    tally.check(f"atf-run in {ATF_DIRS[0]} without {HARNESS_VAR}=yes: harness cases skip, none fails",
                not bare.failed and bool(bare.skipped) and bool(bare.passed),
                f"{len(bare.passed)} passed, {len(bare.skipped)} skipped, failed: {bare.failed[:5]}")
    return bare


def guest_session(sh: GuestShell, packages: list[str], full: bool, tally: Tally) -> None:
    step = "sh /mnt/anita-steps.sh"
    t0 = time.monotonic()
    names = [re.sub(r"-[0-9][^-]*$", "", p) for p in packages]
    rc, out = sh.run("mount -t cd9660 -o ro /dev/cd0a /mnt; test -f /mnt/anita-steps.sh")
    if rc != 0:
        raise TreeError(f"the extras ISO is not on cd0 in the guest: {out[-300:]}")
    sh.run(f"{step} cleanup")
    rc, out = sh.run(f"{step} add 2>&1")
    tally.check("pkg_add pkg_alternatives py311-sotimestamp sotimestamp-kernel-patches (and dependencies)",
                rc == 0, out[-400:])
    rc, out = sh.run("pkg_info")
    listed = [n for n in names if re.search(rf"^{re.escape(n)}-\d", out, re.M)]
    tally.check(f"pkg_info lists the {len(names)} packages", len(listed) == len(names),
                f"listed {listed} of {names}")
    rc, out = sh.run(f"{step} imports 2>&1")
    tally.check("python3.11 imports sotimestamp, ctypes, pcapng, tqdm", rc == 0 and "imports ok" in out,
                out[-300:])
    rc, out = sh.run(f"{step} command 2>&1")
    tally.check("bin/sotimestamp (ALTERNATIVES link by pkg_alternatives) runs sotimestamp-3.11",
                rc == 0 and "sotimestamp-3.11" in out and re.search(r"^sotimestamp \d", out, re.M) is not None,
                out[-300:])
    rc, out = sh.run(f"{step} kernel-refuse 2>&1")
    tally.check("sotimestamp-kernel refuses a tree set to NetBSD 10.0, which stays byte-identical",
                rc == 0 and "kernel-refused-untouched" in out, out[-400:])
    rc, out = sh.run(f"{step} kernel-apply 2>&1", timeout=1800)
    tally.check("sotimestamp-kernel applies the series to a copy of the sources, reverts it exactly",
                rc == 0 and "kernel-applied-reverted" in out, out[-400:])
    tally.stages["packages"] = time.monotonic() - t0

    t0 = time.monotonic()
    sh.run(f"{step} net")
    dirs = "." if full else " ".join(ATF_DIRS)
    print(f"guest: atf-run in /usr/tests: {dirs}", flush=True)
    rc, out = sh.run(f"{step} atf {dirs}", timeout=10800 if full else 3600)
    before = (len(tally.passed), len(tally.failed), len(tally.skipped))
    atf_csv(marked(out, "@@ATF"), tally)
    for d in dirs.split():
        tag = f"atf {d}/"
        print(f"guest: atf {d}: {sum(n.startswith(tag) for n in tally.passed)} passed, "
              f"{sum(n.startswith(tag) for n, _ in tally.failed)} failed, "
              f"{sum(n.startswith(tag) for n, _ in tally.skipped)} skipped", flush=True)
    if (len(tally.passed), len(tally.failed), len(tally.skipped)) == before:
        tally.failed.append(("atf", "no results: " + out[-300:]))
    # Our tests as on a machine without the harness: the cases that need
    # wm0 or frames from the host skip (not fail) without the variable.
    rc, out = sh.run(f"{step} atf-bare {ATF_DIRS[0]}", timeout=3600)
    check_bare(out, tally)
    tally.stages["atf"] = time.monotonic() - t0

    t0 = time.monotonic()
    rc, out = sh.run(f"{step} pytest", timeout=3600)
    counts = pytest_counts(out)
    fails = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
    reasons = re.findall(r"^SKIPPED .*$", out, re.M)
    tally.skipped += [("pytest", reasons[i] if i < len(reasons) else "skipped")
                      for i in range(counts.get("skipped", 0))]
    tally.passed += [f"pytest #{i}" for i in range(counts.get("passed", 0))]
    tally.failed += [(f"pytest {f}", "failed") for f in fails]
    unnamed = counts.get("failed", 0) + counts.get("errors", 0) - len(fails)
    tally.failed += [("pytest", "failed (name not shown)")] * max(0, unnamed)
    if not counts:
        tally.failed.append(("pytest", "no summary line: " + out[-300:]))
    print(f"guest: pytest {counts}", flush=True)
    tally.stages["pytest"] = time.monotonic() - t0

    rc, out = sh.run(f"{step} kernel-orphan-revert 2>&1", timeout=1800)
    tally.check("after pkg_delete sotimestamp-kernel-patches, the record's copy of the command reverts exactly",
                rc == 0 and "kernel-reverted-after-delete" in out, out[-400:])
    rc, out = sh.run(f"{step} delete 2>&1")
    tally.check("pkg_delete removes them cleanly", rc == 0 and "removed-clean" in out, out[-300:])
    sh.run("cd / && umount /mnt")


def run(src: Path, packages: list[Path], *, full: bool = False) -> int:
    from devtools.loop.hostnet import HostNet
    from devtools.loop.vmtest import qemu_binary

    qemu_binary()  # QEMU >= 8.1 (igb)
    sets.check_release(src)
    logs = config.cache() / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / f"anita-console-{src.name}.log"
    tally = Tally()
    t0 = time.monotonic()
    with open(log, "w") as logf:
        tally.stages["install"] = install(src, logf)
        extras = make_extras_iso(packages, workdir(src) / "extras.iso", src)
        net = HostNet()
        net.start()
        vmm_args = ["-drive", f"file={extras},format=raw,media=cdrom,readonly=on",
                    "-netdev", net.netdev_arg(), "-device", "igb,netdev=n0,mac=52:54:00:12:34:56"]
        a = make_anita(src, vmm_args, logf)
        try:
            t1 = time.monotonic()
            with _console_to(logf):
                child = a.boot()
                a.login()
            tally.stages["boot"] = time.monotonic() - t1
            print(f"anita boot: root shell after {tally.stages['boot']:.0f} s", flush=True)
            sh = GuestShell(_anita(), child, net, log)
            guest_session(sh, [p.name for p in packages], full, tally)
            with _console_to(logf):
                a.halt()
        finally:
            net.close()
            with contextlib.suppress(Exception):
                a.cleanup_child()
    for name, why in tally.failed:
        print(f"FAILED {name}: {why}")
    stages = ", ".join(f"{k} {v / 60:.1f} min" for k, v in tally.stages.items())
    print(f"anita: {stages}; total {(time.monotonic() - t0) / 60:.1f} min; "
          f"{len(tally.skipped)} skipped")
    print(tally.summary(), flush=True)
    return 0 if not tally.failed and tally.passed else 1

