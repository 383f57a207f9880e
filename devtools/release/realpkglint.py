"""The real pkglint, current version, on our packages in a pkgsrc tree.

Built from rillig/pkglint at a pinned tag (PKGLINT_SRC: a git repository of
it, fetched outside the project; the commit and its tree are checked) with
Go >= 1.23 (Debian: golang-1.23-go from bookworm-backports) into the cache;
nothing of it enters the project.  Its one module dependency outside the
standard library, golang.org/x/crypto/blake2s (with x/sys/cpu), comes from
Debian's golang-golang-x-crypto-dev and golang-golang-x-sys-dev as a vendor
directory, so the build needs no Go module proxy.

pkglint needs a pkgsrc tree around the packages (PKGSRCDIR): a scratch root
of symlinks into it, our packages copied in.  Categories and top-level files
are copied, not linked (pkglint takes a symlinked category Makefile for a
missing one).  Infrastructure files current pkglint reads and an older tree
lacks are written as small stand-ins (STAND_INS), each saying so.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools import config

VERSION = "23.21.1"
TAG = f"v{VERSION}"
COMMIT = "6ce04559a1e714bb8381da2b90292392acc36b32"  # rillig/pkglint v23.21.1
TREE = "1378eb3fa5fd829a15b340d753bd4bd011140fba"    # its tree: what is built
GO_MIN = (1, 23)
GO_CANDIDATES = ("go", "/usr/lib/go-1.24/bin/go", "/usr/lib/go-1.23/bin/go")
DEBIAN_GOCODE = Path("/usr/share/gocode/src")
VENDORED = ("golang.org/x/crypto/blake2s", "golang.org/x/sys/cpu")
# vendor/modules.txt: the versions v23/go.mod requires, so `go build -mod=vendor` accepts the tree.
MODULES_TXT = """# github.com/kr/pretty v0.2.1
## explicit; go 1.12
# github.com/kr/text v0.1.0
## explicit
# golang.org/x/crypto v0.39.0
## explicit; go 1.23.0
golang.org/x/crypto/blake2s
# golang.org/x/sys v0.33.0
## explicit; go 1.23.0
golang.org/x/sys/cpu
# gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c
## explicit
"""

_MARK = "# Stand-in written by sotimestamp devtools/release/realpkglint.py:"
# Files current pkglint reads that a 2017 pkgsrc tree lacks (path -> text).
STAND_INS = {
    "lang/nodejs/nodeversion.mk": f"# $NetBSD$\n{_MARK} pkglint reads the\n"
                                  "# accepted Node.js versions from here.\nNODE_VERSIONS_ACCEPTED=\t24 22 20\n",
    "lang/python/wheel.mk": f"""# $NetBSD$
{_MARK} the variables and
# targets of current pkgsrc's lang/python/wheel.mk that pkglint looks at.
PY_RENAME_BINARIES?=\t# empty
WHEEL_NAME?=\t${{DISTNAME}}
PLIST_SUBST+=\tWHEEL_INFODIR=${{WHEEL_NAME}}.dist-info
TOOL_DEPENDS+=\t${{PYPKGPREFIX}}-build>=0:../../devel/py-build
TOOL_DEPENDS+=\t${{PYPKGPREFIX}}-installer>=0.7.0nb1:../../misc/py-installer
.if !target(do-install)
do-install:
.  for f in ${{PY_RENAME_BINARIES}}
\tcd ${{DESTDIR}}${{PREFIX}}/bin && ${{MV}} ${{f}} ${{f}}-${{PYVERSSUFFIX}} || ${{TRUE}}
.  endfor
.endif
USE_PYTEST?=\tyes
.if !target(do-test) && ${{USE_PYTEST:Myes}}
TEST_DEPENDS+=\t${{PYPKGPREFIX}}-test-[0-9]*:../../devel/py-test
do-test:
\tcd ${{WRKSRC}} && ${{SETENV}} ${{TEST_ENV}} pytest-${{PYVERSSUFFIX}}
.endif
.include "../../lang/python/extension.mk"
""",
}
# Packages of current pkgsrc that our Makefiles or wheel.mk name and a 2017 tree lacks.
STAND_IN_PACKAGES = ("misc/py-tqdm", "devel/py-build", "misc/py-installer")


def _stand_in_package(pkgpath: str) -> str:
    name = pkgpath.split("/")[1]
    return (f"# $NetBSD$\n{_MARK} {pkgpath} exists in\n"
            f"# current pkgsrc; pkglint only checks that DEPENDS name a package.\n\n"
            f"DISTNAME=\t{name}-0\nCATEGORIES=\t{pkgpath.split('/')[0]}\n\n"
            f"MAINTAINER=\tpkgsrc-users@NetBSD.org\nCOMMENT=\tStand-in for {pkgpath}\nLICENSE=\tmit\n\n"
            '.include "../../mk/bsd.pkg.mk"\n')


class Unavailable(Exception):
    """Why the real pkglint cannot run here: one line."""


def _go_version(go: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60).stdout
    except (FileNotFoundError, PermissionError):
        return None
    m = re.search(r"go(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def find_go() -> str:
    for go in GO_CANDIDATES:
        version = _go_version(go)
        if version and version >= GO_MIN:
            return go
    raise Unavailable(f"no Go >= {GO_MIN[0]}.{GO_MIN[1]} (invoke setup installs golang-1.23-go "
                      "from bookworm-backports)")


def binary_path() -> Path:
    return config.cache() / f"pkglint-{VERSION}" / "pkglint"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    flag = "--git-dir" if (repo / "HEAD").is_file() else "-C"
    return subprocess.run(["git", flag, str(repo), *args], capture_output=True)


def verify_source(repo: Path) -> None:
    """The tag names the pinned commit, and the commit has the pinned tree."""
    tag = _git(repo, "rev-parse", f"{TAG}^{{commit}}")
    if tag.returncode != 0:
        raise Unavailable(f"PKGLINT_SRC={repo}: no tag {TAG} (a git repository of github:rillig/pkglint?)")
    if tag.stdout.decode().strip() != COMMIT:
        raise Unavailable(f"PKGLINT_SRC={repo}: {TAG} is {tag.stdout.decode().strip()}, pinned {COMMIT}")
    tree = _git(repo, "rev-parse", f"{COMMIT}^{{tree}}").stdout.decode().strip()
    if tree != TREE:
        raise Unavailable(f"PKGLINT_SRC={repo}: commit {COMMIT[:12]} has tree {tree}, pinned {TREE}")


def build() -> Path:
    """The pinned pkglint in the cache, built once; Unavailable says why not."""
    binary = binary_path()
    if binary.is_file():
        return binary
    repo = config.pkglint_src()
    if repo is None:
        raise Unavailable("PKGLINT_SRC is not set (a git repository of github:rillig/pkglint; "
                          "see pkgsrc/README.md)")
    go = find_go()
    verify_source(repo)
    missing = [pkg for pkg in VENDORED if not (DEBIAN_GOCODE / pkg).is_dir()]
    if missing:
        raise Unavailable(f"no {', '.join(missing)} in {DEBIAN_GOCODE} "
                          "(apt-get install golang-golang-x-crypto-dev golang-golang-x-sys-dev)")
    work = binary.parent
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    archive = _git(repo, "archive", "--format=tar", COMMIT, "v23")
    if archive.returncode != 0:
        raise Unavailable(f"git archive {COMMIT[:12]} failed: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryFile() as f:
        f.write(archive.stdout)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(work / "src", filter="data")
    src = work / "src" / "v23"
    main = src / "pkglint.go"
    main.write_text(main.read_text().replace('"@VERSION@"', f'"{VERSION}"').replace('"@BMAKE@"', '"bmake"'))
    for pkg in VENDORED:
        dest = src / "vendor" / pkg
        shutil.copytree(DEBIAN_GOCODE / pkg, dest, ignore=shutil.ignore_patterns("*_test.go"))
    (src / "vendor" / "modules.txt").write_text(MODULES_TXT)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "GOPATH": str(work / "gopath"),
           "GOCACHE": str(work / "gocache"), "GOFLAGS": "-mod=vendor", "GOTOOLCHAIN": "local", "GOPROXY": "off"}
    log = work / "build.log"
    with open(log, "w") as out:
        rc = subprocess.run([go, "build", "-o", str(binary), "./cmd/pkglint"], cwd=src, env=env,
                            stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not binary.is_file():
        raise Unavailable(f"go build of pkglint {VERSION} failed (exit {rc}); see {log}")
    return binary


# --- the tree around our packages ---------------------------------------------

def overlay(pkgsrcdir: Path, ours: Path, packages: tuple[str, ...], scratch: Path) -> Path:
    """A pkgsrc root in `scratch`: directories linked into `pkgsrcdir`, files and
    the categories of `packages` copied, our packages copied in, stand-ins added."""
    root = scratch / "pkgsrc"
    root.mkdir(parents=True)
    own_dirs = {p.split("/")[0] for p in packages} | {p.split("/")[0] for p in STAND_INS} \
        | {p.split("/")[0] for p in STAND_IN_PACKAGES}
    own_subdirs = {"/".join(p.split("/")[:2]) for p in STAND_INS}

    def mirror(src: Path, dest: Path, depth: int) -> None:
        for entry in sorted(src.iterdir()):
            rel = entry.relative_to(pkgsrcdir).as_posix()
            if entry.is_dir() and (rel in own_dirs or rel in own_subdirs) and depth < 2:
                (dest / entry.name).mkdir()
                mirror(entry, dest / entry.name, depth + 1)
            elif entry.is_dir():
                (dest / entry.name).symlink_to(entry)
            else:
                shutil.copy2(entry, dest / entry.name)

    mirror(pkgsrcdir, root, 0)
    for rel, text in STAND_INS.items():
        target = root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    for pkgpath in STAND_IN_PACKAGES:
        if not (root / pkgpath).exists():
            (root / pkgpath).mkdir(parents=True)
            (root / pkgpath / "Makefile").write_text(_stand_in_package(pkgpath))
    for pkg in packages:
        shutil.copytree(ours / pkg, root / pkg)
    return root


@dataclass(frozen=True)
class Result:
    version: str
    ours: list[str]      # diagnostics about our package files
    host: list[str]      # about the host tree's infrastructure files (not ours)
    summary: str
    exit_status: int

    @property
    def problems(self) -> list[str]:
        return [ln for ln in self.ours if ln.startswith(("ERROR:", "WARN:", "NOTE:", "FATAL:"))]


def classify(output: str, packages: tuple[str, ...]) -> tuple[list[str], list[str], str]:
    """pkglint's lines split into ours, the host tree's, and its summary line."""
    ours, host, summary = [], [], ""
    for line in output.splitlines():
        m = re.match(r"^(ERROR|WARN|NOTE|FATAL): (\S+?)(:\d+)?: ", line)
        if not m:
            if re.search(r"errors?|warnings?|notes?|Looks fine", line) and not line.startswith("("):
                summary = line
            continue
        path = m.group(2)
        if any(path.startswith(pkg + "/") or path == pkg for pkg in packages) and "/../../" not in path:
            ours.append(line)
        else:
            host.append(line)
    return ours, host, summary


def run(binary: Path, pkgsrcdir: Path, ours: Path, packages: tuple[str, ...], scratch: Path) -> Result:
    root = overlay(pkgsrcdir, ours, packages, scratch)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    proc = subprocess.run([str(binary), "-Wall", *packages], cwd=root, capture_output=True, text=True)
    mine, host, summary = classify(proc.stdout + proc.stderr, packages)
    return Result(version, mine, host, summary, proc.returncode)
