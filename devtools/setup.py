"""`invoke setup`: the Debian packages the kernel loop and the tests use."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BACKPORTS = Path("/etc/apt/sources.list.d/sotimestamp-backports.list")
BACKPORTS_LINE = "deb http://deb.debian.org/debian bookworm-backports main\n"
# name of a command -> package that provides it
PACKAGES = {
    "grub-mkrescue": "grub-pc-bin", "xorriso": "xorriso", "mformat": "mtools",
    "tshark": "tshark", "genisoimage": "genisoimage", "strace": "strace",
    "mandoc": "mandoc", "patch": "patch",
}


def _qemu_ok() -> bool:
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return False
    out = subprocess.run([qemu, "-device", "help"], capture_output=True, text=True).stdout
    return '"igb"' in out


def install_debian_packages() -> None:
    if os.geteuid() != 0:
        raise SystemExit("sotimestamp: `invoke setup` installs Debian packages and must run as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if not shutil.which(cmd)})
    need_qemu = not _qemu_ok()
    if not missing and not need_qemu:
        print("setup: everything is installed (QEMU with igb, grub-pc-bin, xorriso, mtools, tshark, ...)")
        return
    if need_qemu and not any("bookworm-backports" in p.read_text()
                             for p in Path("/etc/apt/sources.list.d").glob("*.list")):
        print(f"setup: adding bookworm-backports ({BACKPORTS})")
        BACKPORTS.write_text(BACKPORTS_LINE)
    subprocess.run(["sh", "-c", "echo 'wireshark-common wireshark-common/install-setuid boolean false'"
                    " | debconf-set-selections"], check=True)
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    if need_qemu:
        print("setup: installing qemu-system-x86 from bookworm-backports (QEMU 10, -device igb)")
        subprocess.run(["apt-get", "install", "-y", "-q", "-t", "bookworm-backports", "qemu-system-x86"],
                       check=True, env=env)
    if missing:
        print(f"setup: installing {' '.join(missing)}")
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
