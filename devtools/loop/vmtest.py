"""`invoke vmtest`: build the guest tests, boot SOTSTEST (or another test
kernel config, `--config`) under QEMU, count.

Output: every result line as it arrives, then `N passed, N failed` last.
Exit status: 0 only if the guest finished with no failure and no panic.
"""
from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from devtools import config
from devtools.loop import build, guestimage
from devtools.loop.console import ConsoleReport
from devtools.loop.hostnet import HostNet
from devtools.loop.series import Series, State, states
from devtools.loop.tree import TreeError, check_pinned

MIN_QEMU = (8, 1)  # igb (82576) with SYSTIM and TX/RX stamp latches
DEFAULT_CONFIG = "SOTSTEST"
# A vmtest kernel has SOTSTEST's memory-disk root and serial console: it is
# SOTSTEST or a config that includes it (SOTSTEST_MPSAFE).
_INCLUDES_SOTSTEST = re.compile(r'^include\s+"arch/amd64/conf/SOTSTEST"', re.M)


def qemu_binary() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise TreeError("qemu-system-x86_64 not found: run `invoke setup`")
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\d+)\.(\d+)", out)
    if not m or (int(m.group(1)), int(m.group(2))) < MIN_QEMU:
        raise TreeError(f"{qemu} is too old ({out.splitlines()[0] if out else '?'}); "
                        f"need QEMU >= {MIN_QEMU[0]}.{MIN_QEMU[1]} for -device igb: run `invoke setup`")
    return qemu


def qemu_command(qemu: str, iso: Path, netdev: str) -> list[str]:
    cmd = [qemu, "-m", "512", "-display", "none", "-serial", "stdio", "-monitor", "none",
           "-no-reboot", "-cdrom", str(iso), "-boot", "d",
           "-netdev", netdev, "-device", "igb,netdev=n0,mac=52:54:00:12:34:56"]
    # KVM is opt-in: this sandbox's KVM hangs the 2015 kernel after GRUB.
    if config.kvm():
        cmd += ["-enable-kvm", "-cpu", "host"]
    return cmd


def require_applied(src: Path) -> None:
    st = states(src, Series.load(config.project_sys()))
    missing = [k for k, v in st.items() if v is not State.APPLIED]
    if missing:
        raise TreeError(f"series not applied to {src} ({', '.join(missing[:3])}...): run `invoke patch`")


def test_kernel(src: Path, name: str = DEFAULT_CONFIG) -> Path:
    """The built kernel of config `name`, which must be a vmtest config."""
    conf = src / "sys" / "arch" / "amd64" / "conf" / name
    if "/" in name or not conf.is_file():
        raise TreeError(f"no kernel config {name} in {conf.parent}")
    if name != DEFAULT_CONFIG and not _INCLUDES_SOTSTEST.search(conf.read_text(errors="replace")):
        raise TreeError(f"{name} is not a test kernel config: it must be {DEFAULT_CONFIG} or include "
                        f"\"arch/amd64/conf/{DEFAULT_CONFIG}\" (memory-disk root, serial console)")
    kernel = build.kernel_path(src, name)
    if not kernel.exists():
        raise TreeError(f"no test kernel {kernel}: run `invoke kernel --config {name}`")
    return kernel


def run(src: Path, *, extra: str | None = None, timeout: int = 900, config_name: str = DEFAULT_CONFIG,
        files: dict[str, Path] | None = None, suite: bool = True) -> int:
    """suite=False: only extra's programs in the guest, not our ATF suite."""
    check_pinned(src)
    require_applied(src)
    kernel = test_kernel(src, config_name)
    qemu = qemu_binary()
    t0 = time.monotonic()
    build.guest_libs(src)
    programs = guestimage.collect_tests(src, Path(extra).resolve() if extra else None, suite)
    iso = guestimage.build_image(src, kernel, programs, config.cache() / f"vmtest-{src.name}", files)
    print(f"guest image: {len(programs)} test programs, kernel {config_name}, built in "
          f"{time.monotonic() - t0:.0f} s", flush=True)
    report = boot_and_watch(qemu, iso, timeout,
                            config.cache() / "logs" / f"vmtest-console-{src.name}-{config_name}.log")
    return finish(report)


def boot_and_watch(qemu: str, iso: Path, timeout: int, log: Path) -> ConsoleReport:
    net = HostNet()
    net.start()
    cmd = qemu_command(qemu, iso, net.netdev_arg())
    log.parent.mkdir(exist_ok=True)
    report = ConsoleReport()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=0)
    lines: queue.Queue[bytes | None] = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    print(f"booting: {' '.join(cmd)}\n  console log: {log}", flush=True)
    try:
        with open(log, "w") as out:
            while not report.finished:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    report.failed.append((report.running or "(boot)",
                                          f"timed out after {timeout} s"))
                    break
                try:
                    raw = lines.get(timeout=min(left, 5))
                except queue.Empty:
                    continue
                if raw is None:
                    if not report.finished:
                        report.failed.append((report.running or "(boot)", "QEMU exited early"))
                    break
                text = raw.decode(errors="replace")
                out.write(text)
                out.flush()
                before = (len(report.passed), len(report.failed), len(report.skipped), report.booted)
                request = report.feed(text)
                if request:
                    net.send_udp(request.proto, request.port, request.count)
                    what = "PTPv2 Sync frames from sequenceId" if request.proto == "ptp2" else \
                        f"{request.proto} datagrams to port"
                    _echo(f"host: sent {request.count} {what} {request.port}"
                          f" ({net.received} frames from the guest so far)", start)
                after = (len(report.passed), len(report.failed), len(report.skipped), report.booted)
                if before != after or report.panic or text.startswith(("@@INFO", "@@BENCH")):
                    _echo(text, start)
    finally:
        proc.kill()
        proc.wait()
        net.close()
    report_time = time.monotonic() - start
    print(f"guest: boot to results {report_time:.1f} s", flush=True)
    return report


def _echo(text: str, start: float) -> None:
    line = text.rstrip()
    if line:
        print(f"[{time.monotonic() - start:6.1f}] {line}", flush=True)


def finish(report: ConsoleReport) -> int:
    if report.panic:
        print("PANIC in the guest:")
        for line in report.panic[:60]:
            print(f"  {line}")
        if report.running:
            report.failed.append((report.running, "kernel panic"))
    if not report.passed and not report.failed:
        report.failed.append(("(guest)", "no results"))
    i386_line, differ = report.i386_summary()
    report.failed += differ
    for name, why in report.failed:
        print(f"FAILED {name}: {why}")
    print(i386_line)
    print(report.summary(), flush=True)
    return 0 if report.ok() else 1
