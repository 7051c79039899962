"""The report's data (from :class:`wflogging.cli.report.ReportBuilder`) as a document for people."""

from __future__ import annotations

from typing import Any

from wflogging.cli.render import Document, money, seconds, short_id
from wflogging.cli.report_decode import UNATTRIBUTED

__all__ = ["report_document"]

#: Above this many runs, the report shows one summary row per run instead of a section each.
DETAILED_RUNS = 3
#: The runs table lists at most this many runs (the latest).
RUN_ROWS = 30
_LIST_LIMIT = 10


def report_document(data: dict[str, Any]) -> Document:
    """The whole report: runs, then all runs together, then where to improve."""
    doc = Document()
    runs = data["runs"]
    run_count = data.get("run_count", len(runs))
    overall = data["overall"]
    doc.heading("wflogging report", 1)
    doc.line(_counts_line(data, run_count))
    if not runs:
        doc.line("No task events matched.")
        return doc
    if len(runs) > 1:
        doc.heading("Runs")
        doc.table(
            ["run", "started (UTC)", "events", "failed", "paused", "time", "cost"],
            [
                (
                    short_id(run["workflow_run_id"]),
                    _when(run["start_time_utc"]),
                    str(run["events"]),
                    str(run["by_status"]["Failed"]),
                    str(run["by_status"]["HIL-Paused"]),
                    seconds(run["duration"]["total_seconds"]),
                    money(run["cost"]["total_usd"]),
                )
                for run in runs
            ],
            numeric=(2, 3, 4, 5, 6),
        )
        if run_count > len(runs):
            doc.line(f"(The latest {len(runs)} of {run_count} runs; --format json lists them all.)")
    if run_count <= DETAILED_RUNS:
        for run in runs:
            if run["detailed"]:
                _section(doc, f"Run {run['workflow_run_id']}", run)
    if run_count > 1:
        if run_count > DETAILED_RUNS:
            doc.line(f"({run_count} runs: add --run ID for one run's full section.)")
        _section(doc, "All runs", overall)
    _improve(doc, data["where_to_improve"])
    return doc


def _counts_line(data: dict[str, Any], runs: int) -> str:
    parts = [f"{data['overall']['events']} task events in {runs} run{'s' if runs != 1 else ''}"]
    if data["unreadable_lines"]:
        parts.append(f"{data['unreadable_lines']} unreadable lines skipped")
    if data["entries_skipped"]:
        parts.append(f"{data['entries_skipped']} entries that are not task events skipped")
    if data["entries_filtered_out"]:
        parts.append(f"{data['entries_filtered_out']} events outside the filter")
    return "; ".join(parts) + "."


def _when(moment: str | None) -> str:
    return "-" if moment is None else moment[:19].replace("T", " ")


def _section(doc: Document, title: str, part: dict[str, Any]) -> None:
    doc.heading(title)
    statuses = ", ".join(f"{count} {name}" for name, count in part["by_status"].items())
    duration, cost = part["duration"], part["cost"]
    doc.line(f"{part['events']} task events: {statuses}.")
    doc.line(f"From {_when(part['start_time_utc'])} to {_when(part['end_time_utc'])} UTC.")
    doc.line(
        f"Task time {seconds(duration['total_seconds'])} in total, "
        f"median {seconds(duration['median_seconds'])}, p95 {seconds(duration['p95_seconds'])}."
    )
    doc.line(
        f"Cost {money(cost['total_usd'])} ({cost['events_with_cost']} events state a cost); "
        f"{cost['input_tokens']:,} input and {cost['output_tokens']:,} output tokens; "
        f"{cost['llm_calls']} LLM calls."
    )
    _groups(doc, "By agent", "agent", part["by_agent"], "agent_name")
    _groups(doc, "By model", "model", part["by_model"], "model_name")
    _groups(doc, "By task", "task", part["by_task"], "task_id")
    if duration["slowest"]:
        doc.heading("Slowest tasks", 3)
        doc.table(
            ["task", "agent", "status", "time", "run"],
            [
                (
                    item["task_id"],
                    item["agent_name"],
                    item["status"],
                    seconds(item["duration_seconds"]),
                    short_id(item["workflow_run_id"]),
                )
                for item in duration["slowest"]
            ],
            numeric=(3,),
        )
    _failures(doc, part["failures"])
    _feedback(doc, part["human_feedback"])


def _rounds_to_nothing(row: dict[str, Any]) -> bool:
    cost = row["cost_usd"]
    # Half of the table's smallest digit ($0.000001): what would print as $0.000000.
    return not row["input_tokens"] and not row["output_tokens"] and (cost is None or abs(cost) < 5e-7)


