"""``ADDR:PORT`` arguments: ``127.0.0.1:5000``, ``[::1]:5000``, ``239.1.2.3:5000``."""
from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple


class Endpoint(NamedTuple):
    host: str
    port: int

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def is_multicast(self) -> bool:
        return ipaddress.ip_address(self.host).is_multicast

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``ADDR:PORT`` (IPv6 in brackets); raises ValueError with a one-line reason.

    >>> parse_endpoint("[::1]:5000")
    Endpoint(host='::1', port=5000)
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not ADDR:PORT (e.g. 127.0.0.1:5000 or [::1]:5000)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:5000")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IPv4 or IPv6 address") from None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number from 0 to 65535")
    if address.version == 6 and address.is_link_local and not getattr(address, "scope_id", None):
        raise ValueError(f"{text!r}: {host} is link-local: it needs a scope, the interface it is on, "
                         f"e.g. [{host}%eth0]:{port_text} (or %wm0, %lo0)")
    return Endpoint(str(address), int(port_text))
