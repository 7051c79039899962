"""Usage accounting: the usage each LLM call reported, rolled up into ``cost_data``.

:class:`~wflogging.record_task` keeps one :class:`CallUsage` per call, unchecked, and
rolls them up when the task ends (:func:`roll_up`); :func:`~wflogging.recover` rolls up
the calls an open-task journal kept. Pure functions: no logging, no clock, no I/O.

``cost_data`` is what reports read. Token counts and money roll up from the calls' usage
(:meth:`~wflogging.TaskRecorder.llm_call`)::

    {
      "llm_calls": 3,                       # calls recorded
      "tokens": {"input": 5200, "output": 900, "cached": 4000},   # totals over all models
      "models": {                           # one entry per model_name, in first-use order
        "claude-sonnet-4": {
          "calls": 2, "input_tokens": 5000, "output_tokens": 700, "cached_tokens": 4000,
          "latency_seconds": 3.2,           # only if some call reported latency
          "cost_usd": 0.0129,               # only if money is known (below) for some of its calls
          "unpriced_calls": 1               # only if some of its calls could not be priced
        }
      },
      "total_cost_usd": 0.0129,             # only if money is known
      "unpriced_calls": 1,                  # only if > 0: total_cost_usd then leaves those out
      "per_call": [                         # one item per call that reported usage, in call order
        {"call_sequence": 1, "input_tokens": 4000, "output_tokens": 500, "cached_tokens": 4000,
         "cost_usd": 0.0081, "provider": "anthropic", "finish_reason": "stop"}
      ],
      "price_table": "2025-06-01",          # the price table's version, if it has one
      "usage_problems": ["call 2: input_tokens: -5 is not ..."]   # only if usage was ignored
    }

Tokens: ``cached`` is the part of ``input`` read from a prompt cache (OpenAI's
convention; for Anthropic pass ``input_tokens = input + cache reads``). A
count not reported counts as 0. Money is known when a price table is given
(``prices=``) or a call reported ``cost_usd``. A call's own ``cost_usd`` wins
over the table (it is what the provider billed); a call with neither (model
not in the table, or no token counts) is *unpriced*: counted in
``unpriced_calls``, never as $0. Money is summed exactly as ``Decimal`` and
written as a JSON number rounded to 10 decimal places (1e-10 USD).

:meth:`~wflogging.TaskRecorder.set_cost` adds the caller's own entries (the IACP's
figures, say); an entry with the same name as a rolled-up one replaces it.
"""

from __future__ import annotations

import contextlib
import math
from decimal import Decimal
from typing import Any, NamedTuple

from wflogging import schema
from wflogging.pricing import PriceTable, money

__all__ = ["CallUsage", "roll_up", "usd"]

_MONEY_PLACES = Decimal("1e-10")
_MAX_TOKENS = 2**53  # beyond this a token count is a bug, and JSON readers start losing digits
_ZERO = Decimal(0)


class CallUsage(NamedTuple):
    """The usage reported with one call, unchecked (checked at roll-up, where problems are kept)."""

    model_name: object
    input_tokens: object = None
    output_tokens: object = None
    cached_tokens: object = None
    latency_seconds: object = None
    cost_usd: object = None
    provider: object = None
    finish_reason: object = None

    def reported_nothing(self) -> bool:
        """Whether the call came with no usage at all (the usual case for a caller not passing any)."""
        return self[1:] == _NOTHING_REPORTED


