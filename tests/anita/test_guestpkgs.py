"""Packaging for the anita guest: our pkgsrc files read as pkgsrc reads them,
PLIST checked against the staged files, packages made by pkgsrc's pkg_create."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from devtools import config
from devtools.installed import guestpkgs as g
from devtools.loop.tree import TreeError

PKGSRC = config.PROJECT / "pkgsrc"


def test_makefile_vars_of_net_py_sotimestamp() -> None:
    mk = g.makefile_vars(PKGSRC / "net/py-sotimestamp/Makefile")
    assert mk["DISTNAME"] == ["sotimestamp-0.1.0"]
    assert mk["PKGNAME"] == ["${PYPKGPREFIX}-${DISTNAME}"]
    deps = [g.dependency(d, {"PYPKGPREFIX": "py311"}) for d in mk["DEPENDS"]]
    assert deps == ["py311-tqdm>=4.60"]
    assert mk["COMMENT"][0].startswith("Precise UDP")


def test_pep3147_maps_pyc_and_pyo_like_plist_python_awk() -> None:
    site = g.PYSITELIB
    assert g.pep3147(f"{site}/sotimestamp/cli.pyc") == f"{site}/sotimestamp/__pycache__/cli.cpython-311.pyc"
    assert g.pep3147(f"{site}/sotimestamp/cli.pyo") == f"{site}/sotimestamp/__pycache__/cli.cpython-311.opt-1.pyc"
    assert g.pep3147(f"{site}/sotimestamp/cli.py") == f"{site}/sotimestamp/cli.py"
    assert g.pep3147("share/doc/x.pyc") == "share/doc/x.pyc"  # only under PYSITELIB


def test_expand_refuses_unknown_variables() -> None:
    assert g.expand("${PYSITELIB}/a", {"PYSITELIB": "lib/p"}) == "lib/p/a"
    with pytest.raises(TreeError, match="WHEEL_INFODIR"):
        g.expand("${WHEEL_INFODIR}/RECORD", {})


def _pkg(tmp_path: Path, plist: list[str]) -> g.Package:
    stage = tmp_path / "stage"
    (stage / "usr/pkg/share/t").mkdir(parents=True)
    (stage / "usr/pkg/share/t/a").write_text("a\n")
    (stage / "usr/pkg/share/t/b").write_text("b\n")
    return g.Package(pkgname="t-1.0", pkgpath="misc/t", comment="A test", descr="Test.\n",
                     stage=stage, plist=plist, depends=["u>=1"], message="Hello\n")


def test_check_files_names_both_directions(tmp_path: Path) -> None:
    pkg = _pkg(tmp_path, ["share/t/a", "share/t/c"])
    with pytest.raises(TreeError, match=r"not in PLIST \['share/t/b'\], not staged \['share/t/c'\]"):
        g.check_files(pkg)


def test_build_info_claims_netbsd_amd64(tmp_path: Path) -> None:
    info = dict(line.split("=", 1) for line in g.build_info(_pkg(tmp_path, [])).splitlines())
    assert (info["OPSYS"], info["OS_VERSION"], info["MACHINE_ARCH"]) == ("NetBSD", "7.99.11", "x86_64")
    assert info["PKGPATH"] == "misc/t" and int(info["PKGTOOLS_VERSION"]) <= 20150101


def test_pkg_create_makes_a_package_pkg_add_can_read(tmp_path: Path) -> None:
    tool = config.cache() / "pkgtools" / "sbin" / "pkg_create"
    if not tool.exists() and not os.environ.get("PKGSRCDIR"):
        pytest.skip("no pkgsrc pkg_create here (set PKGSRCDIR to bootstrap one)")
    pkg = _pkg(tmp_path, ["share/t/a", "share/t/b"])
    out = tmp_path / "out"
    out.mkdir()
    made = g.pkg_create(pkg, out)
    with tarfile.open(made) as tar:
        names = tar.getnames()
        contents = tar.extractfile("+CONTENTS").read().decode()  # type: ignore[union-attr]
        assert tar.extractfile("share/t/b").read() == b"b\n"  # type: ignore[union-attr]
        assert all(m.uid == 0 and m.gid == 0 for m in tar.getmembers())
    assert names[0] == "+CONTENTS" and {"+COMMENT", "+DESC", "+BUILD_INFO", "+DISPLAY"} <= set(names)
    assert "@name t-1.0\n" in contents and "@pkgdep u>=1\n" in contents and "@cwd /usr/pkg\n" in contents


def test_wheel_staged_like_wheel_mk_matches_our_plist(tmp_path: Path) -> None:
    """py-pcapng's PLIST (ours) against its wheel staged as wheel.mk stages it."""
    wheels = list((config.cache() / "downloads" / "pcapng-wheel").glob("python_pcapng-2.1.1-*.whl"))
    if not wheels:
        pytest.skip("python-pcapng wheel not built here yet (invoke anita builds it)")
    pkg = g.python_package(wheels[0], PKGSRC / "net/py-pcapng", tmp_path, {})
    assert pkg.pkgname == "py311-pcapng-2.1.1"
    g.check_files(pkg)
    shutil.rmtree(pkg.stage)


