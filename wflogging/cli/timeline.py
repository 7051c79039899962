"""``wflogging timeline``: one run as a self-contained HTML Gantt chart.

The page has no external resources (no CDN, no fonts, no network): styles and
a small script are inline, so it opens from a file, offline, and can be mailed
or attached to a ticket. Tasks are bars in one lane per agent (overlapping tasks
of an agent stack), coloured by status; the time a human took to answer a HIL
pause is a hatched bar from the pause's end to the answer. Long stretches with
no task running (human waits, gaps) are folded into a marked, labelled break on
the axis, and every task bar is at least 28 px wide
(:mod:`wflogging.cli.timeline_scale`). Inside each bar, a strip shows the task's
LLM calls in order, one segment per call coloured by model; hovering a segment
names the call's model and that model's calls, latency and cost in the task
(the SOP records those per model, not per call). Hovering a bar shows a
tooltip; clicking (or opening the page with ``#event=<event id>``) shows the
task's details, including the first part of each prompt and completion.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import zlib
from collections.abc import Iterable
from typing import Any

from wflogging import schema
from wflogging.cli.inputs import InputError
from wflogging.cli.outputs import write_private_text
from wflogging.cli.render import money, seconds, short_id
from wflogging.cli.report import ReportBuilder, ReportFilter
from wflogging.cli.report_decode import read_cost
from wflogging.cli.timeline_scale import MIN_TASK_PX, Scale, build_scale
from wflogging.reader import EventLine, TornLine

__all__ = ["collect_run", "render_timeline", "write_timeline"]

#: Prompts and completions are cut to this many characters in the page (``show`` has them whole).
TEXT_LIMIT = 2000
_STATUS_CLASS = {"Success": "success", "Failed": "failed", "HIL-Paused": "paused"}


def collect_run(items: Iterable[EventLine | TornLine], run: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The id and entries of the run ``run`` (an id prefix), or of the only run in ``items``."""
    wanted = None if run is None else run.lower()
    runs: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for item in items:
        if isinstance(item, TornLine):
            continue
        run_id = item.entry.get("workflow_run_id")
        if not isinstance(run_id, str) or not isinstance(item.entry.get("timestamps"), dict):
            continue
        counts[run_id] = counts.get(run_id, 0) + 1
        if wanted is None or run_id.lower().startswith(wanted):
            runs.setdefault(run_id, []).append(item.entry)
    if not counts:
        raise InputError("no task events in the given files")
    if len(runs) == 1:
        run_id, entries = next(iter(runs.items()))
        return run_id, entries
    if not runs:
        raise InputError(f"no run {run} in the given files (runs: {_list_runs(counts)})")
    kind = "several runs" if run is None else f"several runs start with {run}"
    raise InputError(f"{kind}; choose one with --run ID: {_list_runs(counts)}")


def _list_runs(counts: dict[str, int]) -> str:
    shown = [f"{short_id(run_id)} ({count} events)" for run_id, count in list(counts.items())[:5]]
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    return ", ".join(shown) + more


def write_timeline(entries: list[dict[str, Any]], run_id: str, output: str | os.PathLike[str]) -> None:
    """Write the page for ``entries`` (one run's) to ``output``."""
    write_private_text(output, render_timeline(entries, run_id))  # 0600: it holds the prompts


def _moment(value: object) -> dt.datetime | None:
    try:
        return schema.instant(value, "time")
    except (TypeError, ValueError):
        return None


