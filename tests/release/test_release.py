"""invoke release: reproducible artifacts, their names, and the refusals."""
from __future__ import annotations

import gzip
import hashlib
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.release.helpers import Released, clone, run_invoke, sha256s, version


def test_two_clean_clones_give_byte_identical_dist(two_releases: tuple[Released, Released]) -> None:
    a, b = two_releases
    assert a.repo != b.repo
    hashes_a, hashes_b = sha256s(a.dist), sha256s(b.dist)
    assert hashes_a == hashes_b
    v = a.version
    assert set(hashes_a) == {
        f"sotimestamp-{v}.tar.gz", f"sotimestamp-{v}-py3-none-any.whl",
        f"sotimestamp-kernel-{v}.tar.gz", f"pkgsrc-sotimestamp-{v}.tar.gz", "SHA512", "SHA256",
    }


def test_kernel_image_skip_is_reported(released: Released) -> None:
    assert "netbsd-GENERIC: skipped, NETBSDSRCDIR is not set" in released.stdout


def test_checksum_files_cover_every_artifact(released: Released) -> None:
    for alg in ("SHA512", "SHA256"):
        lines = (released.dist / alg).read_text().splitlines()
        listed = {}
        for line in lines:
            head, _, digest = line.partition(" = ")
            assert head.startswith(f"{alg} (") and head.endswith(")")
            listed[head[len(alg) + 2:-1]] = digest
        artifacts = {p.name for p in released.dist.iterdir() if p.name not in ("SHA512", "SHA256")}
        assert set(listed) == artifacts
        for name, digest in listed.items():
            assert hashlib.new(alg.lower(), (released.dist / name).read_bytes()).hexdigest() == digest


def _epoch(repo: Path) -> int:
    return int(subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%ct"],
                              capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("name", ["sotimestamp-{v}.tar.gz", "sotimestamp-kernel-{v}.tar.gz",
                                  "pkgsrc-sotimestamp-{v}.tar.gz"])
def test_tarballs_are_normalized(released: Released, name: str) -> None:
    path = released.dist / name.format(v=released.version)
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    flags, mtime = raw[3], int.from_bytes(raw[4:8], "little")
    assert flags & 0x08 == 0, "gzip header carries a file name"
    assert mtime == 0, "gzip header carries a time"
    epoch = _epoch(released.repo)
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", ""), m.name
        assert m.mtime == epoch, m.name
        assert m.mode in (0o644, 0o755), m.name


def test_wheel_is_normalized(released: Released) -> None:
    with zipfile.ZipFile(released.dist / f"sotimestamp-{released.version}-py3-none-any.whl") as zf:
        infos = zf.infolist()
    stamps = {i.date_time for i in infos}
    assert len(stamps) == 1
    assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}


