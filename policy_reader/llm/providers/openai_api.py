"""OpenAI's API (api.openai.com), or any OpenAI-compatible server when OPENAI_BASE_URL is set
(vLLM, llama.cpp, Ollama, ...: the chat backend adapts its dialect and pace to what the server takes)."""
from __future__ import annotations

from policy_reader.config import Settings, mask_url_credentials
from policy_reader.llm.providers.base import Provider


def _chat(settings: Settings, model: str | None):
    from policy_reader.llm.chat import OpenAIChatBackend

    return OpenAIChatBackend(settings, model=model)


PROVIDER = Provider(
    name="openai", label="OpenAI",
    configured=lambda s: bool(s.openai_api_key),
    default_model=lambda s: s.openai_model,
    chat=_chat, batch=True, auto_rank=20,
    endpoint=lambda s: mask_url_credentials(s.openai_base_url or "api.openai.com"),
)
