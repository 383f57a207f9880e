"""Byte-reproducible archives: tar.gz with sorted members, zeroed owners and
fixed mtimes, gzip without name or time; and the same normalisation for the
sdist and wheel that setuptools writes (it stamps the build time into the
sdist's tar and gzip headers and takes file modes from the checkout)."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

# Zip cannot store dates before 1980.
_ZIP_EPOCH_MIN = 315532800


def _mode(executable: bool, is_dir: bool) -> int:
    return 0o755 if (is_dir or executable) else 0o644


def _tarinfo(name: str, size: int, mtime: int, *, is_dir: bool = False, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.size = 0 if is_dir else size
    info.mtime = mtime
    info.mode = _mode(executable, is_dir)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar_gz(dest: Path, members: Iterable[tuple[str, bytes, bool]], mtime: int) -> None:
    """Write `dest` from (archive path, content, executable) triples.

    Members are sorted by path, parent directories are added explicitly,
    owners are root/0 with empty names, every mtime is `mtime`, and the gzip
    header carries neither a file name nor a time, so equal input gives equal
    bytes on any machine.
    """
    files = {name: (data, executable) for name, data, executable in members}
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = sorted([(d, True) for d in dirs] + [(f, False) for f in files])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, is_dir in entries:
            if is_dir:
                tar.addfile(_tarinfo(name + "/", 0, mtime, is_dir=True))
            else:
                data, executable = files[name]
                tar.addfile(_tarinfo(name, len(data), mtime, executable=executable), io.BytesIO(data))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        # filename="" and mtime=0: no name, no time in the gzip header.
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())


def write_gz(dest: Path, data: bytes) -> None:
    """gzip one file with no name and no time in the header."""
    with open(dest, "wb") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(data)


def tree_members(root: Path, prefix: str, files: Iterable[Path]) -> list[tuple[str, bytes, bool]]:
    """(prefix/relative path, content, executable) for `files` under `root`."""
    members = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        members.append((f"{prefix}/{rel}" if prefix else rel, path.read_bytes(), os.access(path, os.X_OK)))
    return members


def read_tar_gz(path: Path) -> list[tuple[str, bytes, bool]]:
    """The regular files of a tar.gz as (path, content, executable)."""
    out = []
    with tarfile.open(path, "r:gz") as tar:
        for info in tar.getmembers():
            if info.isfile():
                f = tar.extractfile(info)
                assert f is not None
                out.append((info.name, f.read(), bool(info.mode & 0o111)))
    return out


def normalize_sdist(path: Path, mtime: int) -> None:
    """Rewrite an sdist in place with `write_tar_gz`'s rules."""
    members = read_tar_gz(path)
    path.unlink()
    write_tar_gz(path, members, mtime)


def normalize_wheel(path: Path, mtime: int) -> None:
    """Rewrite a wheel in place: same member order (setuptools puts
    .dist-info last, RECORD at the very end), fixed dates, modes 644/755.
    RECORD hashes only file contents, which are unchanged."""
    stamp = time.gmtime(max(mtime, _ZIP_EPOCH_MIN))[:6]
    with zipfile.ZipFile(path) as zin:
        items = [(info, zin.read(info)) for info in zin.infolist()]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for old, data in items:
            executable = bool((old.external_attr >> 16) & 0o111)
            info = zipfile.ZipInfo(old.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (0o100000 | _mode(executable, False)) << 16
            zout.writestr(info, data)
    tmp.replace(path)