def render_timeline(entries: list[dict[str, Any]], run_id: str) -> str:
    """The HTML page of one run's entries."""
    tasks = []
    for entry in entries:
        timestamps = entry["timestamps"]
        start, end = _moment(timestamps.get("start_time_utc")), _moment(timestamps.get("end_time_utc"))
        if start is not None and end is not None and end >= start:
            tasks.append((start, end, entry))
    if not tasks:
        raise InputError(f"run {run_id} has no events with readable timestamps")
    tasks.sort(key=lambda task: (task[0], task[1]))
    builder = ReportBuilder(ReportFilter())
    builder.add_all(entries)
    report = builder.result()["overall"]
    waits = [
        (_moment(item["paused_at"]), _moment(item["answered_at"]), item)
        for item in report["human_feedback"]
        if item["paused"] and item["wait_seconds"] is not None
    ]
    first = min(task[0] for task in tasks)
    last = max([task[1] for task in tasks] + [end for _, end, _ in waits if end is not None])
    span = max((last - first).total_seconds(), 1.0)
    scale = build_scale(
        [((s - first).total_seconds(), (e - first).total_seconds()) for s, e, _ in tasks], span
    )

    def px(moment: dt.datetime) -> float:
        return scale.x((moment - first).total_seconds())

    agents: dict[str, list[list[tuple[float, float]]]] = {}  # agent -> rows of occupied spans
    bars: list[_Bar] = []
    details: list[dict[str, Any]] = []
    for index, (start, end, entry) in enumerate(tasks):
        agent = str(entry.get("agent_name"))
        left, right = px(start), px(end)
        row = _place(agents.setdefault(agent, []), left, right)
        status, label = str(entry.get("status")), str(entry.get("task_id"))
        details.append(_details(entry))
        bars.append(
            (
                agent,
                row,
                (
                    f'<div class="bar {_STATUS_CLASS.get(status, "other")}" data-index="{index}" '
                    f'tabindex="0" title="{html.escape(_tooltip(entry))}" style="'
                ),
                (
                    f'left:{left}px;width:{_bar_width(left, right)}px"><span class="label">'
                    f"{html.escape(label)}</span>{_call_strip(entry)}</div>"
                ),
            )
        )
    for start, end, item in waits:
        if start is None or end is None:
            continue
        agent = str(item["agent_name"])
        left, right = px(start), px(end)
        row = _place(agents.setdefault(agent, []), left, right)
        tooltip = (
            f"Human wait on task {item['task_id']}: {seconds(item['wait_seconds'])} "
            f"({item['feedback_type']}: {item['answer']!r})"
        )
        bars.append(
            (
                agent,
                row,
                f'<div class="bar wait" title="{html.escape(tooltip)}" style="',
                f'left:{left}px;width:{max(right - left, 3):.2f}px">waiting for human</div>',
            )
        )
    return _page(run_id, first, scale, agents, bars, details, report, [s for s, _, _ in tasks])


def _bar_width(left: float, right: float) -> str:
    """A task's width: its stretch less a 2 px gap to the next bar, never below the minimum less that gap."""
    return f"{max(right - left, MIN_TASK_PX) - 2:.2f}"


def _model_hue(model: str) -> int:
    """A stable colour per model name (a hue), so the same model looks the same across bars."""
    return zlib.crc32(model.encode("utf-8", "replace")) % 360


def _call_strip(entry: dict[str, Any]) -> str:
    """The task's LLM calls in order, one segment per call, with model, latency and cost where known."""
    trace = entry.get("llm_trace")
    calls = [call for call in trace if isinstance(call, dict)] if isinstance(trace, list) else []
    if not calls:
        return ""
    cost_data = entry.get("cost_data")
    models = cost_data.get("models") if isinstance(cost_data, dict) else None
    models = models if isinstance(models, dict) else {}
    segments = []
    for call in calls:
        model = str(call.get("model_name"))
        title = f"call {call.get('call_sequence')} · {model}"
        used = models.get(model)
        if isinstance(used, dict):
            known = [f"{used.get('calls')} call(s) of this model in the task"]
            latency = _float(used.get("latency_seconds"))
            if latency is not None:
                known.append(f"{seconds(latency)} in all")
            cost = _float(used.get("cost_usd"))
            if cost is not None:
                known.append(money(cost))
            title += " (" + ", ".join(known) + ")"
        segments.append(
            f'<i class="call" data-model="{html.escape(model)}" title="{html.escape(title)}" '
            f'style="background:hsl({_model_hue(model)},60%,35%)"></i>'
        )
    return f'<span class="calls">{"".join(segments)}</span>'


#: A bar: its agent, its row in the agent's lane, and its HTML around the missing ``top:`` style.
_Bar = tuple[str, int, str, str]


