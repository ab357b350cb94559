"""The offline extractor (keyword and pattern rules, policy_reader/extraction/offline.py): no model, no key.
Always configured, so `auto` falls back on it, and offered beside any provider."""
from __future__ import annotations

from policy_reader.llm.providers.base import Provider

PROVIDER = Provider(
    name="offline", label="Offline extractor",
    configured=lambda s: True,
    default_model=lambda s: "offline",
    chat=None, batch=False, auto_rank=1000, fallback=True,
    endpoint=lambda s: "none (offline extractor)",
)
