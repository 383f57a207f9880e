"""The pkgsrc files: distinfo and PLIST against the released artifacts, and
the checker (invoke pkglint) passing on ours and failing on broken copies."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.release import lint, pkglint
from devtools.release.distinfo import patch_sha1
from tests.release.helpers import Released, clone, run_invoke

PY = "net/py-sotimestamp"
KERNEL = "sysutils/netbsd-sotimestamp-kernel"


def _artifacts(rel: Released) -> pkglint.Artifacts:
    v = rel.version
    return pkglint.Artifacts(v, rel.dist / f"sotimestamp-{v}.tar.gz", rel.dist / f"sotimestamp-{v}-py3-none-any.whl",
                             rel.dist / f"sotimestamp-kernel-{v}.tar.gz")


@pytest.fixture()
def tree(released: Released, tmp_path: Path) -> Path:
    """A fresh copy of the released pkgsrc tree (filled distinfo)."""
    return released.extract_pkgsrc(tmp_path / "pkgsrc")


def test_distinfo_matches_the_tarballs(released: Released, tree: Path) -> None:
    """Recomputed here with hashlib, independently of devtools."""
    v = released.version
    for pkg, distfile in ((PY, f"sotimestamp-{v}.tar.gz"), (KERNEL, f"sotimestamp-kernel-{v}.tar.gz")):
        data = (released.dist / distfile).read_bytes()
        assert (tree / pkg / "distinfo").read_text() == (
            "$NetBSD$\n\n"
            f"BLAKE2s ({distfile}) = {hashlib.blake2s(data).hexdigest()}\n"
            f"SHA512 ({distfile}) = {hashlib.sha512(data).hexdigest()}\n"
            f"Size ({distfile}) = {len(data)} bytes\n")


def test_committed_plist_matches_the_wheel(released: Released, tree: Path) -> None:
    """Every wheel file is in the committed PLIST (modules with .pyc/.pyo),
    the console script under its versioned name, and nothing else."""
    with zipfile.ZipFile(released.dist / f"sotimestamp-{released.version}-py3-none-any.whl") as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        scripts = re.findall(r"^(\S+)\s*=", zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode(), re.M)
    want = set()
    for n in names:
        top, _, rest = n.partition("/")
        if top.endswith(".dist-info"):
            want.add(f"${{PYSITELIB}}/${{WHEEL_INFODIR}}/{rest}")
        else:
            want |= {f"${{PYSITELIB}}/{n}"} | ({f"${{PYSITELIB}}/{n}c", f"${{PYSITELIB}}/{n}o"} if n.endswith(".py") else set())
    want |= {f"bin/{s}-${{PYVERSSUFFIX}}" for s in scripts}
    with tarfile.open(released.dist / f"sotimestamp-{released.version}.tar.gz") as tar:  # what post-install adds
        pages = [n.rsplit("/", 1)[1] for n in tar.getnames() if re.fullmatch(r"[^/]+/man/[^/]+\.1", n)]
    assert pages == ["sotimestamp.1"]
    want |= {f"man/man1/{p[:-2]}-${{PYVERSSUFFIX}}.1" for p in pages}
    committed = (released.repo / "pkgsrc" / PY / "PLIST").read_text().splitlines()
    assert committed[0] == "@comment $NetBSD$"
    assert "man/man1/sotimestamp-${PYVERSSUFFIX}.1" in committed  # per Python version, as python3.11(1)
    assert set(committed[1:]) == want, "run `invoke pkglint --fix` to rewrite the PLIST"
    assert committed[1:] == sorted(committed[1:])
    assert (tree / PY / "PLIST").read_text() == (released.repo / "pkgsrc" / PY / "PLIST").read_text()


def test_checker_passes_on_the_release_tree(released: Released, tree: Path) -> None:
    assert [str(f) for f in pkglint.check_tree(tree, _artifacts(released))] == []


def test_checker_passes_on_the_committed_files(released: Released) -> None:
    assert [str(f) for f in pkglint.check_tree(released.repo / "pkgsrc", _artifacts(released), template_ok=True)] == []


def _edit(rel: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        p = root / rel
        new = fn(p.read_text())
        assert new != p.read_text(), f"mutation of {rel} changed nothing"
        p.write_text(new)
    return apply


def _sub(rel: str, pattern: str, repl: str) -> Callable[[Path], None]:
    return _edit(rel, lambda s: re.sub(pattern, repl, s, count=1, flags=re.M))


def _delete(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def _add_patch(root: Path) -> None:
    (root / PY / "patches").mkdir()
    (root / PY / "patches" / "patch-setup.py").write_text("$NetBSD$\n\n--- a\n+++ b\n")


def _flip_hex(s: str) -> str:
    return re.sub(r"^(SHA512 \([^)]*\) = )(.)", lambda m: m.group(1) + ("0" if m.group(2) != "0" else "1"), s,
                  count=1, flags=re.M)


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    # Makefile
    "makefile-varorder": (_edit(f"{PY}/Makefile", lambda s: s.replace("CATEGORIES=\tnet python\n", "")
                                  .replace("COMMENT=", "CATEGORIES=\tnet python\nCOMMENT=")), "canonical order"),
    "makefile-rcsid": (_sub(f"{PY}/Makefile", r"^# \$NetBSD\$", "# Makefile"), "first line"),
    "makefile-no-wheel-mk": (_sub(f"{PY}/Makefile", r'^\.include "../../lang/python/wheel.mk"\n', ""), "wheel.mk"),
    "makefile-no-backend": (_sub(f"{PY}/Makefile", r"^TOOL_DEPENDS\+=.*\n", ""), "build backend"),
    "makefile-languages": (_sub(f"{PY}/Makefile", r"^USE_LANGUAGES=.*$", "USE_LANGUAGES=\tc"), "USE_LANGUAGES"),
    "makefile-spaces": (_sub(f"{PY}/Makefile", r"^COMMENT=\t", "COMMENT= "), "tabs"),
    "makefile-version": (_sub(f"{PY}/Makefile", r"^(DISTNAME=\s*sotimestamp-).*$", r"\g<1>9.9.9"), "does not match"),
    "makefile-no-test": (_sub(f"{PY}/Makefile", r"pytest-\$\{PYVERSSUFFIX\}", "true"), "pytest"),
    "makefile-dep-missing": (_sub(f"{PY}/Makefile", r"^DEPENDS\+=.*tqdm.*\n", ""), "DEPENDS lacks"),
    "makefile-incompatible": (_sub(f"{PY}/Makefile", r"^(USE_LANGUAGES=.*)$", "\\1\nPYTHON_VERSIONS_INCOMPATIBLE=\t313"),
                              "PYTHON_VERSIONS_INCOMPATIBLE"),
    "kernel-platform": (_sub(f"{KERNEL}/Makefile", r"^ONLY_FOR_PLATFORM=.*\n", ""), "ONLY_FOR_PLATFORM"),
    "kernel-filesdir": (_delete(f"{KERNEL}/files/SOTIMESTAMP"), "FILESDIR"),
    # required files, DESCR, MESSAGE
    "descr-missing": (_delete(f"{PY}/DESCR"), "required file missing"),
    "descr-too-long": (_edit(f"{PY}/DESCR", lambda s: s + "more\n" * 20), "longer than 24"),
    "message-rule": (_sub(f"{PY}/MESSAGE", r"^=+$", "=" * 70), '75 "="'),
    "message-rcsid": (_sub(f"{KERNEL}/MESSAGE", r"^\$NetBSD\$$", ""), "RCS id"),
    "message-kernel-claim": (_sub(f"{KERNEL}/MESSAGE", r"does not change the running kernel", "is useful"),
                             "running kernel is not changed"),
    "message-probe": (_edit(f"{PY}/MESSAGE", lambda s: s.replace("probe", "check")), "sotimestamp probe"),
    # PLIST
    "plist-missing-entry": (_sub(f"{PY}/PLIST", r"^\$\{PYSITELIB\}/sotimestamp/__init__\.pyc\n", ""), "missing from PLIST"),
    "plist-extra-entry": (_edit(f"{PY}/PLIST", lambda s: s + "share/doc/sotimestamp/README\n"), "not in the wheel"),
    "plist-duplicate": (_edit(f"{PY}/PLIST", lambda s: s + "${PYSITELIB}/sotimestamp/__init__.py\n"), "duplicate"),
    "plist-unsorted": (_edit(f"{PY}/PLIST", lambda s: s.replace("bin/sotimestamp-${PYVERSSUFFIX}\n", "")
                              .replace("@comment $NetBSD$\n", "@comment $NetBSD$\nbin/sotimestamp-${PYVERSSUFFIX}\n")),
                       "should be sorted before"),
    "plist-rcsid": (_sub(f"{PY}/PLIST", r"^@comment \$NetBSD\$\n", ""), "first line"),
    "plist-no-man-page": (_sub(f"{PY}/PLIST", r"^man/man1/sotimestamp-.*\n", ""), "missing from PLIST"),
    # the man page: post-install installs it from the sdist, per Python version
    "makefile-no-man-install": (_sub(f"{PY}/Makefile", r"^\t\$\{INSTALL_MAN\}.*\\\n.*\n", ""),
                                "post-install must install ${WRKSRC}/man/sotimestamp.1"),
    "alternatives-man-page": (_sub(f"{PY}/ALTERNATIVES", r"\Z",
                                   "man/man1/sotimestamp.1 @PREFIX@/man/man1/sotimestamp-@PYVERSSUFFIX@.1\n"),
                              "pkg_alternatives makes wrappers in bin/, libexec/, sbin/ only, not man/man1/sotimestamp.1"),
    # distinfo
    "distinfo-hash": (_edit(f"{PY}/distinfo", _flip_hex), "SHA512 of"),
    "distinfo-size": (_sub(f"{KERNEL}/distinfo", r"^(Size \(.*\) = )\d+", r"\g<1>1"), "Size of"),
    "distinfo-missing-alg": (_sub(f"{PY}/distinfo", r"^BLAKE2s .*\n", ""), "expected BLAKE2s, SHA512, Size"),
    "distinfo-rcsid": (_sub(f"{KERNEL}/distinfo", r"^\$NetBSD\$\n", ""), "RCS id"),
    "distinfo-unlisted-patch": (_add_patch, "patch-setup.py: expected one SHA1 line"),
    "dep-distinfo-missing-alg": (_sub("net/py-pcapng/distinfo", r"^SHA512 .*\n", ""), "expected BLAKE2s, SHA512, Size"),
    "dep-plist-rcsid": (_sub("net/py-pcapng/PLIST", r"^@comment \$NetBSD\$\n", ""), "first line"),
    "dep-no-backend": (_sub("net/py-pcapng/Makefile", r"^TOOL_DEPENDS\+=.*setuptools>=.*\n", ""), "build backend"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_checker_catches_broken_copy(released: Released, tree: Path, case: str) -> None:
    mutate, expected = BROKEN[case]
    mutate(tree)
    findings = [str(f) for f in pkglint.check_tree(tree, _artifacts(released))]
    assert findings, f"{case}: the broken copy passed"
    assert any(expected in f for f in findings), findings


def test_patch_sha1_ignores_rcs_id_lines() -> None:
    body = b"--- a/x.c.orig\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n"
    with_id = b"$" + b"NetBSD: patch-x.c,v 1.2 2026/01/01 00:00:00 u Exp $\n\n" + body  # split: not an upstream id
    assert patch_sha1(with_id) == hashlib.sha1(b"\n" + body).hexdigest()
    assert patch_sha1(with_id) == patch_sha1(b"$NetBSD$\n\n" + body)


def test_invoke_pkglint_passes_on_a_clean_clone_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    repo = clone(tmp_path / "repo")
    ok = run_invoke(repo, "pkglint")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pkglint: net/py-sotimestamp, sysutils/netbsd-sotimestamp-kernel, net/py-pcapng OK" in ok.stdout
    mk = repo / "pkgsrc" / KERNEL / "Makefile"
    mk.write_text(mk.read_text().replace("ONLY_FOR_PLATFORM=\tNetBSD-*-*\n", ""))
    bad = run_invoke(repo, "pkglint")
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["pkglint: 2 problems in the pkgsrc files"]
    assert "ONLY_FOR_PLATFORM must include NetBSD-*-*" in bad.stdout


@pytest.mark.skipif(not (os.environ.get("PKGLINT") and os.environ.get("PKGSRCDIR")),
                    reason="real pkglint: set PKGLINT (binary) and PKGSRCDIR (a pkgsrc tree)")
def test_real_pkglint_finds_no_order_or_layout_problems(tree: Path, tmp_path: Path) -> None:
    """Only diagnostics explained by the pkglint version's age may remain."""
    version, output, _ = lint.run_real_pkglint(os.environ["PKGLINT"], Path(os.environ["PKGSRCDIR"]),
                                                  tree, tmp_path / "real")
    allowed = ("RMD160", "TEST_DEPENDS is defined but not used", "Manual page missing", "errors and",
               "warnings found", "Run \"pkglint", "Looks fine")
    unexplained = [ln for ln in output.splitlines() if ln.strip() and not any(a in ln for a in allowed)]
    assert unexplained == [], f"pkglint {version}: {unexplained}"


@pytest.mark.skipif(not (os.environ.get("PKGLINT") and os.environ.get("PKGSRCDIR")),
                    reason="real pkglint: set PKGLINT (binary) and PKGSRCDIR (a pkgsrc tree)")
def test_real_pkglint_and_ours_agree_on_a_varorder_break(released: Released, tree: Path, tmp_path: Path) -> None:
    """The kernel Makefile includes only mk/ files, so pkglint 5.4.21 checks its
    order too (it skips Makefiles including other .mk files, like wheel.mk)."""
    mk = tree / KERNEL / "Makefile"
    mk.write_text(mk.read_text().replace("CATEGORIES=\tsysutils\n", "").replace(
        "COMMENT=", "CATEGORIES=\tsysutils\nCOMMENT="))
    _, output, _ = lint.run_real_pkglint(os.environ["PKGLINT"], Path(os.environ["PKGSRCDIR"]), tree, tmp_path / "r")
    assert "CATEGORIES appears too late" in output
    assert any("canonical order" in str(f) for f in pkglint.check_tree(tree, _artifacts(released)))
