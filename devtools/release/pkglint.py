"""What pkglint cannot see: our pkgsrc files against the release files.

The real pkglint (devtools/release/realpkglint.py, run by `invoke pkglint`)
checks the pkgsrc rules: file layout, variable order and alignment, RCS ids,
PLIST order, distinfo format, DESCR, obsolete files.  It cannot know what is
inside our distfiles, so this checks only that:
- each PLIST is what the wheel or the kernel tarball installs;
- each distinfo holds the hashes of the release's tarballs;
- the Makefiles agree with the package metadata: DISTNAME's version, the
  build backend in TOOL_DEPENDS, DEPENDS for each Requires-Dist with its
  floor, USE_LANGUAGES for a pure wheel, PYTHON_VERSIONS_INCOMPATIBLE against
  Requires-Python, PY_RENAME_BINARIES and ALTERNATIVES for each console script,
  the man pages post-install takes from the sdist;
- every ${WRKSRC} file the kernel package's Makefile names is in its tarball.
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
    KERNEL_PKG, PACKAGES, PY_PKG, Makefile, WheelInfo, kernel_tarball_members, man_page_path, plist_for_kernel,
    plist_for_wheel, read_wheel, sdist_man_pages,
)

RCSID = distinfo.RCSID

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


def check_plist_file(rep: _Report, path: Path, expected: str, source: str) -> None:
    text = path.read_text()
    if text == expected:
        return
    want = set(expected.split("\n")[1:-1])
    have = {ln for ln in text.split("\n")[1:] if ln}
    for entry in sorted(want - have):
        rep.add(path, None, f"missing from PLIST (in the {source}): {entry}")
    for entry in sorted(have - want):
        rep.add(path, None, f"in PLIST but not in the {source}: {entry}")
    if want == have:
        rep.add(path, None, f"PLIST entries match the {source} but the file differs (order or header)")


def check_distinfo_file(rep: _Report, path: Path, distfiles: dict[str, bytes] | None,
                        patches: dict[str, bytes], template_ok: bool) -> None:
    text = path.read_text()
    entries, problems = distinfo.parse(text)
    if not entries and template_ok and not problems and text == RCSID + "\n":
        return  # the committed template; invoke release fills it
    if distfiles is None:
        return
    for p in distinfo.verify(text, distfiles, patches):
        rep.add(path, None, p)


# --- Makefiles against the metadata ---------------------------------------------

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


def check_python_makefile(rep: _Report, path: Path, mk: Makefile, wheel: WheelInfo, art: Artifacts) -> None:
    tools = _dep_names(mk, "TOOL_DEPENDS")
    for backend in art.build_requires:
        want = BACKENDS.get(backend)
        if want and not any(p == want for _, p in tools):
            rep.add(path, None, f"TOOL_DEPENDS must name the build backend {backend} ({want})")
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
    renamed = (mk.value("PY_RENAME_BINARIES") or "").split()
    alt = path.parent / "ALTERNATIVES"
    alt_lines = alt.read_text().splitlines() if alt.is_file() else []
    for script in wheel.scripts:
        if script not in renamed:
            rep.add(path, None, f"PY_RENAME_BINARIES must list the console script {script} "
                                "(one per Python version, as the PLIST says)")
        line = f"bin/{script} @PREFIX@/bin/{script}-@PYVERSSUFFIX@"
        if line not in alt_lines:
            rep.add(alt, None, f"ALTERNATIVES must have '{line}'")
    for script in renamed:
        if script not in wheel.scripts:
            rep.add(path, None, f"PY_RENAME_BINARIES lists {script}, which the wheel does not install")
    post_install = mk.target("post-install")
    for page in sdist_man_pages(art.sdist):
        # installed by post-install from the sdist, one per Python version
        source, dest = f"${{WRKSRC}}/man/{page}", man_page_path(page).replace("man/", "${PKGMANDIR}/", 1)
        body = " ".join(ln.text for ln in post_install or [])
        if source not in body or dest not in body:
            rep.add(path, None, f"post-install must install {source} as ${{DESTDIR}}${{PREFIX}}/{dest}")
    # pkg_alternatives(8) makes wrappers in bin/, libexec/ and sbin/ only: a man page line
    # is refused ("wrapper name ... is invalid", seen in the anita guest); the man page
    # stays per Python version, as python3.11(1) does.
    for n, text in enumerate(alt_lines, 1):
        wrapper = text.split()[0] if text.split() else ""
        if wrapper and wrapper.rsplit("/", 1)[0] not in ("bin", "libexec", "sbin"):
            rep.add(alt, n, f"pkg_alternatives makes wrappers in bin/, libexec/, sbin/ only, not {wrapper}")


def check_kernel_makefile(rep: _Report, path: Path, mk: Makefile, members: list[str]) -> None:
    """Every ${WRKSRC} file the Makefile names (do-install, REPLACE_PYTHON,
    SUBST_FILES are relative to WRKSRC) is in the kernel tarball."""
    text = " ".join(ln.text for ln in mk.lines)
    named = set(re.findall(r"\$\{WRKSRC\}/([\w./-]+)", text))
    for var in ("REPLACE_PYTHON", "SUBST_FILES.paths"):
        named.update(w for v in mk.values(var) for w in v.split())
    for rel in sorted(named):
        if rel not in members and not any(m.startswith(rel.rstrip("/") + "/") for m in members):
            rep.add(path, None, f"${{WRKSRC}}/{rel} is not in the kernel tarball")
    for recipe in mk.target("do-install") or []:
        for word in re.findall(r"cd \$\{WRKSRC\} && \$\{PAX\} -rw ([^$]+)\$", recipe.text + "$"):
            for rel in word.split():
                if not any(m == rel or m.startswith(rel + "/") for m in members):
                    rep.add(path, None, f"do-install copies {rel}, which is not in the kernel tarball")


def _check_distname(rep: _Report, path: Path, mk: Makefile, base: str, version: str) -> None:
    distname = mk.value("DISTNAME") or ""
    if not distname.startswith(base + "-"):
        rep.add(path, None, f"DISTNAME must be {base}-VERSION")
    elif distname != f"{base}-{version}":
        line = mk.assigned("DISTNAME")
        rep.add(path, line.lineno if line else None,
                f"DISTNAME {distname} does not match the package metadata version {version}")


def check_package(rep: _Report, root: Path, pkg: str, art: Artifacts, template_ok: bool) -> None:
    d = root / pkg
    if not (d / "Makefile").is_file():
        rep.add(d / "Makefile", None, "package Makefile missing")
        return
    mk = Makefile.read(d / "Makefile")
    patches = distinfo.package_patches(d)
    if pkg == PY_PKG:
        wheel = read_wheel(art.wheel)
        if wheel.version != art.version:
            rep.add(art.wheel, None, f"wheel version {wheel.version} is not {art.version}")
        check_python_makefile(rep, d / "Makefile", mk, wheel, art)
        _check_distname(rep, d / "Makefile", mk, "sotimestamp", art.version)
        if (d / "PLIST").is_file():
            check_plist_file(rep, d / "PLIST", plist_for_wheel(wheel, sdist_man_pages(art.sdist)), "wheel")
        distfiles = {art.sdist.name: art.sdist.read_bytes()}
    elif pkg == KERNEL_PKG:
        members = kernel_tarball_members(art.kernel)
        check_kernel_makefile(rep, d / "Makefile", mk, members)
        _check_distname(rep, d / "Makefile", mk, "sotimestamp-kernel", art.version)
        if (d / "PLIST").is_file():
            check_plist_file(rep, d / "PLIST", plist_for_kernel(members), "kernel tarball")
        distfiles = {art.kernel.name: art.kernel.read_bytes()}
    else:
        return  # net/py-pcapng: upstream's distfile; the real pkglint checks its files
    if (d / "distinfo").is_file():
        check_distinfo_file(rep, d / "distinfo", distfiles, patches, template_ok)


def check_tree(root: Path, art: Artifacts, *, template_ok: bool = False) -> list[Finding]:
    """Every disagreement of the pkgsrc tree at `root` (net/..., sysutils/...) with the release files."""
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
