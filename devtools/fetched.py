"""Downloaded inputs: one directory in the cache, each file checked against its pin."""
from __future__ import annotations

import hashlib
from pathlib import Path

from devtools import config
from devtools.tree import TreeError


def directory() -> Path:
    path = config.cache() / "downloads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check(path: Path, expected: str, algorithm: str = "sha256") -> Path:
    """``path`` if its digest is the pinned one; otherwise a one-line error
    (nothing is deleted: the file may be worth a look)."""
    actual = digest(path, algorithm)
    if actual != expected:
        name = algorithm.upper().replace("SHA", "SHA-")  # SHA-256, as the pins are written
        raise TreeError(f"{path}: {name} {actual}, expected {expected}; delete it to fetch again")
    return path
