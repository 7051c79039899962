"""Arize Phoenix, a real OTLP backend, on loopback: found, installed or started for the tests.

``.ci/run`` installs the pinned version in its own virtual environment, starts it
on a free port and sets ``WFLOGGING_PHOENIX_URL``. Without that variable the
tests start one themselves: the ``phoenix`` of ``WFLOGGING_PHOENIX_BIN``, else of
``.venv-phoenix/`` in the checkout, which is created and installed on first use
(about a minute). If Phoenix cannot start, the tests fail and say why: they
never skip silently.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The Phoenix release the tests are written against (its API and GenAI conversion).
PHOENIX_VERSION = "20.26.1"
_CHECKOUT = Path(__file__).resolve().parents[1]
_START_TIMEOUT = 120.0


class Phoenix:
    """A running Phoenix: where to send spans and how to read them back through its own API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    @property
    def traces_url(self) -> str:
        return f"{self.base_url}/v1/traces"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=30) as response:
            return json.load(response)

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of ``project`` (REST ``/v1/projects/{name}/spans``, all pages)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            path = f"/v1/projects/{urllib.parse.quote(project)}/spans?{urllib.parse.urlencode(query)}"
            try:
                page = self._get(path)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # no span has reached the project (yet)
                    return []
                raise
            found.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def token_totals(self, project: str) -> tuple[int, int]:
        """Phoenix's own prompt and completion token totals for ``project`` (GraphQL)."""
        query = "{ projects { edges { node { name tokenCountPrompt tokenCountCompletion } } } }"
        request = urllib.request.Request(
            f"{self.base_url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            edges = json.load(response)["data"]["projects"]["edges"]
        for edge in edges:
            node = edge["node"]
            if node["name"] == project:
                return int(node["tokenCountPrompt"] or 0), int(node["tokenCountCompletion"] or 0)
        return 0, 0

    def wait_for_spans(self, project: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The project's spans once ``count`` have been stored (Phoenix ingests asynchronously).

        Polls Phoenix's API, the only way to know it has stored them; fails after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(project)
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.25)  # polling a server we do not control, not synchronising our own code


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _phoenix_executable() -> Path:
    given = os.environ.get("WFLOGGING_PHOENIX_BIN")
    if given:
        return Path(given)
    venv = _CHECKOUT / ".venv-phoenix"
    executable = venv / "bin" / "phoenix"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"arize-phoenix=={PHOENIX_VERSION}"],
            check=True,
        )
    return executable


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"Phoenix exited with {process.returncode} at start; its log:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/v1/projects", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)  # waiting for a server to come up: there is nothing to wait on but its port
    pytest.fail(f"Phoenix did not answer within {_START_TIMEOUT:g} s; its log:\n{log.read_text()[-3000:]}")


def running_phoenix() -> Iterator[Phoenix]:
    """The Phoenix of ``WFLOGGING_PHOENIX_URL``, else one started here for the session."""
    given = os.environ.get("WFLOGGING_PHOENIX_URL")
    if given:
        yield Phoenix(given)
        return
    try:
        executable = _phoenix_executable()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"Arize Phoenix {PHOENIX_VERSION} could not be installed for the OTLP tests: {exc}")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="wflogging-phoenix-") as workdir:
        log = Path(workdir) / "phoenix.log"
        environment = {
            **os.environ,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": "0",
            "PHOENIX_WORKING_DIR": workdir,
        }
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(executable), "serve"], env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_up(base_url, process, log)
            yield Phoenix(base_url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
