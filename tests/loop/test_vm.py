"""The loop end to end on a real tree: patch, kernel, boot, in-guest tests.

Needs NETBSDSRCDIR (the pinned tree), the cross tools (`invoke tools`) and
QEMU >= 8.1; each missing piece skips with a one-line reason (as in CI).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import config

PROJECT = config.PROJECT
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", re.M)


def _why_not() -> str | None:
    src = os.environ.get("NETBSDSRCDIR")
    if not src:
        return "NETBSDSRCDIR not set: no NetBSD tree here (see docs/loop.md: getting the NetBSD tree)"
    if not (Path(src) / "sys" / "sys" / "param.h").exists():
        return f"NETBSDSRCDIR={src} is not a NetBSD tree"
    if not (config.tooldir() / "bin" / "x86_64--netbsd-gcc").exists():
        return f"no cross tools in {config.tooldir()} (run `invoke tools`)"
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return "no qemu-system-x86_64 (run `invoke setup`)"
    out = subprocess.run([qemu, "-device", "help"], capture_output=True, text=True).stdout
    if '"igb"' not in out:
        return "QEMU has no igb device (need QEMU >= 8.1: `invoke setup`)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def invoke(*args: str, timeout: int = 3000) -> subprocess.CompletedProcess[str]:
    inv = Path(sys.executable).parent / "invoke"
    return subprocess.run([str(inv) if inv.exists() else "invoke", *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=timeout)


def summary(out: str) -> tuple[int, int]:
    found = SUMMARY.findall(out)
    assert found, f"no summary line in:\n{out[-3000:]}"
    assert out.strip().splitlines()[-1] == f"{found[-1][0]} passed, {found[-1][1]} failed" + \
        (f", {found[-1][2]} skipped" if found[-1][2] else ""), "summary is not the last line"
    return int(found[-1][0]), int(found[-1][1])


@pytest.fixture(scope="module")
def clean_run() -> tuple[subprocess.CompletedProcess[str], tuple[int, int]]:
    res = invoke("patch", "kernel", "vmtest")
    print(res.stdout[-5000:])
    return res, summary(res.stdout)


def test_patch_kernel_vmtest_passes(clean_run) -> None:
    res, (passed, failed) = clean_run
    assert failed == 0, res.stdout[-4000:]
    assert res.returncode == 0
    timestamp_cases = [l for l in res.stdout.splitlines() if l.split("] ")[-1].startswith("ok ")
                       and re.search("timestamp|tstamp", l)]
    assert len(timestamp_cases) >= 4


def test_extra_cases_are_counted_and_a_failure_is_named(clean_run, tmp_path: Path) -> None:
    _, (base_passed, _) = clean_run
    (tmp_path / "x_pass.c").write_text(
        '#include <stdio.h>\nint main(void) { printf("ok extra:one_pass\\n"); return 0; }\n')
    (tmp_path / "x_fail.c").write_text(
        '#include <stdio.h>\nint main(void) { printf("FAIL extra:two_fail: deliberate\\n"); return 1; }\n')
    res = invoke("vmtest", "--extra", str(tmp_path))
    passed, failed = summary(res.stdout)
    assert res.returncode != 0
    assert "FAILED extra:two_fail: deliberate" in res.stdout
    assert (passed, failed) == (base_passed + 1, 1)


def test_broken_patch_leaves_the_real_tree_byte_identical(tmp_path: Path) -> None:
    """Our series with its last patch corrupted: refused, the tree's files unchanged."""
    import hashlib
    from devtools.loop.series import Series, apply_all
    from devtools.loop.tree import TreeError

    src = Path(os.environ["NETBSDSRCDIR"])
    broken = tmp_path / "sys"
    shutil.copytree(config.project_sys(), broken)
    series = Series.load(broken)
    if not series.patches:
        pytest.skip("the series has no patches yet")
    last = series.patches[-1].path
    lines = last.read_text().splitlines(keepends=True)
    # change every context/removed line of the last hunk so it cannot match
    for i in range(len(lines) - 1, 0, -1):
        if lines[i].startswith((" ", "-")) and not lines[i].startswith("---"):
            lines[i] = lines[i][0] + "sotimestamp-broken " + lines[i][1:]
        if lines[i].startswith("@@"):
            break
    last.write_text("".join(lines))

    def digest() -> dict[str, str]:
        out = {}
        for rel in Series.load(broken).all_tree_paths():
            p = src / rel
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "absent"
        return out

    before = digest()
    with pytest.raises(TreeError):
        apply_all(src, broken, say=lambda *_: None)
    assert digest() == before
