"""The pkgsrc files: distinfo and PLISTs against the released artifacts, the
in-house checker (what pkglint cannot see) passing on ours and failing on
broken copies, the current real pkglint clean on them, and the kernel
package staged as its Makefile says."""
from __future__ import annotations

import hashlib
import subprocess
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools import config
from devtools.release import lint, pkglint, realpkglint
from devtools.release.distinfo import patch_sha1
from tests.release.helpers import Released, clone, run_invoke

PY = "net/py-sotimestamp"
KERNEL = "sysutils/sotimestamp-kernel-patches"


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


def test_committed_kernel_plist_is_what_the_tarball_installs(released: Released, tree: Path) -> None:
    """Independently of devtools: every series file under share/sotimestamp-kernel, the
    command, its man page and the documents, nothing else."""
    v = released.version
    with tarfile.open(released.dist / f"sotimestamp-kernel-{v}.tar.gz") as tar:
        files = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
    assert "LICENSE" in files and "tools/sotimestamp_kernel.py" in files
    want = {f"share/sotimestamp-kernel/{f}" for f in files if f == "series" or f.startswith(("patches/", "new/"))}
    want |= {"sbin/sotimestamp-kernel", "man/man8/sotimestamp-kernel.8",
             "share/doc/sotimestamp-kernel-patches/README", "share/doc/sotimestamp-kernel-patches/ABI.md",
             "share/doc/sotimestamp-kernel-patches/LICENSE"}
    committed = (released.repo / "pkgsrc" / KERNEL / "PLIST").read_text().splitlines()
    assert committed[0] == "@comment $NetBSD$"
    assert set(committed[1:]) == want, "run `invoke pkglint --fix` to rewrite the PLIST"
    assert (tree / KERNEL / "PLIST").read_text() == (released.repo / "pkgsrc" / KERNEL / "PLIST").read_text()


def test_license_is_in_the_sdist_and_the_kernel_tarball(released: Released) -> None:
    v = released.version
    license_text = (released.repo / "LICENSE").read_bytes()
    for name, member in ((f"sotimestamp-{v}.tar.gz", f"sotimestamp-{v}/LICENSE"),
                         (f"sotimestamp-kernel-{v}.tar.gz", f"sotimestamp-kernel-{v}/LICENSE")):
        with tarfile.open(released.dist / name) as tar:
            f = tar.extractfile(member)
            assert f is not None and f.read() == license_text, name
    with zipfile.ZipFile(released.dist / f"sotimestamp-{v}-py3-none-any.whl") as zf:
        meta = zf.read(f"sotimestamp-{v}.dist-info/METADATA").decode()
    assert "License-Expression: BSD-2-Clause" in meta


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


def _add_patch(root: Path) -> None:
    (root / PY / "patches").mkdir()
    (root / PY / "patches" / "patch-setup.py").write_text("$NetBSD$\n\n--- a\n+++ b\n")


def _flip_hex(s: str) -> str:
    return re.sub(r"^(SHA512 \([^)]*\) = )(.)", lambda m: m.group(1) + ("0" if m.group(2) != "0" else "1"), s,
                  count=1, flags=re.M)


