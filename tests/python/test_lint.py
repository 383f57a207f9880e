"""`make test` runs ruff and mypy --strict over py-sotimestamp/src (pinned in requirements-dev.txt)."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# The package's sources: py-sotimestamp/ next to tests/python in the repository; in the sdist
# (pkgsrc's do-test runs the suite in WRKSRC) tests/ sits inside the package itself.
CANDIDATES = (HERE.parent.parent / "py-sotimestamp", HERE.parent)
PACKAGE = next((p for p in CANDIDATES if (p / "pyproject.toml").is_file() and (p / "src" / "sotimestamp").is_dir()),
               None)


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if PACKAGE is None:
        pytest.skip(f"no package sources beside {HERE} (looked in {', '.join(map(str, CANDIDATES))})")
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} not installed (pip install -r requirements-dev.txt)")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=PACKAGE, capture_output=True, text=True, timeout=600)


def test_ruff_check_passes() -> None:
    res = _run("ruff", "check", "src")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_passes() -> None:
    res = _run("mypy", "--strict", "src")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_sdist_layout_finds_its_sources(tmp_path: Path) -> None:
    """pkgsrc's do-test runs the suite in WRKSRC, the unpacked sdist, where tests/ sits inside the
    package: test_lint.py looked for ../py-sotimestamp there (2 failures whenever ruff or mypy was installed)."""
    if PACKAGE is None or importlib.util.find_spec("ruff") is None:
        pytest.skip("needs the package sources and ruff")
    wrksrc = tmp_path / "sotimestamp-0.0.0"
    (wrksrc / "tests").mkdir(parents=True)
    (wrksrc / "pyproject.toml").write_bytes((PACKAGE / "pyproject.toml").read_bytes())
    shutil.copytree(PACKAGE / "src" / "sotimestamp", wrksrc / "src" / "sotimestamp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(Path(__file__), wrksrc / "tests" / "test_lint.py")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "ruff",
                          "tests/test_lint.py"], cwd=wrksrc, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "1 passed" in res.stdout, res.stdout + res.stderr
