"""`make test` runs ruff and mypy --strict over py-sotimestamp/src (pinned in requirements-dev.txt)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "py-sotimestamp"


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} not installed (pip install -r requirements-dev.txt)")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=PACKAGE, capture_output=True, text=True, timeout=600)


def test_ruff_check_passes() -> None:
    res = _run("ruff", "check", "src")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_passes() -> None:
    res = _run("mypy", "--strict", "src")
    assert res.returncode == 0, res.stdout + res.stderr
