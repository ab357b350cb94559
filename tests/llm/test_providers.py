"""The model provider registry (policy_reader/llm/providers): `auto` resolved once, the model computed once,
and a provider added by one module + one registration is accepted, offered and used end to end."""
from __future__ import annotations

import pytest

from job_manager import JobManager, JobOptions, JobStatus
from policy_reader.config import load_settings
from policy_reader.errors import ConfigError
from policy_reader.llm import providers
from policy_reader.llm.providers import Provider
from policy_reader.models import Variable, VariableType
from tests.fixtures.openai_server import TEST_KEY

VARIABLES = [Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)]


@pytest.mark.parametrize("env, backend, model", [
    ({}, "offline", "offline"),
    ({"OPENAI_API_KEY": TEST_KEY}, "openai", "gpt-4o-mini"),
    ({"OPENAI_API_KEY": TEST_KEY, "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
      "AZURE_OPENAI_DEPLOYMENT": "prod-chat"}, "azure", "prod-chat"),
])
def test_auto_is_resolved_by_the_registry_with_its_model(env, backend, model):
    settings = load_settings(**env)
    assert providers.resolve(settings).name == backend
    assert providers.model_for(settings) == model
    assert providers.summary(settings)["backend"] == backend and providers.summary(settings)["model"] == model
    assert [p.name for p in providers.offered(settings)] == ([backend] + ([] if backend == "offline" else ["offline"]))


def test_an_unknown_backend_is_refused_naming_the_registered_ones():
    with pytest.raises(ConfigError, match="LLM_BACKEND"):
        load_settings(LLM_BACKEND="nope")
    with pytest.raises(ConfigError, match="openai"):
        providers.get("nope")


@pytest.fixture
def dummy_provider(fake_openai):
    """A provider added the way a newcomer adds one: a Provider with its chat backend factory, registered.
    It speaks the OpenAI API to the fake server under a model name of its own."""
    def chat(settings, model):
        from policy_reader.llm.chat import OpenAIChatBackend

        return OpenAIChatBackend(settings.model_copy(update={"openai_base_url": fake_openai.base_url + "/v1"}),
                                 model=model or "dummy-large")

    provider = providers.register(Provider(name="dummy", label="Dummy AI", configured=lambda s: False,
                                           default_model=lambda s: "dummy-large", chat=chat, batch=False,
                                           endpoint=lambda s: "dummy.example"))
    yield provider
    providers.unregister("dummy")


def test_a_registered_provider_is_offered_and_used(dummy_provider, fake_openai, tmp_path, make_pdf):
    fake_openai.facts = {"year_adopted": (2001, "The policy was adopted in 2001.")}
    settings = load_settings(LLM_BACKEND="dummy", JOBS_DIR=str(tmp_path / "jobs"), OPENAI_API_KEY=TEST_KEY,
                             LLM_MAX_RETRIES=1, LLM_TIMEOUT_S=5, OCR_ENABLED="false")
    assert [p.name for p in providers.offered(settings)] == ["dummy", "offline"]
    assert providers.summary(settings)["llm endpoint"] == "dummy.example"

    manager = JobManager(settings)
    try:
        pdf = make_pdf("p.pdf", ["The policy was adopted in 2001."])
        job_id = manager.create_job(name="Dummy", files=[("p.pdf", pdf)], variables=VARIABLES,
                                    options=JobOptions(batch=False))
        manager.run_job_async(job_id)
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED
        assert (view.backend, view.model) == ("dummy", "dummy-large")  # `auto`/default decided once, at intake
        assert manager.get_results(job_id)[0].variables[0].value == 2001
        assert fake_openai.calls >= 1
        assert {r.body.get("model") for r in fake_openai.requests} == {"dummy-large"}
        with pytest.raises(Exception, match="Batch"):  # no Batch API: batch mode refused, naming why
            manager.create_job(name="Batch", files=[("p.pdf", pdf)], variables=VARIABLES,
                               options=JobOptions(batch=True))
    finally:
        manager.shutdown(wait=False)

    providers.unregister("dummy")
    with pytest.raises(ConfigError, match="LLM_BACKEND"):
        load_settings(LLM_BACKEND="dummy")
