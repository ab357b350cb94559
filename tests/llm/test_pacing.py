"""Quota pacing against the fake server's real quota behaviour (sliding window, 429 + Retry-After,
x-ratelimit headers): no document fails for rate limits, no 429 storm. Speed is measured in
bench/quota.py; these tests check correctness with a small, fast quota."""
from __future__ import annotations

import threading

import pytest

from policy_reader.errors import LlmError
from policy_reader.extraction.extractor import make_extractor
from policy_reader.llm.chat import estimate_charge
from policy_reader.llm.providers import make_chat_backend
from policy_reader.llm.pacing import QuotaPacer, call_context, parse_duration
from tests.fake_openai import Quota
from tests.llm.test_llm_extractor import wide_template


def _run_documents(extractor, docs, variables) -> list[BaseException]:
    """Ask each document in its own thread, like a job's parallel documents."""
    errors: list[BaseException] = []

    def work(doc) -> None:
        try:
            extractor.answer(doc.pages, variables)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(doc,)) for doc in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_job_far_larger_than_the_quota_completes_without_a_429_storm(fake_openai):
    """8 documents, each call ~3,000 tokens (the schema counted, as providers count it), against 4,000
    tokens a second: the job needs about six seconds of quota; every document completes, with no retry budget at all, and few 429s."""
    variables, facts, doc = wide_template(6)
    fake_openai.facts = facts
    fake_openai.quota = Quota(tokens_per_minute=240_000, window_s=1.0)
    extractor = make_extractor(fake_openai.settings(LLM_MAX_RETRIES=0, LLM_MAX_CONCURRENCY=8))
    errors = _run_documents(extractor, [doc] * 8, variables)
    assert not errors
    statuses = fake_openai.statuses()
    assert statuses.count(200) == 8
    assert statuses.count(429) <= 3, statuses  # paced to the budget, not bursting into 429s
    assert all(r.charged_tokens > 1500 for r in fake_openai.requests)


def test_tokens_per_minute_setting_paces_from_the_first_call(fake_openai):
    variables, facts, doc = wide_template(6)
    fake_openai.facts = facts
    fake_openai.quota = Quota(tokens_per_minute=360_000, window_s=2.0)
    settings = fake_openai.settings(LLM_TOKENS_PER_MINUTE=360_000, LLM_MAX_RETRIES=0, LLM_MAX_CONCURRENCY=8)
    errors = _run_documents(make_extractor(settings), [doc] * 6, variables)
    assert not errors
    assert fake_openai.statuses().count(429) <= 2


def test_a_request_larger_than_the_whole_quota_is_not_waited_for(fake_openai):
    variables, facts, doc = wide_template(6)
    fake_openai.quota = Quota(tokens_per_minute=1_000, window_s=60.0)
    with pytest.raises(LlmError) as info:
        make_extractor(fake_openai.settings()).answer(doc.pages, variables)
    assert info.value.code == "too_large" and "CHUNK_TOKENS" in str(info.value)
    assert len(fake_openai.requests) == 1


def test_cancelling_stops_the_wait():
    pacer = QuotaPacer(tokens_per_minute=600)  # 10 tokens a second
    stop = threading.Event()
    waits: list[bool] = []
    with call_context(on_wait=waits.append, should_stop=stop.is_set):
        pacer.acquire(10, max_wait_s=60)
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(LlmError) as info:
            pacer.acquire(500, max_wait_s=60)  # ~50 s of quota
    assert info.value.code == "cancelled" and waits[-2:] == [True, False]


def test_headers_teach_and_correct_the_budget():
    pacer = QuotaPacer()
    assert pacer.tokens_per_minute == 0
    pacer.observe({"x-ratelimit-limit-tokens": "60000", "x-ratelimit-remaining-tokens": "0",
                   "x-ratelimit-reset-tokens": "6m0s"})
    assert pacer.tokens_per_minute == 60_000
    assert parse_duration("6m0s") == 360 and parse_duration("20ms") == 0.02 and parse_duration("1h2m3.5s") == 3723.5
    assert parse_duration("1.5") == 1.5 and parse_duration("soon") is None


def test_azure_limiter_without_limit_headers_is_learnt_from_what_remains(fake_openai):
    """Azure's limiter (tests/fake_openai.AZURE_QUOTA_DOC): admission on the estimate (schema + messages +
    max tokens), short evaluation windows, only x-ratelimit-remaining-* headers. The pacer learns the quota
    from what remains plus its own charges, and the job goes through with at most one 429 (it was a storm:
    nothing told the quota, so every call went out at once)."""
    variables, facts, doc = wide_template(6)
    fake_openai.facts = facts
    fake_openai.quota = Quota.azure(tokens_per_minute=360_000, window_s=1.0)  # 6,000 tokens a second
    settings = fake_openai.settings(LLM_MAX_RETRIES=0, LLM_MAX_CONCURRENCY=8)
    errors = _run_documents(make_extractor(settings), [doc] * 8, variables)
    assert not errors
    statuses = fake_openai.statuses()
    assert statuses.count(200) == 8
    assert "x-ratelimit-limit-tokens" not in fake_openai._quota_headers(0.0)  # Azure sends no limit
    assert statuses.count(429) <= 1, statuses
    assert make_chat_backend(settings).pacer.tokens_per_minute == pytest.approx(360_000, rel=0.05)


def test_the_charge_estimate_counts_the_schema_as_the_provider_does(fake_openai):
    """Providers count the response format (schema) in the prompt: the client's estimate must too, or a
    limiter that admits on the estimate refuses a pace that looked right."""
    variables, facts, doc = wide_template(6)
    fake_openai.facts = facts
    fake_openai.quota = Quota.azure(tokens_per_minute=10_000_000)
    extractor = make_extractor(fake_openai.settings())
    extractor.answer(doc.pages, variables)
    req = fake_openai.requests[-1]
    params = {k: v for k, v in req.body.items() if k != "model"}
    assert estimate_charge(params, int(req.max_tokens or 0)) == pytest.approx(req.charged_tokens, rel=0.02)


def test_headers_with_only_the_remainder_teach_the_quota():
    pacer = QuotaPacer()
    pacer.acquire(1_000, max_wait_s=1)
    pacer.observe({"x-ratelimit-remaining-tokens": "59000"})
    assert pacer.tokens_per_minute == 60_000
    pacer.observe({"x-ratelimit-limit-tokens": "-1", "x-ratelimit-remaining-tokens": "-1"})  # a gateway's "unknown"
    assert pacer.tokens_per_minute == 60_000
