"""Chat backends through the real openai client against a real local HTTP server (tests/fake_openai.py)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from policy_reader.config import load_settings
from policy_reader.errors import ConfigError, LlmError
from policy_reader.llm.providers import make_chat_backend
from policy_reader.llm.chat import (AzureChatBackend, OpenAIChatBackend, backoff_delay,
                               retry_after_seconds)
from policy_reader.models import PageText, Variable, VariableType
from policy_reader.llm.prompts import SCHEMA_NAME, build_messages, build_schema
from tests.fixtures.openai_server import AZURE_TEST_KEY, TEST_KEY

VARS = [Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR),
        Variable(name="target_pct", question="Emission reduction target, percent?", type=VariableType.NUMBER)]
PAGES = [PageText(number=1, text="National Climate Policy"),
         PageText(number=2, text="This policy was adopted by Cabinet in 2019. It targets a 45% cut by 2030.")]


def _chat(backend, pages=PAGES, max_tokens=1000):
    return backend.chat(build_messages(VARS, pages), schema=build_schema(VARS), schema_name=SCHEMA_NAME,
                        max_tokens=max_tokens)


def test_structured_output_request_and_typed_reply(fake_openai):
    fake_openai.facts = {"year_adopted": ("2019", "adopted by Cabinet in 2019"),
                         "target_pct": ("45", "targets a 45% cut by 2030")}
    backend = make_chat_backend(fake_openai.settings())
    result = _chat(backend, max_tokens=777)

    assert isinstance(backend, OpenAIChatBackend)
    assert result.finish_reason == "stop"
    answers = json.loads(result.content)["answers"]
    assert answers["year_adopted"] == {"value": 2019, "evidence": "adopted by Cabinet in 2019", "page": 2,
                                       "confidence": 0.95}
    assert answers["target_pct"]["value"] == 45.0
    (req,) = fake_openai.requests
    assert req.path == "/v1/chat/completions" and req.auth == "bearer"
    assert req.body["model"] == "gpt-fake"
    fmt = req.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == SCHEMA_NAME
    assert req.max_tokens == 777
    assert result.usage.calls == 1 and result.usage.prompt_tokens == len(req.prompt_text) // 4
    assert result.usage.completion_tokens > 0


def test_cached_prompt_tokens_are_counted(fake_openai):
    backend = make_chat_backend(fake_openai.settings())
    first = _chat(backend)
    second = _chat(backend, pages=PAGES + [PageText(number=3, text="Annex")])
    assert first.usage.cached_prompt_tokens == 0
    # instructions + variables + the first pages are a shared prefix
    assert 0 < second.usage.cached_prompt_tokens < second.usage.prompt_tokens


def test_429_with_retry_after_is_honoured_then_succeeds(fake_openai):
    fake_openai.add_fault("429", retry_after=1)
    backend = make_chat_backend(fake_openai.settings(LLM_BACKOFF_BASE_S=0.01))
    started = time.monotonic()
    result = _chat(backend)
    elapsed = time.monotonic() - started
    assert result.finish_reason == "stop"
    assert [r.status for r in fake_openai.requests] == [429, 200]
    gap = fake_openai.requests[1].started - fake_openai.requests[0].ended
    assert gap >= 0.95 and elapsed >= 0.95  # the server's 1 s, not our 10 ms base backoff


def test_retry_after_ms_header_wins(fake_openai):
    fake_openai.add_fault("429", retry_after=30, retry_after_ms=200)
    backend = make_chat_backend(fake_openai.settings())
    started = time.monotonic()
    _chat(backend)
    assert 0.18 <= time.monotonic() - started < 5


def test_500_is_retried(fake_openai):
    fake_openai.add_fault("500")
    fake_openai.add_fault("500")
    result = _chat(make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=2)))
    assert result.content
    assert [r.status for r in fake_openai.requests] == [500, 500, 200]


def test_timeout_is_retried(fake_openai):
    fake_openai.add_fault("timeout", sleep=1.0)
    backend = make_chat_backend(fake_openai.settings(LLM_TIMEOUT_S=0.3))
    result = _chat(backend)
    assert result.content
    assert len(fake_openai.requests) == 2


def test_429s_never_use_up_the_retries(fake_openai):
    """A 429 says "later", not "failed": the retry limit is for errors, not for waiting in line."""
    for _ in range(4):
        fake_openai.add_fault("429", retry_after_ms=50)
    result = _chat(make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=0)))
    assert result.content
    assert fake_openai.statuses() == [429, 429, 429, 429, 200]


def test_waiting_for_quota_longer_than_allowed_is_a_clear_error(fake_openai):
    for _ in range(20):
        fake_openai.add_fault("429", retry_after_ms=200)
    backend = make_chat_backend(fake_openai.settings(LLM_QUOTA_MAX_WAIT_S=0.5))
    with pytest.raises(LlmError) as info:
        _chat(backend)
    assert info.value.code == "rate_limit"
    assert "LLM_QUOTA_MAX_WAIT_S" in str(info.value) and "resume" in str(info.value).lower()
    assert 2 <= len(fake_openai.requests) <= 5


def test_timeouts_exhausted(fake_openai):
    fake_openai.add_fault("timeout", sleep=0.8)
    fake_openai.add_fault("timeout", sleep=0.8)
    backend = make_chat_backend(fake_openai.settings(LLM_TIMEOUT_S=0.25, LLM_MAX_RETRIES=1))
    with pytest.raises(LlmError) as info:
        _chat(backend)
    assert info.value.code == "timeout" and "LLM_TIMEOUT_S" in str(info.value)


def test_401_is_not_retried_and_never_shows_the_key(fake_openai):
    fake_openai.expected_key = "sk-the-right-one-000000"
    backend = make_chat_backend(fake_openai.settings())
    with pytest.raises(LlmError) as info:
        _chat(backend)
    message = str(info.value)
    assert info.value.code == "auth"
    assert "401" in message and "OPENAI_API_KEY" in message
    assert TEST_KEY not in message and TEST_KEY not in repr(info.value)
    assert len(fake_openai.requests) == 1  # not retried
    assert TEST_KEY not in json.dumps([r.headers for r in fake_openai.requests])


def test_404_names_the_model_setting(fake_openai):
    fake_openai.responder = lambda req: {"status": 404, "body": {"error": {"message": "model not found"}}}
    with pytest.raises(LlmError) as info:
        _chat(make_chat_backend(fake_openai.settings()))
    assert info.value.code == "config" and "OPENAI_MODEL" in str(info.value) and "gpt-fake" in str(info.value)
    assert len(fake_openai.requests) == 1


def test_model_that_refuses_temperature_is_asked_again_without_it(fake_openai):
    def responder(req):
        if "temperature" in req.body:
            return {"status": 400, "body": {"error": {"message": "Unsupported parameter: 'temperature'"}}}
        return fake_openai.careful_answer(req)

    fake_openai.responder = responder
    backend = make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=0))
    assert _chat(backend).content
    assert _chat(backend).content
    assert ["temperature" in r.body for r in fake_openai.requests] == [True, False, False]


def test_azure_v1_endpoint_without_api_version(fake_openai):
    """The GA v1 API: <endpoint>/openai/v1/chat/completions, the deployment as the model, no api-version."""
    fake_openai.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019")}
    fake_openai.expected_key = AZURE_TEST_KEY
    backend = make_chat_backend(fake_openai.azure_settings())
    assert isinstance(backend, AzureChatBackend)
    result = _chat(backend)
    assert json.loads(result.content)["answers"]["year_adopted"]["value"] == 2019
    (req,) = fake_openai.requests
    assert req.path == "/openai/v1/chat/completions"
    assert req.query == {} and req.body["model"] == "policy-gpt"
    assert req.auth == "bearer"  # the key as the v1 API takes it from the plain OpenAI client
    assert req.body["response_format"]["json_schema"]["strict"] is True
    assert "max_completion_tokens" in req.body and "max_tokens" not in req.body


def test_azure_dated_path_only_when_api_version_is_set(fake_openai):
    fake_openai.expected_key = AZURE_TEST_KEY
    backend = make_chat_backend(fake_openai.azure_settings(OPENAI_API_VERSION="2024-10-21"))
    assert _chat(backend).content
    (req,) = fake_openai.requests
    assert req.path == "/openai/deployments/policy-gpt/chat/completions"
    assert req.query["api-version"] == ["2024-10-21"] and req.auth == "api-key"


class _FakeCredential:
    """An Entra ID credential (what DefaultAzureCredential is to the SDK) handing out short-lived tokens."""

    def __init__(self, fail: bool = False) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.fail = fail

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        from azure.core.exceptions import ClientAuthenticationError

        if self.fail:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")
        self.scopes.append(scopes)
        # already inside the refresh margin: the provider fetches a new token for every request
        return AccessToken(f"entra-token-{len(self.scopes)}", int(time.time()) + 60)


def test_azure_entra_token_provider_sends_a_fresh_bearer_token(fake_openai):
    from azure.identity import get_bearer_token_provider

    credential = _FakeCredential()
    provider = get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default")
    settings = fake_openai.azure_settings(AZURE_OPENAI_API_KEY="")
    backend = AzureChatBackend(settings, token_provider=provider)
    _chat(backend)
    _chat(backend)
    assert [r.path for r in fake_openai.requests] == ["/openai/v1/chat/completions"] * 2
    assert [r.bearer for r in fake_openai.requests] == ["entra-token-1", "entra-token-2"]
    assert credential.scopes[0] == ("https://cognitiveservices.azure.com/.default",)
    assert all("api-key" not in r.headers for r in fake_openai.requests)


def test_azure_entra_failure_is_a_clear_auth_error(fake_openai):
    from azure.identity import get_bearer_token_provider

    provider = get_bearer_token_provider(_FakeCredential(fail=True), "https://cognitiveservices.azure.com/.default")
    backend = AzureChatBackend(fake_openai.azure_settings(AZURE_OPENAI_API_KEY=""), token_provider=provider)
    with pytest.raises(LlmError) as info:
        _chat(backend)
    assert info.value.code == "auth" and "managed identity" in str(info.value)
    assert fake_openai.requests == []


def test_reasoning_deployment_with_an_unknown_name_adapts_once(fake_openai):
    """o-series / gpt-5 deployments refuse temperature and max_tokens: adapt once, then ask right away."""
    fake_openai.reasoning = True
    backend = make_chat_backend(fake_openai.azure_settings(AZURE_OPENAI_DEPLOYMENT="contoso-reasoner",
                                                           LLM_MAX_RETRIES=0))
    assert _chat(backend).content and _chat(backend).content
    assert [r.status for r in fake_openai.requests] == [400, 200, 200]
    assert all("max_completion_tokens" in r.body for r in fake_openai.requests)
    assert ["temperature" in r.body for r in fake_openai.requests] == [True, False, False]


@pytest.mark.parametrize("model", ["o4-mini", "gpt-5-mini", "o3"])
def test_reasoning_model_names_get_no_sampling_parameters(fake_openai, model):
    fake_openai.reasoning = True
    backend = make_chat_backend(fake_openai.azure_settings(AZURE_OPENAI_DEPLOYMENT=model))
    assert _chat(backend).content
    (req,) = fake_openai.requests
    assert req.status == 200 and "temperature" not in req.body and "top_p" not in req.body


def test_compatible_proxy_to_a_reasoning_model_switches_to_max_completion_tokens(fake_openai):
    fake_openai.reasoning = True
    backend = make_chat_backend(fake_openai.settings(OPENAI_MODEL="o4-mini", LLM_MAX_RETRIES=0))
    assert _chat(backend, max_tokens=900).content
    assert [r.status for r in fake_openai.requests] == [400, 200]
    assert fake_openai.requests[0].body["max_tokens"] == 900
    assert fake_openai.requests[1].body["max_completion_tokens"] == 900 and "max_tokens" not in fake_openai.requests[1].body


def test_unknown_refusal_names_the_deployment_and_keeps_the_server_text(fake_openai):
    fake_openai.responder = lambda req: {"status": 400, "body": {"error": {
        "message": "The response_format parameter is not supported by this deployment's content filter policy.",
        "type": "invalid_request_error", "param": "seed", "code": "unsupported_parameter"}}}
    with pytest.raises(LlmError) as info:
        _chat(make_chat_backend(fake_openai.azure_settings()))
    message = str(info.value)
    assert "policy-gpt" in message and "content filter policy" in message
    assert info.value.code == "refused"


# --------------------------------------------------------------------------- compatible servers' dialects


def test_llama_cpp_refusal_of_json_schema_is_not_retried_and_falls_back(fake_openai):
    """llama-cpp-python answers json_schema with HTTP 500: a refusal, not an outage."""
    fake_openai.dialect = "llama-cpp-python"
    fake_openai.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019")}
    backend = make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=5))
    first = _chat(backend)
    assert json.loads(first.content)["answers"]["year_adopted"]["value"] == 2019
    _chat(backend)
    assert [r.status for r in fake_openai.requests] == [500, 200, 200]
    assert [r.response_mode for r in fake_openai.requests] == ["json_schema", "json_object", "json_object"]
    assert fake_openai.requests[1].body["response_format"]["schema"]["required"] == ["answers"]


def test_server_without_structured_output_gets_the_schema_in_the_prompt(fake_openai):
    fake_openai.dialect = "text-only"
    fake_openai.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019")}
    backend = make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=5))
    result = _chat(backend)
    assert json.loads(result.content)["answers"]["year_adopted"]["value"] == 2019
    modes = [r.response_mode for r in fake_openai.requests]
    assert modes[-1] == "text" and modes.count("text") == 1 and all(s != 500 for s in fake_openai.statuses())
    assert "<schema>" in fake_openai.requests[-1].text
    _chat(backend)
    assert fake_openai.requests[-1].response_mode == "text" and fake_openai.requests[-1].status == 200


def test_server_with_tools_but_no_response_format_answers_through_a_forced_tool_call(fake_openai):
    fake_openai.dialect = "tools-only"
    fake_openai.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019")}
    backend = make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=0))
    result = _chat(backend)
    assert json.loads(result.content)["answers"]["year_adopted"]["value"] == 2019
    assert result.finish_reason == "stop"
    last = fake_openai.requests[-1]
    assert last.response_mode == "tools" and last.status == 200
    assert last.body["tool_choice"]["function"]["name"] == SCHEMA_NAME
    assert backend.response_mode == "tools"


def test_outage_is_retried_and_the_message_keeps_the_server_text(fake_openai):
    for _ in range(3):
        fake_openai.add_fault("500")
    with pytest.raises(LlmError) as info:
        _chat(make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=2)))
    assert info.value.code == "server" and "The server had an error" in str(info.value)
    assert len(fake_openai.requests) == 3


def test_one_request_at_a_time_server_is_not_timed_out_by_its_queue(fake_openai):
    """A server that works on one request at a time: calls wait in its queue; the timeout must not fire."""
    fake_openai.parallel = 1
    fake_openai.latency = 0.25
    settings = fake_openai.settings(LLM_TIMEOUT_S=0.9, LLM_MAX_CONCURRENCY=8, LLM_MAX_RETRIES=1)
    backend = make_chat_backend(settings)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _chat(backend)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert fake_openai.statuses().count(599) == 0  # a call queued behind k others had k more call times
    assert fake_openai.calls == 8
    assert backend.profile.capacity.limit < 8  # the latency doubling with two in flight gave the queue away


def test_insufficient_quota_is_not_waited_for(fake_openai):
    fake_openai.responder = lambda req: {"status": 429, "body": {"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "code": "insufficient_quota"}}}
    with pytest.raises(LlmError) as info:
        _chat(make_chat_backend(fake_openai.settings(LLM_MAX_RETRIES=3)))
    assert info.value.code == "quota" and "billing" in str(info.value)
    assert len(fake_openai.requests) == 1


def test_azure_401_names_the_azure_setting_without_the_key(fake_openai):
    fake_openai.expected_key = "something-else"
    with pytest.raises(LlmError) as info:
        _chat(make_chat_backend(fake_openai.azure_settings()))
    assert "AZURE_OPENAI_API_KEY" in str(info.value) and AZURE_TEST_KEY not in str(info.value)


def test_connection_refused_is_a_connection_error(fake_openai):
    url = fake_openai.base_url
    fake_openai.stop()
    settings = load_settings(LLM_BACKEND="openai", OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL=url + "/v1",
                             LLM_MAX_RETRIES=1, LLM_BACKOFF_BASE_S=0.01)
    with pytest.raises(LlmError) as info:
        _chat(make_chat_backend(settings))
    assert info.value.code == "connection" and TEST_KEY not in str(info.value)


def test_process_wide_concurrency_bound(fake_openai):
    fake_openai.latency = 0.15
    settings = fake_openai.settings(LLM_MAX_CONCURRENCY=2)
    backends = [make_chat_backend(settings) for _ in range(3)]  # e.g. three documents / jobs
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            _chat(backends[i % 3])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert fake_openai.calls == 6
    assert fake_openai.max_in_flight == 2


def test_backoff_delay_rules():
    assert backoff_delay(3, 1.0, retry_after_s=2.5) == 2.5
    assert backoff_delay(0, 1.0, retry_after_s=10_000) == 60.0  # capped
    delays = [backoff_delay(4, 0.5) for _ in range(200)]
    assert all(0 <= d <= 8.0 for d in delays) and len(set(delays)) > 100  # full jitter
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None


def test_offline_backend_has_no_chat_backend(settings):
    with pytest.raises(ConfigError):
        make_chat_backend(settings)


def test_reported_usage_is_clamped_to_what_the_text_allows():
    """Unit view of the usage check: negative, text or absurd counts become the characters / 4 estimate;
    completion tokens never exceed what was asked; cached never exceed the prompt."""
    from types import SimpleNamespace as NS

    from policy_reader.llm.chat import usage_from

    def reply(**usage):
        details = NS(cached_tokens=usage.pop("cached", 0))
        return NS(usage=NS(prompt_tokens_details=details, **usage))

    lied = usage_from(reply(prompt_tokens=-1_000_000, completion_tokens="lots", cached=5_000_000),
                      prompt_chars=4_000, content_chars=400, max_tokens=300)
    assert (lied.prompt_tokens, lied.completion_tokens, lied.cached_prompt_tokens) == (1_000, 100, 1_000)
    absurd = usage_from(reply(prompt_tokens=10**12, completion_tokens=10**12), prompt_chars=4_000,
                        content_chars=400, max_tokens=300)
    assert (absurd.prompt_tokens, absurd.completion_tokens) == (1_000, 300)
    honest = usage_from(reply(prompt_tokens=950, completion_tokens=250, cached=512), prompt_chars=4_000,
                        content_chars=400, max_tokens=300)
    assert (honest.prompt_tokens, honest.completion_tokens, honest.cached_prompt_tokens) == (950, 250, 512)
    assert usage_from(NS(usage=None), prompt_chars=400, content_chars=40).prompt_tokens == 100


# --------------------------------------------------------------------------- a hostile server: time and size


def _hostile_settings(tmp_path, base_url: str, **env):
    from policy_reader.config import load_settings

    return load_settings(_env_file=None, JOBS_DIR=str(tmp_path / "jobs"), LLM_BACKEND="openai",
                         OPENAI_API_KEY="sk-hostile-test-key-0123456789", OPENAI_BASE_URL=base_url,
                         OPENAI_MODEL="gpt-fake", **env)


def test_a_trickling_server_is_cut_at_the_whole_call_deadline(tmp_path):
    """One byte every 0.5 s never trips a per-read timeout (it held a call 41 s with LLM_TIMEOUT_S=2):
    LLM_TIMEOUT_S bounds the whole call, and the error names the server's host, never the key."""
    from policy_reader.llm.providers import make_chat_backend
    from tests.fixtures.hostile_server import HostileServer

    with HostileServer("trickle", interval_s=0.5, give_up_s=20) as server:
        backend = make_chat_backend(_hostile_settings(tmp_path, server.base_url, LLM_TIMEOUT_S="2",
                                                      LLM_MAX_RETRIES="0"))
        started = time.monotonic()
        with pytest.raises(LlmError) as info:
            backend.chat([{"role": "user", "content": "hi"}], schema={"type": "object"}, schema_name="a",
                         max_tokens=50)
        elapsed = time.monotonic() - started
    assert info.value.code == "timeout"
    assert elapsed < 4.5, elapsed  # 2 s, plus at most one trickled byte and scheduling noise
    assert "127.0.0.1" in str(info.value) and "sk-hostile" not in str(info.value)


