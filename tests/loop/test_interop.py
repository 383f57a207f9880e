"""`invoke interop`'s sources: a clone outside the project, its pinned tag
checked against the pinned commit and tree before anything is exported; no
clone is a one-line skip.  On a throw-away git repository."""
from __future__ import annotations

import shutil
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


def test_exports_are_named_for_their_program() -> None:
    assert interop.LIBPCAP.release == "libpcap-1.10.6"
    assert interop.CHRONY.release == "chrony-4.8"  # chrony's tags are bare versions


def test_no_chrony_clone_is_a_one_line_skip(cache: Path) -> None:
    with pytest.raises(interop.Skip) as info:
        interop.source(interop.CHRONY)
    assert "\n" not in str(info.value)
    assert f"git clone --mirror {interop.CHRONY.url} {cache}/interop/git/chrony.git" in str(info.value)


def test_unknown_program_is_refused() -> None:
    with pytest.raises(TreeError, match="--only ntpd: not one of tcpdump, chrony"):
        interop.run(Path("/nonexistent"), 60, "SOTSTEST", only="ntpd")


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler (cc)")
def test_hidden_timestampns(tmp_path: Path) -> None:
    """The so_timestamp build's <sys/socket.h> wrapper hides SO_TIMESTAMPNS
    (and leaves the rest): checked with the host's compiler and headers,
    whose <sys/socket.h> defines it as ours does."""
    assert interop.sees_timestampns("cc", [], tmp_path)
    flags = interop.hide_timestampns(tmp_path / "hide")
    assert not interop.sees_timestampns("cc", flags, tmp_path)
    probe = tmp_path / "rest.c"
    probe.write_text("#include <sys/socket.h>\nint x = SO_TIMESTAMP + SCM_RIGHTS;\n"
                     "#ifdef SCM_TIMESTAMPNS\n#error SCM_TIMESTAMPNS\n#endif\n")
    subprocess.run(["cc", *flags, "-fsyntax-only", str(probe)], check=True)


def test_without_any_clone_nothing_boots(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each program without its clone is one skip line, before anything is
    built; with none the guest is not booted and the exit status is 0."""
    assert interop.run(cache / "no-tree", 60, "SOTSTEST") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(interop.PROGRAMS)
    assert all(line.startswith("skip interop: ") for line in lines)
    assert not (cache / "interop" / "src").exists()
