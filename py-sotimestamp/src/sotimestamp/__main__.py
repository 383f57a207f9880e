"""``python -m sotimestamp``: the same as the ``sotimestamp`` command."""
import sys

from .cli import main

sys.exit(main())
