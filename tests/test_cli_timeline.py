"""``wflogging timeline``: a self-contained page, checked in a real headless Chromium when there is one."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EventLog
from tests.test_cli_support import events_in, run_cli, write_workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless browser: install Debian's chromium (apt-get install -y chromium) to run this test",
)


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return done.stdout.decode()


def _timeline(event_log: EventLog, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, str]:
    (run_id,) = write_workflow(event_log, runs=1, tasks=12, seed=3)
    page = tmp_path / "timeline.html"
    result = run_cli(capsys, "timeline", "-o", str(page), str(event_log.path))
    assert result.code == 0, result.err
    return page, run_id


def test_page_is_self_contained(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No external resource: no URL in src/href, a CSP that forbids the network, data inlined."""
    page, run_id = _timeline(event_log, capsys, tmp_path)
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "default-src 'none'" in html
    assert run_id in html
    events = events_in(event_log.path)
    assert html.count('class="bar ') == len(events) + sum(e["status"] == "HIL-Paused" for e in events)


def test_hostile_text_cannot_break_out_of_the_page(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], tmp_path: Path, run_id: str
) -> None:
    """A task description or prompt holding </script> and HTML stays text."""
    from tests.test_cli_support import log_task

    evil = '</script><script>alert(1)</script><b onmouseover="x">'
    log_task(
        event_log, task_description=evil, llm_trace=[{"model_name": "m", "prompt": evil, "completion": ""}]
    )
    page = tmp_path / "t.html"
    assert run_cli(capsys, "timeline", "-o", str(page), str(event_log.path)).code == 0
    html = page.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html
    assert html.count("</script>") == 2  # the data block and the page's own script


def test_several_runs_need_a_choice(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With several runs in the files and no --run, the error lists them."""
    run_ids = write_workflow(event_log, runs=2, tasks=2)
    result = run_cli(capsys, "timeline", "-o", str(tmp_path / "x.html"), str(event_log.path))
    assert result.code == 2
    assert all(run_id[:8] in result.err for run_id in run_ids)


@needs_chromium
def test_renders_in_headless_chromium_with_details_on_click(
    event_log: EventLog, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """In a real browser the script runs, bars are laid out, and #event=ID opens that task's details."""
    page, _ = _timeline(event_log, capsys, tmp_path)
    failed = next(e for e in events_in(event_log.path) if e["status"] == "Failed")
    dom = _chromium(tmp_path, "--dump-dom", f"{page.as_uri()}#event={failed['event_id']}")
    assert 'data-ready="true"' in dom
    opened = re.search(r'<section id="details"[^>]*class="open"[^>]*>(.*?)</section>', dom, re.S)
    assert opened is not None
    details = opened.group(1)
    assert f"Task {failed['task_id']}" in details
    assert "RuntimeError" in details
    screenshot = tmp_path / "timeline.png"
    _chromium(tmp_path, "--window-size=1200,800", f"--screenshot={screenshot}", page.as_uri())
    assert screenshot.stat().st_size > 10_000  # a rendered chart, not a blank page


# Appended to a copy of the page: measures the laid-out bars and writes the figures into the DOM,
# where --dump-dom shows them (the page's CSP allows inline scripts; it forbids any network).
_MEASURE = """<script>
(function () {
  var bars = Array.prototype.slice.call(document.querySelectorAll(".bar[data-index]"));
  var widths = bars.map(function (bar) { return bar.getBoundingClientRect().width; });
  var folds = Array.prototype.slice.call(document.querySelectorAll(".fold-label"));
  var out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({
    viewport: window.innerWidth,
    bars: widths,
    labels: bars.map(function (bar) { return bar.querySelector(".label").textContent; }),
    calls: bars.map(function (bar) {
      var calls = bar.querySelectorAll(".call");
      return Array.prototype.map.call(calls, function (c) { return c.dataset.model; });
    }),
    folds: folds.map(function (f) { return [f.textContent, f.getBoundingClientRect().width]; })
  });
  document.body.appendChild(out);
})();
</script>"""


@needs_chromium
def test_demo_timeline_folds_the_human_wait_and_every_bar_is_readable_at_1400px(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's 20-minute wait is a labelled fold; the narrowest task bar is >= 24 px wide."""
    events = tmp_path / "demo.jsonl"
    assert run_cli(capsys, "demo", "-o", str(events)).code == 0
    page = tmp_path / "timeline.html"
    assert run_cli(capsys, "timeline", "-o", str(page), str(events)).code == 0
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"))
    dom = _chromium(tmp_path, "--window-size=1400,900", "--dump-dom", measured_page.as_uri())
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found is not None
    measured = json.loads(html.unescape(found.group(1)))
    assert measured["viewport"] == 1400
    entries = events_in(events)
    assert len(measured["bars"]) == len(entries)
    assert min(measured["bars"]) >= 24
    assert [text for text, _ in measured["folds"]] == ["⋯ 20m 00s ⋯"]  # the Director's wait
    assert all(width > 0 for _, width in measured["folds"])
    by_start = sorted(entries, key=lambda e: e["timestamps"]["start_time_utc"])
    assert measured["labels"] == [e["task_id"] for e in by_start]
    assert measured["calls"] == [[c["model_name"] for c in e["llm_trace"]] for e in by_start]
