"""Deterministic task-event payloads for the benchmarks: "small", "typical" and "large".

Each payload is the ``extra`` mapping a caller hands to ``logger.info``: the ten SOP
fields, every one given explicitly (``event_id`` and ``workflow_run_id`` included),
so that every pipeline in the benchmark serializes the same content and wflogging
derives nothing (no ``uuid4()``, no context lookup) that the others would skip.

Text is drawn from a fixed word pool with a seeded :class:`random.Random`, so two
runs (and two machines) get byte-identical payloads. The pool mixes what real
prompts and completions hold and what JSON encoders must escape or transcode:
ASCII prose, code with backslashes and tabs, double quotes, newlines, accented
Latin, CJK, emoji (outside the BMP), and typographic punctuation (em dash, curly
quotes, ellipsis: UTF-8 ``E2 80 xx``, the lead bytes of U+2028/U+2029).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

__all__ = ["PAYLOAD_NAMES", "PAYLOAD_SHAPES", "make_payload", "make_text", "recorded_task"]

#: (number of LLM calls, prompt characters, completion characters) per payload.
PAYLOAD_SHAPES: dict[str, tuple[int, int, int]] = {
    "small": (1, 200, 200),
    "typical": (3, 2_000, 1_000),
    "large": (10, 100_000, 20_000),
}
PAYLOAD_NAMES = tuple(PAYLOAD_SHAPES)

_WORDS = (
    # plain prose dominates, as in real prompts
    *[
        "the",
        "task",
        "agent",
        "must",
        "read",
        "write",
        "check",
        "plan",
        "file",
        "test",
        "code",
        "review",
        "step",
        "model",
        "output",
        "input",
    ],
    *[
        "acceptance",
        "criteria",
        "implement",
        "function",
        "returns",
        "value",
        "error",
        "case",
        "schema",
        "field",
        "order",
    ],
    *["re-run", "pre-existing", "one-off"],  # "e-" in prose: a substring serializers may look for
    # characters JSON must escape
    '"quoted"',
    'say "hi"',
    "C:\\path\\to\\file",
    "line\nbreak",
    "\n\n",
    "\ttab",
    # non-ASCII text that UTF-8 output keeps as is
    "naïve",
    "Zürich",
    "façade",
    "日本語のテキスト",
    "中文",
    "Ωμέγα",
    "🚀",
    "✅",
    # typographic punctuation LLMs love (U+2014, U+201C/D, U+2026)
    "—",
    "\u201cclaims\u201d",
    "\u2026",
)


def make_text(length: int, rng: random.Random) -> str:
    """About ``length`` characters of mixed prose, code and Unicode (exactly ``length``)."""
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:length]


def make_payload(name: str) -> dict[str, Any]:
    """The ``extra`` fields of the ``name`` payload (``small``, ``typical`` or ``large``)."""
    calls, prompt_chars, completion_chars = PAYLOAD_SHAPES[name]
    rng = random.Random(f"wflogging-bench-{name}")  # str seeds are stable across runs and versions
    models = ("claude-sonnet-4", "gpt-4o", "gemini-1.5-pro")
    trace = [
        {
            "call_sequence": index,
            "model_name": models[index % len(models)],
            "prompt": make_text(prompt_chars, rng),
            "completion": make_text(completion_chars, rng),
        }
        for index in range(1, calls + 1)
    ]
    tokens = {
        model: {"input_tokens": 1000 + 17 * i, "output_tokens": 200 + 5 * i, "cached_tokens": 0}
        for i, model in enumerate(models[: min(calls, len(models))])
    }
    return {
        "event_id": "6f1c2a9e-3b7d-4c5e-9a10-2b3c4d5e6f70",
        "workflow_run_id": "0e8f1d2c-4a5b-4c6d-8e7f-901a2b3c4d5e",
        "task_id": "2.1",
        "task_description": "Implement the parser for the \u201cplan\u201d file \u2014 see spec §3",
        "agent_name": "/dev:implement-pro",
        "timestamps": {
            "start_time_utc": "2025-06-01T12:00:00.123456Z",
            "end_time_utc": "2025-06-01T12:03:25.654321Z",
            "duration_seconds": 205.530865,
        },
        "status": "Success",
        "cost_data": {"tokens": tokens, "usd": 0.0421 * calls},
        "llm_trace": trace,
        "human_feedback": (
            None
            if name == "small"
            else {
                "type": "HIL-Approval",
                "content": "Approved — ship it.\nThanks!",
                "timestamp_utc": "2025-06-01T12:02:00.000000Z",
            }
        ),
    }


def recorded_task(logger: logging.Logger, fields: dict[str, Any], **options: Any) -> Callable[[], None]:
    """One task of ``fields`` through ``wflogging.record_task`` (enter, the calls, feedback, exit).

    ``options`` go to ``record_task`` (``journal=False``, ``clock=...``). Every benchmark that
    times the recorder runs its tasks with this, so they all time the same task.
    """
    import wflogging

    calls = fields["llm_trace"]
    feedback = fields["human_feedback"]

    def run() -> None:
        with wflogging.record_task(
            logger,
            task_id=fields["task_id"],
            task_description=fields["task_description"],
            agent_name=fields["agent_name"],
            **options,
        ) as task:
            for call in calls:
                task.llm_call(
                    model_name=call["model_name"], prompt=call["prompt"], completion=call["completion"]
                )
            if feedback is not None:
                task.human_feedback(type=feedback["type"], content=feedback["content"])

    return run
