"""The model providers, in one place: one module per provider (openai_api, azure_openai, offline_rules),
registered below. Everything that depends on the provider asks this registry: `resolve` (what `auto`
stands for, decided once), `model_for` (the model a job runs, computed once), `offered` (what the start
page offers), `summary` (what the sidebar and `config` print).

Adding a provider: a module defining `PROVIDER = Provider(...)` (with its chat backend factory) and one
`register(...)` line here. Settings it needs that do not exist yet go into config.py like any setting.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from policy_reader.config import Settings, accept_backend_name
from policy_reader.errors import ConfigError
from policy_reader.llm.providers.base import Provider

if TYPE_CHECKING:
    from policy_reader.llm.chat import ChatBackend

_REGISTRY: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    """Add (or replace) a provider; LLM_BACKEND and job options then accept its name."""
    _REGISTRY[provider.name] = provider
    accept_backend_name(provider.name)
    return provider


def unregister(name: str) -> None:
    """Remove a provider registered at run time (tests); the built-in ones stay."""
    _REGISTRY.pop(name, None)
    accept_backend_name(name, accept=False)


def registered() -> list[Provider]:
    return list(_REGISTRY.values())


def get(name: str) -> Provider:
    """The provider called `name`. Raises ConfigError naming the ones there are."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown backend {name!r}: use {', '.join(_REGISTRY)}") from None


def resolve(settings: Settings, backend: str | None = None) -> Provider:
    """The provider `backend` names (default LLM_BACKEND). `auto`: the configured provider with the lowest
    rank (Azure if configured, else OpenAI with a key, else the offline extractor)."""
    name = backend or settings.backend
    if name != "auto":
        return get(name)
    return min((p for p in _REGISTRY.values() if p.configured(settings)), key=lambda p: p.auto_rank)


def model_for(settings: Settings, backend: str | None = None, model: str | None = None) -> str:
    """The model a job runs: the one it names, else its provider's default ("offline" without a model)."""
    provider = resolve(settings, backend)
    return (model if provider.uses_model else None) or provider.default_model(settings)


def make_chat_backend(settings: Settings, *, backend: str | None = None,
                      model: str | None = None) -> "ChatBackend":
    """The chat backend of `backend`'s provider (default LLM_BACKEND). ConfigError for one without a model."""
    provider = resolve(settings, backend)
    if provider.chat is None:
        raise ConfigError(f"No model backend for {provider.name!r}: set LLM_BACKEND to a model provider "
                          f"({', '.join(p.name for p in _REGISTRY.values() if p.uses_model)}) with its key.")
    return provider.chat(settings, model)


def offered(settings: Settings) -> list[Provider]:
    """What the start page offers: the configured provider first, then the fallbacks (offline)."""
    first = resolve(settings)
    return [first] + [p for p in _REGISTRY.values() if p.fallback and p is not first]


def summary(settings: Settings) -> dict[str, str]:
    """settings.summary() with the provider, its model and endpoint first; never a secret."""
    provider = resolve(settings)
    return {"backend": provider.name, "model": provider.default_model(settings),
            "llm endpoint": provider.endpoint(settings), **settings.summary()}


def find(name: str) -> Provider | None:
    """The provider called `name`, or None (an old job's backend no longer registered)."""
    return _REGISTRY.get(name)


from policy_reader.llm.providers import azure_openai, offline_rules, openai_api  # noqa: E402 - after Provider

for _module in (azure_openai, openai_api, offline_rules):
    register(_module.PROVIDER)
