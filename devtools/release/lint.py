"""`invoke pkglint`: build the artifacts from the work tree (dist), check
pkgsrc/ and the release's pkgsrc tree against them (pkglint), and run the
real pkglint on the release tree when PKGLINT and PKGSRCDIR are set.

Apart from pkglint.py so that the checks import nothing that builds: dist
uses the checks, this module uses dist.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from devtools.release import dist as release
from devtools.release.pkglint import RCSID, check_tree
from devtools.release.pkgsrc import PACKAGES, PY_PKG, plist_for_wheel, read_wheel, sdist_man_pages


STUB_WHEEL_MK = f"""# {RCSID}
# Stand-in for lang/python/wheel.mk of current pkgsrc, written by
# devtools/release/lint.py so an older pkgsrc tree can host the check.
.include "../../lang/python/pyversion.mk"
USE_PYTEST?=	yes
WHEEL_NAME?=	${{DISTNAME}}
PLIST_SUBST+=	WHEEL_INFODIR=${{WHEEL_NAME}}.dist-info
"""


def _overlay(pkgsrcdir: Path, ours: Path, scratch: Path) -> Path:
    """A pkgsrc root in `scratch`: symlinks into `pkgsrcdir`, our packages
    copied in, and a stub wheel.mk if the tree predates it."""
    root = scratch / "pkgsrc"
    root.mkdir(parents=True)
    real_dirs = {pkg.split("/")[0] for pkg in PACKAGES} | {"lang"}
    for entry in sorted(pkgsrcdir.iterdir()):
        if entry.name in real_dirs and entry.is_dir():
            (root / entry.name).mkdir()
            for child in sorted(entry.iterdir()):
                if not (entry.name == "lang" and child.name == "python"):
                    (root / entry.name / child.name).symlink_to(child)
        else:
            (root / entry.name).symlink_to(entry)
    py = root / "lang" / "python"
    py.mkdir(parents=True, exist_ok=True)
    for child in sorted((pkgsrcdir / "lang" / "python").glob("*")):
        (py / child.name).symlink_to(child)
    if not (py / "wheel.mk").exists():
        (py / "wheel.mk").write_text(STUB_WHEEL_MK)
    for pkg in PACKAGES:
        shutil.copytree(ours / pkg, root / pkg)
    return root


def run_real_pkglint(binary: str, pkgsrcdir: Path, ours: Path, scratch: Path) -> tuple[str, str, int]:
    """(version, output, exit status) of the real pkglint on our packages."""
    root = _overlay(pkgsrcdir, ours, scratch)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    proc = subprocess.run([binary, "-Wall", *PACKAGES], cwd=root, capture_output=True, text=True)
    return version, (proc.stdout + proc.stderr).strip(), proc.returncode


def run(project: Path, fix: bool = False) -> None:
    """Build the artifacts from the work tree, check pkgsrc/ and the release's
    pkgsrc tree against them; run the real pkglint when PKGLINT and PKGSRCDIR
    are set. Exits non-zero with a one-line summary if anything is wrong."""
    version = release.package_version(project)
    epoch = release.source_date_epoch(project)
    repo = project / "pkgsrc"
    with tempfile.TemporaryDirectory(prefix="sotimestamp-pkglint-") as tmp:
        built = release.build_artifacts(project, version, epoch, Path(tmp))
        if fix:
            plist = repo / PY_PKG / "PLIST"
            plist.write_text(plist_for_wheel(read_wheel(built.art.wheel), sdist_man_pages(built.art.sdist)))
            print(f"wrote {plist.relative_to(project)} from {built.art.wheel.name}")
        findings = [f"pkgsrc/{f}" for f in check_tree(repo, built.art, template_ok=True)]
        findings += [f"(release tree) {f}" for f in check_tree(built.tree, built.art)]
        binary, pkgsrcdir = os.environ.get("PKGLINT"), os.environ.get("PKGSRCDIR")
        if binary and pkgsrcdir:
            ver, output, rc = run_real_pkglint(binary, Path(pkgsrcdir), built.tree, Path(tmp) / "real")
            print(f"--- real pkglint {ver} on the release tree (exit {rc}; its rules are that version's):")
            print(output)
        else:
            print("real pkglint: not run (set PKGLINT=binary and PKGSRCDIR=pkgsrc tree; see pkgsrc/README.md)")
    for f in findings:
        print(f)
    if findings:
        raise SystemExit(f"pkglint: {len(findings)} problems in the pkgsrc files")
    print(f"pkglint: {', '.join(PACKAGES)} OK against sotimestamp {version} "
          f"({built.art.sdist.name}, {built.art.wheel.name}, {built.art.kernel.name})")
