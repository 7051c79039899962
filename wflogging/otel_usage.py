"""Where an entry's tokens, money and provider go among its spans (pure functions, no SDK).

Backends count tokens and cost on LLM spans only (Arize Phoenix sums
``llm.token_count.*`` over its LLM spans; Langfuse over its generations), so the
export puts each figure on the call span it belongs to, and every figure of the
file exactly once in the trace:

1. ``cost_data.per_call`` (what :func:`wflogging.record_task` writes: one item per
   call that reported usage, matched by ``call_sequence``), or a list under
   ``calls``/``llm_calls``: each call span gets its own usage and cost
   (scope ``call``).
2. Else the per-model breakdown under ``models``: a model used by one call puts
   its figures on that call (scope ``call``); a model used by several calls puts
   its totals on its *first* call, marked scope ``model`` with the number of calls
   they cover (files written before ``per_call`` existed carry only these).
3. Else, when the entry names no per-call or per-model figure at all, the task's
   totals go on its first call (scope ``task``).

What the calls do not account for (totals above the sum of the parts) stays on the
task span, so summing ``gen_ai.usage.*`` over the trace still counts every token once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

__all__ = [
    "CallFigures",
    "TraceFigures",
    "provider_for_model",
    "token_usage",
    "trace_figures",
]

_INT64_MAX = 2**63 - 1
_USAGE_CONTAINERS = ("tokens", "usage", "token_usage")
_PER_CALL_CONTAINERS = ("per_call", "calls", "llm_calls")
_USAGE_KEYS = (
    ("gen_ai.usage.input_tokens", ("input_tokens", "prompt_tokens", "input")),
    ("gen_ai.usage.output_tokens", ("output_tokens", "completion_tokens", "output")),
    ("gen_ai.usage.cache_read.input_tokens", ("cached_tokens", "cache_read_input_tokens", "cached")),
)
_CALL_COST_KEYS = ("cost_usd", "total_cost_usd")
_TASK_COST_KEYS = ("total_cost_usd", "cost_usd")


class CallFigures(NamedTuple):
    """What one call span carries: usage attributes, money, and how far they reach."""

    usage: dict[str, int]
    cost_usd: Decimal | None
    #: ``call`` (this call's own figures), ``model`` (its model's totals over ``calls`` calls)
    #: or ``task`` (the task's totals: the entry attributes nothing to single calls).
    scope: str
    calls: int
    provider: str | None
    finish_reason: str | None


class TraceFigures(NamedTuple):
    """Each call's figures by ``call_sequence``, and what is left for the task span."""

    calls: dict[int, CallFigures]
    task_usage: dict[str, int]
    task_cost_usd: Decimal | None


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= _INT64_MAX


def token_usage(data: Mapping[str, Any]) -> dict[str, int]:
    """GenAI usage attributes found in a ``cost_data``-like mapping.

    Recognises ``input_tokens``/``output_tokens``/``cached_tokens`` (or OpenAI's
    ``prompt_tokens``/``completion_tokens``) at the top level or under
    ``tokens``/``usage``/``token_usage``, and the recorder's
    ``{"tokens": {"input": n, "output": n, "cached": n}}`` shape. Cached tokens
    are taken as part of the input count, as the GenAI conventions define it.
    """
    places = [data, *(data[key] for key in _USAGE_CONTAINERS if isinstance(data.get(key), Mapping))]
    usage: dict[str, int] = {}
    for attribute, keys in _USAGE_KEYS:
        for place in places:
            found = next((place[key] for key in keys if _is_count(place.get(key))), None)
            if found is not None:
                usage[attribute] = found
                break
    return usage


def _money(data: Mapping[str, Any], keys: Sequence[str]) -> Decimal | None:
    for key in keys:
        value = data.get(key)
        if type(value) in (int, float):
            try:
                amount = Decimal(repr(value))
            except InvalidOperation:
                continue
            if amount.is_finite() and amount >= 0:
                return amount
    return None


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def trace_figures(cost_data: Mapping[str, Any], models: Sequence[str]) -> TraceFigures:
    """Share an entry's usage and cost among its call spans and its task span (module docstring).

    ``models`` is each call's model name, in call order (call ``n`` is ``models[n - 1]``).
    """
    calls = _per_call(cost_data, models)
    if calls is None:
        calls = _per_model(cost_data, models)
    if not calls and models:
        usage, cost = token_usage(cost_data), _money(cost_data, _TASK_COST_KEYS)
        if usage or cost is not None:
            calls = {1: CallFigures(usage, cost, "task", len(models), None, None)}
    return TraceFigures(calls, *_remainder(cost_data, calls.values()))


