"""``python -m wflogging``: the ``wflogging`` command (see :mod:`wflogging.cli`)."""

from __future__ import annotations

import sys

from wflogging.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
