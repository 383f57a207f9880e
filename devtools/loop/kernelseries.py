"""The series applier shared with the kernel package: sys/tools/sotimestamp_kernel.py.

That file is installed as an administrator's command (standard library only,
no devtools), so it is loaded from its place in sys/ rather than copied."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from devtools.config import PROJECT

PATH = PROJECT / "sys" / "tools" / "sotimestamp_kernel.py"
NAME = "sotimestamp_kernel"


def _load() -> ModuleType:
    if NAME in sys.modules:
        return sys.modules[NAME]
    spec = importlib.util.spec_from_file_location(NAME, PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


core = _load()
