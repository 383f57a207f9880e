"""Downloaded inputs: one directory in the cache, each file checked against its pin.

Downloads go through requests (streaming, so a large file never sits in memory;
timeouts and HTTP errors as exceptions) with a tqdm bar on a terminal.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import requests
from tqdm import tqdm

from devtools import config
from devtools.loop.tree import TreeError


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


def download(url: str, expected: str, *, name: str | None = None, timeout: float = 120) -> Path:
    """The pinned file at ``url`` in the download directory, fetched once.

    It is streamed into ``NAME.part`` and renamed only when whole and matching
    its pin, so an interrupted or wrong download never passes for the file."""
    dest = directory() / (name or url.rsplit("/", 1)[-1])
    if dest.exists():
        return check(dest, expected)
    part = dest.with_name(dest.name + ".part")
    print(f"downloading {url}", file=sys.stderr, flush=True)
    try:
        with requests.get(url, stream=True, timeout=timeout) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("Content-Length", 0)) or None
            with open(part, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                                               disable=not sys.stderr.isatty()) as bar:
                for chunk in resp.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (requests.RequestException, OSError) as e:
        part.unlink(missing_ok=True)
        raise TreeError(f"download {url}: {e}") from None
    try:
        check(part, expected)
    except TreeError:
        part.unlink()
        raise TreeError(f"download {url}: not the pinned file (digest differs); nothing kept") from None
    part.rename(dest)
    return dest
