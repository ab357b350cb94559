"""The one small interface every answer engine implements (offline, OpenAI, Azure OpenAI).

An Extractor answers *all* variables for one chunk of pages in one go (one model call for the
LLM engines). It returns raw answers: the pipeline (`extraction.py`) then checks evidence
against the page text, applies the confidence threshold and `always_review`, and merges chunks.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from policy_reader.config import Settings
from policy_reader.models import Answer, PageText, Usage, Variable


@runtime_checkable
class Extractor(Protocol):
    #: Identifies the engine and model in the answer cache key, e.g. "offline:v1", "openai:gpt-4o-mini".
    cache_id: str
    #: Token budget of document text per `answer` call (the pipeline splits documents by pages).
    chunk_tokens: int

    def answer(self, pages: list[PageText], variables: list[Variable]) -> tuple[list[Answer], Usage]:
        """Answer every variable from these pages: one Answer per variable, in order.

        Raises LlmError when the engine failed after its retries.
        """
        ...


def make_extractor(settings: Settings, *, backend: str | None = None, model: str | None = None) -> Extractor:
    """The extractor for `backend`'s provider (default LLM_BACKEND, `auto` resolved by the registry):
    the LLM extractor over its chat backend, or the offline extractor for the provider without a model.
    Raises ConfigError (an unknown backend, a provider missing its settings)."""
    from policy_reader.llm import providers

    provider = providers.resolve(settings, backend)
    if not provider.uses_model:
        from policy_reader.extraction.offline import OfflineExtractor

        return OfflineExtractor()
    from policy_reader.llm.llm_extractor import LlmExtractor

    return LlmExtractor(providers.make_chat_backend(settings, backend=provider.name, model=model), settings)
