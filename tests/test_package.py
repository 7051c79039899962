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


def test_reading_events_loads_none_of_the_logging_side() -> None:
    """The command line's reader and report import neither the formatter, the handlers nor the recorder."""
    logging_side = ("wflogging.formatter", "wflogging.handler", "wflogging.recorder", "pythonjsonlogger")
    probe = (
        "import sys, wflogging.cli.report, wflogging.reader; "
        f"print([m for m in {logging_side!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_public_names_load_on_first_use_and_the_run_stamp_at_import() -> None:
    """`import wflogging` installs the record factory; a public name imports its module when first used."""
    probe = (
        "import logging, sys, wflogging\n"
        "record = logging.getLogRecordFactory()('n', 20, 'p', 1, 'm', (), None)\n"
        "print('_wflogging_run_id' in record.__dict__, 'wflogging.handler' in sys.modules)\n"
        "print(wflogging.TaskEventHandler.__module__, 'wflogging.handler' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False", "wflogging.handler", "True"]


def test_version_comes_from_the_installed_metadata() -> None:
    """`wflogging.__version__` is the installed distribution's version."""
    from importlib.metadata import version

    assert wflogging.__version__ == version("wflogging")


def test_every_public_name_is_importable() -> None:
    """Each name in `wflogging.__all__` is an attribute of the package."""
    missing = [name for name in wflogging.__all__ if not hasattr(wflogging, name)]
    assert missing == []
