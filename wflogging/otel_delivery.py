"""Whether the backend took the spans: counted, with the cause in words, and failing fast.

The SDK's OTLP/HTTP exporter retries a refused connection with backoff until its
timeout (10 s by default), so a program exiting with the collector down blocked
for that long, and its only message named neither the URL nor the cause.
:class:`DeliveryTracker` wraps any :class:`SpanExporter`:

- before each batch to an ``http(s)`` endpoint it opens one TCP connection (the
  *probe*): refused, unresolvable or unreachable fails the batch at once, without
  the exporter's retries; no answer fails it after ``timeout`` seconds;
- after a failure, batches for the next ``retry_after`` seconds fail at once, so a
  shutdown with a dead collector costs one timeout, not one per queued batch;
- it counts the spans the backend accepted and those it did not, and keeps the
  last cause as one line that names the URL (:attr:`DeliveryTracker.problem`);
- the HTTP status of a refusal (413, 401...) is read from the exporter's session.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["DeliveryTracker", "RecordingSession", "describe_connect_error"]


class RecordingSession:
    """A ``requests.Session`` factory whose sessions remember the last response or exception.

    Handed to the OTLP/HTTP exporter (its ``session=`` argument), so a failed batch
    can say "HTTP 413" or "read timed out" instead of "failed".
    """

    def __init__(self) -> None:
        import requests

        outer = self

        class _Session(requests.Session):
            def request(self, *args: Any, **kwargs: Any) -> Any:
                try:
                    response = super().request(*args, **kwargs)
                except Exception as exc:
                    outer.timed_out = isinstance(exc, requests.Timeout)
                    outer.last = f"{type(exc).__name__}: {_first_line(exc)}"
                    raise
                outer.timed_out = False
                outer.last = f"HTTP {response.status_code} {response.reason or ''}".strip()
                return response

        self.session = _Session()
        #: The last request's outcome in words (``None`` before the first request).
        self.last: str | None = None
        #: Whether the last request ended because the backend did not answer in time.
        self.timed_out = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_connect_error(exc: OSError, timeout: float) -> str:
    """A connection failure in the words an operator needs."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the collector running and listening there?)"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    return exc.strerror or _first_line(exc)


class DeliveryTracker(SpanExporter):
    """Counts what an exporter delivered and fails fast when the endpoint is down (module docstring).

    Args:
        inner: the exporter that sends the spans.
        endpoint: the URL the spans go to (for messages, and for the probe when
            it is ``http``/``https``); ``None`` for an exporter of another kind.
        timeout: seconds the probe waits for a connection.
        retry_after: seconds after a failure during which batches fail at once.
        session: the exporter's recording session, to name an HTTP refusal.
    """

    def __init__(
        self,
        inner: SpanExporter,
        *,
        endpoint: str | None,
        timeout: float,
        retry_after: float = 30.0,
        session: RecordingSession | None = None,
    ) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.timeout = timeout
        self.retry_after = retry_after
        self._session = session
        self._address = _probe_address(endpoint)
        self._lock = threading.Lock()
        self._down_until = 0.0
        #: Spans the backend accepted.
        self.accepted = 0
        #: Spans that did not reach the backend or that it refused.
        self.failed = 0
        #: The last failure, as one line naming the endpoint (``None`` while all went well).
        self.problem: str | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._down_until:
            return self._failed(spans, None)
        if self._address is not None:
            try:
                socket.create_connection(self._address, timeout=self.timeout).close()
            except OSError as exc:
                return self._failed(spans, describe_connect_error(exc, self.timeout))
        started = time.monotonic()
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            with self._lock:
                self.accepted += len(spans)
            return result
        return self._failed(spans, self._cause(time.monotonic() - started))

    def _cause(self, elapsed: float) -> str:
        session = self._session
        if (session is not None and session.timed_out) or elapsed >= self.timeout * 0.9:
            return f"no answer within {self.timeout:g} s"
        last = session.last if session is not None else None
        if last is not None and not last.startswith("HTTP 2"):
            return f"the backend did not accept the spans ({last})"
        return "the backend did not accept the spans"

    def _failed(self, spans: Sequence[ReadableSpan], cause: str | None) -> SpanExportResult:
        with self._lock:
            self.failed += len(spans)
            self._down_until = time.monotonic() + self.retry_after
            if cause is not None:
                self.problem = f"OTLP export to {self.endpoint or 'the exporter'} failed: {cause}"
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _probe_address(endpoint: str | None) -> tuple[str, int] | None:
    if endpoint is None:
        return None
    try:
        url = urllib.parse.urlsplit(endpoint)
        port = url.port
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    return url.hostname, port or (443 if url.scheme == "https" else 80)
