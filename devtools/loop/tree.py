"""Is NETBSDSRCDIR the pinned tree?  (Which series items it holds: series.report.)

The checks live in sys/tools/sotimestamp_kernel.py, the command the kernel
package installs, so the loop and an administrator's tree are judged alike."""
from __future__ import annotations

from devtools.loop.kernelseries import core

PINNED_VERSION: int = core.PINNED_VERSION
SERIES_VERSION: int = core.SERIES_VERSION
SERIES_RELEASE: str = core.SERIES_RELEASE
TreeError = core.TreeError
netbsd_version = core.netbsd_version
check_pinned = core.check_pinned
release_name = core.release_name
