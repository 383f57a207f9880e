"""A test run without tshark, capinfos or mandoc says so in one line, and fails under CI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    test = tmp_path / "test_needs_a_tool.py"
    test.write_text("from conftest import need_tool\n\n"
                    "def test_it():\n    need_tool('sotimestamp-no-such-tool')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q",
                           "--rootdir", str(tmp_path), str(test)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_a_missing_tool_is_one_loud_line(tmp_path: Path) -> None:
    res = _pytest(tmp_path, None)
    assert res.returncode == 0 and "1 skipped" in res.stdout, res.stdout
    lines = [line for line in res.stdout.splitlines() if line.startswith("MISSING TOOLS")]
    assert lines == ["MISSING TOOLS: skipped the checks against sotimestamp-no-such-tool (1 tests); "
                     "devtools/install-test-deps.sh installs them"], res.stdout


def test_a_missing_tool_fails_under_ci(tmp_path: Path) -> None:
    res = _pytest(tmp_path, "true")
    assert res.returncode == 1 and "1 failed" in res.stdout, res.stdout
    assert "sotimestamp-no-such-tool not installed and CI is set" in res.stdout