def test_files_subst_strict_and_lenient() -> None:
    assert g.files_subst("@PREFIX@/bin/x-@PYVERSSUFFIX@", {"PREFIX": "/usr/pkg", "PYVERSSUFFIX": "3.11"}) \
        == "/usr/pkg/bin/x-3.11"
    with pytest.raises(TreeError, match="@NOPE@"):
        g.files_subst("@PREFIX@ @NOPE@", {"PREFIX": "/usr/pkg"})
    assert g.files_subst("@PREFIX@ @NOPE@", {"PREFIX": "/p"}, strict=False) == "/p @NOPE@"


def test_alternatives_scripts_keep_the_file_pkg_alternatives_reads(tmp_path: Path) -> None:
    """net/py-sotimestamp's +INSTALL/+DEINSTALL, run as pkg_add/pkg_delete run
    them (in the package's db directory, with PKGNAME and STAGE)."""
    alternatives = g.files_subst((PKGSRC / "net/py-sotimestamp/ALTERNATIVES").read_text(),
                                 {"PREFIX": g.PREFIX, "PYVERSSUFFIX": g.PYVERSSUFFIX})
    assert alternatives == "bin/sotimestamp /usr/pkg/bin/sotimestamp-3.11\n"
    install, deinstall = g.alternatives_scripts(alternatives)
    (tmp_path / "+INSTALL").write_text(install)
    (tmp_path / "+DEINSTALL").write_text(deinstall)

    def run(script: str, stage: str) -> None:
        res = subprocess.run(["sh", script, "py311-sotimestamp-0.1.0", stage], cwd=tmp_path,
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr

    run("./+INSTALL", "PRE-INSTALL")
    assert not (tmp_path / "+ALTERNATIVES").exists()
    run("./+INSTALL", "POST-INSTALL")
    assert (tmp_path / "+ALTERNATIVES").read_text() == alternatives
    run("./+DEINSTALL", "POST-DEINSTALL")
    assert (tmp_path / "+ALTERNATIVES").exists()
    run("./+DEINSTALL", "DEINSTALL")
    assert not (tmp_path / "+ALTERNATIVES").exists()
    assert f"{g.PKG_ALTERNATIVES} -gs register ./+ALTERNATIVES" in install
    assert f"{g.PKG_ALTERNATIVES} -gs unregister ./+ALTERNATIVES" in deinstall


def test_pkg_alternatives_package_from_the_pkgsrc_tree(tmp_path: Path) -> None:
    if not os.environ.get("PKGSRCDIR") and \
            not (config.cache() / "pkgtools/pkgsrc/pkgtools/pkg_alternatives/Makefile").exists():
        pytest.skip("no pkgsrc tree here (set PKGSRCDIR) for pkgtools/pkg_alternatives")
    pkg = g.alternatives_package(tmp_path)
    assert pkg.pkgname.startswith("pkg_alternatives-1.")
    g.check_files(pkg)  # its PLIST is what its do-install staged
    script = pkg.stage / "usr/pkg/sbin/pkg_alternatives"
    text = script.read_text()
    assert os.access(script, os.X_OK) and not re.search(r"@[A-Z_]+@", text)
    assert "Db_Dir=/usr/pkg/libdata/pkg_alternatives/usr/pkg\n" in text
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    for body in (pkg.install_script, pkg.deinstall_script):
        assert body and subprocess.run(["sh", "-n"], input=body, text=True).returncode == 0
    tool = config.cache() / "pkgtools" / "sbin" / "pkg_create"
    if tool.exists():
        out = tmp_path / "out"
        out.mkdir()
        with tarfile.open(g.pkg_create(pkg, out)) as tar:
            assert tar.extractfile("+INSTALL").read().decode() == pkg.install_script  # type: ignore[union-attr]
            assert {"+DEINSTALL", "sbin/pkg_alternatives"} <= set(tar.getnames())


def test_pkg_alternatives_scripts_leave_nothing_behind(tmp_path: Path) -> None:
    """Its +INSTALL/+DEINSTALL run against a scratch prefix, in pkg_add's and
    pkg_delete's order (files removed between DEINSTALL and POST-DEINSTALL)."""
    if not os.environ.get("PKGSRCDIR") and \
            not (config.cache() / "pkgtools/pkgsrc/pkgtools/pkg_alternatives/Makefile").exists():
        pytest.skip("no pkgsrc tree here (set PKGSRCDIR) for pkgtools/pkg_alternatives")
    pkg = g.alternatives_package(tmp_path / "work")
    root = tmp_path / "root"
    shutil.copytree(pkg.stage, root)
    prefix = str(root / "usr/pkg")

    def run(body: str | None, stage: str) -> None:
        # the scripts name /usr/pkg; pkg_alternatives itself is not run here
        script = (body or "").replace(g.PKG_ALTERNATIVES, "true").replace("/usr/pkg", prefix)
        res = subprocess.run(["sh", "-c", script, "+X", pkg.pkgname, stage], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr

    run(pkg.install_script, "PRE-INSTALL")
    run(pkg.install_script, "POST-INSTALL")
    conf = root / "usr/pkg/etc/pkg_alternatives/filter.conf"
    assert conf.read_bytes() == (root / "usr/pkg/share/examples/pkg_alternatives/filter.conf").read_bytes()
    run(pkg.deinstall_script, "DEINSTALL")
    for f in pkg.plist:  # what pkg_delete removes
        (root / "usr/pkg" / f).unlink()
    run(pkg.deinstall_script, "POST-DEINSTALL")
    assert not conf.parent.exists() and not (root / "usr/pkg/libdata/pkg_alternatives").exists()
