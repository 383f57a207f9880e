"""Bridges over two gaps of the pinned tree snapshot that stop `build.sh release`.

They are not our change to NetBSD, so they are not in sys/series; like the
series they are applied by a task, recorded outside the tree, and reversible:

1. external/public-domain/sqlite/dist/sqlite3.c is absent from the snapshot
   (one of its eight missing large blobs).  The SQLite amalgamation shipped in
   the npm package better-sqlite3 (pinned below by version and SHA-256) builds
   in its place, with its own sqlite3.h/sqlite3ext.h, once the library is built
   single-threaded (-DSQLITE_THREADSAFE=0: the 2015 lib Makefile does not link
   libpthread, and the newer amalgamation needs it otherwise).
2. The set lists name ./etc/weekly.d/whatisdb, which the snapshot lacks: that
   one is a build flag (SLOPPY_FLIST=yes), not a file, see devtools/installed/sets.py.

A tree that has its own sqlite3.c (a complete checkout) needs no bridge and
gets none.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

from devtools import config
from devtools.installed import fetched
from devtools.loop.tree import TreeError

SQLITE_NPM = "better-sqlite3"
SQLITE_NPM_VERSION = "13.2.0"  # ships SQLite 3.54.1
SQLITE_NPM_SHA256 = "40487589df3496f2ee0079d22b73c63fccebe7db0e8ee9a2c42421861e321e0b"
SQLITE_URL = f"https://registry.npmjs.org/{SQLITE_NPM}/-/{SQLITE_NPM}-{SQLITE_NPM_VERSION}.tgz"

SQLITE_DIST = "external/public-domain/sqlite/dist"
SQLITE_FILES = ("sqlite3.c", "sqlite3.h", "sqlite3ext.h")  # from package/deps/sqlite3/
SQLITE_LIB_MAKEFILE = "external/public-domain/sqlite/lib/Makefile"
MAKEFILE_ANCHOR = "CFLAGS+=\t-DNDEBUG\n"
MAKEFILE_LINE = "CFLAGS+=\t-DSQLITE_THREADSAFE=0\t# sotimestamp bridge: no libpthread here\n"


def _record_dir(src: Path) -> Path:
    return config.cache() / f"bridges-{src.name}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sqlite_tarball() -> Path:
    """The pinned npm tarball, downloaded once into the cache and checked."""
    return fetched.download(SQLITE_URL, SQLITE_NPM_SHA256)


def _amalgamation() -> dict[str, bytes]:
    with tarfile.open(sqlite_tarball()) as tar:
        out = {}
        for name in SQLITE_FILES:
            member = tar.extractfile(f"package/deps/sqlite3/{name}")
            if member is None:
                raise TreeError(f"{SQLITE_URL}: no package/deps/sqlite3/{name}")
            out[name] = member.read()
        return out


def applied(src: Path) -> bool:
    return (_record_dir(src) / "record.json").exists()


def needed(src: Path) -> bool:
    return not (src / SQLITE_DIST / "sqlite3.c").exists() or applied(src)


def apply(src: Path) -> None:
    """Write the bridge files; the originals go to the record first."""
    if applied(src):
        _verify(src)
        print("bridges: already applied", flush=True)
        return
    if (src / SQLITE_DIST / "sqlite3.c").exists():
        print("bridges: the tree has its own sqlite3.c, none needed", flush=True)
        return
    makefile = src / SQLITE_LIB_MAKEFILE
    text = makefile.read_text()
    if text.count(MAKEFILE_ANCHOR) != 1 or MAKEFILE_LINE in text:
        raise TreeError(f"{makefile}: not the pinned tree's file (no single '-DNDEBUG' line); left untouched")
    new_files = _amalgamation()
    record_dir = _record_dir(src)
    orig = record_dir / "orig"
    if record_dir.exists():
        shutil.rmtree(record_dir)
    orig.mkdir(parents=True)
    record: dict[str, dict[str, str | None]] = {}
    targets = {f"{SQLITE_DIST}/{n}": data for n, data in new_files.items()}
    targets[SQLITE_LIB_MAKEFILE] = text.replace(MAKEFILE_ANCHOR, MAKEFILE_ANCHOR + MAKEFILE_LINE).encode()
    for rel in targets:  # save every original before touching any
        path = src / rel
        if path.exists():
            (orig / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, orig / rel)
    for rel, data in targets.items():
        path = src / rel
        record[rel] = {"original": rel if path.exists() else None, "written": _sha256(data)}
        path.write_bytes(data)
    (record_dir / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    print(f"bridges: SQLite {SQLITE_NPM}-{SQLITE_NPM_VERSION} amalgamation and "
          f"-DSQLITE_THREADSAFE=0 in {src} (reverse: invoke unbridge)", flush=True)


def _verify(src: Path) -> dict[str, dict[str, str | None]]:
    record = json.loads((_record_dir(src) / "record.json").read_text())
    changed = [rel for rel, r in record.items()
               if not (src / rel).exists() or _sha256((src / rel).read_bytes()) != r["written"]]
    if changed:
        raise TreeError(f"bridged files changed since they were written: {', '.join(changed)}; "
                        "left untouched (restore them or remove the record in "
                        f"{_record_dir(src)})")
    return record


def reverse(src: Path) -> None:
    if not applied(src):
        print("bridges: none applied", flush=True)
        return
    record = _verify(src)
    orig = _record_dir(src) / "orig"
    for rel, r in record.items():
        if r["original"] is None:
            (src / rel).unlink()
        else:
            shutil.copy2(orig / rel, src / rel)
    shutil.rmtree(_record_dir(src))
    print(f"bridges: reversed ({len(record)} files restored or removed)", flush=True)
