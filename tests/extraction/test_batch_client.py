"""Batch mode end to end against the fake server's files and batches endpoints (OpenAI and Azure v1)."""
from __future__ import annotations

import json

import pytest

from policy_reader.extraction.batch_client import BatchClient, BatchState
from policy_reader.extraction.answers import extract_document
from policy_reader.llm.llm_extractor import price
from policy_reader.models import AnswerStatus, DocumentText, PageText, Usage
from tests.fake_openai import SchemaLimits as ServerLimits
from tests.llm.test_llm_extractor import _expected, wide_template


def _documents():
    """Three documents: the wide template's, one with a single fact, one long enough for two chunks."""
    variables, facts, doc = wide_template(25)  # 25 variables: two groups under Azure's caps
    first = variables[0]
    short = DocumentText(pages=[PageText(number=1, text=f"Annex. {facts[first.name][1]}.")], page_count=1,
                         sha256="7" * 64)
    filler = "Context paragraph about the policy. " * 120
    long = DocumentText(pages=[PageText(number=1, text=filler), PageText(number=2, text=filler),
                               PageText(number=3, text=filler + facts[variables[2].name][1] + ".")],
                        page_count=3, sha256="8" * 64)
    return variables, facts, [("d0001", doc), ("d0002", short), ("d0003", long)]


def _finish(client: BatchClient, state: BatchState) -> BatchState:
    seen: list[tuple[str, tuple[int, int]]] = []
    state = client.wait(state, poll_s=0.05, on_progress=lambda s: seen.append((s.status, s.progress())))
    assert state.status == "completed" and seen[-1][0] == "completed"
    return state


def test_batch_end_to_end_maps_every_answer_back_at_half_price(fake_openai):
    variables, facts, documents = _documents()
    fake_openai.facts = facts
    fake_openai.batch_delay = 0.3
    settings = fake_openai.settings(CHUNK_TOKENS=1500)
    client = BatchClient(settings)
    state = client.submit(documents, variables)
    assert state.status == "validating" and state.batch_id and fake_openai.batches_created == 1

    # the input file: one request per document x chunk x group, each mapped back by custom_id
    uploaded = fake_openai.files[state.input_file_id]["content"].decode().splitlines()
    lines = [json.loads(line) for line in uploaded]
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert [line["custom_id"] for line in lines] == [call.custom_id for call in state.calls]
    assert {c.doc_id for c in state.calls} == {"d0001", "d0002", "d0003"}
    assert max(c.chunk for c in state.calls if c.doc_id == "d0003") >= 1  # the long document has chunks
    assert {c.group for c in state.calls} == {0, 1}
    assert all(line["body"]["response_format"]["json_schema"]["strict"] for line in lines)

    state = _finish(client, state)
    outcomes = client.results(state)
    assert set(outcomes) == {c.custom_id for c in state.calls}
    assert fake_openai.requests == []  # nothing went through the live endpoint

    results = {}
    total = Usage()
    for doc_id, doc in documents:
        out = extract_document(doc, variables, client.answers_for(doc_id, state, outcomes), threshold=0.8)
        results[doc_id] = {a.name: a for a in out.answers}
        total = total.add(out.usage)
        assert out.complete
    for var in variables:
        assert results["d0001"][var.name].value == _expected(var, facts[var.name][0])
        assert results["d0001"][var.name].status is AnswerStatus.ACCEPTED
    assert results["d0002"][variables[0].name].value == facts[variables[0].name][0]
    assert results["d0003"][variables[2].name].page == 3
    assert total.calls == len(state.calls)
    live = price(total.model_copy(update={"cost_usd": 0.0}), settings)
    assert total.cost_usd == pytest.approx(live.cost_usd * 0.5, rel=1e-3)  # the batch discount


def test_resume_after_a_restart_reads_the_saved_batch_without_resubmitting(fake_openai):
    variables, facts, documents = _documents()
    fake_openai.facts = facts
    fake_openai.batch_delay = 0.3
    settings = fake_openai.settings()
    saved = BatchClient(settings).submit(documents, variables).model_dump_json()  # the job's state file

    restarted = BatchClient(settings)  # a new process: only the saved state is left
    state = _finish(restarted, BatchState.model_validate_json(saved))
    outcomes = restarted.results(state)
    assert fake_openai.batches_created == 1
    assert [p for m, p in fake_openai.api_calls if m == "POST"] == ["/v1/files", "/v1/batches"]
    answers = restarted.answers_for("d0002", state, outcomes)
    doc = dict(documents)["d0002"]
    out = extract_document(doc, variables, answers, threshold=0.8)
    assert {a.name: a for a in out.answers}[variables[0].name].status is AnswerStatus.ACCEPTED


def test_azure_batch_uses_the_v1_paths_and_the_batch_deployment(fake_openai):
    variables, facts, documents = _documents()
    fake_openai.facts = facts
    settings = fake_openai.azure_settings(AZURE_OPENAI_BATCH_DEPLOYMENT="policy-gpt-batch")
    client = BatchClient(settings)
    state = _finish(client, client.submit(documents[:1], variables))
    lines = [json.loads(x) for x in fake_openai.files[state.input_file_id]["content"].decode().splitlines()]
    assert {line["url"] for line in lines} == {"/chat/completions"}
    assert {line["body"]["model"] for line in lines} == {"policy-gpt-batch"}
    assert all(path.startswith("/openai/v1/") for _, path in fake_openai.api_calls)
    assert fake_openai.batches[state.batch_id]["endpoint"] == "/chat/completions"
    outcomes = client.results(state)
    assert all(o.error is None for o in outcomes.values())


def test_lines_the_provider_refuses_become_error_answers_not_a_failed_document(fake_openai):
    variables, facts, documents = _documents()
    fake_openai.facts = facts
    fake_openai.schema_limits = ServerLimits(max_properties=100)
    # planned for a laxer provider: one 25-variable group, refused line by line into the error file
    settings = fake_openai.settings(LLM_SCHEMA_MAX_PROPERTIES=5000, LLM_MAX_OUTPUT_TOKENS=32000)
    client = BatchClient(settings)
    state = _finish(client, client.submit(documents[:1], variables))
    assert state.request_counts["failed"] == 1 and state.error_file_id
    out = extract_document(documents[0][1], variables, client.answers_for("d0001", state, client.results(state)),
                           threshold=0.8)
    assert out.complete is False
    assert all(a.status is AnswerStatus.ERROR for a in out.answers)
    assert "Invalid schema for response_format" in out.answers[0].note


def test_a_cancelled_batch_leaves_no_line_silently_missing(fake_openai):
    variables, facts, documents = _documents()
    fake_openai.batch_delay = 60
    client = BatchClient(fake_openai.settings())
    state = client.cancel(client.submit(documents, variables))
    assert state.status == "cancelled" and state.done
    outcomes = client.results(state)
    assert len(outcomes) == len(state.calls)
    assert all(o.error and "cancelled" in o.error for o in outcomes.values())