# What only we can see: the pkgsrc files against the release files and the metadata.
BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "makefile-no-backend": (_sub(f"{PY}/Makefile", r"^TOOL_DEPENDS\+=.*\n", ""), "build backend"),
    "makefile-languages": (_sub(f"{PY}/Makefile", r"^USE_LANGUAGES=.*$", "USE_LANGUAGES=\tc"), "USE_LANGUAGES"),
    "makefile-version": (_sub(f"{PY}/Makefile", r"^(DISTNAME=\s*sotimestamp-).*$", r"\g<1>9.9.9"), "does not match"),
    "makefile-dep-missing": (_sub(f"{PY}/Makefile", r"^DEPENDS\+=.*tqdm.*\n", ""), "DEPENDS lacks"),
    "makefile-dep-floor": (_sub(f"{PY}/Makefile", r"tqdm>=4\.60", "tqdm>=4.0"), "floor 4.0 differs"),
    "makefile-incompatible": (_sub(f"{PY}/Makefile", r"^(USE_LANGUAGES=.*)$", "\\1\nPYTHON_VERSIONS_INCOMPATIBLE=\t313"),
                              "PYTHON_VERSIONS_INCOMPATIBLE"),
    "makefile-no-rename": (_sub(f"{PY}/Makefile", r"^PY_RENAME_BINARIES=.*\n", ""),
                           "PY_RENAME_BINARIES must list the console script sotimestamp"),
    "makefile-rename-unknown": (_sub(f"{PY}/Makefile", r"^(PY_RENAME_BINARIES=.*)$", "\\1 sotimestamp-replay"),
                                "lists sotimestamp-replay, which the wheel does not install"),
    "makefile-no-man-install": (_sub(f"{PY}/Makefile", r"^\t\$\{INSTALL_MAN\}.*\\\n.*\n", ""),
                                "post-install must install ${WRKSRC}/man/sotimestamp.1"),
    "alternatives-missing": (_sub(f"{PY}/ALTERNATIVES", r"^bin/sotimestamp .*\n", ""), "ALTERNATIVES must have"),
    "alternatives-man-page": (_sub(f"{PY}/ALTERNATIVES", r"\Z",
                                   "man/man1/sotimestamp.1 @PREFIX@/man/man1/sotimestamp-@PYVERSSUFFIX@.1\n"),
                              "pkg_alternatives makes wrappers in bin/, libexec/, sbin/ only, not man/man1/sotimestamp.1"),
    "kernel-version": (_sub(f"{KERNEL}/Makefile", r"^(DISTNAME=\s*sotimestamp-kernel-).*$", r"\g<1>9.9.9"),
                       "does not match"),
    "kernel-wrksrc-file": (_sub(f"{KERNEL}/Makefile", r"tools/sotimestamp-kernel\.8", "tools/sotimestamp.8"),
                           "${WRKSRC}/tools/sotimestamp.8 is not in the kernel tarball"),
    "kernel-pax-dir": (_sub(f"{KERNEL}/Makefile", r"-rw series patches new", "-rw series patches new conf"),
                       "do-install copies conf, which is not in the kernel tarball"),
    "kernel-replace-python": (_sub(f"{KERNEL}/Makefile", r"^REPLACE_PYTHON=.*$", "REPLACE_PYTHON=\ttools/apply.py"),
                              "${WRKSRC}/tools/apply.py is not in the kernel tarball"),
    # PLISTs
    "plist-missing-entry": (_sub(f"{PY}/PLIST", r"^\$\{PYSITELIB\}/sotimestamp/__init__\.pyc\n", ""), "missing from PLIST"),
    "plist-extra-entry": (_edit(f"{PY}/PLIST", lambda s: s + "share/doc/sotimestamp/README\n"), "not in the wheel"),
    "plist-no-man-page": (_sub(f"{PY}/PLIST", r"^man/man1/sotimestamp-.*\n", ""), "missing from PLIST"),
    "kernel-plist-missing": (_sub(f"{KERNEL}/PLIST", r"^sbin/sotimestamp-kernel\n", ""),
                             "missing from PLIST (in the kernel tarball): sbin/sotimestamp-kernel"),
    "kernel-plist-extra": (_edit(f"{KERNEL}/PLIST", lambda s: s + "share/sotimestamp-kernel/conf/SOTIMESTAMP\n"),
                           "in PLIST but not in the kernel tarball"),
    # distinfo against the tarballs
    "distinfo-hash": (_edit(f"{PY}/distinfo", _flip_hex), "SHA512 of"),
    "distinfo-size": (_sub(f"{KERNEL}/distinfo", r"^(Size \(.*\) = )\d+", r"\g<1>1"), "Size of"),
    "distinfo-missing-alg": (_sub(f"{PY}/distinfo", r"^BLAKE2s .*\n", ""), "expected BLAKE2s, SHA512, Size"),
    "distinfo-unlisted-patch": (_add_patch, "patch-setup.py: expected one SHA1 line"),
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
    assert "pkglint: net/py-sotimestamp, sysutils/sotimestamp-kernel-patches, net/py-pcapng OK" in ok.stdout
    assert "real pkglint: skipped, PKGSRCDIR is not set" in ok.stdout  # run_invoke drops PKGSRCDIR
    plist = repo / "pkgsrc" / KERNEL / "PLIST"
    plist.write_text(plist.read_text().replace("sbin/sotimestamp-kernel\n", ""))
    bad = run_invoke(repo, "pkglint")
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["pkglint: 1 problems in the pkgsrc files"]
    assert "missing from PLIST (in the kernel tarball): sbin/sotimestamp-kernel" in bad.stdout


def _real_pkglint_or_skip() -> Path:
    if config.pkgsrcdir() is None:
        pytest.skip("real pkglint: PKGSRCDIR is not set (a pkgsrc tree to hold the packages)")
    try:
        return realpkglint.build()
    except realpkglint.Unavailable as e:
        pytest.skip(f"real pkglint: {e}")


