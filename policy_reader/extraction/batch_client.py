"""Batch mode: a big job's model calls sent as one Batch API job, answered within 24 h at half the price.

OpenAI's Batch API and Azure OpenAI's global batch deployments take a JSONL file of requests, work
through it asynchronously and return a JSONL file of answers (and one of errors). For an analyst with
500 PDFs who can wait, that halves the cost. This module is the whole protocol, independent of the job
engine:

    client = BatchClient(settings)
    state = client.submit([(doc_id, document_text), ...], variables)   # upload + create; persist `state`
    state = client.refresh(state)          # poll (after a restart: BatchState.model_validate(saved))
    if state.done:
        outcomes = client.results(state)   # custom_id -> BatchOutcome (answer text or error, usage)
        extractor = client.answers_for(doc_id, state, outcomes)
        extract_document(doc, variables, extractor, ...)   # evidence check and merge, as for live calls

The requests are exactly the live ones (same chunks, same variable groups, same prompts and schemas),
so batch answers go through the same evidence check and merge. Each line's `custom_id` is
"<doc_id>|c<chunk>|g<group>": every answer maps back to its document, chunk and group without a
lookup table. `BatchState` holds everything needed to resume after a restart without resubmitting:
the batch id, the file ids, the status, and each call's variables and token limit.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pydantic import BaseModel, Field

from policy_reader.config import Settings, scrub
from policy_reader.errors import LlmError
from policy_reader.extraction.answers import chunk_pages
from policy_reader.llm.chat import usage_from
from policy_reader.llm.dialect import is_reasoning_model
from policy_reader.llm.llm_extractor import BadReply, LlmExtractor, parse_answers
from policy_reader.models import Answer, AnswerStatus, DocumentText, PageText, Usage, Variable
from policy_reader.llm.pricing import price
from policy_reader.llm.prompts import SCHEMA_NAME, build_messages, build_schema
from policy_reader.llm.schema_groups import open_names

log = logging.getLogger(__name__)

#: Batch states after which nothing more will happen.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
COMPLETION_WINDOW = "24h"
COMPLETION_WINDOW_S = 24 * 3600.0
#: after the completion window, polls keep trying this long (the provider marks the batch expired)
POLL_GRACE_S = 3600.0
#: how long a finished batch's files are asked for through transient failures
RESULTS_PATIENCE_S = 600.0


class TransientBatchError(LlmError):
    """A batch request failed in a way worth retrying (connection, 5xx, 429); `retry_after_s` from the server."""

    def __init__(self, message: str, *, code: str, retry_after_s: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class BatchCall(BaseModel):
    """One request line: which document, chunk and variable group it asks."""

    custom_id: str
    doc_id: str
    chunk: int
    group: int
    variables: list[str]
    max_tokens: int
    chunk_key: str  # identifies the chunk's pages (see chunk_key)


class BatchState(BaseModel):
    """What a job persists to follow (and resume) its batch."""

    batch_id: str
    input_file_id: str
    endpoint: str
    model: str
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    request_counts: dict[str, int] = Field(default_factory=dict)
    submitted_at: float = 0.0
    calls: list[BatchCall] = Field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def progress(self) -> tuple[int, int]:
        """(requests answered or failed, requests in the batch) as the provider counts them."""
        counts = self.request_counts
        return (int(counts.get("completed", 0)) + int(counts.get("failed", 0)),
                int(counts.get("total", 0)) or len(self.calls))


@dataclass(frozen=True)
class BatchOutcome:
    """One line's result: the reply text (content) or why there is none (error); usage at the batch price."""

    custom_id: str
    content: str | None
    finish_reason: str | None
    usage: Usage
    error: str | None = None


