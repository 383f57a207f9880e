"""Shared fixtures: real loopback sockets (no mocks), tshark availability."""
from __future__ import annotations

import shutil
import socket
import time
from typing import Iterator, List, Tuple

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


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (devtools/install-test-deps.sh installs it)")
    return path


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