def test_real_pkglint_finds_nothing_in_our_packages(tree: Path, tmp_path: Path) -> None:
    """Current pkglint: no error, warning or note on our files (pkgsrc/README.md
    explains the lines about the host tree's own mk/ files)."""
    binary = _real_pkglint_or_skip()
    pkgsrcdir = config.pkgsrcdir()
    assert pkgsrcdir is not None
    result = realpkglint.run(binary, pkgsrcdir, tree, lint.PACKAGES, tmp_path / "real")
    assert result.version == realpkglint.VERSION
    assert result.ours == [], result.ours
    assert all("/../../mk/" in ln for ln in result.host), result.host


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda t: (t / KERNEL / "MESSAGE").write_text("===\n$NetBSD$\n\nHello.\n===\n"),
     f"ERROR: {KERNEL}/MESSAGE: MESSAGE files are obsolete."),
    (_sub(f"{KERNEL}/Makefile", r"^# The patches are made.*\n(#.*\n)*", ""),
     "Setting variable ONLY_FOR_PLATFORM should have a rationale."),
    (_sub(f"{PY}/Makefile", r"^MAINTAINER=\t", "MAINTAINER=  "), "should be aligned with tabs, not spaces"),
], ids=["message-file", "platform-rationale", "alignment"])
def test_real_pkglint_is_the_one_that_judges(tree: Path, tmp_path: Path, mutate: Callable[[Path], None],
                                             expected: str) -> None:
    """Rules that moved out of the in-house checker are caught by the real pkglint.  (Not the
    variable order: pkglint checks it only in Makefiles that include no other .mk file, and
    ours include wheel.mk or application.mk; the Makefiles follow it anyway.)"""
    binary = _real_pkglint_or_skip()
    pkgsrcdir = config.pkgsrcdir()
    assert pkgsrcdir is not None
    mutate(tree)
    result = realpkglint.run(binary, pkgsrcdir, tree, lint.PACKAGES, tmp_path / "real")
    assert any(expected in ln for ln in result.problems), result.ours


def test_pkglint_source_pin_is_checked(tmp_path: Path) -> None:
    """A repository whose tag is not the pinned commit is refused, naming both."""
    repo = tmp_path / "pkglint"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("not pkglint\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    subprocess.run([*git, "tag", realpkglint.TAG], check=True)
    with pytest.raises(realpkglint.Unavailable, match=f"{realpkglint.TAG} is [0-9a-f]{{40}}, pinned {realpkglint.COMMIT}"):
        realpkglint.verify_source(repo)


def test_classify_separates_our_lines_from_the_host_trees() -> None:
    out = ("WARN: net/py-sotimestamp/../../mk/compiler/gcc.mk:373: Makefile lines should not start with space.\n"
           "ERROR: sysutils/sotimestamp-kernel-patches/MESSAGE: MESSAGE files are obsolete.\n"
           "1 error and 1 warning found.\n"
           "(Run \"pkglint -e\" to show explanations.)\n")
    ours, host, summary = realpkglint.classify(out, lint.PACKAGES)
    assert ours == ["ERROR: sysutils/sotimestamp-kernel-patches/MESSAGE: MESSAGE files are obsolete."]
    assert host == ["WARN: net/py-sotimestamp/../../mk/compiler/gcc.mk:373: Makefile lines should not start with space."]
    assert summary == "1 error and 1 warning found."


def test_kernel_package_is_staged_as_its_makefile_says(released: Released, tree: Path, tmp_path: Path) -> None:
    """guestpkgs follows the Makefile (do-install, REPLACE_PYTHON, SUBST) into a
    stage that matches the static PLIST; the installed command finds its series."""
    import sys

    from devtools.installed import guestpkgs
    from tests.loop.conftest import make_tree
    pkg = guestpkgs.kernel_package(released.dist / f"sotimestamp-kernel-{released.version}.tar.gz",
                                   tree / KERNEL, tmp_path / "work")
    assert pkg.pkgname == f"sotimestamp-kernel-patches-{released.version}"
    guestpkgs.check_files(pkg)
    root = pkg.stage / "usr/pkg"
    command = root / "sbin/sotimestamp-kernel"
    assert command.read_text().splitlines()[0] == f"#!{guestpkgs.PYTHONBIN}"
    readme = (root / "share/doc/sotimestamp-kernel-patches/README").read_text()
    assert "@" + "PREFIX@" not in readme and "@" + "BSDSRCDIR@" not in readme
    assert "/usr/pkg/share/sotimestamp-kernel" in readme and "/usr/src" in readme
    usage = subprocess.run([sys.executable, str(command), "--help"], capture_output=True, text=True)
    assert "default /usr/src" in usage.stdout
    fake = make_tree(tmp_path / "src")
    st = subprocess.run([sys.executable, str(command), "status", str(fake)], capture_output=True, text=True,
                        stdin=subprocess.DEVNULL)
    assert st.returncode == 1 and "files the series patches are missing" in st.stdout, st.stdout + st.stderr