def chunk_key(pages: list[PageText]) -> str:
    """A short fingerprint of a chunk's pages (the same pages give the same key on any machine)."""
    digest = hashlib.sha256()
    for page in pages:
        digest.update(f"{page.number}:{len(page.text)}:".encode())
        digest.update(page.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


class BatchClient:
    """Submits, follows and reads one provider's batches (OpenAI, or Azure OpenAI's v1 API)."""

    def __init__(self, settings: Settings, *, backend: str | None = None, model: str | None = None,
                 token_provider: Callable[[], str] | None = None) -> None:
        from policy_reader.llm import providers
        from policy_reader.llm.chat import AzureChatBackend

        provider = providers.resolve(settings, backend)
        if provider.name == "azure":  # a deployment of its own for batches, and Entra tokens passed in tests
            deployment = model or settings.azure_openai_batch_deployment or settings.azure_openai_deployment
            chat = AzureChatBackend(settings, model=deployment, token_provider=token_provider)
        else:
            chat = providers.make_chat_backend(settings, backend=provider.name, model=model)
        self.settings = settings
        self.kind = chat.kind
        self.model = chat.model
        self._client = chat.client
        # the extractor that plans live calls plans the batch's: same chunks, groups and token limits
        self._planner = LlmExtractor(chat, settings)
        # Azure's batch lines and endpoint name the path without /v1
        self.endpoint = "/chat/completions" if self.kind == "azure" else "/v1/chat/completions"

    # -- building

    def plan(self, documents: Sequence[tuple[str, DocumentText]],
             variables: list[Variable]) -> list[tuple[BatchCall, dict[str, Any]]]:
        """Every (call, request body) of these documents: one per chunk and variable group."""
        lines: list[tuple[BatchCall, dict[str, Any]]] = []
        by_name = {v.name: v for v in variables}
        groups = self._planner.plan(variables)
        limits = self._planner.limits
        for doc_id, doc in documents:
            if "|" in doc_id:
                raise ValueError(f"document id {doc_id!r} must not contain '|'")
            for c, pages in enumerate(chunk_pages(doc.pages, self._planner.chunk_tokens)):
                key = chunk_key(pages)
                for g, group in enumerate(groups):
                    max_tokens = self._planner.max_tokens_for(group)
                    call = BatchCall(custom_id=f"{doc_id}|c{c}|g{g}", doc_id=doc_id, chunk=c, group=g,
                                     variables=[v.name for v in group], max_tokens=max_tokens, chunk_key=key)
                    lines.append((call, self._body([by_name[n] for n in call.variables], pages, max_tokens,
                                                   open_names(group, limits))))
        return lines

    def _body(self, group: list[Variable], pages: list[PageText], max_tokens: int,
              opened: frozenset[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(group, pages),
            "response_format": {"type": "json_schema", "json_schema": {
                "name": SCHEMA_NAME, "strict": True, "schema": build_schema(group, open_values=opened)}},
            "max_completion_tokens": max_tokens,
        }
        if not is_reasoning_model(self.model):
            body["temperature"] = 0
        return body

    def build_jsonl(self, lines: list[tuple[BatchCall, dict[str, Any]]]) -> bytes:
        """The batch input file: one request per line (custom_id, method, url, body)."""
        out = io.StringIO()
        for call, body in lines:
            out.write(json.dumps({"custom_id": call.custom_id, "method": "POST", "url": self.endpoint,
                                  "body": body}, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
        return out.getvalue().encode("utf-8")

    # -- the provider

    def submit(self, documents: Sequence[tuple[str, DocumentText]], variables: list[Variable], *,
               metadata: dict[str, str] | None = None) -> BatchState:
        """Upload the requests and create the batch. Persist the returned state to resume later."""
        lines = self.plan(documents, variables)
        if not lines:
            raise LlmError("Nothing to send: the documents have no text.", code="config")
        data = self.build_jsonl(lines)
        file = self._call("upload the batch file", lambda: self._client.files.create(
            file=("policy-reader-batch.jsonl", data, "application/jsonl"), purpose="batch"))
        extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
        batch = self._call("create the batch", lambda: self._client.batches.create(
            input_file_id=file.id, endpoint=self.endpoint, completion_window=COMPLETION_WINDOW, **extra))
        log.info("batch %s submitted: %d requests, %d bytes", batch.id, len(lines), len(data))
        state = BatchState(batch_id=batch.id, input_file_id=file.id, endpoint=self.endpoint, model=self.model,
                           submitted_at=time.time(), calls=[call for call, _ in lines])
        return self._update(state, batch)

    def refresh(self, state: BatchState) -> BatchState:
        """The batch's current status (never resubmits)."""
        batch = self._call("read the batch status", lambda: self._client.batches.retrieve(state.batch_id))
        return self._update(state, batch)

    def cancel(self, state: BatchState) -> BatchState:
        batch = self._call("cancel the batch", lambda: self._client.batches.cancel(state.batch_id))
        return self._update(state, batch)

    def wait(self, state: BatchState, *, poll_s: float = 60.0,
             on_progress: Callable[[BatchState], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> BatchState:
        """Poll until the batch is done (or should_stop() turns true: the state so far is returned)."""
        # the provider ends an unfinished batch (expired) after its completion window: until then a failed
        # poll is worth another one
        until = (state.submitted_at or time.time()) + COMPLETION_WINDOW_S + POLL_GRACE_S
        while True:
            state = self._update(state, self._patiently(
                "read the batch status", lambda: self._client.batches.retrieve(state.batch_id), until=until,
                should_stop=should_stop))
            if on_progress is not None:
                on_progress(state)
            if state.done or (should_stop is not None and should_stop()):
                return state
            slept = 0.0
            while slept < poll_s and not (should_stop is not None and should_stop()):
                time.sleep(min(0.5, poll_s - slept))
                slept += 0.5

    def results(self, state: BatchState) -> dict[str, BatchOutcome]:
        """Every line's outcome (output and error files). Lines the batch never answered (expired,
        cancelled) get an outcome with an error too, so nothing is silently missing."""
        outcomes: dict[str, BatchOutcome] = {}
        known = {call.custom_id for call in state.calls}
        unreadable = 0
        for file_id in (state.output_file_id, state.error_file_id):
            if not file_id:
                continue
            raw = self._patiently("download the batch results", lambda fid=file_id: self._client.files.content(fid),
                                  until=time.time() + RESULTS_PATIENCE_S)
            text = raw.text if hasattr(raw, "text") else bytes(raw).decode("utf-8", "replace")
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                outcome = self._read_line(line, known)
                if outcome is None:
                    unreadable += 1
                    log.warning("batch %s: line %d of file %s could not be read; its request is an error answer",
                                state.batch_id, number, file_id)
                    continue
                if outcome.custom_id in outcomes and outcomes[outcome.custom_id].error is None:
                    continue  # an answer already read wins over a second line for the same request
                outcomes[outcome.custom_id] = outcome
        for call in state.calls:
            if call.custom_id not in outcomes:
                why = (f"the batch ended '{state.status}' before this request was answered" if not unreadable else
                       "the provider's answer to this request could not be read (a damaged line in the batch's "
                       "output file)")
                outcomes[call.custom_id] = BatchOutcome(call.custom_id, None, None, Usage(), error=why)
        return {k: v for k, v in outcomes.items() if k in known}

    def _read_line(self, line: str, known: set[str]) -> BatchOutcome | None:
        """One output line's outcome, or None when the line cannot be read (not JSON, not an object, no
        known custom_id). A line that names its request but is otherwise damaged is that request's error.
        The file is the provider's: one bad line must cost one request, never the batch."""
        try:
            item = json.loads(line)
        except ValueError:
            return None
        if not isinstance(item, dict) or str(item.get("custom_id")) not in known:
            return None
        try:
            return self._outcome(item)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            return BatchOutcome(str(item.get("custom_id")), None, None, Usage(),
                                error=f"the provider's answer to this request could not be read ({type(exc).__name__})")

    def answers_for(self, doc_id: str, state: BatchState, outcomes: dict[str, BatchOutcome]) -> "BatchAnswers":
        """An Extractor for extract_document() that answers this document's chunks from the outcomes."""
        calls = [c for c in state.calls if c.doc_id == doc_id]
        return BatchAnswers(calls, outcomes, cache_id=f"{self.kind}:{self.model}",
                            chunk_tokens=self._planner.chunk_tokens)

    # -- internals

    def _outcome(self, item: dict[str, Any]) -> BatchOutcome:
        custom_id = str(item.get("custom_id"))
        response = item.get("response") or {}
        if not isinstance(response, dict):
            raise TypeError("response is not an object")
        body = response.get("body") or {}
        raw_status = response.get("status_code")
        status = raw_status if isinstance(raw_status, int) and not isinstance(raw_status, bool) else 0
        if item.get("error") or status != 200:
            if raw_status is not None and status == 0:
                return BatchOutcome(custom_id, None, None, Usage(),
                                    error=f"the provider's answer to this request could not be read (status "
                                          f"{str(raw_status)[:20]!r})")
            err = item.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
            message = err.get("message") if isinstance(err, dict) else str(err)
            return BatchOutcome(custom_id, None, None, Usage(),
                                error=f"HTTP {status or '?'}: {message or 'no detail'}"[:500])
        completion = _Obj(body)
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        content = message.get("content")
        if not content and message.get("tool_calls"):
            content = message["tool_calls"][0].get("function", {}).get("arguments")
        # the reported usage is clamped like a live call's (content known; the prompt is ours, not here)
        usage = price(usage_from(completion, content_chars=len(str(content or ""))), self.settings,
                      str(body.get("model") or "") or None, batch=True)
        return BatchOutcome(custom_id, content or "", choice.get("finish_reason") or "stop", usage)

    def _update(self, state: BatchState, batch: Any) -> BatchState:
        counts = getattr(batch, "request_counts", None)
        return state.model_copy(update={
            "status": str(batch.status),
            "output_file_id": getattr(batch, "output_file_id", None),
            "error_file_id": getattr(batch, "error_file_id", None),
            "request_counts": ({"total": counts.total, "completed": counts.completed, "failed": counts.failed}
                               if counts is not None else state.request_counts),
        })

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        import openai

        from policy_reader.llm.chat import RETRY_STATUSES, retry_after_seconds

        try:
            return fn()
        except openai.APIStatusError as exc:
            detail = exc.body.get("message") if isinstance(exc.body, dict) else None
            message = scrub(f"Could not {what} (HTTP {exc.status_code}: {detail or exc.message}).", self.settings)[:500]
            if exc.status_code in RETRY_STATUSES or exc.status_code >= 500:
                headers = exc.response.headers if exc.response is not None else None
                raise TransientBatchError(message, code="batch", retry_after_s=retry_after_seconds(headers)) from None
            raise LlmError(message, code="auth" if exc.status_code in (401, 403) else "batch") from None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise TransientBatchError(scrub(f"Could not {what}: {exc}", self.settings)[:500],
                                      code="connection") from None
        except openai.OpenAIError as exc:
            raise LlmError(scrub(f"Could not {what}: {exc}", self.settings)[:500], code="connection") from None

    def _patiently(self, what: str, fn: Callable[[], Any], *, until: float,
                   should_stop: Callable[[], bool] | None = None) -> Any:
        """`fn` through `_call`, with transient failures (a dropped connection, a 5xx, a 429) retried with
        backoff — the server's Retry-After honoured — until the time `until` (wall clock). A batch runs at
        the provider, and is billed, whatever our polls meet: one failed poll must not end the job."""
        from policy_reader.llm.chat import backoff_delay

        attempt = 0
        while True:
            try:
                return self._call(what, fn)
            except TransientBatchError as exc:
                delay = backoff_delay(min(attempt, 10), self.settings.llm_backoff_base_s, exc.retry_after_s)
                if time.time() + delay > until:
                    raise
                log.info("batch: %s failed (%s); retrying in %.2f s", what, exc.message, delay)
                attempt += 1
                end = time.monotonic() + delay
                while time.monotonic() < end:
                    if should_stop is not None and should_stop():
                        raise
                    time.sleep(min(0.25, max(0.0, end - time.monotonic())))


class _Obj:
    """Attribute access over a completion dict (so llm.usage_from reads batch lines like live replies)."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        value = self._data.get(name) if isinstance(self._data, dict) else None
        return _Obj(value) if isinstance(value, dict) else value


class BatchAnswers:
    """Extractor over a finished batch: answer(pages, variables) reads the lines of that chunk.

    A line that failed (refused, expired, cut off) gives its variables status `error` with the reason,
    so extraction marks them and the document is not cached as complete; the job can ask them again.
    """

    def __init__(self, calls: list[BatchCall], outcomes: dict[str, BatchOutcome], *, cache_id: str,
                 chunk_tokens: int) -> None:
        self.cache_id = cache_id
        self.chunk_tokens = chunk_tokens
        self._calls: dict[str, list[BatchCall]] = {}
        for call in calls:
            self._calls.setdefault(call.chunk_key, []).append(call)
        self._outcomes = outcomes

    def answer(self, pages: list[PageText], variables: list[Variable]) -> tuple[list[Answer], Usage]:
        calls = self._calls.get(chunk_key(pages))
        if not calls:
            raise LlmError("The batch holds no request for these pages (the document or CHUNK_TOKENS changed "
                           "since the batch was sent).", code="bad_response")
        by_name = {v.name: v for v in variables}
        answers: dict[str, Answer] = {}
        usage = Usage()
        for call in sorted(calls, key=lambda c: c.group):
            outcome = self._outcomes.get(call.custom_id)
            group = [by_name[n] for n in call.variables if n in by_name]
            usage = usage.add(outcome.usage if outcome else Usage())
            problem = outcome.error if outcome else "no result"
            if outcome is not None and outcome.error is None:
                if outcome.finish_reason == "length":
                    problem = f"the answer was cut off at {call.max_tokens} tokens"
                else:
                    try:
                        answers.update((a.name, a) for a in parse_answers(outcome.content or "", group))
                        continue
                    except BadReply as exc:
                        problem = f"the answer is not the requested JSON ({exc})"
            for var in group:
                answers[var.name] = Answer(name=var.name, status=AnswerStatus.ERROR,
                                           note=f"the batch did not answer this: {problem}"[:500])
        return [answers.get(v.name, Answer(name=v.name, status=AnswerStatus.ERROR,
                                           note="not in the batch")) for v in variables], usage
