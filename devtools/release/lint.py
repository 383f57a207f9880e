"""`invoke pkglint`: build the artifacts from the work tree (dist), check that
pkgsrc/ and the release's pkgsrc tree agree with them (pkglint.py), and run
the current real pkglint on the release's tree (realpkglint.py): 0 errors and
0 warnings on our files, or the task fails.  Without Go, the pkglint source
or a pkgsrc tree, the real pkglint is skipped with the reason.

Apart from pkglint.py so that the checks import nothing that builds: dist
uses the checks, this module uses dist.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from devtools import config
from devtools.release import dist as release
from devtools.release import realpkglint
from devtools.release.pkglint import check_tree
from devtools.release.pkgsrc import (
    KERNEL_PKG, PACKAGES, PY_PKG, kernel_tarball_members, plist_for_kernel, plist_for_wheel, read_wheel,
    sdist_man_pages,
)


def real_pkglint(tree: Path, scratch: Path) -> realpkglint.Result:
    """The real pkglint on the pkgsrc tree `tree`; Unavailable says why it cannot run."""
    pkgsrcdir = config.pkgsrcdir()
    if pkgsrcdir is None or not (pkgsrcdir / "mk" / "bsd.pkg.mk").is_file():
        raise realpkglint.Unavailable("PKGSRCDIR is not set to a pkgsrc tree (pkglint needs one around "
                                      "the packages; see pkgsrc/README.md)")
    return realpkglint.run(realpkglint.build(), pkgsrcdir, tree, PACKAGES, scratch)


def run(project: Path, fix: bool = False) -> None:
    """Exits non-zero with a one-line summary if anything is wrong."""
    version = release.package_version(project)
    epoch = release.source_date_epoch(project)
    repo = project / "pkgsrc"
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sotimestamp-pkglint-") as tmp:
        built = release.build_artifacts(project, version, epoch, Path(tmp))
        if fix:
            for pkg, text in ((PY_PKG, plist_for_wheel(read_wheel(built.art.wheel), sdist_man_pages(built.art.sdist))),
                              (KERNEL_PKG, plist_for_kernel(kernel_tarball_members(built.art.kernel)))):
                (repo / pkg / "PLIST").write_text(text)
                print(f"wrote pkgsrc/{pkg}/PLIST from the release files")
        problems += [f"pkgsrc/{f}" for f in check_tree(repo, built.art, template_ok=True)]
        problems += [f"(release tree) {f}" for f in check_tree(built.tree, built.art)]
        try:
            result = real_pkglint(built.tree, Path(tmp) / "real")
        except realpkglint.Unavailable as e:
            print(f"real pkglint: skipped, {e}")
        else:
            print(f"real pkglint {result.version} on the release's pkgsrc tree: {result.summary or 'no output'}")
            for line in result.ours:
                print(f"  {line}")
            if result.host:
                print(f"  ({len(result.host)} lines about the host tree's own mk/ files, not ours: "
                      f"{result.host[0]}{' ...' if len(result.host) > 1 else ''})")
            problems += [f"(real pkglint) {line}" for line in result.problems]
    for p in problems:
        print(p)
    if problems:
        raise SystemExit(f"pkglint: {len(problems)} problems in the pkgsrc files")
    print(f"pkglint: {', '.join(PACKAGES)} OK against sotimestamp {version} "
          f"({built.art.sdist.name}, {built.art.wheel.name}, {built.art.kernel.name})")
