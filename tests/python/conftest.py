"""Shared fixtures: real loopback sockets (no mocks), tshark availability."""
from __future__ import annotations

import os
import shutil
import socket
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import sotimestamp
from sotimestamp import constants as C

HOSTS = {"ipv4": ("127.0.0.1", socket.AF_INET), "ipv6": ("::1", socket.AF_INET6)}


def loopback_pair(family_name: str) -> Tuple[socket.socket, socket.socket]:
    host, family = HOSTS[family_name]
    try:
        rx = socket.socket(family, socket.SOCK_DGRAM)
        rx.bind((host, 0))
    except OSError as exc:
        pytest.skip(f"{family_name} loopback unavailable here: {exc.strerror}")
    rx.settimeout(2.0)
    tx = socket.socket(family, socket.SOCK_DGRAM)
    tx.bind((host, 0))
    return rx, tx


@pytest.fixture(params=["ipv4", "ipv6"])
def pair(request: pytest.FixtureRequest) -> Iterator[Tuple[socket.socket, socket.socket]]:
    rx, tx = loopback_pair(request.param)
    with rx, tx:
        yield rx, tx


#: The reference tools the tests check our files and pages against, and the tests each skipped.
MISSING_TOOLS: Dict[str, int] = {}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def need_tool(name: str) -> str:
    """The path of ``name`` (tshark, capinfos, editcap, mandoc).  Missing, the test is skipped and
    the run ends with a line saying so; under ``CI`` (set by every CI service) it fails: a CI
    run without them would pass while checking nothing against them."""
    path = shutil.which(name)
    if path is None:
        if _in_ci():
            pytest.fail(f"{name} not installed and CI is set: the tests check files against it "
                        f"(devtools/install-test-deps.sh installs it)", pytrace=False)
        MISSING_TOOLS[name] = MISSING_TOOLS.get(name, 0) + 1
        pytest.skip(f"{name} not installed (devtools/install-test-deps.sh installs it)")
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One loud line when reference tools were missing (the skips are easy to miss among others)."""
    if MISSING_TOOLS:
        tools = ", ".join(f"{name} ({count} tests)" for name, count in sorted(MISSING_TOOLS.items()))
        terminalreporter.write_line(f"MISSING TOOLS: skipped the checks against {tools}; "
                                    f"devtools/install-test-deps.sh installs them", red=True, bold=True)


def wait_tx(sock: socket.socket, n: int, timeout: float = 2.0) -> List[sotimestamp.TxStamp]:
    """Collect at least ``n`` TX stamps (they are queued asynchronously on real NICs)."""
    stamps: List[sotimestamp.TxStamp] = []
    deadline = time.monotonic() + timeout
    while len(stamps) < n and time.monotonic() < deadline:
        stamps += sotimestamp.tx_timestamps(sock)
        if len(stamps) < n:
            time.sleep(0.01)
    return stamps


def loopback_name() -> str:
    """The loopback interface: "lo" on Linux, "lo0" on the BSDs."""
    return next((name for _i, name in socket.if_nameindex() if name.startswith("lo")), "lo")


def requires_kernel(*names: str) -> pytest.MarkDecorator:
    """Skip unless the running kernel has every one of ``names`` (a stock NetBSD kernel has
    none of the series' names: pkgsrc's `make test` runs this suite there too)."""
    missing = [name for name in names if not C.kernel_has(name)]
    table = C.current()
    provider = f" ({table.series_provider} provide it)" if table is not None and table.series_provider else ""
    return pytest.mark.skipif(bool(missing), reason=f"this kernel has no {', '.join(missing)}{provider}")
