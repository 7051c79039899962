"""``cost_data``'s roll-up of calls that reported no usage: the short way gives what the full rules give."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wflogging.pricing import to_price_table
from wflogging.usage import CallUsage, roll_up

MODELS = st.sampled_from(["claude-sonnet-4", "gpt-4o", "gemini-1.5-pro", "é-model"])


@given(st.lists(MODELS, max_size=30))
def test_calls_without_usage_are_counted_per_model_with_zero_tokens_and_no_money(names: list[str]) -> None:
    data = roll_up([CallUsage(name) for name in names], None)

    expected_models = {name: names.count(name) for name in dict.fromkeys(names)}
    assert data == {
        "llm_calls": len(names),
        "tokens": {"input": 0, "output": 0, "cached": 0},
        "models": {
            name: {"calls": count, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
            for name, count in expected_models.items()
        },
    }
    assert list(data["models"]) == list(expected_models)  # first-use order


@given(st.lists(MODELS, min_size=1, max_size=10), st.data())
def test_one_call_with_usage_takes_the_full_rules_for_all(names: list[str], data: st.DataObject) -> None:
    reporting = data.draw(st.integers(min_value=0, max_value=len(names) - 1))
    calls = [CallUsage(name, input_tokens=7 if i == reporting else None) for i, name in enumerate(names)]

    rolled = roll_up(calls, None)

    assert rolled["tokens"]["input"] == 7
    assert rolled["per_call"] == [{"call_sequence": reporting + 1, "input_tokens": 7}]
    assert rolled["llm_calls"] == len(names)


def test_with_a_price_table_calls_without_usage_are_unpriced_not_free() -> None:
    table = to_price_table({"gpt-4o": {"input_per_million": 2.5, "output_per_million": 10}})

    rolled = roll_up([CallUsage("gpt-4o")], table)

    assert rolled["unpriced_calls"] == 1
    assert rolled["models"]["gpt-4o"]["unpriced_calls"] == 1
    assert "cost_usd" not in rolled["models"]["gpt-4o"]