def _groups(doc: Document, title: str, noun: str, rows: list[dict[str, Any]], key: str) -> None:
    if not rows:
        return
    doc.heading(title, 3)
    shown = rows[:_LIST_LIMIT] if noun == "task" else rows
    if noun == "model":
        # The unattributed remainder keeps the JSON report exact; in a table, a row that
        # rounds to nothing (prices rounded per model vs per event) is only noise.
        shown = [row for row in shown if row[key] != UNATTRIBUTED or not _rounds_to_nothing(row)]
        # A model is charged per event but called per call: events and time would mislead here.
        doc.table(
            [noun, "calls", "input tok", "output tok", "cost"],
            [
                (
                    str(row[key]),
                    str(row["llm_calls"]),
                    f"{row['input_tokens']:,}",
                    f"{row['output_tokens']:,}",
                    money(row["cost_usd"]),
                )
                for row in shown
            ],
            numeric=range(1, 5),
        )
        return
    doc.table(
        [
            noun,
            "events",
            "failed",
            "paused",
            "calls",
            "calls/event",
            "input tok",
            "output tok",
            "cost",
            "time",
        ],
        [
            (
                str(row[key]),
                str(row["events"]),
                str(row["failed"]),
                str(row["paused"]),
                str(row["llm_calls"]),
                f"{row['llm_calls'] / row['events']:.1f}",
                f"{row['input_tokens']:,}",
                f"{row['output_tokens']:,}",
                money(row["cost_usd"]),
                seconds(row["duration_seconds"]),
            )
            for row in shown
        ],
        numeric=range(1, 10),
    )
    if len(shown) < len(rows):
        doc.line(f"({len(rows) - len(shown)} more {noun}s in --format json.)")


def _failures(doc: Document, failures: list[dict[str, Any]]) -> None:
    if not failures:
        return
    doc.heading("Failures", 3)
    doc.table(
        ["task", "agent", "ended (UTC)", "reason", "run"],
        [
            (
                item["task_id"],
                item["agent_name"],
                _when(item["end_time_utc"]),
                _trim(item["reason"] or "(not in the event: see <logger>.failures)", 70),
                short_id(item["workflow_run_id"]),
            )
            for item in failures[:_LIST_LIMIT]
        ],
    )
    if len(failures) > _LIST_LIMIT:
        doc.line(f"({len(failures) - _LIST_LIMIT} more failures in --format json.)")


def _feedback(doc: Document, items: list[dict[str, Any]]) -> None:
    if not items:
        return
    doc.heading("Human in the loop", 3)
    waits = [item["wait_seconds"] for item in items if item["wait_seconds"] is not None]
    pauses = sum(item["paused"] for item in items)
    unanswered = sum(item["paused"] and item["answer"] is None for item in items)
    took = f"humans took {seconds(sum(waits))} in total, {seconds(max(waits))} at most" if waits else ""
    doc.line(f"{_plural(pauses, 'pause')}, {unanswered} unanswered{'; ' + took if took else ''}.")
    doc.table(
        ["task", "agent", "paused at (UTC)", "type", "answer", "waited", "run"],
        [
            (
                item["task_id"],
                item["agent_name"],
                _when(item["paused_at"]),
                str(item["feedback_type"] or "-"),
                _trim(str(item["answer"]) if item["answer"] is not None else "(no answer yet)", 40),
                seconds(item["wait_seconds"]),
                short_id(item["workflow_run_id"]),
            )
            for item in items[:_LIST_LIMIT]
        ],
        numeric=(5,),
    )


def _improve(doc: Document, improve: dict[str, Any]) -> None:
    doc.heading("Where to improve")
    lines: list[str] = []
    if improve["most_expensive_agents"]:
        ranked = ", ".join(
            f"{row['agent_name']} {money(row['cost_usd'])}{_share(row['share'])}"
            for row in improve["most_expensive_agents"]
        )
        lines.append(f"- Most expensive agents: {ranked}.")
    if improve["most_expensive_tasks"]:
        ranked = ", ".join(
            f"{row['task_id']} ({_trim(row['task_description'], 40)}) {money(row['cost_usd'])}"
            f"{_share(row['share'])}"
            for row in improve["most_expensive_tasks"]
        )
        lines.append(f"- Most expensive tasks: {ranked}.")
    for row in improve["highest_failure_rates"]:
        lines.append(
            f"- Agent {row['agent_name']} failed {row['failed']} of {row['events']} tasks "
            f"({row['rate']:.0%})."
        )
    findings = improve.get("findings")  # wflogging.cli.improve: each with its figures and a command
    for finding in findings or ():
        lines.append(f"- {finding['text']} Details: {finding['command']}")
    for row in improve["repeated_prompts"] if findings is None else ():
        lines.append(
            f"- Task {row['task_id']} ({row['agent_name']}) sends "
            f"{_plural(row['prompts'], 'identical prompt')} in {row['runs']} runs: cache or reuse the answer."
        )
    for line in lines or ["- Nothing stands out."]:
        doc.line(line)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _share(share: float | None) -> str:
    return "" if share is None else f" ({share:.0%})"


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
