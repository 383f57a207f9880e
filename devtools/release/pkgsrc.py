"""What our pkgsrc files are made of: the packages, the one reader of pkgsrc
Makefiles and PLISTs (the release checks and the anita guest's packages both
use it), and the PLISTs the release files imply:
- net/py-sotimestamp, from the wheel (lang/python/wheel.mk conventions:
  `${PYSITELIB}/...`, `${PYSITELIB}/${WHEEL_INFODIR}/...`, a `.pyc`/`.pyo`
  line per module, console scripts as bin/NAME-${PYVERSSUFFIX} (wheel.mk's
  PY_RENAME_BINARIES), and the sdist's man pages as
  man/manN/NAME-${PYVERSSUFFIX}.N, which post-install puts there;
  pkg_alternatives links scripts only);
- sysutils/sotimestamp-kernel-patches, from the kernel tarball (its
  do-install: the command, its man page, the series, README, ABI.md, LICENSE).
"""
from __future__ import annotations

import configparser
import email.parser
import re
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PY_PKG = "net/py-sotimestamp"
KERNEL_PKG = "sysutils/sotimestamp-kernel-patches"
KERNEL_PKGBASE = "sotimestamp-kernel-patches"
# A dependency pkgsrc lacks; its distfile is upstream's (distinfo committed).
PCAPNG_PKG = "net/py-pcapng"
OURS = (PY_PKG, KERNEL_PKG)
PACKAGES = (PY_PKG, KERNEL_PKG, PCAPNG_PKG)
PLIST_RCSID = "@comment $" + "NetBSD$"

_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_.*${}-]*?)\s*([+?:!]?=)(\s*)(.*)$")
_TARGET = re.compile(r"^([A-Za-z0-9_.${}-]+):(?!=)")


@dataclass(frozen=True)
class MkLine:
    """One logical Makefile line (continuations joined) and where it starts."""
    lineno: int
    text: str
    varname: str | None = None
    op: str | None = None
    space: str = ""
    value: str = ""

    @property
    def varcanon(self) -> str | None:
        """NAME.param -> NAME.*, as pkglint's Varcanon."""
        if self.varname is None:
            return None
        return re.sub(r"\..*$", ".*", self.varname)

    @property
    def is_blank(self) -> bool:
        return self.text.strip() == ""

    @property
    def is_comment(self) -> bool:
        return self.text.lstrip().startswith("#")


def _strip_comment(value: str) -> str:
    return re.sub(r"(?<!\\)#.*$", "", value).strip()


def parse_makefile(text: str) -> list[MkLine]:
    out: list[MkLine] = []
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    i = 0
    while i < len(physical):
        start = i
        parts = [physical[i]]
        while parts[-1].endswith("\\") and i + 1 < len(physical):
            i += 1
            parts.append(physical[i])
        i += 1
        joined = " ".join(p[:-1].rstrip() if p.endswith("\\") else p for p in parts)
        m = _ASSIGN.match(joined) if not joined.startswith(("\t", "#", ".")) else None
        if m:
            out.append(MkLine(start + 1, joined, m.group(1), m.group(2), m.group(3), m.group(4)))
        else:
            out.append(MkLine(start + 1, joined))
    return out


@dataclass(frozen=True)
class Makefile:
    lines: list[MkLine]

    @classmethod
    def read(cls, path: Path) -> "Makefile":
        return cls(parse_makefile(path.read_text()))

    def values(self, name: str) -> list[str]:
        """All values assigned to `name`, comments stripped, in order."""
        return [_strip_comment(ln.value) for ln in self.lines if ln.varname == name]

    def value(self, name: str) -> str | None:
        vals = self.values(name)
        return " ".join(v for v in vals if v) if vals else None

    def assigned(self, name: str) -> MkLine | None:
        return next((ln for ln in self.lines if ln.varname == name), None)

    def all_values(self) -> dict[str, list[str]]:
        """NAME -> its values in order (``+=`` appends, ``=`` starts again)."""
        out: dict[str, list[str]] = {}
        for ln in self.lines:
            if ln.varname:
                value = ln.value.strip() if ln.value.startswith('"') else _strip_comment(ln.value)
                out[ln.varname] = (out.get(ln.varname, []) if ln.op == "+=" else []) + [value]
        return out

    def includes(self) -> list[str]:
        return [m.group(1) for ln in self.lines if (m := re.match(r'^\.\s*include\s+"([^"]+)"', ln.text))]

    def target(self, name: str) -> list[MkLine] | None:
        """The recipe lines of target `name`, or None if it is not defined."""
        for idx, ln in enumerate(self.lines):
            m = _TARGET.match(ln.text)
            if m and m.group(1) == name:
                recipe = []
                for nxt in self.lines[idx + 1:]:
                    if not nxt.text.startswith("\t"):
                        break
                    recipe.append(nxt)
                return recipe
        return None


