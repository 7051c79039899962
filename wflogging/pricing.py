"""Price tables: what a model's tokens cost, so a task's ``cost_data`` can say it in money.

wflogging ships no prices and fetches none: prices change, differ by contract and
region, and a library that guesses them writes wrong numbers with confidence. You
give the table, in code or in a file, and :func:`wflogging.record_task` prices
each call with it.

Prices are in US dollars per million tokens, per model (matched by exact
``model_name``):

- ``input_per_million``: uncached input (prompt) tokens;
- ``output_per_million``: output (completion) tokens, reasoning tokens included;
- ``cached_input_per_million``: input tokens read from the provider's prompt
  cache; optional, defaults to the input price.

In code::

    prices = PriceTable({"claude-sonnet-4": ModelPrice(input_per_million=3, output_per_million=15)})
    prices = {"claude-sonnet-4": (3, 15)}          # shorthand accepted by record_task(prices=...)

In a file (``load_prices("prices.toml")``; JSON has the same shape)::

    version = "2025-06-01"              # optional label, written to cost_data.price_table

    [models."claude-sonnet-4"]
    input_per_million = 3.0
    output_per_million = 15.0
    cached_input_per_million = 0.30     # optional

Money is kept as :class:`~decimal.Decimal` (file numbers are parsed straight to
``Decimal``, floats given in code via their shortest ``repr``), so ``0.4`` per
million stays exactly 0.4. TOML needs :mod:`tomllib` (Python 3.11+); on 3.10,
install the optional ``tomli`` package (``pip install tomli``) or use JSON: without
either, :func:`load_prices` raises :class:`ImportError` saying so.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import types
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

__all__ = ["ModelPrice", "PriceTable", "load_prices", "to_price_table"]

_PER_MILLION = Decimal(1_000_000)
_PRICE_KEYS = ("input_per_million", "output_per_million", "cached_input_per_million")


def money(value: object, path: str) -> Decimal:
    """A finite, non-negative amount as an exact ``Decimal`` (``ValueError``/``TypeError`` naming ``path``).

    Floats go through their shortest ``repr`` (``0.1`` -> ``Decimal("0.1")``), not
    their binary value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise TypeError(f"{path}: expected a number, got {type(value).__name__}")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError(f"{path}: {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{path}: {value!r} is not a finite, non-negative amount")
    return amount


def _input_price(value: object) -> Decimal:
    return money(value, "input_per_million")


def _output_price(value: object) -> Decimal:
    return money(value, "output_per_million")


def _optional_cached_price(value: object) -> Decimal | None:
    return None if value is None else money(value, "cached_input_per_million")


@attrs.frozen
class ModelPrice:
    """One model's prices in USD per million tokens (see the module docstring)."""

    input_per_million: Decimal = attrs.field(converter=_input_price)
    output_per_million: Decimal = attrs.field(converter=_output_price)
    cached_input_per_million: Decimal | None = attrs.field(
        default=None, converter=_optional_cached_price, kw_only=True
    )

    def cost_usd(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> Decimal:
        """The exact price of a call.

        ``cached_tokens`` is the part of ``input_tokens`` read from the cache
        (OpenAI's convention; Anthropic reports cache reads on top of its input
        count, so add them to ``input_tokens`` first).
        """
        cached_price = self.cached_input_per_million
        if cached_price is None:
            cached_price = self.input_per_million
        total = (
            (input_tokens - cached_tokens) * self.input_per_million
            + cached_tokens * cached_price
            + output_tokens * self.output_per_million
        )
        return total / _PER_MILLION


def _model_price(value: object, path: str) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    try:
        if isinstance(value, Mapping):
            unknown = sorted(str(key) for key in value if key not in _PRICE_KEYS)
            if unknown:
                raise ValueError(f"unknown key {unknown[0]!r} (allowed: {', '.join(_PRICE_KEYS)})")
            missing = [key for key in _PRICE_KEYS[:2] if key not in value]
            if missing:
                raise ValueError(f"missing {missing[0]!r}")
            return ModelPrice(**value)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return ModelPrice(value[0], value[1])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: {exc}") from None
    raise TypeError(
        f"{path}: expected a ModelPrice, a mapping of prices or an (input, output) pair, "
        f"got {type(value).__name__}"
    )


def _models(value: Mapping[Any, Any]) -> types.MappingProxyType[str, ModelPrice]:
    if not isinstance(value, Mapping):
        raise TypeError(f"models: expected a mapping of model name to prices, got {type(value).__name__}")
    models: dict[str, ModelPrice] = {}
    for name, price in value.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"models: model name {name!r} is not a non-empty string")
        models[name] = _model_price(price, f"models.{name}")
    return types.MappingProxyType(models)


def _optional_version(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"version: expected a string, got {type(value).__name__}")


@attrs.frozen
class PriceTable:
    """Per-model prices; ``version`` labels the table (a date, say) in each task's ``cost_data``.

    ``models`` maps a model name to a :class:`ModelPrice`, a mapping with its
    fields, or an ``(input_per_million, output_per_million)`` pair.
    """

    models: types.MappingProxyType[str, ModelPrice] = attrs.field(converter=_models)
    version: str | None = attrs.field(default=None, converter=_optional_version, kw_only=True)

    def price_for(self, model_name: str) -> ModelPrice | None:
        """The model's prices, or ``None`` when the table does not list it."""
        return self.models.get(model_name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        """A table from the file shape ``{"version": ..., "models": {name: {prices}}}``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"price table: expected a mapping, got {type(data).__name__}")
        unknown = sorted(str(key) for key in data if key not in ("version", "models"))
        if unknown:
            raise ValueError(f"price table: unknown key {unknown[0]!r} (allowed: version, models)")
        if "models" not in data:
            raise ValueError("price table: missing 'models'")
        return cls(data["models"], version=data.get("version"))


def to_price_table(value: PriceTable | Mapping[str, Any]) -> PriceTable:
    """``value`` as a :class:`PriceTable`: a table as is, or a mapping of model name to prices."""
    return value if isinstance(value, PriceTable) else PriceTable(value)


def load_prices(path: str | os.PathLike[str]) -> PriceTable:
    """Read a price table from a ``.json`` or ``.toml`` file (shape in the module docstring).

    Raises:
        ValueError / TypeError: the file breaks the shape (the message names the key and the file).
        ImportError: a TOML file on Python 3.10 without the ``tomli`` package.
        OSError: the file cannot be read.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".json":
        with file.open("rb") as stream:
            data = json.load(stream, parse_float=Decimal)
    elif suffix == ".toml":
        toml = _toml_module()
        with file.open("rb") as stream:
            data = toml.load(stream, parse_float=Decimal)
    else:
        raise ValueError(f"{file}: price tables are .json or .toml files, not {suffix or 'no extension'!r}")
    try:
        return PriceTable.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{file}: {exc}") from None


def _toml_module() -> Any:
    # Imported by name, not with an import statement: the standard library has tomllib
    # from 3.11 only, and tomli is an optional dependency on 3.10.
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(
        "reading a TOML price table needs tomllib (Python 3.11+) or the 'tomli' package on "
        "Python 3.10: pip install tomli, or use a JSON price table"
    )
