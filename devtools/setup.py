"""`invoke setup`: the Debian packages the kernel loop and the tests use."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BACKPORTS = Path("/etc/apt/sources.list.d/sotimestamp-backports.list")
# name of a command -> package that provides it
PACKAGES = {
    "grub-mkrescue": "grub-pc-bin", "xorriso": "xorriso", "mformat": "mtools",
    "tshark": "tshark", "genisoimage": "genisoimage", "strace": "strace",
    "mandoc": "mandoc", "patch": "patch", "cmake": "cmake",  # cmake: invoke interop (libpcap, tcpdump)
    "bison": "bison",  # invoke interop: chrony's getdate.y (its git tags carry no getdate.c)
}
# What `invoke pkglint` builds the current pkglint with (devtools/release/realpkglint.py):
# Go >= 1.23 from bookworm-backports, and the one module pkglint needs beyond the standard
# library (golang.org/x/crypto/blake2s, with x/sys/cpu), from Debian instead of a Go proxy.
GO_BACKPORT = "golang-1.23-go"
GO_SOURCES = {"/usr/share/gocode/src/golang.org/x/crypto/blake2s": "golang-golang-x-crypto-dev",
              "/usr/share/gocode/src/golang.org/x/sys/cpu": "golang-golang-x-sys-dev"}


def _qemu_ok() -> bool:
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return False
    out = subprocess.run([qemu, "-device", "help"], capture_output=True, text=True).stdout
    return '"igb"' in out


def _debian_mirror() -> str:
    """The URI this machine already uses for bookworm (the backports suite
    lives on the same mirror)."""
    apt = Path("/etc/apt")
    for f in sorted(apt.glob("sources.list.d/*.sources")):
        uris = suites = None
        for line in f.read_text().splitlines() + [""]:
            if line.startswith("URIs:"):
                uris = line.split()[1]
            elif line.startswith("Suites:"):
                suites = line.split()[1:]
            elif not line.strip() and uris and suites:
                if "bookworm" in suites:
                    return uris
                uris = suites = None
    for f in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        if f.exists():
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                    return parts[1]
    raise SystemExit("sotimestamp: no bookworm entry in /etc/apt to add bookworm-backports next to")


def install_debian_packages() -> None:
    if os.geteuid() != 0:
        raise SystemExit("sotimestamp: `invoke setup` installs Debian packages and must run as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if not shutil.which(cmd)}
                     | {pkg for path, pkg in GO_SOURCES.items() if not Path(path).is_dir()})
    need_qemu = not _qemu_ok()
    from devtools.release.realpkglint import Unavailable, find_go
    try:
        find_go()
        need_go = False
    except Unavailable:
        need_go = True
    if not missing and not need_qemu and not need_go:
        print("setup: everything is installed (QEMU with igb, grub-pc-bin, xorriso, mtools, tshark, ...)")
        return
    if (need_qemu or need_go) and not any("bookworm-backports" in p.read_text()
                             for p in Path("/etc/apt/sources.list.d").glob("*.list")):
        print(f"setup: adding bookworm-backports ({BACKPORTS})")
        BACKPORTS.write_text(f"deb {_debian_mirror()} bookworm-backports main\n")
    subprocess.run(["sh", "-c", "echo 'wireshark-common wireshark-common/install-setuid boolean false'"
                    " | debconf-set-selections"], check=True)
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    if need_qemu:
        print("setup: installing qemu-system-x86 from bookworm-backports (QEMU 10, -device igb)")
        subprocess.run(["apt-get", "install", "-y", "-q", "-t", "bookworm-backports", "qemu-system-x86"],
                       check=True, env=env)
    if need_go:
        print(f"setup: installing {GO_BACKPORT} from bookworm-backports (Go 1.23, for the current pkglint)")
        subprocess.run(["apt-get", "install", "-y", "-q", "-t", "bookworm-backports", GO_BACKPORT],
                       check=True, env=env)
    if missing:
        print(f"setup: installing {' '.join(missing)}")
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
