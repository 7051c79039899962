"""The package as a whole: what importing it costs and what it exposes."""

from __future__ import annotations

import subprocess
import sys

import wflogging

# Heavy modules a program that only logs should not pay for at start-up.
_NOT_AT_IMPORT = ("asyncio", "multiprocessing.queues", "importlib.metadata", "opentelemetry", "jsonschema")


def test_importing_wflogging_loads_no_heavy_optional_modules() -> None:
    """`import wflogging` leaves asyncio, multiprocessing, importlib.metadata and the extras unloaded."""
    probe = f"import sys, wflogging; print([m for m in {_NOT_AT_IMPORT!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_version_comes_from_the_installed_metadata() -> None:
    """`wflogging.__version__` is the installed distribution's version."""
    from importlib.metadata import version

    assert wflogging.__version__ == version("wflogging")


def test_every_public_name_is_importable() -> None:
    """Each name in `wflogging.__all__` is an attribute of the package."""
    missing = [name for name in wflogging.__all__ if not hasattr(wflogging, name)]
    assert missing == []
