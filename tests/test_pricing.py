"""Price tables: exact money, from code, JSON or TOML, with mistakes refused by name."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wflogging

TOML_TABLE = """\
version = "2026-03-01"

[models."claude-sonnet-4"]
input_per_million = 3.0
output_per_million = 15.0
cached_input_per_million = 0.30

[models."gpt-4.1-mini"]
input_per_million = 0.4
output_per_million = 1.6
"""

JSON_TABLE = {
    "version": "2026-03-01",
    "models": {
        "claude-sonnet-4": {
            "input_per_million": 3.0,
            "output_per_million": 15.0,
            "cached_input_per_million": 0.30,
        },
        "gpt-4.1-mini": {"input_per_million": 0.4, "output_per_million": 1.6},
    },
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_and_toml_files_load_to_the_same_exact_table(tmp_path: Path) -> None:
    """The same table in JSON and TOML loads identically, with decimal prices kept exact."""
    from_toml = wflogging.load_prices(write(tmp_path, "prices.toml", TOML_TABLE))
    from_json = wflogging.load_prices(write(tmp_path, "prices.json", json.dumps(JSON_TABLE)))
    assert from_toml == from_json
    assert from_toml.version == "2026-03-01"
    mini = from_toml.price_for("gpt-4.1-mini")
    assert mini is not None
    assert (mini.input_per_million, mini.output_per_million) == (Decimal("0.4"), Decimal("1.6"))
    assert from_toml.price_for("gpt-5") is None


def test_cost_is_exact_per_token() -> None:
    """One token at 0.4 per million costs exactly 0.0000004 USD, with no binary rounding."""
    price = wflogging.ModelPrice(0.4, 1.6)
    assert price.cost_usd(1, 0) == Decimal("0.0000004")
    assert price.cost_usd(3, 0) == Decimal("0.0000012")
    assert price.cost_usd(0, 1) == Decimal("0.0000016")


def test_cached_tokens_are_part_of_the_input_and_priced_at_the_cache_price() -> None:
    """cached_tokens is the cached share of input_tokens, priced at cached_input_per_million."""
    price = wflogging.ModelPrice(3, 15, cached_input_per_million="0.3")
    # 200 uncached at 3 + 800 cached at 0.3 + 100 output at 15, per million
    assert price.cost_usd(1000, 100, cached_tokens=800) == Decimal("0.00234")


@given(
    input_tokens=st.integers(min_value=0, max_value=10**9),
    cached_share=st.floats(min_value=0, max_value=1),
    output_tokens=st.integers(min_value=0, max_value=10**9),
)
def test_without_a_cache_price_cached_tokens_cost_the_input_price(
    input_tokens: int, cached_share: float, output_tokens: int
) -> None:
    """With no cached_input_per_million, how much input came from the cache does not change the cost."""
    price = wflogging.ModelPrice(Decimal("2.5"), 10)
    cached = int(input_tokens * cached_share)
    assert price.cost_usd(input_tokens, output_tokens, cached) == price.cost_usd(input_tokens, output_tokens)


def test_table_in_code_accepts_prices_mappings_and_pairs() -> None:
    """A table in code takes ModelPrice objects, mappings of prices, or (input, output) pairs."""
    table = wflogging.PriceTable(
        {
            "a": wflogging.ModelPrice(1, 2),
            "b": {"input_per_million": 1, "output_per_million": 2},
            "c": (1, 2),
        }
    )
    assert table.price_for("a") == table.price_for("b") == table.price_for("c")


@pytest.mark.parametrize(
    ("models", "error", "message"),
    [
        ({"m": {"input_per_million": 1, "output_per_milion": 2}}, ValueError, "output_per_milion"),
        ({"m": {"input_per_million": 1}}, ValueError, "missing 'output_per_million'"),
        (
            {"m": {"input_per_million": -1, "output_per_million": 2}},
            ValueError,
            "models.m: input_per_million",
        ),
        ({"m": {"input_per_million": True, "output_per_million": 2}}, TypeError, "input_per_million"),
        ({"m": {"input_per_million": "NaN", "output_per_million": 2}}, ValueError, "input_per_million"),
        ({"m": (1, 2, 3)}, TypeError, "models.m"),
        ({"": (1, 2)}, ValueError, "model name"),
    ],
)
def test_mistakes_in_a_table_are_refused_naming_the_key(
    models: dict[str, object], error: type[Exception], message: str
) -> None:
    """A typo, a missing or negative price, or a bad model name is an error naming what is wrong."""
    with pytest.raises(error, match=message):
        wflogging.PriceTable(models)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    """A broken price file's error names the file and the key; unknown suffixes are refused."""
    bad = write(tmp_path, "bad.toml", "[models.m]\ninput_per_million = 1\nouput_per_million = 2\n")
    with pytest.raises(ValueError, match=r"bad\.toml.*ouput_per_million"):
        wflogging.load_prices(bad)
    no_models = write(tmp_path, "empty.json", '{"version": "x"}')
    with pytest.raises(ValueError, match="missing 'models'"):
        wflogging.load_prices(no_models)
    with pytest.raises(ValueError, match=r"\.json or \.toml"):
        wflogging.load_prices(write(tmp_path, "prices.yaml", "models: {}"))


def test_toml_without_tomllib_or_tomli_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where neither tomllib nor tomli imports (3.10 without tomli), the error says to install tomli."""
    path = write(tmp_path, "prices.toml", TOML_TABLE)
    monkeypatch.setitem(sys.modules, "tomllib", None)  # None in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ImportError, match="tomli"):
        wflogging.load_prices(path)
    json_path = write(tmp_path, "prices.json", json.dumps(JSON_TABLE))
    assert wflogging.load_prices(json_path).price_for("gpt-4.1-mini") is not None