def test_kernel_tarball_holds_sys_and_the_license(released: Released) -> None:
    v = released.version
    with tarfile.open(released.dist / f"sotimestamp-kernel-{v}.tar.gz") as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    tracked = subprocess.run(["git", "-C", str(released.repo), "ls-files", "sys"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert names == {f"sotimestamp-kernel-{v}/{p[len('sys/'):]}" for p in tracked} | {f"sotimestamp-kernel-{v}/LICENSE"}


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_version_mismatch_is_refused(tmp_path: Path) -> None:
    repo = clone(tmp_path / "repo")
    line = _one_line_error(run_invoke(repo, "release", "--version", "99.0.0"))
    assert "--version 99.0.0 does not match" in line and version() in line
    assert not (repo / "dist").exists()


def test_matching_version_is_accepted_and_dirty_tree_refused(tmp_path: Path) -> None:
    repo = clone(tmp_path / "repo")
    (repo / "stray.txt").write_text("x\n")
    with open(repo / "tasks.py", "a") as fh:
        fh.write("# local edit\n")
    line = _one_line_error(run_invoke(repo, "release", "--version", version()))
    assert "dirty" in line and "stray.txt" in line and "tasks.py" in line and "--allow-dirty" in line
    assert not (repo / "dist").exists()


def _stand_in_kernel(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(cache, tree, kernel): a NETBSDSRCDIR with a kernel in its object dir."""
    cache, tree = tmp_path / "cache", tmp_path / "netbsd-src"
    tree.mkdir()
    kernel = cache / f"obj-{tree.name}" / "sys/arch/amd64/compile/GENERIC/netbsd"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"\x7fELF stand-in kernel")
    return cache, tree, kernel


def test_allow_dirty_releases_the_work_tree_and_refuses_a_foreign_kernel(tmp_path: Path) -> None:
    """--allow-dirty releases the edited work tree. A kernel built from a tree
    without this series applied is not shipped, and the run says why."""
    repo = clone(tmp_path / "repo")
    (repo / "sys" / "DIRTY-NOTE").write_text("uncommitted\n")
    cache, tree, _ = _stand_in_kernel(tmp_path)
    proc = run_invoke(repo, "release", "--allow-dirty", cache=cache, env_extra={"NETBSDSRCDIR": str(tree)})
    assert proc.returncode == 0, proc.stderr
    assert "dirty tree" in proc.stdout
    v = version()
    with tarfile.open(repo / "dist" / f"sotimestamp-kernel-{v}.tar.gz") as tar:
        assert f"sotimestamp-kernel-{v}/DIRTY-NOTE" in tar.getnames()
    assert f"netbsd-GENERIC: skipped, {tree} does not have this release's series applied" in proc.stdout
    assert not list((repo / "dist").glob("netbsd-GENERIC*"))


def test_a_kernel_of_this_series_is_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With NETBSDSRCDIR set and its GENERIC built from this series (the tree
    comparison is stubbed: no NetBSD tree here), netbsd-GENERIC-V.gz is the
    kernel, gzipped reproducibly, and in the checksum files."""
    from devtools.release import dist as release

    repo = clone(tmp_path / "repo")
    cache, tree, kernel = _stand_in_kernel(tmp_path)
    monkeypatch.setenv("NETBSDSRCDIR", str(tree))
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(cache))
    monkeypatch.setattr(release, "_kernel_mismatch", lambda src, sysdir, k: None)
    rel = release.release(repo)
    v = version()
    image = repo / "dist" / f"netbsd-GENERIC-{v}.gz"
    assert image in rel.files
    assert gzip.decompress(image.read_bytes()) == kernel.read_bytes()
    assert image.read_bytes()[4:8] == b"\0\0\0\0"
    assert f"netbsd-GENERIC-{v}.gz" in (repo / "dist" / "SHA512").read_text()


def test_kernel_sources_are_the_series_files_generic_is_built_from() -> None:
    from devtools.release import dist as release

    paths = ["sys/kern/uipc_tstamp.c", "sys/rump/librump/rumpnet/Makefile.rumpnet",
             "tests/net/timestamp/t_tstamp_rx.c", "share/man/man4/wm.4", "sys/dev/pci/if_wm.c"]
    assert release.kernel_sources(paths) == ["sys/kern/uipc_tstamp.c", "sys/dev/pci/if_wm.c"]


@pytest.mark.parametrize("written, why", [
    ("0.1", None),
    ("1.0.0rc1", None),
    ("0.1.0-beta", "write version '0.1.0-beta' as '0.1.0b0'"),
    ("01.2", "write version '01.2' as '1.2'"),
    ("latest", "is not a PEP 440 version"),
])
def test_release_version_must_be_a_canonical_pep440_version(tmp_path: Path, written: str, why: str | None) -> None:
    """pip, the wheel's file name and pkgsrc's DISTNAME must spell the version alike."""
    from devtools.release.dist import ReleaseError, package_version

    (tmp_path / "py-sotimestamp").mkdir()
    (tmp_path / "py-sotimestamp" / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{written}"\n')
    if why is None:
        assert package_version(tmp_path) == written
    else:
        with pytest.raises(ReleaseError, match=why):
            package_version(tmp_path)


@pytest.mark.parametrize("requirement, pattern, problem", [
    ("tqdm>=4.60", "${PYPKGPREFIX}-tqdm>=4.60", None),
    ("tqdm>=4.60", "${PYPKGPREFIX}-tqdm>=4.60.0", None),
    ("tqdm>=4.60", "${PYPKGPREFIX}-tqdm>=4.50", "floor 4.50 differs from the wheel's tqdm>=4.60"),
    ("tqdm>=4.60", "${PYPKGPREFIX}-tqdm-[0-9]*", "has no floor, the wheel needs tqdm>=4.60"),
    ("tqdm", "${PYPKGPREFIX}-tqdm-[0-9]*", None),
    ("tqdm>=4.60,<5", "${PYPKGPREFIX}-tqdm>=4.60", None),
])
def test_pkgsrc_depends_floor_matches_the_wheel(requirement: str, pattern: str, problem: str | None) -> None:
    from packaging.requirements import Requirement

    from devtools.release.pkglint import depends_floor_problem

    found = depends_floor_problem(Requirement(requirement), pattern)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