def _place(rows: list[list[tuple[float, float]]], left: float, right: float) -> int:
    """The first row of a lane where ``[left, right)`` is free (a new row when none is)."""
    for number, spans in enumerate(rows):
        if all(right <= start or left >= end for start, end in spans):
            spans.append((left, right))
            return number
    rows.append([(left, right)])
    return len(rows) - 1


def _tooltip(entry: dict[str, Any]) -> str:
    timestamps = entry["timestamps"]
    cost = read_cost(entry.get("cost_data")).usd
    return (
        f"{entry.get('task_id')} · {entry.get('status')} · "
        f"{seconds(_float(timestamps.get('duration_seconds')))}"
        f"{' · ' + money(cost) if cost is not None else ''}\n{entry.get('task_description')}"
    )


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cut(text: object) -> str:
    value = text if isinstance(text, str) else json.dumps(text)
    if len(value) <= TEXT_LIMIT:
        return value
    return value[:TEXT_LIMIT] + f"\n… ({len(value) - TEXT_LIMIT} more characters: see wflogging show)"


def _details(entry: dict[str, Any]) -> dict[str, Any]:
    calls = entry.get("llm_trace") if isinstance(entry.get("llm_trace"), list) else []
    extensions = entry.get("extensions") if isinstance(entry.get("extensions"), dict) else {}
    return {
        "event_id": entry.get("event_id"),
        "task_id": entry.get("task_id"),
        "task_description": entry.get("task_description"),
        "agent_name": entry.get("agent_name"),
        "status": entry.get("status"),
        "timestamps": entry.get("timestamps"),
        "cost_data": entry.get("cost_data"),
        "human_feedback": entry.get("human_feedback"),
        "error": extensions.get("error") if isinstance(extensions, dict) else None,
        "calls": [
            {
                "call_sequence": call.get("call_sequence"),
                "model_name": call.get("model_name"),
                "prompt": _cut(call.get("prompt")),
                "completion": _cut(call.get("completion")),
            }
            for call in (calls or [])
            if isinstance(call, dict)
        ],
    }


def _ticks(first: dt.datetime, scale: Scale, starts: list[dt.datetime]) -> list[tuple[float, str]]:
    """Tick marks at the run's start, after each fold and at task starts, at least 80 px apart."""
    moments = sorted({first, *starts, *(first + dt.timedelta(seconds=fold.end) for fold in scale.folds)})
    ticks: list[tuple[float, str]] = []
    for moment in moments:
        x = scale.x((moment - first).total_seconds())
        if ticks and x - ticks[-1][0] < 80:
            continue
        ticks.append((x, moment.strftime("%H:%M:%S")))
    return ticks


def _fold_marks(scale: Scale) -> tuple[str, str]:
    """Each folded stretch: a band across the plot, and a labelled break on the axis."""
    bands, labels = [], []
    for fold in scale.folds:
        where = f"left:{fold.left}px;width:{fold.right - fold.left:.2f}px"
        hidden = seconds(fold.end - fold.start)
        bands.append(f'<div class="fold" style="{where}" title="{hidden} folded: no task ran"></div>')
        labels.append(f'<div class="fold-label" style="{where}">⋯ {hidden} ⋯</div>')
    return "".join(bands), "".join(labels)


def _json_for_script(data: object) -> str:
    # "<" escaped so no value can close the <script> element or open a comment.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


