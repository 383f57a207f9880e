"""Kernel timestamps of UDP datagrams: SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("sotimestamp")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
