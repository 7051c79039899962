"""``wflogging export --otlp-endpoint`` and ``demo --otlp-endpoint`` when the backend is down.

What Phoenix cannot show: how the commands end when nothing answers. A refused
connection ends them at once; an endpoint that accepts the connection and never
answers ends them within ``--timeout``. Either way: one line naming the URL and
the cause, a non-zero exit, and no claim that anything was exported.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http",
    reason="the otel extra is not installed: pip install 'wflogging[otel]'",
)

from wflogging.demo import run_demo

#: The issue's bound for a refused connection: the command has ended within this many seconds.
REFUSED_BOUND_SECONDS = 2.0


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connecting to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers a request."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1/traces"


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "demo.jsonl"
    run_demo(path)
    return path


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wflogging", *args], capture_output=True, text=True, timeout=60, check=False
    )
    return done, time.monotonic() - started


def _one_clear_line(stderr: str, url: str, cause: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert url in lines[0]
    assert cause in lines[0]
    assert "Traceback" not in stderr


def test_export_to_a_refused_endpoint_ends_at_once(events: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/traces"
    done, seconds = _run("export", "--otlp-endpoint", url, str(events))
    assert done.returncode == 2
    assert seconds < REFUSED_BOUND_SECONDS
    _one_clear_line(done.stderr, url, "connection refused")
    assert "0 of 13 spans accepted" in done.stderr
    assert "exported" not in done.stdout


def test_export_to_a_silent_endpoint_ends_within_the_timeout(events: Path, silent_endpoint: str) -> None:
    done, seconds = _run("export", "--otlp-endpoint", silent_endpoint, "--timeout", "1.5", str(events))
    assert done.returncode == 2
    assert seconds < 1.5 + REFUSED_BOUND_SECONDS  # the timeout, plus the interpreter's start
    _one_clear_line(done.stderr, silent_endpoint, "1.5 s")
    assert "exported" not in done.stdout


def test_demo_with_a_refused_endpoint_writes_its_file_and_claims_no_export(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/traces"
    output = tmp_path / "demo.jsonl"
    done, seconds = _run("demo", "-o", str(output), "--otlp-endpoint", url)
    assert done.returncode == 2
    assert seconds < REFUSED_BOUND_SECONDS + 1.0  # the demo's report runs after the failed export
    _one_clear_line(done.stderr, url, "connection refused")
    assert "exported run" not in done.stdout
    assert len(output.read_text().splitlines()) == 6  # the events file has the whole run


def test_demo_with_a_silent_endpoint_ends_within_the_timeout(
    tmp_path: Path, silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo takes the standard OTEL_EXPORTER_OTLP_TIMEOUT."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1.5")
    done, seconds = _run("demo", "-o", str(tmp_path / "demo.jsonl"), "--otlp-endpoint", silent_endpoint)
    assert done.returncode == 2
    assert seconds < 1.5 + REFUSED_BOUND_SECONDS + 1.0
    _one_clear_line(done.stderr, silent_endpoint, "1.5 s")
    assert "exported run" not in done.stdout


def test_export_reads_stdin_gzip_and_quoted_globs_and_rejects_bad_options(
    events: Path, tmp_path: Path
) -> None:
    """Inputs as report reads them; a quoted glob that matches nothing, or a bad option, is one line."""
    url = f"http://127.0.0.1:{_closed_port()}/v1/traces"
    done, _ = _run("export", "--otlp-endpoint", url, str(tmp_path / "nothing-*.jsonl"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"wflogging: error: {tmp_path / 'nothing-*.jsonl'}: no file matches"
    done, _ = _run("export", "--otlp-endpoint", url, "--sample", "0", str(events))
    assert done.returncode == 2
    assert "--sample" in done.stderr