def _page(  # noqa: PLR0917 - private, called once, each part named
    run_id: str,
    first: dt.datetime,
    scale: Scale,
    agents: dict[str, list[list[tuple[float, float]]]],
    bars: list[_Bar],
    details: list[dict[str, Any]],
    report: dict[str, Any],
    starts: list[dt.datetime],
) -> str:
    names, lanes = [], []
    offset = 0
    lane_offsets: dict[str, int] = {}
    for agent, rows in agents.items():
        lane_offsets[agent] = offset
        height = max(len(rows), 1)
        box = f'<div class="lane" style="top:{offset * _ROW}px;height:{height * _ROW}px">'
        names.append(
            f'{box}<span class="agent" title="{html.escape(agent)}">{html.escape(agent)}</span></div>'
        )
        lanes.append(f"{box}</div>")
        offset += height
    placed = [
        f"{before}top:{(lane_offsets[agent] + row) * _ROW + 4}px;{after}"
        for agent, row, before, after in bars
    ]
    ticks = "".join(
        f'<div class="tick" style="left:{left}px"><span>{label}</span></div>'
        for left, label in _ticks(first, scale, starts)
    )
    fold_bands, fold_labels = _fold_marks(scale)
    span = scale.times[-1]
    folded = sum(fold.end - fold.start for fold in scale.folds)
    statuses = ", ".join(f"{count} {name}" for name, count in report["by_status"].items() if count)
    summary = (
        f"{report['events']} task events ({statuses}) · "
        f"{seconds(report['duration']['total_seconds'])} of task time over {seconds(span)}"
        f"{f' ({seconds(folded)} with no task running folded)' if scale.folds else ''} · "
        f"cost {money(report['cost']['total_usd'])} · {report['cost']['llm_calls']} LLM calls"
    )
    return _TEMPLATE.format(
        title=html.escape(f"wflogging timeline · run {run_id}"),
        run_id=html.escape(run_id),
        summary=html.escape(summary),
        start=html.escape(schema.format_instant(first)[:19].replace("T", " ")),
        height=offset * _ROW,
        width=f"{scale.width:.0f}",
        names="".join(names),
        lanes="".join(lanes),
        bars=fold_bands + "".join(placed),
        ticks=ticks + fold_labels,
        data=_json_for_script(details),
    )