_HUGE_CLIENT = r"""
import json, sys, threading, time
from policy_reader.config import load_settings
from policy_reader.errors import LlmError
from policy_reader.llm.providers import make_chat_backend
settings = load_settings(_env_file=None, JOBS_DIR=sys.argv[2], LLM_BACKEND="openai", OPENAI_API_KEY="sk-hostile-0123456789",
                         OPENAI_BASE_URL=sys.argv[1], OPENAI_MODEL="gpt-fake", LLM_MAX_RETRIES="0", LLM_TIMEOUT_S="60",
                         LLM_MAX_REPLY_MB=sys.argv[3])
backend = make_chat_backend(settings)

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

peak, done = [rss_mb()], threading.Event()
before = peak[0]
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.005)
sampler = threading.Thread(target=sample)
sampler.start()
try:
    backend.chat([{"role": "user", "content": "hi"}], schema={"type": "object"}, schema_name="a", max_tokens=50)
    outcome = {"code": None, "message": ""}
except LlmError as exc:
    outcome = {"code": exc.code, "message": str(exc)}
done.set()
sampler.join()
print(json.dumps({**outcome, "growth_mb": peak[0] - before}))
"""


def test_a_huge_reply_is_refused_without_being_held_in_memory(tmp_path):
    """A 300 MB reply grew the process by 900 MB: replies are capped (LLM_MAX_REPLY_MB) while they are
    read. The client runs in its own process so its peak memory is its own."""
    import json as _json
    import subprocess
    import sys
    from pathlib import Path

    from tests.fixtures.hostile_server import HostileServer

    root = Path(__file__).resolve().parents[1]
    with HostileServer("huge", megabytes=300) as server:
        run = subprocess.run([sys.executable, "-c", _HUGE_CLIENT, server.base_url, str(tmp_path / "jobs"), "8"],
                             capture_output=True, text=True, timeout=120, cwd=root,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(tmp_path)})
        sent_mb = server.bytes_sent / 1024 / 1024
    assert run.returncode == 0, run.stderr[-2000:]
    outcome = _json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["code"] == "reply_too_large", outcome
    assert "127.0.0.1" in outcome["message"] and "LLM_MAX_REPLY_MB" in outcome["message"]
    assert "sk-hostile" not in outcome["message"]
    assert outcome["growth_mb"] < 64, outcome  # the default cap (8 MB) and buffers, not 300 MB
    print(f"client peak RSS growth: {outcome['growth_mb']:.1f} MB of a 300 MB reply ({sent_mb:.0f} MB sent)")
    assert sent_mb < 300
