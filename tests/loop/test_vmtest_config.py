"""`invoke vmtest --config NAME`: which kernel configs it boots, and the
SOTSTEST_MPSAFE config it is for.  No tree or QEMU needed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devtools import config
from devtools.loop import build, vmtest
from devtools.loop.tree import TreeError

CONF = config.project_sys() / "new" / "sys" / "arch" / "amd64" / "conf"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch) -> Path:
    """A tree with the project's test configs, as `invoke patch` puts them."""
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    conf = src / "sys" / "arch" / "amd64" / "conf"
    conf.mkdir(parents=True)
    for name in ("SOTSTEST", "SOTSTEST_MPSAFE"):
        (conf / name).write_text((CONF / name).read_text())
    (conf / "GENERIC").write_text('include "arch/amd64/conf/std.amd64"\n')
    return src


def built(src: Path, name: str) -> Path:
    kernel = build.kernel_path(src, name)
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"\x7fELF")
    return kernel


def test_default_and_mpsafe_configs_give_their_own_kernels(tree: Path) -> None:
    default = built(tree, "SOTSTEST")
    assert vmtest.test_kernel(tree) == default
    mpsafe = built(tree, "SOTSTEST_MPSAFE")
    assert vmtest.test_kernel(tree, "SOTSTEST_MPSAFE") == mpsafe
    assert mpsafe != build.kernel_path(tree, "SOTSTEST")


def test_unbuilt_config_names_the_kernel_command(tree: Path) -> None:
    with pytest.raises(TreeError, match=r"run `invoke kernel --config SOTSTEST_MPSAFE`"):
        vmtest.test_kernel(tree, "SOTSTEST_MPSAFE")


@pytest.mark.parametrize("name, why", [
    ("GENERIC", "GENERIC is not a test kernel config"),  # no memory-disk root: would not boot the runner
    ("NOSUCH", "no kernel config NOSUCH"),
    ("../SOTSTEST", "no kernel config"),
])
def test_other_configs_are_refused(tree: Path, name: str, why: str) -> None:
    if name == "GENERIC":
        built(tree, name)
    with pytest.raises(TreeError, match=why):
        vmtest.test_kernel(tree, name)


def test_mpsafe_config_is_sotstest_with_net_mpsafe() -> None:
    text = (CONF / "SOTSTEST_MPSAFE").read_text()
    directives = [l.split("#")[0].split() for l in text.splitlines() if l.split("#")[0].strip()]
    assert directives == [["include", '"arch/amd64/conf/SOTSTEST"'], ["options", "NET_MPSAFE"]]


def test_cli_has_config_option_defaulting_to_sotstest() -> None:
    inv = Path(sys.executable).parent / "invoke"
    out = subprocess.run([str(inv) if inv.exists() else "invoke", "vmtest", "--help"], cwd=config.PROJECT,
                         capture_output=True, text=True, check=True).stdout
    assert "--config" in out and "default" in out and "SOTSTEST" in out
