"""Azure OpenAI (the v1 API; a key, or the managed identity's Entra ID tokens). Models are deployments."""
from __future__ import annotations

from policy_reader.config import Settings, mask_url_credentials
from policy_reader.llm.providers.base import Provider


def _chat(settings: Settings, model: str | None):
    from policy_reader.llm.chat import AzureChatBackend

    return AzureChatBackend(settings, model=model)


PROVIDER = Provider(
    name="azure", label="Azure OpenAI",
    configured=lambda s: bool(s.azure_openai_endpoint and s.azure_openai_deployment),
    default_model=lambda s: s.azure_openai_deployment or "",
    chat=_chat, batch=True, auto_rank=10, model_word="deployment",
    endpoint=lambda s: mask_url_credentials(s.azure_openai_endpoint or ""),
)
