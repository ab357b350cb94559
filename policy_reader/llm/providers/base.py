"""What a model provider is: one frozen record per provider, registered in `policy_reader.llm.providers`.

Why one record: which settings make a provider usable, what `auto` picks, the model a job gets when it
names none, how its chat backend is built, whether it has a Batch API and how the sidebar names it used
to be decided in nine places (config, chat, extractor, batch client, intake, context, sidebar, run page,
CLI). Each place now asks the provider.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policy_reader.config import Settings

if TYPE_CHECKING:
    from policy_reader.llm.chat import ChatBackend


@dataclass(frozen=True)
class Provider:
    """One model provider. `chat` is None for an engine that answers without a model (offline)."""

    name: str  # the LLM_BACKEND value, kept in job.json
    label: str  # what the sidebar and the start page call it
    configured: Callable[[Settings], bool]  # its settings are there (`auto` takes only a configured one)
    default_model: Callable[[Settings], str]  # the model (deployment) a job gets when it names none
    chat: Callable[[Settings, str | None], "ChatBackend"] | None = None
    batch: bool = False  # has a Batch API (batch mode, half price)
    endpoint: Callable[[Settings], str] = lambda settings: "none"  # for the summary; credentials masked
    auto_rank: int = 100  # `auto` takes the configured provider with the lowest rank
    fallback: bool = False  # offered beside whichever provider is configured (the offline extractor)
    model_word: str = "model"  # "deployment" for Azure: what the start page calls a model name

    @property
    def uses_model(self) -> bool:
        return self.chat is not None

    def model_names(self, settings: Settings) -> list[str]:
        """The models a job on this provider may use: the configured one first, then ALLOWED_MODELS.
        Empty for an engine without a model."""
        if not self.uses_model:
            return []
        configured = self.default_model(settings)
        names = ([configured] if configured else []) + settings.allowed_model_list
        return list(dict.fromkeys(names))