def set_distname_version(text: str, base: str, version: str) -> str:
    """The Makefile text with DISTNAME set to BASE-VERSION."""
    new, n = re.subn(rf"^(DISTNAME=\s*){re.escape(base)}-\S+$", rf"\g<1>{base}-{version}", text, flags=re.M)
    if n != 1:
        raise ValueError(f"no single 'DISTNAME= {base}-...' line")
    return new


@dataclass(frozen=True)
class WheelInfo:
    name: str
    version: str
    files: list[str]
    dist_info: str
    scripts: list[str]
    requires: list[str]
    requires_python: str | None
    purelib: bool
    tags: list[str]


def read_wheel(path: Path) -> WheelInfo:
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if not n.endswith("/"))
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        meta = email.parser.Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
        wheel = email.parser.Parser().parsestr(zf.read(f"{dist_info}/WHEEL").decode())
        scripts: list[str] = []
        if f"{dist_info}/entry_points.txt" in names:
            ep = configparser.ConfigParser()
            ep.read_string(zf.read(f"{dist_info}/entry_points.txt").decode())
            if ep.has_section("console_scripts"):
                scripts = sorted(ep.options("console_scripts"))
    requires = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    return WheelInfo(
        name=meta["Name"], version=meta["Version"], files=names, dist_info=dist_info,
        scripts=scripts, requires=requires, requires_python=meta.get("Requires-Python"),
        purelib=(wheel.get("Root-Is-Purelib", "").strip().lower() == "true"),
        tags=wheel.get_all("Tag") or [],
    )


def sdist_man_pages(sdist: Path) -> list[str]:
    """The man pages an sdist carries, NAME.N directly under its man/ directory."""
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    return sorted(Path(n).name for n in names if re.fullmatch(r"[^/]+/man/[^/]+\.[1-9]", n))


def man_page_path(page: str, versioned: bool = True) -> str:
    """Where net/py-sotimestamp installs man page NAME.N (relative to PREFIX): one per Python
    version, as the console script (``versioned=False``: the plain name)."""
    name, section = page.rsplit(".", 1)
    return f"man/man{section}/{name}-${{PYVERSSUFFIX}}.{section}" if versioned else f"man/man{section}/{page}"


def plist_for_wheel(info: WheelInfo, man_pages: Iterable[str] = ()) -> str:
    """The PLIST text net/py-sotimestamp must have for this wheel and these man pages."""
    entries: set[str] = {man_page_path(page) for page in man_pages}
    for name in info.files:
        top, _, rest = name.partition("/")
        if top == info.dist_info:
            entries.add(f"${{PYSITELIB}}/${{WHEEL_INFODIR}}/{rest}")
            continue
        entries.add(f"${{PYSITELIB}}/{name}")
        if name.endswith(".py"):
            entries.add(f"${{PYSITELIB}}/{name}c")
            entries.add(f"${{PYSITELIB}}/{name}o")
    for script in info.scripts:
        entries.add(f"bin/{script}-${{PYVERSSUFFIX}}")
    return "\n".join([PLIST_RCSID, *sorted(entries)]) + "\n"


def plist_entries(text: str) -> list[str]:
    """The file lines of a PLIST (no comments, no blank lines); other @ commands are refused."""
    entries = []
    for line in text.splitlines():
        if not line or line.startswith("@comment"):
            continue
        if line.startswith("@"):
            raise ValueError(f"PLIST command {line.split()[0]} not handled here")
        entries.append(line)
    return entries


# sysutils/sotimestamp-kernel-patches: distfile path -> installed path (PREFIX-relative).
KERNEL_COMMAND = ("tools/sotimestamp_kernel.py", "sbin/sotimestamp-kernel")
KERNEL_MAN = ("tools/sotimestamp-kernel.8", "man/man8/sotimestamp-kernel.8")
KERNEL_DOCS = ("tools/README", "ABI.md", "LICENSE")
KERNEL_SERIES_DIR = "share/sotimestamp-kernel"
KERNEL_DOC_DIR = f"share/doc/{KERNEL_PKGBASE}"


def kernel_install_map(members: Iterable[str]) -> dict[str, str]:
    """Where the kernel package's do-install puts each file of the kernel
    tarball (members: paths below its top directory)."""
    names = set(members)
    out = {src: dest for src, dest in (KERNEL_COMMAND, KERNEL_MAN) if src in names}
    out.update({doc: f"{KERNEL_DOC_DIR}/{Path(doc).name}" for doc in KERNEL_DOCS if doc in names})
    out.update({m: f"{KERNEL_SERIES_DIR}/{m}" for m in names
                if m == "series" or m.startswith(("patches/", "new/"))})
    return out


def kernel_tarball_members(tarball: Path) -> list[str]:
    """Regular files of the kernel tarball, without its top directory."""
    with tarfile.open(tarball) as tar:
        return sorted(m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile() and "/" in m.name)


def plist_for_kernel(members: Iterable[str]) -> str:
    """The PLIST sysutils/sotimestamp-kernel-patches must have for this kernel tarball."""
    return "\n".join([PLIST_RCSID, *sorted(kernel_install_map(members).values())]) + "\n"
