"""Binary packages for the anita guest, made by pkgsrc's own pkg_create.

No NetBSD binary packages can be downloaded here and a 2017 pkgsrc cannot
build our wheel.mk Makefiles, so this does by hand the steps pkgsrc's
`package` target takes, from our pkgsrc/ files (the filled copies from
`invoke release`): stage the files into a DESTDIR the way the Makefile's
install stage would (wheel.mk installs wheels with `installer`), expand the
PLIST with the PLIST_SUBST values of a Python 3.11 build, check the staged
files against it (pkgsrc's check-files), and call the real pkg_create with
the Makefile's COMMENT, DESCR and DEPENDS and a +BUILD_INFO that
says NetBSD 7.99.10/x86_64.

pkg_create itself is pkgsrc's (pkgtools/pkg_install), bootstrapped on this
host from the 2017 pkgsrc tree; see `host_pkg_create`.

Packages made:
  sotimestamp-kernel-patches-V ours: sysutils/sotimestamp-kernel-patches
  py311-sotimestamp-V          ours: net/py-sotimestamp
  py311-pcapng-2.1.1           ours: net/py-pcapng (its test suite's dependency)
  py311-tqdm-X                 stand-in for pkgsrc's misc/py-tqdm (a dependency)
  pkg_alternatives-1.6         pkgsrc's pkgtools/pkg_alternatives (2017 tree),
                               which makes net/py-sotimestamp's ALTERNATIVES
                               link bin/sotimestamp
  python311-3.11.2             stand-in for lang/python311: our cross build
                               (devtools/installed/guestpython.py)
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools import config
from devtools.installed import fetched
from devtools.loop.tree import SERIES_RELEASE
from devtools.loop.tree import TreeError
from devtools.release.pkgsrc import KERNEL_PKG, Makefile, kernel_install_map, kernel_tarball_members, plist_entries

PREFIX = "/usr/pkg"
PYVERSSUFFIX = "3.11"
PYPKGPREFIX = "py311"
PYSITELIB = f"lib/python{PYVERSSUFFIX}/site-packages"
PYTHONBIN = f"{PREFIX}/bin/python{PYVERSSUFFIX}"
PYTHON_DEPEND = f"python311>={PYVERSSUFFIX}.0"
OS_VERSION = SERIES_RELEASE
# Oldest format the 2015 base pkg_add reads: it refuses packages that claim
# newer tools.
PKGTOOLS_VERSION = "20091115"
PKGSRC_LITE = "nanobox-io/nanobox-pkgsrc-lite"


@dataclass
class Package:
    pkgname: str
    pkgpath: str
    comment: str
    descr: str
    stage: Path                      # files live under stage/usr/pkg
    plist: list[str]                 # paths relative to PREFIX
    depends: list[str] = field(default_factory=list)
    message: str | None = None
    categories: str = ""
    license: str = ""
    homepage: str = ""
    install_script: str | None = None    # +INSTALL, as mk/pkginstall would write it
    deinstall_script: str | None = None  # +DEINSTALL


# --- reading our pkgsrc files ------------------------------------------------

def makefile_vars(path: Path) -> dict[str, list[str]]:
    """VAR= and VAR+= assignments of a pkgsrc Makefile (devtools/release/pkgsrc.py reads it)."""
    return Makefile.read(path).all_values()


def expand(text: str, subst: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in subst:
            raise TreeError(f"no value for ${{{m.group(1)}}} in {text!r}")
        return subst[m.group(1)]
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", one, text)


def files_subst(text: str, subst: dict[str, str], *, strict: bool = True) -> str:
    """@VAR@ as FILES_SUBST/SUBST_SED replace it (strict: every one known)."""
    def one(m: re.Match[str]) -> str:
        if m.group(1) in subst:
            return subst[m.group(1)]
        if strict:
            raise TreeError(f"no value for @{m.group(1)}@ in {text!r}")
        return m.group(0)
    return re.sub(r"@([A-Z_]+)@", one, text)


def dependency(value: str, subst: dict[str, str]) -> str:
    """`${PYPKGPREFIX}-pcapng>=2.1:../../net/py-pcapng` -> `py311-pcapng>=2.1`."""
    return expand(value.rsplit(":", 1)[0], subst)


def pep3147(entry: str) -> str:
    """What pkgsrc's plist-python.awk makes of .pyc/.pyo lines for Python 3."""
    m = re.match(r"^(.*/)?([^/]+)\.py([co])$", entry)
    if not m or not entry.startswith(PYSITELIB + "/"):
        return entry
    tag = "" if m.group(3) == "c" else ".opt-1"
    return f"{m.group(1) or ''}__pycache__/{m.group(2)}.cpython-{PYVERSSUFFIX.replace('.', '')}{tag}.pyc"


