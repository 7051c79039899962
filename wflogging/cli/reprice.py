"""``wflogging report --prices PRICES``: what the history would cost at other prices.

Re-pricing reads the usage each event stored, per model, in
``cost_data.models[<model>]``: ``input_tokens``, ``output_tokens`` and
``cached_tokens`` (the part of the input read from a cache), as
:func:`~wflogging.record_task` writes them. Each model's usage in each event is
priced with :meth:`~wflogging.ModelPrice.cost_usd` from the table
(:func:`~wflogging.load_prices`'s format) and summed exactly as ``Decimal``.
The stored cost is ``cost_data.models[<model>].cost_usd`` (summed the same way);
per run and in total, also ``cost_data.total_cost_usd``.

A model the table does not list is *unpriced*: its usage is counted, never as
$0, and the model is named. Usage stored without models (only
``cost_data.tokens``) cannot be re-priced: those events are counted as
``events_without_model_usage``. The events file is only read, never written.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from wflogging.cli.render import Document, money
from wflogging.pricing import PriceTable
from wflogging.pricing import money as exact_money
from wflogging.reader import EventLine, TornLine

__all__ = ["ModelUsage", "Repricing", "reprice", "reprice_section", "selected_entries"]

_ZERO = Decimal(0)


@attrs.define
class ModelUsage:
    """One model's usage over the events read, with its stored and re-priced cost."""

    events: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    stored_cost: Decimal | None = None
    repriced_cost: Decimal | None = None  # None: the table has no price for the model

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "stored_cost_usd": _text(self.stored_cost),
            "repriced_cost_usd": _text(self.repriced_cost),
        }


def _text(amount: Decimal | None) -> str | None:
    """Exact money for JSON: a string (a float would round it)."""
    return None if amount is None else str(amount)


@attrs.define
class Repricing:
    """Stored and re-priced cost, per model and in total."""

    price_table: str | None
    models: dict[str, ModelUsage] = attrs.field(factory=dict)
    events: int = 0
    stored_total: Decimal | None = None  # sum of cost_data.total_cost_usd
    events_without_model_usage: int = 0

    @property
    def repriced_total(self) -> Decimal:
        """The re-priced cost of every priced model (unpriced ones are left out, and named)."""
        return sum((m.repriced_cost for m in self.models.values() if m.repriced_cost is not None), _ZERO)

    @property
    def stored_priced_total(self) -> Decimal | None:
        """The stored cost of the models the table prices: the like-for-like figure."""
        stored = [
            m.stored_cost
            for m in self.models.values()
            if m.repriced_cost is not None and m.stored_cost is not None
        ]
        return sum(stored, _ZERO) if stored else None

    @property
    def unpriced_models(self) -> list[str]:
        return [name for name, m in self.models.items() if m.repriced_cost is None]

    def as_json(self) -> dict[str, Any]:
        return {
            "price_table": self.price_table,
            "events": self.events,
            "stored_total_cost_usd": _text(self.stored_total),
            "stored_cost_of_priced_models_usd": _text(self.stored_priced_total),
            "repriced_cost_usd": _text(self.repriced_total),
            "unpriced_models": self.unpriced_models,
            "events_without_model_usage": self.events_without_model_usage,
            "models": {name: usage.as_json() for name, usage in self.models.items()},
        }


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _amount(value: object) -> Decimal | None:
    try:
        return exact_money(value, "cost_usd")
    except (TypeError, ValueError):
        return None


def _add(total: Decimal | None, amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return total
    return amount if total is None else total + amount


def reprice(entries: Iterable[dict[str, Any]], prices: PriceTable) -> Repricing:
    """Re-price the usage stored in ``entries`` with ``prices`` (see the module docstring)."""
    result = Repricing(prices.version)
    for entry in entries:
        result.events += 1
        cost_data = entry.get("cost_data")
        if not isinstance(cost_data, dict):
            result.events_without_model_usage += 1
            continue
        result.stored_total = _add(result.stored_total, _amount(cost_data.get("total_cost_usd")))
        models = cost_data.get("models")
        if not isinstance(models, dict) or not models:
            result.events_without_model_usage += 1
            continue
        for name, used in models.items():
            if not isinstance(used, dict):
                continue
            usage = result.models.setdefault(str(name), ModelUsage())
            input_tokens, output_tokens = _count(used.get("input_tokens")), _count(used.get("output_tokens"))
            cached_tokens = min(_count(used.get("cached_tokens")), input_tokens)
            usage.events += 1
            usage.calls += _count(used.get("calls"))
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            usage.cached_tokens += cached_tokens
            usage.stored_cost = _add(usage.stored_cost, _amount(used.get("cost_usd")))
            price = prices.price_for(str(name))
            if price is not None:
                cost = price.cost_usd(input_tokens, output_tokens, cached_tokens)
                usage.repriced_cost = (usage.repriced_cost or _ZERO) + cost
    return result


def selected_entries(
    items: Iterable[EventLine | TornLine], run: str | None, since: str | None, until: str | None
) -> Iterable[dict[str, Any]]:
    """The readable entries of the report's selection: a run id prefix, a window on start time."""
    prefix = None if run is None else run.lower()
    for item in items:
        if not isinstance(item, EventLine):
            continue
        entry = item.entry
        if prefix is not None and not str(entry.get("workflow_run_id", "")).lower().startswith(prefix):
            continue
        timestamps = entry.get("timestamps")
        start = str(timestamps.get("start_time_utc", "")) if isinstance(timestamps, dict) else ""
        if (since is not None and start < since) or (until is not None and start >= until):
            continue
        yield entry


def reprice_section(result: Repricing, *, markdown: bool) -> str:
    """The re-pricing as a report section (all printing of logged text, model names, is here)."""
    doc = Document()
    label = f" (price table {result.price_table})" if result.price_table else ""
    doc.heading(f"Re-priced{label}")
    rows = []
    for name, usage in result.models.items():
        delta = (
            None
            if usage.repriced_cost is None or usage.stored_cost is None
            else usage.repriced_cost - usage.stored_cost
        )
        rows.append(
            (
                name,
                str(usage.calls),
                f"{usage.input_tokens:,}",
                f"{usage.cached_tokens:,}",
                f"{usage.output_tokens:,}",
                _usd(usage.stored_cost),
                "no price" if usage.repriced_cost is None else _usd(usage.repriced_cost),
                _signed(delta),
            )
        )
    stored_like = result.stored_priced_total
    rows.append(
        (
            "total (priced models)",
            "",
            "",
            "",
            "",
            _usd(stored_like),
            _usd(result.repriced_total),
            _signed(None if stored_like is None else result.repriced_total - stored_like),
        )
    )
    doc.table(
        ("model", "calls", "input tok", "cached tok", "output tok", "stored", "re-priced", "change"),
        rows,
        numeric=range(1, 8),
    )
    doc.line(f"Stored total over {result.events} events: {_usd(result.stored_total)}.")
    unpriced = result.unpriced_models
    doc.line(f"Models without a price: {', '.join(unpriced) if unpriced else 'none'}.")
    if result.events_without_model_usage:
        doc.line(f"Events without per-model usage (not re-priced): {result.events_without_model_usage}.")
    return doc.as_markdown() if markdown else doc.as_text()


def _usd(amount: Decimal | None) -> str:
    return money(None if amount is None else float(amount))


def _signed(amount: Decimal | None) -> str:
    if amount is None:
        return "-"
    return ("+" if amount >= 0 else "-") + money(float(abs(amount)))
