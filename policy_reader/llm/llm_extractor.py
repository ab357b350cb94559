"""The LLM answer engine: the variables of one chunk asked in as few structured-output calls as fit.

Why as few calls as fit: the document text dominates the prompt, so asking per variable would pay for
the same pages N times. But a provider caps one call's schema (Azure OpenAI: 100 object properties)
and reply, so a wide template is split into groups of variables (schema_groups.py), asked in
parallel, and merged by name. A provider that refuses a group anyway ("invalid schema") gets it in
halves — and the smaller size is remembered for the rest of the job; a single variable it still
refuses is reported as an error answer naming the provider's reason, never dropped silently.

Replies are parsed strictly for shape but leniently for syntax (a raw newline inside a string, code
fences, prose around the JSON — what compatible servers send). A reply that is not the JSON we asked
for is asked again once; a reply cut off by the token limit (finish_reason "length") is asked again once
with twice the token limit. A reply cut off BEFORE that limit was cut by the server's context window:
more output tokens cannot help, a smaller group or a smaller chunk can — the error says so.
Every call is counted in the usage, the failed ones too (cost and token budgets stay honest).
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from policy_reader.config import Settings
from policy_reader.errors import LlmError
from policy_reader.llm.chat import ChatBackend, ChatResult
from policy_reader.models import Answer, AnswerStatus, PageText, Usage, Variable
from policy_reader.llm.pricing import price
from policy_reader.llm.prompts import SCHEMA_NAME, build_messages, build_schema
from policy_reader.llm.schema_groups import SchemaLimits, answer_tokens, halves, measure, open_names, plan_groups
from policy_reader.variables import coerce_value

log = logging.getLogger(__name__)

#: Ceiling for the enlarged token limit of the "length" retry.
MAX_OUTPUT_TOKENS_CEILING = 32768
#: A "length" reply with fewer completion tokens than this share of the limit was cut by the context.
_CONTEXT_CUT_SHARE = 0.9


class _BadReply(ValueError):
    """The reply is not the JSON the schema asked for."""


BadReply = _BadReply  # public name (batch.py reads batch lines with parse_answers too)


class _ContextFull(Exception):
    """The reply was cut by the server's context window, not by our token limit."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message)
        self.usage = usage


