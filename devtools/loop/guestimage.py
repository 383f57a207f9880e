"""Build what `invoke vmtest` boots: static test programs in a memory-disk
root inside the SOTSTEST kernel, on a GRUB ISO (GRUB's knetbsd boots it)."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devtools.loop import build
from devtools.loop.tree import TreeError

OUR_TESTS = Path("tests/net/timestamp")  # in the patched tree
# Test programs built a second time for i386 (-m32 against the i386
# libraries of build.GUEST_LIB32_DIRS): the guest runs them as i386/NAME,
# a 32-bit process on the amd64 kernel (COMPAT_NETBSD32).  What they
# cover: RX software stamps, TX stamps and the error queue,
# SIOCGHWTSOFFSET and the other hardware stamping ioctls, bpf's
# BPF_T_NANOTIME, and the layouts of t_tstamp_abi (SCM_TIMESTAMP's among
# them: t_timestamp_baseline sets SO_RCVTIMEO, whose 32-bit struct
# timeval 7.99.10's compat layer does not convert).
I386_TESTS = ("t_hwtstamp", "t_hwtstamp_rx", "t_tstamp_abi", "t_tstamp_rx", "t_txtimestamp")
I386_DIR = "atf-i386"  # under /tests in the guest (loop/guest/init.c)
RUNNER = Path(__file__).resolve().parent / "guest" / "init.c"
MD_ROOT_SECTORS = 65536  # MEMORY_DISK_ROOT_SIZE of SOTSTEST

# Device nodes the guest needs (amd64 majors: cons 0, mem 2, bpf 23, rnd 46;
# chronyc names its socket's directory from /dev/urandom).
DEV_SPEC = """\
/set type=dir uname=root gname=wheel mode=0755
.
./dev type=dir
./dev/console type=char device=netbsd,0,0 mode=0600
./dev/null type=char device=netbsd,2,2 mode=0666
./dev/zero type=char device=netbsd,2,12 mode=0666
./dev/urandom type=char device=netbsd,46,1 mode=0644
./dev/bpf type=char device=netbsd,23,0 mode=0600
./dev/bpf0 type=char device=netbsd,23,0 mode=0600
./dev/bpf1 type=char device=netbsd,23,1 mode=0600
"""


@dataclass(frozen=True)
class TestProgram:
    source: Path
    atf: bool
    i386: bool = False

    @property
    def name(self) -> str:
        return self.source.stem

    @property
    def staged(self) -> Path:
        """Where the guest finds it, under /tests."""
        return Path(I386_DIR if self.i386 else "atf" if self.atf else "plain") / self.name


def is_atf_source(path: Path) -> bool:
    return "ATF_TP_ADD_TCS" in path.read_text(errors="replace")


def collect_tests(src: Path, extra: Path | None, suite: bool = True) -> list[TestProgram]:
    """Our ATF programs (64- and 32-bit) and extra's; suite=False: extra's only."""
    programs = []
    if suite:
        programs = [TestProgram(p, True) for p in sorted((src / OUR_TESTS).glob("t_*.c"))]
        missing = [n for n in I386_TESTS if not (src / OUR_TESTS / f"{n}.c").is_file()]
        if missing:
            raise TreeError(f"i386 test programs not in {src / OUR_TESTS}: {', '.join(missing)}")
        programs += [TestProgram(src / OUR_TESTS / f"{n}.c", True, i386=True) for n in I386_TESTS]
    if extra is not None:
        if not extra.is_dir():
            raise TreeError(f"--extra {extra}: not a directory")
        sources = sorted(extra.glob("*.c"))
        if not sources:
            raise TreeError(f"--extra {extra}: no *.c files")
        programs += [TestProgram(p, is_atf_source(p)) for p in sources]
    names = [p.name for p in programs if not p.i386]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise TreeError(f"two test programs named {', '.join(sorted(dup))}")
    return programs


def compile_static(src: Path, source: Path, out: Path, *, atf: bool, i386: bool = False) -> None:
    tooldir = build.require_tools()
    dest = build.destdir(src)
    cmd = [str(tooldir / "bin" / "x86_64--netbsd-gcc"), f"--sysroot={dest}", "-static",
           *(["-m32"] if i386 else []), "-O2", "-Wall", "-Werror", "-o", str(out), str(source)]
    if atf:
        cmd.append("-latf-c")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise TreeError(f"cannot compile {source}:\n{res.stderr.strip()}")


def build_image(src: Path, kernel: Path, programs: list[TestProgram], workdir: Path,
                files: dict[str, Path] | None = None) -> Path:
    """Returns the ISO to boot; files: more programs, by their path in the guest."""
    tooldir = build.require_tools()
    if workdir.exists():
        shutil.rmtree(workdir)
    root = workdir / "root"
    for d in ("sbin", "tests/atf", f"tests/{I386_DIR}", "tests/plain", "tmp", "dev"):
        (root / d).mkdir(parents=True)
    compile_static(src, RUNNER, root / "sbin" / "init", atf=False)
    for prog in programs:
        compile_static(src, prog.source, root / "tests" / prog.staged, atf=prog.atf, i386=prog.i386)
    for guest_path, host_file in (files or {}).items():
        (root / guest_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(host_file, root / guest_path)
    spec = workdir / "spec"
    spec.write_text(DEV_SPEC + "".join(_spec_lines(root)))
    image = workdir / "root.fs"
    _run([str(tooldir / "bin" / "nbmakefs"), "-t", "ffs", "-B", "le", "-o", "version=1",
          "-s", f"{MD_ROOT_SECTORS * 512}", "-F", str(spec), "-N", str(src / "etc"),
          str(image), str(root)], "makefs")
    iso_root = workdir / "iso"
    (iso_root / "boot" / "grub").mkdir(parents=True)
    shutil.copy2(kernel, iso_root / "netbsd")
    _run([str(tooldir / "bin" / "x86_64--netbsd-mdsetimage"), str(iso_root / "netbsd"), str(image)],
         "mdsetimage")
    (iso_root / "boot" / "grub" / "grub.cfg").write_text(
        "set timeout=0\nset default=0\n"
        "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n"
        "menuentry sotimestamp-vmtest {\n  knetbsd /netbsd\n}\n")
    iso = workdir / "vmtest.iso"
    _run(["grub-mkrescue", "-o", str(iso), str(iso_root)], "grub-mkrescue")
    return iso


def _spec_lines(root: Path) -> list[str]:
    """mtree lines for everything staged (makefs -F wants the whole tree)."""
    lines = []
    for path in sorted(root.rglob("*")):
        rel = "./" + str(path.relative_to(root))
        if rel == "./dev":
            continue
        if path.is_dir():
            lines.append(f"{rel} type=dir mode={'01777' if rel == './tmp' else '0755'}\n")
        else:
            lines.append(f"{rel} type=file mode=0755\n")
    return lines


def _run(cmd: list[str], what: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise TreeError(f"{what} failed: {(res.stderr or res.stdout).strip()[-2000:]}")
