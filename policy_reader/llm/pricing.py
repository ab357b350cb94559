"""What a model call cost: tokens priced by the model that really answered.

Why by the response's model: the name a job asks for is not always the model that answers. An
Azure deployment is a name the operator chose (`prod-chat`), and OpenAI answers an alias
(`gpt-4o`) with a dated model (`gpt-4o-2024-08-06`). The response names the model, so the cost
is looked up with that name in `MODEL_PRICES` (longest matching prefix), and only a model the
table does not list falls back to the flat `PRICE_*` settings.
"""
from __future__ import annotations

# The MODEL_PRICES table is parsed where the settings are validated (config), so a bad table stops start-up
# without the settings importing the LLM wing; pricing only looks prices up in it.
from policy_reader.config import MAX_TABLE_CHARS, Price, Settings, parse_price_table  # noqa: F401 - re-exported
from policy_reader.models import Usage


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
