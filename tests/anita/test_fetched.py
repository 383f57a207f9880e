"""Downloaded inputs are used only with their pinned digest."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from devtools import fetched
from devtools.tree import TreeError


def test_check_passes_the_pinned_file_and_names_a_changed_one(tmp_path: Path) -> None:
    f = tmp_path / "a.tar.gz"
    f.write_bytes(b"x" * (3 << 20))  # more than one read chunk
    assert fetched.check(f, hashlib.sha256(f.read_bytes()).hexdigest()) == f
    assert fetched.check(f, hashlib.sha512(f.read_bytes()).hexdigest(), "sha512") == f
    with pytest.raises(TreeError, match=r"a\.tar\.gz: SHA-256 .*, expected 00; delete it to fetch again"):
        fetched.check(f, "00")
    assert f.exists()  # left for a look


def test_directory_is_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path / "c"))
    assert fetched.directory() == tmp_path / "c" / "downloads" and fetched.directory().is_dir()
