"""What a model call cost: tokens priced by the model that really answered.

Why by the response's model: the name a job asks for is not always the model that answers. An
Azure deployment is a name the operator chose (`prod-chat`), and OpenAI answers an alias
(`gpt-4o`) with a dated model (`gpt-4o-2024-08-06`). The response names the model, so the cost
is looked up with that name in `MODEL_PRICES` (longest matching prefix), and only a model the
table does not list falls back to the flat `PRICE_*` settings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from policy_reader.models import Usage

if TYPE_CHECKING:
    from policy_reader.config import Settings

MAX_TABLE_CHARS = 100_000


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    cached_input: float
    output: float


@lru_cache(maxsize=8)
def parse_price_table(text: str) -> dict[str, Price]:
    """MODEL_PRICES (JSON) -> {model name (lower case): Price}. Raises ValueError naming the problem.

    Each entry is `{"input": x, "output": y}` with an optional `"cached_input"` (default: input).
    """
    if not text or not text.strip():
        return {}
    if len(text) > MAX_TABLE_CHARS:
        raise ValueError(f"MODEL_PRICES is longer than {MAX_TABLE_CHARS:,} characters")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"MODEL_PRICES is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError('MODEL_PRICES must be a JSON object: {"model": {"input": ..., "output": ...}}')
    table: dict[str, Price] = {}
    for name, entry in data.items():
        if not str(name).strip():
            raise ValueError("MODEL_PRICES has an empty model name")
        table[str(name).strip().lower()] = _price(str(name), entry)
    return table


def _price(name: str, entry: Any) -> Price:
    if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
        raise ValueError(f'MODEL_PRICES["{name}"] needs "input" and "output" (USD per 1M tokens)')
    values = {key: entry.get(key, entry["input"]) for key in ("input", "cached_input", "output")}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f'MODEL_PRICES["{name}"].{key} must be a number >= 0')
    return Price(float(values["input"]), float(values["cached_input"]), float(values["output"]))


def price_for(model: str | None, settings: "Settings") -> Price:
    """The price of `model`: the longest MODEL_PRICES name it starts with, else the PRICE_* settings."""
    table = parse_price_table(settings.model_prices)
    name = (model or "").strip().lower()
    if name and table:
        matches = [key for key in table if name == key or name.startswith(key)]
        if matches:
            return table[max(matches, key=len)]
    return Price(settings.price_input_per_1m, settings.price_cached_input_per_1m, settings.price_output_per_1m)


#: Batch APIs (OpenAI Batch, Azure OpenAI global batch) bill at half the live price.
BATCH_DISCOUNT = 0.5


def price(usage: Usage, settings: "Settings", model: str | None = None, *, batch: bool = False) -> Usage:
    """The usage with its cost (cached prompt tokens priced apart), for the model that answered;
    `batch`: at the Batch API's discount."""
    rates = price_for(model, settings)
    cached = min(usage.cached_prompt_tokens, usage.prompt_tokens)
    cost = ((usage.prompt_tokens - cached) * rates.input + cached * rates.cached_input
            + usage.completion_tokens * rates.output) / 1_000_000
    if batch:
        cost *= BATCH_DISCOUNT
    return usage.model_copy(update={"cost_usd": round(cost, 6)})