def _per_call(cost_data: Mapping[str, Any], models: Sequence[str]) -> dict[int, CallFigures] | None:
    for key in _PER_CALL_CONTAINERS:
        items = cost_data.get(key)
        if not isinstance(items, list):
            continue
        found: dict[int, CallFigures] = {}
        for position, item in enumerate(items, start=1):
            if not isinstance(item, Mapping):
                continue
            sequence = item.get("call_sequence", position)
            if not (_is_count(sequence) and 1 <= sequence <= len(models)) or sequence in found:
                continue
            found[sequence] = CallFigures(
                token_usage(item),
                _money(item, _CALL_COST_KEYS),
                "call",
                1,
                _text(item, "provider"),
                _text(item, "finish_reason"),
            )
        return found
    return None


def _per_model(cost_data: Mapping[str, Any], models: Sequence[str]) -> dict[int, CallFigures]:
    by_model = cost_data.get("models")
    if not isinstance(by_model, Mapping):
        return {}
    first_call: dict[str, int] = {}
    counts: dict[str, int] = {}
    for sequence, model in enumerate(models, start=1):
        first_call.setdefault(model, sequence)
        counts[model] = counts.get(model, 0) + 1
    found: dict[int, CallFigures] = {}
    for model, sequence in first_call.items():
        breakdown = by_model.get(model)
        if not isinstance(breakdown, Mapping):
            continue
        usage, cost = token_usage(breakdown), _money(breakdown, _CALL_COST_KEYS)
        provider = _text(breakdown, "provider")
        if usage or cost is not None or provider:
            scope = "call" if counts[model] == 1 else "model"
            found[sequence] = CallFigures(usage, cost, scope, counts[model], provider, None)
    return found


def _remainder(cost_data: Mapping[str, Any], calls: Any) -> tuple[dict[str, int], Decimal | None]:
    figures: list[CallFigures] = list(calls)
    rest: dict[str, int] = {}
    for attribute, total in token_usage(cost_data).items():
        left = total - sum(call.usage.get(attribute, 0) for call in figures)
        if left > 0:
            rest[attribute] = left
    total_cost = _money(cost_data, _TASK_COST_KEYS)
    placed = sum((call.cost_usd for call in figures if call.cost_usd is not None), Decimal(0))
    # Money is written rounded to 1e-10 USD per figure: a difference within that rounding
    # of each part and the total is not money left unplaced.
    cost_left = None if total_cost is None else total_cost - placed
    rounding = Decimal("1e-10") * (len(figures) + 1)
    return rest, cost_left if cost_left is not None and cost_left > rounding else None


# --- providers ---------------------------------------------------------------------------------

#: ``gen_ai.provider.name`` by how the model's name begins (the conventions' well-known values).
_PROVIDER_FAMILIES = (
    (("claude", "anthropic"), "anthropic"),
    (("gpt-", "chatgpt", "o1", "o3", "o4", "text-embedding", "davinci", "whisper", "dall-e"), "openai"),
    (("gemini", "gemma"), "gcp.gemini"),
    (("mistral", "mixtral", "codestral", "ministral", "magistral", "pixtral", "devstral"), "mistral_ai"),
    (("command", "c4ai", "embed-english", "embed-multilingual"), "cohere"),
    (("deepseek",), "deepseek"),
    (("grok",), "x_ai"),
    (("sonar",), "perplexity"),
    (("granite",), "ibm.watsonx.ai"),
)

#: ``provider/model`` names (LiteLLM, OpenRouter) whose first part names a known provider.
_PROVIDER_PREFIXES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "xai": "x_ai",
    "x-ai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
}


def provider_for_model(model_name: str) -> str | None:
    """The GenAI ``gen_ai.provider.name`` a model name implies, or ``None`` if it implies none.

    ``provider/model`` names take the provider part (``bedrock/claude-3`` ->
    ``aws.bedrock``); otherwise the model family decides (``claude-*`` ->
    ``anthropic``, ``gpt-*``/``o3`` -> ``openai``, ``gemini-*`` -> ``gcp.gemini``, ...).
    """
    prefix, slash, _ = model_name.partition("/")
    if slash and prefix.lower() in _PROVIDER_PREFIXES:
        return _PROVIDER_PREFIXES[prefix.lower()]
    family = model_name.rpartition("/")[2].lower()
    for beginnings, provider in _PROVIDER_FAMILIES:
        if family.startswith(beginnings):
            return provider
    return None
