"""UDP flows (source and destination address and port): their names, and the ``--flow``
selection ``stats`` and ``replay`` share.

A flow is written ``src:port > dst:port`` (IPv6 in brackets), as ``stats`` prints it.
``--flow`` takes comma-separated terms that must all hold, ``src=ADDR[:PORT]``,
``dst=ADDR[:PORT]``, ``port=PORT`` (either end); ``--flow`` given several times
chooses the flows any one of them matches.

>>> FlowFilter.parse(["dst=239.1.1.1:5000", "port=6000"]).matches(("10.0.0.1", 4000), ("239.1.1.1", 5000))
True
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .pcap.format import Address


def host_port(address: Address) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{address[0]}]:{address[1]}" if ":" in str(address[0]) else f"{address[0]}:{address[1]}"


def flow_name(src: Address, dst: Address) -> str:
    return f"{host_port(src)} > {host_port(dst)}"


def key_addresses(key: bytes) -> tuple[Address, Address]:
    """(src, dst) of a flow key of :func:`sotimestamp.pcap.read.udp_flow` (raw addresses, then ports)."""
    family, size = (socket.AF_INET, 4) if len(key) == 12 else (socket.AF_INET6, 16)
    sport, dport = struct.unpack_from("!HH", key, 2 * size)
    return ((socket.inet_ntop(family, key[:size]), sport), (socket.inet_ntop(family, key[size:2 * size]), dport))


@dataclass(frozen=True)
class _End:
    """``ADDR[:PORT]`` of one end (``port`` None: any)."""

    address: Any  # ipaddress.IPv4Address | IPv6Address
    port: int | None

    def matches(self, end: Address) -> bool:
        return (self.port is None or self.port == end[1]) and bool(ipaddress.ip_address(str(end[0])) == self.address)


def _end(text: str, term: str) -> _End:
    host, port = text, None
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            raise ValueError(f"--flow {term}: {text!r} is not ADDR, ADDR:PORT or [IPV6]:PORT")
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"--flow {term}: {host!r} is not an IPv4 or IPv6 address") from None
    return _End(address, None if port is None else _port(port, term))


def _port(text: str, term: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"--flow {term}: port {text!r} is not a number from 0 to 65535")
    return int(text)


@dataclass(frozen=True)
class _Terms:
    src: _End | None = None
    dst: _End | None = None
    port: int | None = None

    def matches(self, src: Address, dst: Address) -> bool:
        return ((self.src is None or self.src.matches(src)) and (self.dst is None or self.dst.matches(dst))
                and (self.port is None or self.port in (src[1], dst[1])))


@dataclass(frozen=True)
class FlowFilter:
    """The flows ``--flow`` chooses (every flow when it was not given)."""

    choices: tuple[_Terms, ...] = ()

    @classmethod
    def parse(cls, specs: Sequence[str] | None) -> FlowFilter:
        """Raises ValueError naming the term it cannot read."""
        choices = []
        for spec in specs or ():
            fields: dict[str, Any] = {}
            for term in spec.split(","):
                name, sep, value = term.strip().partition("=")
                if not sep or name not in ("src", "dst", "port") or name in fields:
                    raise ValueError(f"--flow {spec!r}: terms are src=ADDR[:PORT], dst=ADDR[:PORT] and port=PORT, "
                                     f"each once, separated by commas")
                fields[name] = _port(value, term) if name == "port" else _end(value, term)
            choices.append(_Terms(**fields))
        return cls(tuple(choices))

    def matches(self, src: Address, dst: Address) -> bool:
        return not self.choices or any(terms.matches(src, dst) for terms in self.choices)