def read_plist(path: Path, subst: dict[str, str]) -> list[str]:
    try:
        entries = plist_entries(path.read_text())
    except ValueError as e:
        raise TreeError(f"{path}: {e}") from None
    return [pep3147(expand(line, subst)) for line in entries]


def staged_files(stage: Path) -> list[str]:
    root = stage / PREFIX.lstrip("/")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def check_files(pkg: Package) -> None:
    """pkgsrc's check-files: the staged files are exactly the PLIST."""
    staged, listed = set(staged_files(pkg.stage)), set(pkg.plist)
    if staged != listed:
        extra, missing = sorted(staged - listed), sorted(listed - staged)
        raise TreeError(f"{pkg.pkgname}: staged files differ from the PLIST: "
                        f"not in PLIST {extra[:5]}, not staged {missing[:5]}")


# --- staging -----------------------------------------------------------------

def stage_wheel(wheel: Path, stage: Path) -> None:
    """Install a wheel as wheel.mk does (installer, bytecode levels 0 and 1)."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    scheme = {k: f"{PREFIX}/{v}" for k, v in {
        "purelib": PYSITELIB, "platlib": PYSITELIB, "headers": f"include/python{PYVERSSUFFIX}",
        "scripts": "bin", "data": ""}.items()}
    dest = SchemeDictionaryDestination(scheme, interpreter=PYTHONBIN, script_kind="posix",
                                       bytecode_optimization_levels=(0, 1), destdir=str(stage))
    with WheelFile.open(wheel) as source:
        install(source, dest, additional_metadata={})
    # wheel.mk drops installer's record of where the wheel came from
    for extra in stage.glob(f"usr/pkg/{PYSITELIB}/*.dist-info/direct_url.json"):
        extra.unlink()


def python_package(wheel: Path, pkgdir: Path, work: Path, extra_subst: dict[str, str],
                   sdist: Path | None = None) -> Package:
    """A wheel.mk package from one of our pkgsrc directories (``sdist``: where its
    post-install finds the man pages)."""
    mk = makefile_vars(pkgdir / "Makefile")
    distname = mk["DISTNAME"][0]
    subst = {"PYSITELIB": PYSITELIB, "PYVERSSUFFIX": PYVERSSUFFIX, "PYPKGPREFIX": PYPKGPREFIX,
             "DISTNAME": distname, **extra_subst}
    pkgname = expand(re.sub(r"\$\{DISTNAME:S/\^python-//\}", distname.removeprefix("python-"),
                            mk["PKGNAME"][0]), subst)
    stage = work / pkgname
    if stage.exists():
        shutil.rmtree(stage)
    stage_wheel(wheel, stage)
    # wheel.mk's PY_RENAME_BINARIES: one console script per Python version
    for name in " ".join(mk.get("PY_RENAME_BINARIES", [])).split():
        script = stage / "usr/pkg/bin" / name
        if script.exists():
            script.rename(script.with_name(f"{name}-{PYVERSSUFFIX}"))
    # ... and one sotimestamp(1) per Python version, from the sdist
    if sdist is not None:
        from devtools.release.pkgsrc import man_page_path, sdist_man_pages

        with tarfile.open(sdist) as tar:
            for page in sdist_man_pages(sdist):
                source = tar.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/man/{page}")
                assert source is not None
                dest = stage / "usr/pkg" / man_page_path(page).replace("${PYVERSSUFFIX}", PYVERSSUFFIX)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(source.read())
    dist_info = next((stage / "usr/pkg" / PYSITELIB).glob("*.dist-info")).name
    subst["WHEEL_INFODIR"] = dist_info
    install_script = deinstall_script = None
    if (pkgdir / "ALTERNATIVES").exists():
        install_script, deinstall_script = alternatives_scripts(
            files_subst((pkgdir / "ALTERNATIVES").read_text(), {"PREFIX": PREFIX, **subst}))
    return Package(
        pkgname=pkgname, pkgpath=f"{pkgdir.parent.name}/{pkgdir.name}", comment=mk["COMMENT"][0],
        descr=(pkgdir / "DESCR").read_text(), stage=stage, plist=read_plist(pkgdir / "PLIST", subst),
        depends=[PYTHON_DEPEND] + [dependency(d, subst) for d in mk.get("DEPENDS", [])],
        categories=" ".join(mk.get("CATEGORIES", [])),
        license=" ".join(mk.get("LICENSE", [])), homepage=" ".join(mk.get("HOMEPAGE", [])),
        install_script=install_script, deinstall_script=deinstall_script)


# --- install scripts (mk/pkginstall, mk/alternatives.mk) ---------------------

PKG_ALTERNATIVES = f"{PREFIX}/sbin/pkg_alternatives"
# pkg_add and pkg_delete run these in the package's directory under
# /var/db/pkg as `./+INSTALL PKGNAME STAGE` (mk/pkginstall's header).
_SCRIPT_HEAD = "#!/bin/sh\nPKGNAME=\"$1\"\nSTAGE=\"$2\"\n"


def alternatives_scripts(alternatives: str) -> tuple[str, str]:
    """+INSTALL/+DEINSTALL of a package with an ALTERNATIVES file, as
    mk/alternatives.mk writes them: register the links if pkg_alternatives
    is installed (it is not a dependency)."""
    install = (_SCRIPT_HEAD + 'if test "$STAGE" = "POST-INSTALL"; then\n'
               f"cat >./+ALTERNATIVES <<EOF\n{alternatives.rstrip()}\nEOF\n"
               f"if test -x {PKG_ALTERNATIVES}; then\n{PKG_ALTERNATIVES} -gs register ./+ALTERNATIVES\nfi\n"
               "fi\nexit 0\n")
    deinstall = (_SCRIPT_HEAD + 'if test "$STAGE" = "DEINSTALL"; then\n'
                 f"if test -x {PKG_ALTERNATIVES}; then\n{PKG_ALTERNATIVES} -gs unregister ./+ALTERNATIVES\nfi\n"
                 "rm -f ./+ALTERNATIVES\nfi\nexit 0\n")
    return install, deinstall


def pkgsrc_files(pkgpath: str) -> Path:
    """A package directory of the pkgsrc tree (PKGSRCDIR), kept in the cache
    for later runs without it."""
    cached = config.cache() / "pkgtools" / "pkgsrc" / pkgpath
    tree = config.pkgsrcdir()
    if tree and (tree / pkgpath / "Makefile").is_file():
        shutil.rmtree(cached, ignore_errors=True)
        shutil.copytree(tree / pkgpath, cached)
    if not (cached / "Makefile").is_file():
        raise TreeError(f"no {pkgpath}: set PKGSRCDIR to a pkgsrc tree (e.g. a checkout of github:{PKGSRC_LITE})")
    return cached


def alternatives_package(work: Path) -> Package:
    """pkgtools/pkg_alternatives: its do-install, SUBST and CONF_FILES/REQD_DIRS."""
    pkgdir = pkgsrc_files("pkgtools/pkg_alternatives")
    mk = makefile_vars(pkgdir / "Makefile")
    pkgname = mk["PKGNAME"][0]
    confdir, datadir = f"{PREFIX}/etc/pkg_alternatives", f"{PREFIX}/share/pkg_alternatives"
    dbdir, egdir = f"{PREFIX}/libdata/pkg_alternatives", f"{PREFIX}/share/examples/pkg_alternatives"
    subst = {"CONFDIR": confdir, "DATADIR": datadir, "DBDIR": dbdir, "PKGMANDIR": "man",
             "PKG_DBDIR": "/var/db/pkg", "PREFIX": PREFIX, "ROOT_USER": "root", "ID": "/usr/bin/id",
             "SH": "/bin/sh", "PKG_ALTERNATIVES": PKG_ALTERNATIVES}
    stage = work / pkgname
    shutil.rmtree(stage, ignore_errors=True)
    files = pkgdir / "files"
    placed = {"sbin/pkg_alternatives": "pkg_alternatives.sh", "man/man8/pkg_alternatives.8": "pkg_alternatives.8",
              "share/pkg_alternatives/wrapper.sh": "wrapper.sh",
              "share/pkg_alternatives/wrapper.man": "wrapper.man",
              "share/examples/pkg_alternatives/filter.conf": "filter.conf"}
    for dest, name in placed.items():
        out = stage / PREFIX.lstrip("/") / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        text = (files / name).read_text()
        if name in ("pkg_alternatives.sh", "pkg_alternatives.8"):  # SUBST_FILES.vars
            text = files_subst(text, subst, strict=False)
        out.write_text(text)
        out.chmod(0o755 if dest.startswith("sbin/") else 0o644)
    conf = f"{confdir}/filter.conf"

    def script(name: str) -> str:  # the package's own INSTALL/DEINSTALL, @VAR@ filled
        body = re.sub(r"^#.*\n", "", (pkgdir / name).read_text(), flags=re.M)
        return files_subst(body.strip("\n"), subst) + "\n"

    # mk/pkginstall's parts: REQD_DIRS and MAKE_DIRS made, CONF_FILES copied
    # unless present, and removed on deinstall when unchanged and empty.
    install = (_SCRIPT_HEAD + 'if test "$STAGE" = "POST-INSTALL"; then\n'
               f"\tmkdir -p {dbdir} {confdir}\n\ttest -f {conf} || cp {egdir}/filter.conf {conf}\nfi\n"
               + script("INSTALL") + "exit 0\n")
    # (the configuration is compared at DEINSTALL: at POST-DEINSTALL the
    # example it is compared with is gone)
    deinstall = (_SCRIPT_HEAD + script("DEINSTALL") + 'if test "$STAGE" = "DEINSTALL"; then\n'
                 f"\tcmp -s {conf} {egdir}/filter.conf && rm -f {conf}\nfi\n"
                 'if test "$STAGE" = "POST-DEINSTALL"; then\n'
                 f"\trmdir {confdir} {dbdir} 2>/dev/null\nfi\nexit 0\n")
    return Package(pkgname=pkgname, pkgpath="pkgtools/pkg_alternatives", comment=mk["COMMENT"][0],
                   descr=(pkgdir / "DESCR").read_text(), stage=stage,
                   plist=read_plist(pkgdir / "PLIST", {}), categories="pkgtools", license=mk["LICENSE"][0],
                   install_script=install, deinstall_script=deinstall)


def kernel_package(tarball: Path, pkgdir: Path, work: Path) -> Package:
    """sysutils/sotimestamp-kernel-patches: its do-install (the map in
    devtools/release/pkgsrc.py), REPLACE_PYTHON, SUBST of PREFIX and BSDSRCDIR,
    and its static PLIST."""
    mk = makefile_vars(pkgdir / "Makefile")
    distname = mk["DISTNAME"][0]
    pkgname = distname.replace("-kernel-", "-kernel-patches-", 1)  # PKGNAME= ${DISTNAME:S/-kernel-/-kernel-patches-/}
    stage = work / pkgname
    if stage.exists():
        shutil.rmtree(stage)
    with tarfile.open(tarball) as tar:
        tar.extractall(work / "kernel-src", filter="data")
    wrksrc = work / "kernel-src" / distname
    if not wrksrc.is_dir():
        raise TreeError(f"{tarball}: no {distname}/ inside")
    subst = {"PREFIX": PREFIX, "BSDSRCDIR": "/usr/src"}
    substituted = {w for v in mk.get("SUBST_FILES.paths", []) for w in v.split()}
    python = set(" ".join(mk.get("REPLACE_PYTHON", [])).split())
    for src, dest in kernel_install_map(kernel_tarball_members(tarball)).items():
        out = stage / PREFIX.lstrip("/") / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        data = (wrksrc / src).read_text() if src in substituted or src in python else None
        if data is None:
            shutil.copyfile(wrksrc / src, out)
        else:
            if src in substituted:
                data = files_subst(data, subst, strict=False)
            if src in python:  # REPLACE_PYTHON: the interpreter the package depends on
                data = re.sub(r"\A#!.*", f"#!{PYTHONBIN}", data)
            out.write_text(data)
        out.chmod(0o755 if dest.startswith("sbin/") else 0o644)
    return Package(pkgname=pkgname, pkgpath=KERNEL_PKG, comment=mk["COMMENT"][0],
                   descr=(pkgdir / "DESCR").read_text(), stage=stage, plist=read_plist(pkgdir / "PLIST", {}),
                   depends=[PYTHON_DEPEND], categories="sysutils", license=mk["LICENSE"][0],
                   homepage=" ".join(mk.get("HOMEPAGE", [])))


def tree_package(pkgname: str, pkgpath: str, comment: str, descr: str, stage: Path,
                 depends: list[str] | None = None) -> Package:
    """A stand-in for a pkgsrc package we do not carry: PLIST is what was staged."""
    return Package(pkgname=pkgname, pkgpath=pkgpath, comment=comment, descr=descr, stage=stage,
                   plist=staged_files(stage), depends=depends or [])


# --- pkg_create ----------------------------------------------------------------

def host_pkg_create() -> Path:
    """pkgsrc's pkg_create for this host, from the pkgsrc bootstrap (cached).

    The bootstrap builds pkg_install in its first stage; with the 2017 tree
    of github:nanobox-io/nanobox-pkgsrc-lite it stops later, at devel/zlib
    (not in that tree), so pkg_create is taken from the bootstrap's work
    directory whether or not the whole bootstrap finished."""
    prefix = config.cache() / "pkgtools"
    tool = prefix / "sbin" / "pkg_create"
    if tool.exists():
        return tool
    pkgsrc = config.pkgsrcdir()
    if pkgsrc is None or not (pkgsrc / "bootstrap" / "bootstrap").is_file():
        raise TreeError(f"no pkg_create in {prefix}: set PKGSRCDIR to a pkgsrc tree "
                        f"(e.g. a checkout of github:{PKGSRC_LITE}) to bootstrap it")
    work = config.cache() / "pkgtools-work"
    shutil.rmtree(work, ignore_errors=True)
    log = config.cache() / "logs" / "pkgsrc-bootstrap.log"
    log.parent.mkdir(exist_ok=True)
    print(f"pkgsrc bootstrap for pkg_create (log {log})", flush=True)
    # The 2017 bootstrap wants a BSD-compatible echo (bash) and tolerates
    # today's gcc only with -fcommon.
    with open(log, "w") as out:
        subprocess.run(["./bootstrap", "--unprivileged", "--prefix", str(work / "prefix"),
                        "--workdir", str(work), "--make-jobs", "2"], cwd=pkgsrc / "bootstrap",
                       stdout=out, stderr=subprocess.STDOUT,
                       env={**os.environ, "SH": "/bin/bash", "CFLAGS": "-O2 -fcommon -w"})
    built = work / "sbin" / "pkg_create"
    if not built.exists():
        raise TreeError(f"the pkgsrc bootstrap built no pkg_create; see {log}")
    tool.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, tool)
    return tool


def build_info(pkg: Package) -> str:
    info = {
        "BUILD_DATE": time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime()),
        "CATEGORIES": pkg.categories, "HOMEPAGE": pkg.homepage, "LICENSE": pkg.license,
        "LOCALBASE": PREFIX, "MACHINE_ARCH": "x86_64", "MACHINE_GNU_ARCH": "x86_64",
        "OPSYS": "NetBSD", "OS_VERSION": OS_VERSION, "PKGPATH": pkg.pkgpath,
        "PKGTOOLS_VERSION": PKGTOOLS_VERSION, "PKG_SYSCONFBASEDIR": f"{PREFIX}/etc",
    }
    return "".join(f"{k}={v}\n" for k, v in info.items() if v)


def pkg_create(pkg: Package, out_dir: Path) -> Path:
    check_files(pkg)
    meta = pkg.stage.parent / f"{pkg.pkgname}.meta"
    shutil.rmtree(meta, ignore_errors=True)
    meta.mkdir()
    (meta / "comment").write_text(pkg.comment.strip('"') + "\n")
    (meta / "descr").write_text(pkg.descr)
    (meta / "build-info").write_text(build_info(pkg))
    (meta / "build-version").write_text(f"{pkg.pkgpath}: sotimestamp devtools/installed/guestpkgs.py\n")
    plist = [f"@name {pkg.pkgname}"] + [f"@pkgdep {d}" for d in pkg.depends] + sorted(pkg.plist)
    (meta / "plist").write_text("\n".join(plist) + "\n")
    root = pkg.stage / PREFIX.lstrip("/")
    size = sum((root / p).lstat().st_size for p in pkg.plist)
    (meta / "size-pkg").write_text(f"{size}\n")
    out = out_dir / f"{pkg.pkgname}.tgz"
    # Owner and group by number 0 (this host has no group "wheel").
    cmd = [str(host_pkg_create()), "-u", "root", "-g", "root",
           "-B", str(meta / "build-info"), "-b", str(meta / "build-version"),
           "-c", str(meta / "comment"), "-d", str(meta / "descr"), "-f", str(meta / "plist"),
           "-s", str(meta / "size-pkg"), "-I", PREFIX, "-p", str(root)]
    if pkg.message:
        (meta / "message").write_text(pkg.message)
        cmd += ["-D", str(meta / "message")]
    for flag, script, name in (("-i", pkg.install_script, "install"), ("-k", pkg.deinstall_script, "deinstall")):
        if script:
            (meta / name).write_text(script)
            cmd += [flag, str(meta / name)]
    res = subprocess.run([*cmd, str(out)], capture_output=True, text=True)
    if res.returncode != 0 or not out.exists():
        raise TreeError(f"pkg_create {pkg.pkgname} failed: {res.stderr.strip()}")
    return out


# --- all of them -----------------------------------------------------------------

TQDM_VERSION = "4.67.1"
PCAPNG_SDIST = "python-pcapng-2.1.1.tar.gz"


def _pip(*args: str) -> None:
    import sys
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def _distinfo_sha512(distinfo: Path, name: str) -> str:
    m = re.search(rf"^SHA512 \({re.escape(name)}\) = (\w+)$", distinfo.read_text(), re.M)
    if not m:
        raise TreeError(f"{distinfo}: no SHA512 for {name}")
    return m.group(1)


def pcapng_wheel(pkgsrc: Path, downloads: Path) -> Path:
    """The wheel pkgsrc would build from the distfile its distinfo names."""
    sdist = downloads / PCAPNG_SDIST
    if not sdist.exists():
        _pip("download", "--no-deps", "--no-binary=:all:", "-d", str(downloads), "python-pcapng==2.1.1")
    fetched.check(sdist, _distinfo_sha512(pkgsrc / "net/py-pcapng/distinfo", PCAPNG_SDIST), "sha512")
    wheels = downloads / "pcapng-wheel"
    found = list(wheels.glob("python_pcapng-2.1.1-*.whl"))
    if not found:
        _pip("wheel", "--no-deps", "-w", str(wheels), str(sdist))
        found = list(wheels.glob("python_pcapng-2.1.1-*.whl"))
    return found[0]


def tqdm_wheel(downloads: Path) -> Path:
    found = list(downloads.glob(f"tqdm-{TQDM_VERSION}-*.whl"))
    if not found:
        _pip("download", "--no-deps", "--only-binary=:all:", "-d", str(downloads), f"tqdm=={TQDM_VERSION}")
        found = list(downloads.glob(f"tqdm-{TQDM_VERSION}-*.whl"))
    return found[0]


def build_all(src: Path, out: Path) -> list[Path]:
    """The six packages into out/ (rebuilt each time: they are small but
    python311, which takes ~1 min to pack)."""
    from devtools.installed import guestpython
    from devtools.release import dist as release

    work = config.cache() / "guestpkgs-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    downloads = fetched.directory()
    rel = release.release(config.PROJECT, allow_dirty=True, dist=work / "dist", with_kernel=False)
    pkgsrc = work / "pkgsrc"
    with tarfile.open(next(p for p in rel.files if p.name.startswith("pkgsrc-sotimestamp-"))) as tar:
        tar.extractall(pkgsrc, filter="data")
    wheel = next(p for p in rel.files if p.suffix == ".whl")
    kernel_tar = next(p for p in rel.files if p.name.startswith("sotimestamp-kernel-"))
    py_root = guestpython.build(src)
    py_stage = work / "python311-stage"
    shutil.copytree(py_root, py_stage, symlinks=True)
    tqdm_stage = work / "tqdm-stage"
    tqdm_whl = tqdm_wheel(downloads)
    stage_wheel(tqdm_whl, tqdm_stage)
    tqdm_bin = tqdm_stage / "usr/pkg/bin/tqdm"
    if tqdm_bin.exists():  # misc/py-tqdm names it per Python version too
        tqdm_bin.rename(tqdm_bin.with_name(f"tqdm-{PYVERSSUFFIX}"))
    packages = [
        tree_package("python311-3.11.2", "lang/python311",
                     "Interpreted, interactive, object-oriented programming language",
                     "CPython 3.11.2 cross-built for NetBSD/amd64 with the tree's toolchain\n"
                     "(sotimestamp devtools/installed/guestpython.py), standing in for lang/python311.\n",
                     py_stage),
        tree_package(f"{PYPKGPREFIX}-tqdm-{TQDM_VERSION}", "misc/py-tqdm",
                     "Fast, Extensible Progress Meter",
                     "tqdm from its wheel, standing in for pkgsrc's misc/py-tqdm.\n",
                     tqdm_stage, depends=[PYTHON_DEPEND]),
        python_package(pcapng_wheel(pkgsrc, downloads), pkgsrc / "net/py-pcapng", work, {}),
        python_package(wheel, pkgsrc / "net/py-sotimestamp", work, {},
                       sdist=next(p for p in rel.files if p.name == f"sotimestamp-{rel.version}.tar.gz")),
        kernel_package(kernel_tar, pkgsrc / KERNEL_PKG, work),
        alternatives_package(work),
    ]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    made = []
    for pkg in packages:
        made.append(pkg_create(pkg, out))
        print(f"package {made[-1].name}: {len(pkg.plist)} files, depends {pkg.depends or '-'}", flush=True)
    return made
