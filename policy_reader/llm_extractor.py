"""The LLM answer engine: one structured-output call per chunk answers ALL variables.

Why one call for all variables: the document text dominates the prompt, so asking per variable
would pay for the same pages N times. The reply is parsed strictly; a reply that is not the JSON we
asked for is asked again once, and a reply cut off by the token limit (finish_reason "length") is
asked again once with twice the token limit — a truncated reply is never half-parsed.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from .config import Settings
from .errors import LlmError
from .llm import ChatBackend, ChatResult
from .models import Answer, AnswerStatus, PageText, Usage, Variable
from .pricing import price
from .prompts import SCHEMA_NAME, build_messages, build_schema
from .variables import coerce_value

log = logging.getLogger(__name__)

#: Ceiling for the enlarged token limit of the "length" retry.
MAX_OUTPUT_TOKENS_CEILING = 32768


class _BadReply(ValueError):
    """The reply is not the JSON the schema asked for."""


class LlmExtractor:
    """Extractor (see extractor.py) backed by a ChatBackend (OpenAI, Azure OpenAI, compatible)."""

    def __init__(self, chat_backend: ChatBackend, settings: Settings) -> None:
        self.backend = chat_backend
        self.settings = settings
        kind = getattr(chat_backend, "kind", type(chat_backend).__name__.lower())
        self.cache_id = f"{kind}:{chat_backend.model}"
        self.chunk_tokens = settings.chunk_tokens

    def answer(self, pages: list[PageText], variables: list[Variable]) -> tuple[list[Answer], Usage]:
        """One Answer per variable (in order) from these pages, and the tokens and cost spent."""
        messages = build_messages(variables, pages)
        schema = build_schema(variables)
        max_tokens = self.settings.llm_max_output_tokens
        usage = Usage()
        bad_left, length_left = 1, 1
        while True:
            result = self.backend.chat(messages, schema=schema, schema_name=SCHEMA_NAME, max_tokens=max_tokens)
            usage = usage.add(self._priced(result))
            if result.finish_reason == "length":
                if length_left == 0:
                    raise LlmError(f"The model's answer was cut off at the token limit twice (last limit "
                                   f"{max_tokens} tokens). Raise LLM_MAX_OUTPUT_TOKENS or ask fewer variables "
                                   "per job.", code="truncated")
                length_left -= 1
                max_tokens = min(max_tokens * 2, MAX_OUTPUT_TOKENS_CEILING)
                log.info("reply truncated; asking again with max_tokens=%d", max_tokens)
                continue
            try:
                return parse_answers(result.content, variables), usage
            except _BadReply as exc:
                if bad_left == 0:
                    raise LlmError(f"The model twice returned an answer that is not the requested JSON ({exc}).",
                                   code="bad_response") from None
                bad_left -= 1
                log.info("bad reply (%s); asking again", exc)

    def _priced(self, result: ChatResult) -> Usage:
        """Priced with the model the response names (a deployment or alias asked for may differ)."""
        return price(result.usage, self.settings, result.model or self.backend.model)


def parse_answers(content: str, variables: list[Variable]) -> list[Answer]:
    """Strictly parse a reply into typed Answers. Raises _BadReply when the shape is wrong."""
    try:
        data = json.loads(content)
    except (TypeError, ValueError) as exc:
        raise _BadReply(f"invalid JSON: {exc}") from None
    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, dict):
        raise _BadReply('no "answers" object')
    return [_answer(var, answers.get(var.name)) for var in variables]


def _answer(var: Variable, item: Any) -> Answer:
    if not isinstance(item, dict):
        raise _BadReply(f"no answer for {var.name!r}")
    for key in ("value", "evidence", "page", "confidence"):
        if key not in item:
            raise _BadReply(f"answer for {var.name!r} lacks {key!r}")
    evidence, page, confidence = item["evidence"], item["page"], item["confidence"]
    if evidence is None:
        evidence = ""
    if not isinstance(evidence, str):
        raise _BadReply(f"evidence for {var.name!r} is not a string")
    if page is not None and (isinstance(page, bool) or not isinstance(page, (int, float))):
        raise _BadReply(f"page for {var.name!r} is not a number")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise _BadReply(f"confidence for {var.name!r} is not a number")
    value, problem = coerce_value(var, item["value"])
    if value is None and not problem:
        return Answer(name=var.name)  # "not stated": whatever came with it is noise
    return Answer(name=var.name, value=value, evidence=evidence.strip(),
                  page=int(page) if page is not None else None,
                  confidence=min(1.0, max(0.0, float(confidence))), note=problem or "",
                  status=AnswerStatus.NEEDS_REVIEW if problem else AnswerStatus.NOT_FOUND)