def _tokens(value: object, name: str, problems: list[str], where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TOKENS:
        problems.append(f"{where}: {name} {schema.preview(value)} is not a non-negative integer (ignored)")
        return None
    return int(value)


def _seconds(value: object, problems: list[str], where: str) -> float | None:
    if value is None:
        return None
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int too large for a float
            seconds = float(value)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        problems.append(
            f"{where}: latency_seconds {schema.preview(value)} is not a finite, non-negative number (ignored)"
        )
        return None
    return seconds


def _cost(value: object, problems: list[str], where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return money(value, "cost_usd")
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc} (ignored)")
        return None


class _ModelTotals:
    __slots__ = ("cached", "calls", "cost", "input", "latency", "output", "unpriced")

    def __init__(self) -> None:
        self.calls = 0
        self.input = 0
        self.output = 0
        self.cached = 0
        self.latency: float | None = None
        self.cost = _ZERO
        self.unpriced = 0


def _call_cost(
    usage: CallUsage,
    tokens: tuple[int | None, int | None, int | None],
    prices: PriceTable | None,
    problems: list[str],
    where: str,
) -> Decimal | None:
    """The call's money: its own ``cost_usd``, else the table's price, else ``None`` (unpriced)."""
    given = _cost(usage.cost_usd, problems, where)
    if given is not None:
        return given
    input_tokens, output_tokens, cached_tokens = tokens
    if prices is None or (input_tokens is None and output_tokens is None):
        return None
    price = prices.price_for(usage.model_name) if isinstance(usage.model_name, str) else None
    if price is None:
        return None
    return price.cost_usd(input_tokens or 0, output_tokens or 0, cached_tokens or 0)


def roll_up(calls: list[CallUsage], prices: PriceTable | None) -> dict[str, Any]:
    """The rolled-up part of ``cost_data`` for these calls (shape in the module docstring)."""
    if prices is None:
        counted = _counted_if_nothing_reported(calls)
        if counted is not None:
            return counted
    problems: list[str] = []
    models: dict[str, _ModelTotals] = {}
    per_call: list[dict[str, Any]] = []
    money_known = prices is not None
    for number, usage in enumerate(calls, start=1):
        model_name, input_given, output_given, cached_given, latency_given, cost_given, *labels = usage
        name = model_name if type(model_name) is str else str(model_name)
        totals = models.get(name)
        if totals is None:
            totals = models[name] = _ModelTotals()
        totals.calls += 1
        if (
            input_given is None
            and output_given is None
            and cached_given is None
            and latency_given is None
            and cost_given is None
            and labels[0] is None
            and labels[1] is None
        ):
            # Nothing reported (the common case without usage): no tokens, no money to check.
            totals.unpriced += 1
            continue
        where = f"call {number}"
        input_tokens = _tokens(input_given, "input_tokens", problems, where)
        output_tokens = _tokens(output_given, "output_tokens", problems, where)
        cached_tokens = _tokens(cached_given, "cached_tokens", problems, where)
        if cached_tokens is not None and cached_tokens > (input_tokens or 0):
            problems.append(
                f"{where}: cached_tokens {cached_tokens} exceeds input_tokens {input_tokens or 0} "
                "(cached tokens are part of the input count; ignored)"
            )
            cached_tokens = None
        latency = _seconds(latency_given, problems, where)
        cost = _call_cost(usage, (input_tokens, output_tokens, cached_tokens), prices, problems, where)
        money_known = money_known or cost is not None
        totals.input += input_tokens or 0
        totals.output += output_tokens or 0
        totals.cached += cached_tokens or 0
        if latency is not None:
            totals.latency = (totals.latency or 0.0) + latency
        if cost is None:
            totals.unpriced += 1
        else:
            totals.cost += cost
        per_call.append(
            _call_item(
                number,
                tokens=(input_tokens, output_tokens, cached_tokens),
                latency=latency,
                cost=cost,
                labels=labels,
                problems=problems,
            )
        )
    data = _cost_data(models, money_known, prices, problems)
    if per_call:
        data["per_call"] = per_call
    return data


_NOTHING_REPORTED = (None,) * (len(CallUsage._fields) - 1)  # every field but model_name unset


def _counted_if_nothing_reported(calls: list[CallUsage]) -> dict[str, Any] | None:
    """What :func:`roll_up` gives without prices for calls that reported no usage, else ``None``.

    The usual case for a caller that does not pass usage: calls counted per model,
    zero tokens, no money, nothing to check; built directly, without the totals.
    """
    counts: dict[str, int] = {}
    for usage in calls:
        if not usage.reported_nothing():
            return None
        model_name = usage[0]
        name = model_name if type(model_name) is str else str(model_name)
        counts[name] = counts.get(name, 0) + 1
    return {
        "llm_calls": len(calls),
        "tokens": {"input": 0, "output": 0, "cached": 0},
        "models": {
            name: {"calls": count, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
            for name, count in counts.items()
        },
    }


def _call_item(
    number: int,
    *,
    tokens: tuple[int | None, int | None, int | None],
    latency: float | None,
    cost: Decimal | None,
    labels: list[object],
    problems: list[str],
) -> dict[str, Any]:
    """One call's own figures under ``cost_data.per_call``: what it reported, nothing implied."""
    item: dict[str, Any] = {"call_sequence": number}
    for key, count in zip(("input_tokens", "output_tokens", "cached_tokens"), tokens, strict=True):
        if count is not None:
            item[key] = count
    if latency is not None:
        item["latency_seconds"] = round(latency, 6)
    if cost is not None:
        item["cost_usd"] = usd(cost)
    for key, label in zip(("provider", "finish_reason"), labels, strict=True):
        if type(label) is str and label:
            item[key] = label
        elif label is not None:
            problems.append(
                f"call {number}: {key} {schema.preview(label)} is not a non-empty string (ignored)"
            )
    return item


def _cost_data(
    models: dict[str, _ModelTotals], money_known: bool, prices: PriceTable | None, problems: list[str]
) -> dict[str, Any]:
    per_model: dict[str, Any] = {}
    calls = input_tokens = output_tokens = cached_tokens = unpriced = 0
    cost = _ZERO
    for name, totals in models.items():
        entry: dict[str, Any] = {
            "calls": totals.calls,
            "input_tokens": totals.input,
            "output_tokens": totals.output,
            "cached_tokens": totals.cached,
        }
        if totals.latency is not None:
            entry["latency_seconds"] = round(totals.latency, 6)
        if money_known:
            if totals.unpriced < totals.calls:  # a model none of whose calls was priced has no cost, not $0
                entry["cost_usd"] = usd(totals.cost)
                cost += totals.cost
            if totals.unpriced:
                entry["unpriced_calls"] = totals.unpriced
        per_model[name] = entry
        calls += totals.calls
        input_tokens += totals.input
        output_tokens += totals.output
        cached_tokens += totals.cached
        unpriced += totals.unpriced
    data: dict[str, Any] = {
        "llm_calls": calls,
        "tokens": {"input": input_tokens, "output": output_tokens, "cached": cached_tokens},
        "models": per_model,
    }
    if money_known:
        data["total_cost_usd"] = usd(cost)
        if unpriced:
            data["unpriced_calls"] = unpriced
    if prices is not None and prices.version is not None:
        data["price_table"] = prices.version
    if problems:
        data["usage_problems"] = problems
    return data


def usd(amount: Decimal) -> float:
    """Money as written in ``cost_data``: a JSON number rounded to 10 decimal places."""
    return float(amount.quantize(_MONEY_PLACES))
