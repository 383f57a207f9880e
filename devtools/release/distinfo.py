"""pkgsrc distinfo in today's format: for each distfile `BLAKE2s`, `SHA512`
and `Size`; for each file in patches/ a `SHA1` computed, as pkgsrc does,
over the patch with every line containing the RCS id marker removed."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

RCSID = "$" + "NetBSD$"
_MARKER = ("$" + "NetBSD").encode()
DISTFILE_ALGORITHMS = ("BLAKE2s", "SHA512", "Size")
_LINE = re.compile(r"^(\w+) \(([^)]+)\) = (.+?)( bytes)?$")


def _digest(alg: str, data: bytes) -> str:
    if alg == "BLAKE2s":
        return hashlib.blake2s(data).hexdigest()  # 256-bit, as pkgsrc's digest(1)
    if alg == "SHA512":
        return hashlib.sha512(data).hexdigest()
    if alg == "SHA1":
        return hashlib.sha1(data).hexdigest()
    raise ValueError(f"unknown algorithm {alg}")


def patch_sha1(data: bytes) -> str:
    """SHA1 of a pkgsrc patch without its RCS id lines (mk/checksum, pkglint)."""
    kept = b"".join(line for line in data.splitlines(keepends=True) if _MARKER not in line)
    return hashlib.sha1(kept).hexdigest()


def distfile_lines(name: str, data: bytes) -> list[str]:
    return [
        f"BLAKE2s ({name}) = {_digest('BLAKE2s', data)}",
        f"SHA512 ({name}) = {_digest('SHA512', data)}",
        f"Size ({name}) = {len(data)} bytes",
    ]


def render(distfiles: dict[str, bytes], patches: dict[str, bytes]) -> str:
    """The distinfo text: RCS id, a blank line, distfiles then patches, each sorted."""
    lines = [RCSID, ""]
    for name in sorted(distfiles):
        lines += distfile_lines(name, distfiles[name])
    for name in sorted(patches):
        lines.append(f"SHA1 ({name}) = {patch_sha1(patches[name])}")
    return "\n".join(lines) + "\n"


def package_patches(pkgdir: Path) -> dict[str, bytes]:
    patchdir = pkgdir / "patches"
    if not patchdir.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(patchdir.glob("patch-*"))}


@dataclass(frozen=True)
class Entry:
    algorithm: str
    filename: str
    value: str
    lineno: int


def parse(text: str) -> tuple[list[Entry], list[str]]:
    """Entries of a distinfo and the format problems found on the way."""
    problems: list[str] = []
    lines = text.splitlines()
    if not lines or lines[0] != RCSID:
        problems.append(f"line 1: expected the RCS id {RCSID!r}")
    if len(lines) > 1 and lines[1] != "":
        problems.append("line 2: expected an empty line after the RCS id")
    entries = []
    for n, line in enumerate(lines[2:], start=3):
        m = _LINE.match(line)
        if not m:
            problems.append(f"line {n}: invalid line {line!r}")
            continue
        alg, name, value, bytes_suffix = m.groups()
        if (alg == "Size") != bool(bytes_suffix):
            problems.append(f"line {n}: Size lines end in ' bytes', others do not")
        entries.append(Entry(alg, name, value, n))
    return entries, problems


def verify_listing(text: str, names: list[str], patches: dict[str, bytes]) -> list[str]:
    """Format problems, and whether exactly `names` are listed with all of
    DISTFILE_ALGORITHMS (for distfiles not at hand: hashes unchecked)."""
    entries, problems = parse(text)
    by_file: dict[str, list[str]] = {}
    for e in entries:
        by_file.setdefault(e.filename, []).append(e.algorithm)
    for name in names:
        algs = tuple(by_file.pop(name, []))
        if algs != DISTFILE_ALGORITHMS:
            problems.append(f"{name}: expected {', '.join(DISTFILE_ALGORITHMS)}, got {', '.join(algs) or 'nothing'}")
    for name, data in sorted(patches.items()):
        if by_file.pop(name, []) != ["SHA1"]:
            problems.append(f"{name}: expected one SHA1 line for the patch")
        elif not any(e.filename == name and e.value == patch_sha1(data) for e in entries):
            problems.append(f"SHA1 of {name} differs from the patch file")
    for name in sorted(by_file):
        problems.append(f"{name}: listed in distinfo but not a distfile or patch of this package")
    return problems


def verify(text: str, distfiles: dict[str, bytes], patches: dict[str, bytes]) -> list[str]:
    """Problems of a distinfo against the real distfiles and patches; [] if it matches."""
    entries, problems = parse(text)
    by_file: dict[str, list[Entry]] = {}
    for e in entries:
        by_file.setdefault(e.filename, []).append(e)
    for name, data in sorted(distfiles.items()):
        got = by_file.pop(name, [])
        algs = tuple(e.algorithm for e in got)
        if algs != DISTFILE_ALGORITHMS:
            problems.append(f"{name}: expected {', '.join(DISTFILE_ALGORITHMS)}, got {', '.join(algs) or 'nothing'}")
            continue
        for e in got:
            want = str(len(data)) if e.algorithm == "Size" else _digest(e.algorithm, data)
            if e.value != want:
                problems.append(f"line {e.lineno}: {e.algorithm} of {name} is {e.value}, the file has {want}")
    for name, data in sorted(patches.items()):
        got = by_file.pop(name, [])
        if [e.algorithm for e in got] != ["SHA1"]:
            problems.append(f"{name}: expected one SHA1 line for the patch")
        elif got[0].value != patch_sha1(data):
            problems.append(f"line {got[0].lineno}: SHA1 of {name} differs from the patch file")
    for name in sorted(by_file):
        problems.append(f"{name}: listed in distinfo but not a distfile or patch of this package")
    if problems:
        return problems
    if text != render(distfiles, patches):
        problems.append("entries are not in the canonical order (distfiles, then patches, each sorted)")
    return problems
