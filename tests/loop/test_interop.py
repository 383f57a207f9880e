"""`invoke interop`'s sources: a clone outside the project, its pinned tag
checked against the pinned commit and tree before anything is exported; no
clone is a one-line skip.  On a throw-away git repository."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools.loop import interop
from devtools.loop.tree import TreeError


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _upstream(cache: Path) -> interop.Pin:
    """A clone where interop looks for 'demo', with tag demo-1.0; its true pin."""
    work = cache.parent / "work"
    work.mkdir()
    _git(work, "init", "-q")
    (work / "configure.ac").write_text("AC_INIT([demo], [1.0])\n")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    _git(work, "tag", "demo-1.0")
    pin = interop.Pin("demo", "https://example.invalid/demo", "demo-1.0",
                      _git(work, "rev-parse", "demo-1.0^{commit}"), _git(work, "rev-parse", "demo-1.0^{tree}"))
    subprocess.run(["git", "clone", "-q", "--mirror", str(work), str(pin.clone())], check=True)
    return pin


def test_no_clone_is_a_one_line_skip(cache: Path) -> None:
    with pytest.raises(interop.Skip) as info:
        interop.source(interop.LIBPCAP)
    message = str(info.value)
    assert "\n" not in message
    assert f"git clone --mirror {interop.LIBPCAP.url} {cache}/interop/git/libpcap.git" in message


def test_pinned_tag_is_exported(cache: Path) -> None:
    pin = _upstream(cache)
    out = interop.source(pin)
    assert out == cache / "interop" / "src" / "demo-1.0"
    assert (out / "configure.ac").read_text() == "AC_INIT([demo], [1.0])\n"


def test_a_moved_tag_exports_nothing(cache: Path) -> None:
    pin = _upstream(cache)
    wrong = interop.Pin(pin.name, pin.url, pin.tag, pin.commit, "0" * 40)
    with pytest.raises(TreeError, match="pinned"):
        interop.source(wrong)
    assert not (cache / "interop" / "src" / "demo-1.0").exists()