_ROW = 30

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 20px; color: #1f2328; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
.summary {{ color: #57606a; margin-bottom: 12px; }}
.legend span {{ display: inline-block; margin-right: 16px; }}
.legend i {{ display: inline-block; width: 14px; height: 14px; vertical-align: -2px; margin-right: 4px;
  border-radius: 3px; }}
.chart {{ display: grid; grid-template-columns: 190px {width}px; margin-top: 12px; }}
.names, .plot {{ position: relative; }}
.plot {{ border-left: 1px solid #d0d7de; }}
.lane {{ position: absolute; left: 0; right: 0; border-bottom: 1px solid #eaeef2; }}
.names .lane {{ padding-right: 8px; text-align: right; }}
.agent {{ position: relative; top: 6px; font-weight: 600; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; display: block; }}
.bar {{ position: absolute; height: 24px; border-radius: 4px; color: #fff; font-size: 12px;
  line-height: 18px; padding: 0 3px; box-sizing: border-box; overflow: hidden; white-space: nowrap;
  cursor: pointer; }}
.bar .calls {{ position: absolute; left: 2px; right: 2px; bottom: 2px; height: 5px; display: flex;
  gap: 1px; padding: 1px; background: rgba(255, 255, 255, 0.75); border-radius: 2px; }}
.bar .call {{ flex: 1; border-radius: 1px; }}
.fold {{ position: absolute; top: 0; bottom: 0; background: repeating-linear-gradient(90deg,
  transparent 0 6px, #eaeef2 6px 8px); border-left: 2px dashed #8c959f; border-right: 2px dashed #8c959f;
  box-sizing: border-box; }}
.legend .fold-key {{ background: repeating-linear-gradient(90deg, #fff 0 3px, #d0d7de 3px 5px);
  border: 1px dashed #8c959f; box-sizing: border-box; }}
.fold-label {{ position: absolute; top: 20px; text-align: center; font-size: 11px; color: #57606a;
  background: #fff; white-space: nowrap; overflow: hidden; }}
.bar:hover, .bar:focus, .bar.selected {{ outline: 2px solid #0969da; outline-offset: 1px; z-index: 2; }}
.success {{ background: #2da44e; }}
.failed {{ background: #cf222e; }}
.paused {{ background: #d4a72c; color: #1f2328; }}
.other {{ background: #6e7781; }}
.wait {{ background: repeating-linear-gradient(45deg, #ddf4ff 0 6px, #54aeff 6px 9px);
  color: #0550ae; border: 1px dashed #0969da; cursor: help; }}
.axis {{ position: relative; height: 38px; margin-left: 190px; width: {width}px;
  border-top: 1px solid #d0d7de; }}
.tick {{ position: absolute; top: 0; height: 6px; border-left: 1px solid #8c959f; }}
.tick span {{ position: absolute; top: 6px; left: -26px; font-size: 11px; color: #57606a; }}
#details {{ margin-top: 28px; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px;
  display: none; }}
#details.open {{ display: block; }}
#details h2 {{ font-size: 16px; margin: 0 0 8px; }}
#details dl {{ display: grid; grid-template-columns: 150px 1fr; gap: 2px 12px; margin: 0; }}
#details dt {{ color: #57606a; }}
#details dd {{ margin: 0; }}
#details pre {{ white-space: pre-wrap; background: #f6f8fa; padding: 8px; border-radius: 4px;
  margin: 4px 0 8px; max-height: 240px; overflow: auto; }}
.hint {{ color: #57606a; font-size: 12px; margin-top: 8px; }}
</style>
</head>
<body>
<h1>Run <code>{run_id}</code></h1>
<div class="summary">{summary} · starts {start} UTC</div>
<div class="legend"><span><i class="success"></i>Success</span><span><i class="failed"></i>Failed</span>
<span><i class="paused"></i>HIL-Paused</span><span><i class="wait"></i>Human wait</span>
<span><i class="fold-key"></i>Folded: no task running (its length under the axis)</span></div>
<div class="chart">
<div class="names" style="height:{height}px">{names}</div>
<div class="plot" style="height:{height}px">{lanes}{bars}</div>
</div>
<div class="axis">{ticks}</div>
<div class="hint">Hover over a bar for a summary; click it for the details.</div>
<section id="details" aria-live="polite"></section>
<script id="events" type="application/json">{data}</script>
<script>
(function () {{
  "use strict";
  var events = JSON.parse(document.getElementById("events").textContent);
  var panel = document.getElementById("details");
  function el(tag, text) {{ var node = document.createElement(tag); node.textContent = text; return node; }}
  function row(list, name, value) {{
    if (value === null || value === undefined) return;
    list.appendChild(el("dt", name));
    list.appendChild(el("dd", typeof value === "string" ? value : JSON.stringify(value)));
  }}
  function show(index) {{
    var e = events[index];
    if (!e) return;
    document.querySelectorAll(".bar.selected").forEach(function (b) {{ b.classList.remove("selected"); }});
    var bar = document.querySelector('.bar[data-index="' + index + '"]');
    if (bar) bar.classList.add("selected");
    panel.textContent = "";
    panel.appendChild(el("h2", "Task " + e.task_id + ": " + e.task_description));
    var list = document.createElement("dl");
    row(list, "status", e.status);
    row(list, "agent", e.agent_name);
    row(list, "event id", e.event_id);
    row(list, "start (UTC)", e.timestamps.start_time_utc);
    row(list, "end (UTC)", e.timestamps.end_time_utc);
    row(list, "duration (s)", String(e.timestamps.duration_seconds));
    row(list, "cost_data", e.cost_data);
    row(list, "human feedback", e.human_feedback);
    row(list, "error", e.error);
    panel.appendChild(list);
    e.calls.forEach(function (call) {{
      panel.appendChild(el("h3", "Call " + call.call_sequence + " · " + call.model_name));
      panel.appendChild(el("div", "prompt"));
      panel.appendChild(el("pre", call.prompt));
      panel.appendChild(el("div", "completion"));
      panel.appendChild(el("pre", call.completion));
    }});
    panel.classList.add("open");
    panel.dataset.eventId = e.event_id;
  }}
  document.querySelectorAll(".bar[data-index]").forEach(function (bar) {{
    function open() {{ show(Number(bar.dataset.index)); }}
    bar.addEventListener("click", open);
    bar.addEventListener("keydown", function (ev) {{ if (ev.key === "Enter") open(); }});
  }});
  var wanted = /^#event=(.+)$/.exec(window.location.hash);
  if (wanted) {{
    var id = decodeURIComponent(wanted[1]);
    events.forEach(function (e, index) {{ if (e.event_id === id) show(index); }});
  }}
  document.body.dataset.ready = "true";
}})();
</script>
</body>
</html>
"""
