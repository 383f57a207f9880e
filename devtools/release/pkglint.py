"""The pkglint checks that need no pkgsrc tree, for our two packages.

Rules as in pkgtools/pkglint (pkglint 5.x/23.x): the canonical variable
order of simple package Makefiles, RCS ids, required files, MESSAGE and
DESCR shape, sorted PLIST; plus what only we can check: PLIST against the
wheel, distinfo against the release tarballs, the Makefile against the
package metadata (version, build backend, dependencies, pure Python).
"""
from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from devtools.release import distinfo
from devtools.release.pkgsrc import (
    KERNEL_PKG, PACKAGES, PCAPNG_PKG, PLIST_RCSID, PY_PKG, Makefile, MkLine, WheelInfo, man_page_path, plist_for_wheel,
    read_wheel, sdist_man_pages,
)

RCSID = distinfo.RCSID
MESSAGE_RULE = "=" * 75

# pkglint's Package.CheckVarorder: (variable, repetition); None = empty line.
ONCE, OPTIONAL, MANY = "once", "optional", "many"
VARORDER: list[tuple[str, str] | None] = [
    ("GITHUB_PROJECT", OPTIONAL), ("GITHUB_TAG", OPTIONAL),
    ("DISTNAME", OPTIONAL), ("PKGNAME", OPTIONAL), ("PKGREVISION", OPTIONAL),
    ("CATEGORIES", ONCE), ("MASTER_SITES", MANY),
    ("GITHUB_PROJECT", OPTIONAL), ("GITHUB_TAG", OPTIONAL),
    ("DIST_SUBDIR", OPTIONAL), ("EXTRACT_SUFX", OPTIONAL), ("DISTFILES", MANY), ("SITES.*", MANY),
    None,
    ("PATCH_SITES", OPTIONAL), ("PATCH_SITE_SUBDIR", OPTIONAL), ("PATCHFILES", OPTIONAL),
    ("PATCH_DIST_ARGS", OPTIONAL), ("PATCH_DIST_STRIP", OPTIONAL), ("PATCH_DIST_CAT", OPTIONAL),
    None,
    ("MAINTAINER", OPTIONAL), ("OWNER", OPTIONAL), ("HOMEPAGE", OPTIONAL), ("COMMENT", ONCE), ("LICENSE", ONCE),
    None,
    ("LICENSE_FILE", OPTIONAL), ("RESTRICTED", OPTIONAL), ("NO_BIN_ON_CDROM", OPTIONAL),
    ("NO_BIN_ON_FTP", OPTIONAL), ("NO_SRC_ON_CDROM", OPTIONAL), ("NO_SRC_ON_FTP", OPTIONAL),
    None,
    ("BROKEN_EXCEPT_ON_PLATFORM", MANY), ("BROKEN_ON_PLATFORM", MANY), ("NOT_FOR_PLATFORM", MANY),
    ("ONLY_FOR_PLATFORM", MANY), ("NOT_FOR_COMPILER", MANY), ("ONLY_FOR_COMPILER", MANY),
    ("NOT_FOR_UNPRIVILEGED", OPTIONAL), ("ONLY_FOR_UNPRIVILEGED", OPTIONAL),
    None,
    ("BUILD_DEPENDS", MANY), ("TOOL_DEPENDS", MANY), ("DEPENDS", MANY),
]
_RELEVANT = {v[0] for v in VARORDER if v is not None}

