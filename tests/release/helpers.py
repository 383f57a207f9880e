"""Helpers for the release tests: clean clones of HEAD and their releases.

Everything runs from `git clone` of the committed HEAD, as CI does, so the
work tree's uncommitted state never leaks in. NETBSDSRCDIR is removed from
the environment (the kernel image has its own test with a stand-in tree)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def _head() -> str:
    return subprocess.run(["git", "-C", str(PROJECT), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


# One commit for the whole session, even if HEAD moves while the tests run.
HEAD = _head()


def version() -> str:
    """The package version at the tested commit."""
    import tomllib
    text = subprocess.run(["git", "-C", str(PROJECT), "show", f"{HEAD}:py-sotimestamp/pyproject.toml"],
                          capture_output=True, text=True, check=True).stdout
    return str(tomllib.loads(text)["project"]["version"])


def clone(dest: Path) -> Path:
    """A clean clone of the project at HEAD (as of the start of the session)."""
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(PROJECT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-B", "release-test", HEAD], check=True)
    return dest


def run_invoke(repo: Path, *args: str, env_extra: dict[str, str] | None = None,
               cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NETBSDSRCDIR", "PKGLINT", "PKGSRCDIR")}
    env["SOTIMESTAMP_CACHE"] = str(cache or repo.parent / "cache")
    env["PYTHONPATH"] = str(repo)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)


def sha256s(dist: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(dist.iterdir()) if p.is_file()}


@dataclass(frozen=True)
class Released:
    repo: Path
    dist: Path
    version: str
    stdout: str

    def extract_pkgsrc(self, dest: Path) -> Path:
        with tarfile.open(self.dist / f"pkgsrc-sotimestamp-{self.version}.tar.gz") as tar:
            tar.extractall(dest, filter="data")
        return dest
