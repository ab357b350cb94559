"""policy_reader/llm/pricing.py: the cost of a call is priced with the model the response names."""
from __future__ import annotations

import json

import pytest

from policy_reader.config import load_settings
from policy_reader.errors import ConfigError
from policy_reader.extraction.extractor import make_extractor
from policy_reader.models import PageText, Usage, Variable
from policy_reader.llm.pricing import price, price_for

TABLE = json.dumps({"gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10},
                    "gpt-4o-mini": {"input": 0.15, "output": 0.6}})
MILLION = Usage(calls=1, prompt_tokens=1_000_000, completion_tokens=1_000_000)


def test_longest_listed_prefix_prices_the_model_else_the_flat_settings() -> None:
    settings = load_settings(MODEL_PRICES=TABLE, PRICE_INPUT_PER_1M=1, PRICE_OUTPUT_PER_1M=1)
    assert price(MILLION, settings, "gpt-4o-2024-08-06").cost_usd == pytest.approx(12.5)
    assert price(MILLION, settings, "GPT-4o-mini-2024-07-18").cost_usd == pytest.approx(0.75)
    assert price_for("gpt-4o-mini", settings).cached_input == 0.15  # cached defaults to the input price
    assert price(MILLION, settings, "llama3").cost_usd == pytest.approx(2.0)  # not listed: PRICE_*
    assert price(MILLION, settings, None).cost_usd == pytest.approx(2.0)


@pytest.mark.parametrize("table, problem", [
    ("{not json", "not valid JSON"),
    ('["gpt-4o"]', "must be a JSON object"),
    ('{"gpt-4o": {"input": 1}}', 'needs "input" and "output"'),
    ('{"gpt-4o": {"input": -1, "output": 1}}', "must be a number >= 0"),
])
def test_a_bad_price_table_is_a_clear_configuration_error(table: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_PRICES") as info:
        load_settings(MODEL_PRICES=table)
    assert problem in info.value.message


def test_an_azure_deployment_is_priced_by_the_model_that_answered(fake_openai) -> None:
    """A deployment name says nothing about the price; the response's `model` does."""
    fake_openai.facts = {"year": (2019, "adopted in 2019")}
    fake_openai.responder = lambda req: {**fake_openai.careful_answer(req), "model": "gpt-4o-2024-08-06"}
    settings = fake_openai.azure_settings(AZURE_OPENAI_DEPLOYMENT="prod-chat", MODEL_PRICES=TABLE)
    answers, usage = make_extractor(settings).answer(
        [PageText(number=1, text="The policy was adopted in 2019.")],
        [Variable(name="year", question="Year adopted?", type="year")])
    assert answers[0].value == 2019 and usage.prompt_tokens > 0
    expected = ((usage.prompt_tokens - usage.cached_prompt_tokens) * 2.5 + usage.cached_prompt_tokens * 1.25
                + usage.completion_tokens * 10) / 1_000_000
    assert usage.cost_usd == pytest.approx(expected, abs=1e-6)
    assert usage.cost_usd != pytest.approx(price(usage, settings, "prod-chat").cost_usd)  # not the flat price