# PEP 517 backends -> the pkgsrc package wheel.mk wants as TOOL_DEPENDS.
BACKENDS = {
    "setuptools": "../../devel/py-setuptools",
    "flit_core": "../../devel/py-flit-core",
    "hatchling": "../../devel/py-hatchling",
    "poetry-core": "../../devel/py-poetry-core",
}
# Python distribution names -> pkgsrc paths, where pkgsrc's name differs.
PKGSRC_DEPS = {"tqdm": "../../misc/py-tqdm"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Artifacts:
    """The release files the pkgsrc files are checked against."""
    version: str
    sdist: Path
    wheel: Path
    kernel: Path
    build_requires: tuple[str, ...] = ("setuptools",)


class _Report:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.findings: list[Finding] = []

    def add(self, path: Path, line: int | None, message: str) -> None:
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            rel = str(path)
        self.findings.append(Finding(rel, line, message))


# --- generic file rules --------------------------------------------------

def _check_text_lines(rep: _Report, path: Path, text: str, width: int | None) -> None:
    if text and not text.endswith("\n"):
        rep.add(path, None, "the file must end with a newline")
    lines = text.split("\n")[:-1]
    for n, line in enumerate(lines, 1):
        if line != line.rstrip():
            rep.add(path, n, "trailing whitespace")
        if not re.fullmatch(r"[\t -~]*", line):
            rep.add(path, n, "non-ASCII or control characters")
        if width and len(line.expandtabs()) > width:
            rep.add(path, n, f"line longer than {width} characters")
    if lines and lines[-1] == "":
        rep.add(path, len(lines), "trailing empty lines")


def check_varorder(rep: _Report, path: Path, mk: Makefile) -> None:
    """pkglint's CheckVarorder: the 'relevant' variables, when nothing else is
    mixed in between, must follow VARORDER; CATEGORIES and COMMENT are required."""
    lines = mk.lines
    relevant_idx = [i for i, ln in enumerate(lines) if ln.varcanon in _RELEVANT]
    if not relevant_idx:
        rep.add(path, None, "no CATEGORIES, COMMENT or other package variables found")
        return
    first, last = relevant_idx[0], relevant_idx[-1]
    block = lines[first:last + 1]
    for ln in block:
        if not (ln.is_blank or ln.is_comment or ln.varcanon in _RELEVANT):
            rep.add(path, ln.lineno, f"{ln.varname or ln.text.split()[0]} is mixed into the package "
                                     "variables; pkglint then skips the order check: move it below them")
            return
    rest: list[MkLine] = list(block)

    def head() -> str | None:
        while rest and rest[0].is_comment:
            rest.pop(0)
        return rest[0].varcanon if rest and rest[0].varname else None

    ok = True
    for spec in VARORDER:
        if spec is None:
            while rest and (rest[0].is_blank or rest[0].is_comment):
                rest.pop(0)
            continue
        name, rep_kind = spec
        if rep_kind == MANY:
            while head() == name:
                rest.pop(0)
        elif head() == name:
            rest.pop(0)
        elif rep_kind == ONCE and name != "LICENSE":
            ok = False
            break
    if not ok or rest:
        at = rest[0].lineno if rest else block[0].lineno
        rep.add(path, at, "the canonical order of the variables is " + _canonical_order(block))
    if mk.assigned("LICENSE") is None:
        rep.add(path, None, "each package must define its LICENSE")


def _canonical_order(block: list[MkLine]) -> str:
    """pkglint's suggestion: the variables present, in order, with the
    required ones and the empty lines between groups."""
    names: list[str] = []
    for spec in VARORDER:
        if spec is None:
            if names and names[-1] != "empty line":
                names.append("empty line")
            continue
        name, kind = spec
        found = next((ln.varname for ln in block if ln.varcanon == name), None)
        if found and found not in names:
            names.append(found)
        elif not found and kind == ONCE and name not in names:
            names.append(name)
    while names and names[-1] == "empty line":
        names.pop()
    return ", ".join(names)


def _check_alignment(rep: _Report, path: Path, mk: Makefile) -> None:
    """pkglint: in a paragraph of assignments the values start in one column."""
    paragraph: list[MkLine] = []
    for ln in [*mk.lines, MkLine(0, "")]:
        if ln.varname and ln.value:
            paragraph.append(ln)
            continue
        if ln.varname:
            continue  # an empty value does not break the paragraph
        columns = {len(f"{p.varname}{p.op}{p.space}".expandtabs()) for p in paragraph}
        if len(columns) > 1:
            rep.add(path, paragraph[0].lineno,
                    f"values of {', '.join(p.varname or '' for p in paragraph)} should be aligned "
                    f"to column {max(columns) + 1}")
        paragraph = []


def check_makefile_style(rep: _Report, path: Path, mk: Makefile, text: str) -> None:
    first = text.split("\n", 1)[0]
    if first != f"# {RCSID}":
        rep.add(path, 1, f"the first line must be '# {RCSID}'")
    for ln in mk.lines:
        if ln.varname and ln.value and ("\t" not in ln.space or " " in ln.space):
            rep.add(path, ln.lineno, f"align the value of {ln.varname} with tabs, not spaces")
    _check_alignment(rep, path, mk)
    incs = mk.includes()
    if not incs or incs[-1] != "../../mk/bsd.pkg.mk":
        rep.add(path, None, 'the last include must be "../../mk/bsd.pkg.mk"')
    _check_text_lines(rep, path, text, None)


# --- per-file checks ----------------------------------------------------

def check_message(rep: _Report, path: Path, must_say: re.Pattern[str] | None, what: str) -> None:
    text = path.read_text()
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        rep.add(path, None, "MESSAGE too short")
        return
    if lines[0] != MESSAGE_RULE or lines[-1] != MESSAGE_RULE:
        rep.add(path, 1, 'MESSAGE must start and end with a line of exactly 75 "="')
    if lines[1] != RCSID:
        rep.add(path, 2, f"the second line must be the RCS id {RCSID}")
    _check_text_lines(rep, path, text, 80)
    if must_say and not must_say.search(" ".join(lines)):
        rep.add(path, None, f"MESSAGE must say {what}")


def check_descr(rep: _Report, path: Path) -> None:
    text = path.read_text()
    _check_text_lines(rep, path, text, 80)
    lines = text.split("\n")[:-1]
    if len(lines) > 24:
        rep.add(path, 25, "DESCR longer than 24 lines")
    if "${" in text:
        rep.add(path, None, "variables are not expanded in DESCR")
    if not text.strip():
        rep.add(path, None, "DESCR is empty")


def check_plist_file(rep: _Report, path: Path, expected: str | None) -> None:
    text = path.read_text()
    lines = text.split("\n")[:-1]
    if not lines or lines[0] != PLIST_RCSID:
        rep.add(path, 1, f"the first line must be '{PLIST_RCSID}'")
    seen: dict[str, int] = {}
    last = ""
    for n, line in enumerate(lines[1:], 2):
        if line in seen:
            rep.add(path, n, f"duplicate entry {line!r} (first on line {seen[line]})")
        seen.setdefault(line, n)
        if line < last:
            rep.add(path, n, f"{line!r} should be sorted before {last!r}")
        last = line
    _check_text_lines(rep, path, text, None)
    if expected is not None and text != expected:
        want = set(expected.split("\n")[1:-1])
        have = set(lines[1:])
        for entry in sorted(want - have):
            rep.add(path, None, f"missing from PLIST (in the wheel): {entry}")
        for entry in sorted(have - want):
            rep.add(path, None, f"in PLIST but not in the wheel: {entry}")
        if want == have:
            rep.add(path, None, "PLIST entries match the wheel but the file differs (order or header)")


def check_distinfo_file(rep: _Report, path: Path, distfiles: dict[str, bytes] | None,
                        patches: dict[str, bytes], template_ok: bool) -> None:
    text = path.read_text()
    entries, problems = distinfo.parse(text)
    if not entries and template_ok and not problems and text == RCSID + "\n":
        return  # the committed template; invoke release fills it
    if distfiles is None:
        problems = problems or []
        for p in problems:
            rep.add(path, None, p)
        return
    for p in distinfo.verify(text, distfiles, patches):
        rep.add(path, None, p)


# --- the two packages ----------------------------------------------------

def _dep_names(mk: Makefile, var: str) -> list[tuple[str, str]]:
    """(pattern, pkgsrc path) for each dependency in `var`."""
    out = []
    for value in mk.values(var):
        for dep in value.split():
            pattern, _, pkgpath = dep.rpartition(":")
            out.append((pattern, pkgpath))
    return out


def _floor(specifier: SpecifierSet) -> Version | None:
    """The lower bound a specifier set puts on versions (>= or ==), if any."""
    floors = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


def depends_floor_problem(requirement: Requirement, pattern: str) -> str | None:
    """Why a pkgsrc DEPENDS pattern (``${PYPKGPREFIX}-tqdm>=4.60``) does not carry
    the floor of the wheel's requirement (``tqdm>=4.60``), or None.  pkgsrc and
    PEP 440 versions compare alike for plain release numbers, which is all we use."""
    m = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", pattern)
    want = _floor(requirement.specifier)
    have = Version(m.group(1)) if m else None
    if want is None:
        return None
    if have is None:
        return f"DEPENDS {pattern} has no floor, the wheel needs {requirement}"
    if have != want:
        return f"DEPENDS {pattern} floor {have} differs from the wheel's {requirement}"
    return None


def _pyver_tuple(v: str) -> tuple[int, int]:
    return (int(v[0]), int(v[1:]))


def check_python_makefile(rep: _Report, path: Path, mk: Makefile, wheel: WheelInfo | None,
                          art: Artifacts | None) -> None:
    incs = mk.includes()
    if "../../lang/python/wheel.mk" not in incs:
        rep.add(path, None, 'a Python module package must include "../../lang/python/wheel.mk"')
    if "../../lang/python/egg.mk" in incs or "../../lang/python/distutils.mk" in incs:
        rep.add(path, None, "egg.mk/distutils.mk are obsolete: use wheel.mk")
    tools = _dep_names(mk, "TOOL_DEPENDS")
    for backend in (art.build_requires if art else ("setuptools",)):
        want = BACKENDS.get(backend)
        if want and not any(p == want for _, p in tools):
            rep.add(path, None, f"TOOL_DEPENDS must name the build backend {backend} ({want})")
    if not (mk.value("PKGNAME") or "").startswith("${PYPKGPREFIX}-${DISTNAME"):
        rep.add(path, None, "PKGNAME must be ${PYPKGPREFIX}-${DISTNAME...}")
    if "python" not in (mk.value("CATEGORIES") or "").split():
        rep.add(path, None, "CATEGORIES of a Python module include python")
    test = mk.target("do-test")
    if test is None:
        if (mk.value("USE_PYTEST") or "yes") != "yes":
            rep.add(path, None, "no do-test: define it (pytest) or keep wheel.mk's USE_PYTEST=yes")
    elif not any("pytest" in ln.text for ln in test):
        rep.add(path, None, "do-test must run pytest")
    elif not any("py-test" in p for _, p in _dep_names(mk, "TEST_DEPENDS")):
        rep.add(path, None, "an own do-test needs TEST_DEPENDS on ../../devel/py-test")
    if wheel is None:
        return
    langs = mk.assigned("USE_LANGUAGES")
    pure = wheel.purelib and all(t.endswith("-none-any") for t in wheel.tags)
    if pure and (langs is None or langs.value.split("#")[0].strip()):
        rep.add(path, langs.lineno if langs else None, "pure-Python wheel: set 'USE_LANGUAGES=\t# none'")
    if not pure and langs is not None and not langs.value.split("#")[0].strip():
        rep.add(path, langs.lineno, "the wheel has compiled code: USE_LANGUAGES must not be none")
    incompatible = (mk.value("PYTHON_VERSIONS_INCOMPATIBLE") or "").split()
    m = re.search(r">=\s*(\d+)\.(\d+)", wheel.requires_python or "")
    floor = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    for v in incompatible:
        if _pyver_tuple(v) >= floor:
            rep.add(path, None, f"PYTHON_VERSIONS_INCOMPATIBLE lists {v}, but Requires-Python is "
                                f"{wheel.requires_python or 'unset'}")
    deps = _dep_names(mk, "DEPENDS")
    for req in wheel.requires:
        requirement = Requirement(req)
        key = canonicalize_name(requirement.name)
        want = PKGSRC_DEPS.get(key, f"/py-{key}")
        matching = [pattern for pattern, p in deps if p == want or p.endswith(want)]
        if not matching:
            rep.add(path, None, f"DEPENDS lacks {req} (wheel Requires-Dist)")
            continue
        problem = depends_floor_problem(requirement, matching[0])
        if problem:
            rep.add(path, None, problem)
    if wheel.scripts and mk.target("post-install") is not None:
        alt = path.parent / "ALTERNATIVES"
        for script in wheel.scripts:
            line = f"bin/{script} @PREFIX@/bin/{script}-@PYVERSSUFFIX@"
            if not alt.is_file() or line not in alt.read_text().splitlines():
                rep.add(alt, None, f"ALTERNATIVES must have '{line}'")
    post_install = mk.target("post-install")
    for page in sdist_man_pages(art.sdist) if art else []:
        # installed by post-install from the sdist, one per Python version
        source, dest = f"${{WRKSRC}}/man/{page}", man_page_path(page).replace("man/", "${PKGMANDIR}/", 1)
        body = " ".join(ln.text for ln in post_install or [])
        if source not in body or dest not in body:
            rep.add(path, None, f"post-install must install {source} as ${{DESTDIR}}${{PREFIX}}/{dest}")
    # pkg_alternatives(8) makes wrappers in bin/, libexec/ and sbin/ only: a man page line
    # is refused ("wrapper name ... is invalid", seen in the anita guest); the man page
    # stays per Python version, as python3.11(1) does.
    alt = path.parent / "ALTERNATIVES"
    for n, text in enumerate(alt.read_text().splitlines() if alt.is_file() else [], 1):
        wrapper = text.split()[0] if text.split() else ""
        if wrapper and wrapper.rsplit("/", 1)[0] not in ("bin", "libexec", "sbin"):
            rep.add(alt, n, f"pkg_alternatives makes wrappers in bin/, libexec/, sbin/ only, not {wrapper}")


def check_kernel_makefile(rep: _Report, path: Path, mk: Makefile) -> None:
    if "NetBSD-*-*" not in (mk.value("ONLY_FOR_PLATFORM") or "").split():
        rep.add(path, None, "ONLY_FOR_PLATFORM must include NetBSD-*-*")
    if (mk.value("NO_BUILD") or "").lower() != "yes":
        rep.add(path, None, "the kernel package installs sources: NO_BUILD=\tyes")


def _check_distname(rep: _Report, path: Path, mk: Makefile, base: str, version: str | None) -> None:
    distname = mk.value("DISTNAME") or ""
    if not distname.startswith(base + "-"):
        rep.add(path, None, f"DISTNAME must be {base}-VERSION")
    elif version and distname != f"{base}-{version}":
        line = mk.assigned("DISTNAME")
        rep.add(path, line.lineno if line else None,
                f"DISTNAME {distname} does not match the package metadata version {version}")


def check_package(rep: _Report, root: Path, pkg: str, art: Artifacts | None, template_ok: bool) -> None:
    d = root / pkg
    if not d.is_dir():
        rep.add(d, None, "package directory missing")
        return
    required = ["Makefile", "DESCR", "distinfo"] + (["MESSAGE"] if pkg != PCAPNG_PKG else [])
    for name in required:
        if not (d / name).is_file():
            rep.add(d / name, None, "required file missing")
    if not (d / "Makefile").is_file():
        return
    text = (d / "Makefile").read_text()
    mk = Makefile.read(d / "Makefile")
    check_makefile_style(rep, d / "Makefile", mk, text)
    check_varorder(rep, d / "Makefile", mk)
    if (d / "DESCR").is_file():
        check_descr(rep, d / "DESCR")
    has_plist = (d / "PLIST").is_file()
    if not has_plist and mk.assigned("GENERATE_PLIST") is None:
        rep.add(d / "PLIST", None, "required file missing (or set GENERATE_PLIST)")
    version = art.version if art else None
    patches = distinfo.package_patches(d)
    for p, data in patches.items():
        if not data.decode(errors="replace").startswith(RCSID):
            rep.add(d / "patches" / p, 1, f"a patch must start with {RCSID}")
    if pkg == PCAPNG_PKG:
        # Upstream's distfile, not ours: rules and listing only (no wheel or tarball at hand).
        check_python_makefile(rep, d / "Makefile", mk, None, None)
        if has_plist:
            check_plist_file(rep, d / "PLIST", None)
        if (d / "distinfo").is_file():
            name = f"{mk.value('DISTNAME')}.tar.gz"
            for p in distinfo.verify_listing((d / "distinfo").read_text(), [name], patches):
                rep.add(d / "distinfo", None, p)
        return
    if pkg == PY_PKG:
        wheel = read_wheel(art.wheel) if art else None
        if art and wheel and wheel.version != art.version:
            rep.add(art.wheel, None, f"wheel version {wheel.version} is not {art.version}")
        check_python_makefile(rep, d / "Makefile", mk, wheel, art)
        _check_distname(rep, d / "Makefile", mk, "sotimestamp", version)
        if has_plist:
            pages = sdist_man_pages(art.sdist) if art else []
            check_plist_file(rep, d / "PLIST", plist_for_wheel(wheel, pages) if wheel else None)
        if (d / "MESSAGE").is_file():
            check_message(rep, d / "MESSAGE", re.compile(r"sotimestamp\S* probe"), "how to check the kernel: sotimestamp probe")
        distfiles = {art.sdist.name: art.sdist.read_bytes()} if art else None
    else:
        check_kernel_makefile(rep, d / "Makefile", mk)
        _check_distname(rep, d / "Makefile", mk, "sotimestamp-kernel", version)
        if has_plist:
            check_plist_file(rep, d / "PLIST", None)
        if (d / "MESSAGE").is_file():
            check_message(rep, d / "MESSAGE",
                          re.compile(r"(does not|doesn't) change the running kernel|running kernel is not changed", re.I),
                          "that the running kernel is not changed")
        distfiles = {art.kernel.name: art.kernel.read_bytes()} if art else None
        for rel in re.findall(r"\$\{FILESDIR\}/(\S+)", text):
            if not (d / "files" / rel).is_file():
                rep.add(d / "Makefile", None, f"${{FILESDIR}}/{rel} does not exist")
    if (d / "distinfo").is_file():
        check_distinfo_file(rep, d / "distinfo", distfiles, patches, template_ok)


def check_tree(root: Path, art: Artifacts | None, *, template_ok: bool = False) -> list[Finding]:
    """Every problem of the pkgsrc tree at `root` (net/..., sysutils/...)."""
    rep = _Report(root)
    for pkg in PACKAGES:
        check_package(rep, root, pkg, art, template_ok)
    return rep.findings


def check_pkgsrc_tarball(tarball: Path, art: Artifacts, scratch: Path) -> list[Finding]:
    """Unpack the release's pkgsrc tarball and check it with filled distinfo."""
    scratch.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(scratch, filter="data")
    return check_tree(scratch, art, template_ok=False)