class LlmExtractor:
    """Extractor (see extractor.py) backed by a ChatBackend (OpenAI, Azure OpenAI, compatible)."""

    def __init__(self, chat_backend: ChatBackend, settings: Settings) -> None:
        self.backend = chat_backend
        self.settings = settings
        kind = getattr(chat_backend, "kind", type(chat_backend).__name__.lower())
        self.cache_id = f"{kind}:{chat_backend.model}"
        self.chunk_tokens = settings.chunk_tokens
        self._limits = SchemaLimits.from_settings(settings)
        self._lock = threading.Lock()
        #: grows after a reply needed more tokens than estimated (e.g. a reasoning model thinks first)
        self._output_scale = 1.0

    # -- public

    def answer(self, pages: list[PageText], variables: list[Variable]) -> tuple[list[Answer], Usage]:
        """One Answer per variable (in order) from these pages, and the tokens and cost spent.

        Raises LlmError (with `.spent`, the usage of the calls made) when the chunk could not be asked."""
        groups = plan_groups(variables, self.limits)
        results = self._ask_groups(pages, groups)
        by_name: dict[str, Answer] = {}
        usage = Usage()
        for answers, spent in results:
            by_name.update((a.name, a) for a in answers)
            usage = usage.add(spent)
        return [by_name[v.name] for v in variables], usage

    @property
    def limits(self) -> SchemaLimits:
        with self._lock:
            return self._limits

    def plan(self, variables: list[Variable]) -> list[list[Variable]]:
        """The groups one chunk's variables are asked in (batch mode builds the same calls)."""
        return plan_groups(variables, self.limits)

    def max_tokens_for(self, variables: list[Variable]) -> int:
        """The completion limit of one call: what the answer needs (quotas charge what is asked for)."""
        with self._lock:
            scale = self._output_scale
        return max(256, min(self.settings.llm_max_output_tokens, int(answer_tokens(variables) * scale)))

    # -- groups

    def _ask_groups(self, pages: list[PageText], groups: list[list[Variable]]) -> list[tuple[list[Answer], Usage]]:
        if len(groups) == 1:
            return [self._ask_group(pages, groups[0])]
        # each thread runs in a copy of this context: quota waits still reach the document's progress
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="group") as pool:
            futures = [pool.submit(contextvars.copy_context().run, self._ask_group, pages, group)
                       for group in groups]
            results: list[tuple[list[Answer], Usage]] = []
            failure: LlmError | None = None
            spent = Usage()
            for future in futures:
                try:
                    results.append(future.result())
                except LlmError as exc:
                    failure = failure or exc
                    spent = spent.add(getattr(exc, "spent", None) or Usage())
        if failure is not None:
            for _, usage in results:
                spent = spent.add(usage)
            raise _spent(failure, spent)
        return results

    def _ask_group(self, pages: list[PageText], group: list[Variable]) -> tuple[list[Answer], Usage]:
        """Ask one group; on a schema refusal or a full context, ask it in halves (recursively)."""
        opened = open_names(group, self.limits)
        try:
            return self._ask(pages, group, opened)
        except _ContextFull as exc:
            if len(group) == 1:
                raise _spent(LlmError(str(exc), code="context"), exc.usage) from None
            log.info("context full for %d variables; asking them in halves", len(group))
            return self._ask_split(pages, group, exc.usage)
        except LlmError as exc:
            if exc.code != "schema":
                raise
            spent = getattr(exc, "spent", None) or Usage()
            if len(group) > 1:
                refused = measure(build_schema(group, open_values=opened)).properties
                with self._lock:
                    self._limits = self._limits.below(refused)
                log.info("provider refused a schema of %d properties; now at most %d", refused,
                         self._limits.max_properties)
                return self._ask_split(pages, group, spent)
            var = group[0]
            if var.options and var.name not in opened:
                try:  # the options as an open string: the answer is still checked against them
                    answers, usage = self._ask(pages, group, frozenset({var.name}))
                    return answers, spent.add(usage)
                except LlmError as again:
                    if again.code != "schema":
                        raise _spent(again, spent.add(getattr(again, "spent", None) or Usage())) from None
                    exc = again
            note = (f"could not be asked: the model provider refused this variable's answer schema ({exc}). "
                    "Rename the variable or shorten its options.")
            return [Answer(name=var.name, status=AnswerStatus.ERROR, note=note[:500])], spent

    def _ask_split(self, pages: list[PageText], group: list[Variable], spent: Usage) -> tuple[list[Answer], Usage]:
        answers: list[Answer] = []
        try:
            results = self._ask_groups(pages, halves(group))
        except LlmError as exc:
            raise _spent(exc, spent.add(getattr(exc, "spent", None) or Usage())) from None
        for got, usage in results:
            answers.extend(got)
            spent = spent.add(usage)
        return answers, spent

    # -- one call (with its bad-reply and length retries)

    def _ask(self, pages: list[PageText], variables: list[Variable],
             opened: frozenset[str]) -> tuple[list[Answer], Usage]:
        messages = build_messages(variables, pages)
        schema = build_schema(variables, open_values=opened)
        max_tokens = self.max_tokens_for(variables)
        usage = Usage()
        bad_left, length_left = 1, 1
        while True:
            try:
                result = self.backend.chat(messages, schema=schema, schema_name=SCHEMA_NAME, max_tokens=max_tokens)
            except LlmError as exc:
                raise _spent(exc, usage) from None
            usage = usage.add(self._priced(result))
            if result.finish_reason == "length":
                used = result.usage.completion_tokens
                sent = result.max_tokens or max_tokens
                if sent < max_tokens or 0 < used < _CONTEXT_CUT_SHARE * sent:
                    raise _ContextFull(
                        f"The model's answer was cut off after {used or sent} tokens, short of the {max_tokens} it "
                        f"needs: the server's context window is full (the prompt took {result.usage.prompt_tokens} "
                        "tokens). "
                        "Raising LLM_MAX_OUTPUT_TOKENS cannot help: lower CHUNK_TOKENS so the document text leaves "
                        "room for the answer, or give the server a larger context (llama.cpp: --ctx-size / n_ctx).",
                        usage)
                if length_left == 0:
                    raise _spent(LlmError(
                        f"The model's answer was cut off at the token limit twice (last limit {max_tokens} tokens). "
                        "Raise LLM_MAX_OUTPUT_TOKENS or lower LLM_SCHEMA_MAX_PROPERTIES (fewer variables per call).",
                        code="truncated"), usage)
                length_left -= 1
                max_tokens = min(max_tokens * 2, MAX_OUTPUT_TOKENS_CEILING)
                with self._lock:
                    self._output_scale = min(4.0, self._output_scale * 1.5)
                log.info("reply truncated; asking again with max_tokens=%d", max_tokens)
                continue
            try:
                return parse_answers(result.content, variables), usage
            except _BadReply as exc:
                if bad_left == 0:
                    raise _spent(LlmError(f"The model twice returned an answer that is not the requested JSON "
                                          f"({exc}).", code="bad_response"), usage) from None
                bad_left -= 1
                log.info("bad reply (%s); asking again", exc)

    def _priced(self, result: ChatResult) -> Usage:
        """Priced with the model the response names (a deployment or alias asked for may differ)."""
        return price(result.usage, self.settings, result.model or self.backend.model)


def _spent(error: LlmError, usage: Usage) -> LlmError:
    """Attach the usage of ALL the calls made for what failed (callers pass the total): a failed chunk
    still costs what it cost."""
    error.spent = usage  # type: ignore[attr-defined]
    return error


_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.S)


def load_json(content: str) -> Any:
    """JSON as compatible servers write it: raw control characters inside strings (a newline in a
    quote), code fences, or a sentence before/after the object. Raises ValueError."""
    text = (content or "").strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text, strict=False)
    except ValueError as first:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(text[start:end + 1], strict=False)
            except ValueError:
                pass
        raise first


def parse_answers(content: str, variables: list[Variable]) -> list[Answer]:
    """Parse a reply into typed Answers (strict shape, lenient syntax). Raises _BadReply when the shape is wrong."""
    try:
        data = load_json(content)
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
    if isinstance(page, str) and page.strip().isdigit():
        page = int(page.strip())  # compatible servers without a strict schema sometimes quote numbers
    if page is not None and (isinstance(page, bool) or not isinstance(page, (int, float))):
        raise _BadReply(f"page for {var.name!r} is not a number")
    if isinstance(confidence, str):
        try:
            confidence = float(confidence)
        except ValueError:
            pass
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise _BadReply(f"confidence for {var.name!r} is not a number")
    value, problem = coerce_value(var, item["value"])
    if value is None and not problem:
        return Answer(name=var.name)  # "not stated": whatever came with it is noise
    return Answer(name=var.name, value=value, evidence=evidence.strip(),
                  page=int(page) if page is not None else None,
                  confidence=min(1.0, max(0.0, float(confidence))), note=problem or "",
                  status=AnswerStatus.NEEDS_REVIEW if problem else AnswerStatus.NOT_FOUND)
