"""Unit tests of policy_reader/app/view.py: the dashboard's view-model, without Streamlit."""
from __future__ import annotations

import re
import string
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from policy_reader.app import view as ui
from policy_reader.app import workbench
from policy_reader.config import load_settings
from policy_reader.llm import providers
from policy_reader.errors import VariablesError
from policy_reader.jobs.state import BatchProgress, InFlight, JobView, view_of
from policy_reader.models import Answer, AnswerStatus, DocumentResult, Usage, Variable, VariableType
from policy_reader.variables import parse_variables
from tests.fixtures.streamlit_client import shown

VARS = [
    Variable(name="year_adopted", question="Year?", type=VariableType.YEAR),
    Variable(name="sectors", question="Sectors?", type=VariableType.LIST, options=("energy", "transport")),
    Variable(name="adaptation", question="Adaptation?", type=VariableType.BOOLEAN, always_review=True),
]


def _doc(doc_id: str, file: str, answers: list[Answer], status: str = "ok", error: str | None = None) -> DocumentResult:
    return DocumentResult(doc_id=doc_id, file=file, status=status, error=error, variables=answers)


def test_status_badges_cover_every_job_status_and_unknown() -> None:
    for status in ("pending", "running", "completed", "failed", "cancelled", "interrupted"):
        badge = ui.status_badge(status)
        assert badge.startswith(":") and "[" in badge
        assert ui.status_label(status).split(" ", 1)[1] in badge
    assert "Completed" in ui.status_badge("completed") and ":green[" in ui.status_badge("completed")
    assert "Weird" in ui.status_label("weird")
    assert ui.is_active("running") and ui.is_active("pending") and not ui.is_active("completed")
    assert ui.is_terminal("cancelled") and not ui.is_terminal("interrupted")


def test_status_value_accepts_enums() -> None:
    assert ui.status_value(AnswerStatus.NEEDS_REVIEW) == "needs_review"
    assert ui.status_value(None) == ""


def test_backend_label_never_needs_the_key() -> None:
    settings = load_settings(OPENAI_API_KEY="sk-very-secret-123", OPENAI_MODEL="gpt-x")
    label = ui.backend_label(providers.summary(settings))
    assert label == "OpenAI · gpt-x"
    assert "sk-very-secret-123" not in label
    offline = ui.backend_label(providers.summary(load_settings()))
    assert offline.startswith("Offline extractor")
    azure = ui.backend_label(providers.summary(load_settings(AZURE_OPENAI_ENDPOINT="https://x.openai.azure.com",
                                                             AZURE_OPENAI_DEPLOYMENT="dep1")))
    assert azure == "Azure OpenAI · dep1"


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (44.6, "45 s"), (65, "1 min 05 s"),
                                           (3600 + 180, "1 h 03 min"), (None, ""), (-3, ""),
                                           (float("nan"), "")])
def test_format_duration(seconds, text) -> None:
    assert ui.format_duration(seconds) == text


def test_eta_text_depends_on_status() -> None:
    assert ui.eta_text(None, "running") == "estimating…"
    assert ui.eta_text(2, "running") == "almost done"
    assert ui.eta_text(125, "running") == "about 2 min 05 s left"
    assert ui.eta_text(125, "pending") == "starts when a slot is free"
    assert ui.eta_text(125, "completed") == ""


def test_elapsed_and_time_formatting() -> None:
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    now = start + timedelta(seconds=90)
    assert ui.elapsed_seconds(start.isoformat(), now=now) == 90
    assert ui.elapsed_seconds(start.isoformat(), (start + timedelta(seconds=7)).isoformat().replace("+00:00", "Z")) == 7
    assert ui.elapsed_seconds(None) is None
    assert ui.format_time("2026-01-02T03:04:05+00:00") == "2026-01-02 03:04 UTC"
    assert ui.format_time("not a time") == ""


def test_usage_and_cost_text() -> None:
    usage = Usage(calls=3, prompt_tokens=12000, completion_tokens=345, cached_prompt_tokens=1000, cost_usd=0.01234)
    assert ui.total_tokens(usage) == 12345
    assert ui.format_usage(usage) == "12,345 tokens · $0.0123 (1,000 cached)"
    assert ui.format_cost(12.5) == "$12.50"
    assert ui.total_tokens({"prompt_tokens": 2, "completion_tokens": 3}) == 5
    assert ui.format_usage(None) == "0 tokens · $0.0000"


def test_progress_fraction_is_clamped() -> None:
    assert ui.progress_fraction(1, 4) == 0.25
    assert ui.progress_fraction(3, 0) == 0.0
    assert ui.progress_fraction(9, 4) == 1.0
    assert ui.progress_fraction(None, None) == 0.0


def _view(**fields) -> JobView:
    """A JobView as job.json gives it (its parts as the dicts stored there)."""
    return JobView.model_validate({"id": "j1", "name": "Job", "owner": "local", "created_at": "2026-01-01T10:00:00+00:00",
                                   "status": "running", **fields})


def test_progress_labels_and_queue_message() -> None:
    item = InFlight(doc_id="d0001", file="a.pdf", stage="asking", variables_done=3, variables_total=7)
    assert ui.in_flight_label(item) == "a.pdf — Asking the model (3/7 variables)"
    assert ui.in_flight_label(InFlight(file="b.pdf", stage="ocr", variables_done=1,
                                       variables_total=9)) == "b.pdf — OCR of scanned pages (1/9 pages)"
    fields = {"status": "running", "documents_done": 3, "documents_total": 10, "documents_failed": 1, "stage": "asking"}
    view = _view(**fields)
    assert ui.overall_label(view) == "3 / 10 documents (1 failed) · Asking the model"
    assert ui.queue_message(view) is None
    assert ui.overall_label(_view(**{**fields, "stage": "running"})) == "3 / 10 documents (1 failed)"
    assert ui.overall_label(_view(**{**fields, "stage": "exporting"})).endswith("· Writing exports")
    assert ui.queue_message(_view(status="pending", queue_position=3)) == (
        "Queued: 2 jobs ahead of this one. It starts automatically.")
    assert "next" in ui.queue_message(_view(status="pending", queue_position=1))
    assert "slot" in ui.queue_message(_view(status="pending", queue_position=None))


def test_final_messages() -> None:
    assert ui.final_message(_view(status="completed", documents_total=2, documents_done=2,
                                  documents_failed=0)) == ("success", "Finished: all 2 documents read.")
    kind, text = ui.final_message(_view(status="completed", documents_total=3, documents_done=3, documents_failed=1))
    assert kind == "warning" and "2 of 3" in text and "1 failed" in text
    kind, text = ui.final_message(_view(status="failed", error="Token budget reached"))
    assert kind == "error" and "Token budget reached" in text
    assert ui.final_message(_view(status="cancelled", documents_done=1))[0] == "warning"
    assert "Resume" in ui.final_message(_view(status="interrupted"))[1]


def test_email_label_says_what_happened_and_nothing_without_recipients() -> None:
    """Before: "Email none — sent · to nobody" for a job without recipients, "Email sent — sent · to ..." otherwise."""
    assert ui.email_label(_view(email={"status": "none"}, recipients=[])) is None
    assert ui.email_label(_view(email={"status": "pending"}, recipients=["a@x.org"])) == (
        "Email to a@x.org: sent when the job finishes.")
    assert ui.email_label(_view(email={"status": "sent", "mode": "smtp", "sent_at": "2026-01-01T10:00:00+00:00"},
                                recipients=["a@x.org", "b@y.org"])) == (
        "Email sent to a@x.org, b@y.org on 2026-01-01 10:00 UTC.")
    assert "outbox" in ui.email_label(_view(email={"status": "sent", "mode": "outbox"}, recipients=["a@x.org"]))
    assert ui.email_label(_view(email={"status": "failed"}, recipients=["a@x.org"])) == "Email to a@x.org: not sent."
    assert ui.history_frame([_view(status="completed", skipped=[{"name": "n.txt", "reason": "not a PDF"}])]
                            ).iloc[0]["skipped"] == 1


def test_event_lines_latest_first_trimmed_and_tolerant() -> None:
    events = [{"t": f"2026-01-01T10:00:{i:02d}+00:00", "type": "doc.finished", "doc_id": f"d{i}",
               "file": f"f{i}.pdf"} for i in range(20)]
    events.append({"type": "doc.failed", "file": "bad.pdf", "error": "The file is not a PDF."})
    events.append({"t": "2026-01-01T10:01:00Z", "type": "job.created", "documents": 3, "variables": 2})
    events.append({"type": "something.new"})
    lines = ui.event_lines(events, limit=4)
    assert lines == ["10:00:19  Finished: f19.pdf",
                     "--:--:--  ⚠ Failed: bad.pdf — The file is not a PDF.",
                     "10:01:00  Job created: 3 documents, 2 variables",
                     "--:--:--  Something new"]


def test_parse_recipients_text() -> None:
    assert ui.parse_recipients_text("a@x.org, b@y.org;c@z.org\n\n d@w.org ") == [
        "a@x.org", "b@y.org", "c@z.org", "d@w.org"]
    assert ui.parse_recipients_text(None) == []


def test_variables_frame_round_trips_through_the_editor_rows() -> None:
    frame = ui.variables_frame(VARS)
    assert list(frame.columns) == ui.EDITOR_COLUMNS
    assert frame.loc[1, "options"] == "energy; transport"
    assert bool(frame.loc[2, "always_review"]) is True
    assert parse_variables(ui.editor_rows(frame), first_row=1) == VARS


def test_editor_rows_keep_row_numbers_for_errors() -> None:
    frame = pd.DataFrame([
        {"name": "ok_one", "question": "Q?", "type": "text", "options": None, "always_review": False},
        {"name": None, "question": None, "type": None, "options": None, "always_review": None},  # spare row
        {"name": "cat", "question": "Which?", "type": "category", "options": "", "always_review": False},
    ])
    rows = ui.editor_rows(frame)
    assert rows[1] == {}
    with pytest.raises(VariablesError) as err:
        parse_variables(rows, first_row=1)
    assert err.value.message.startswith("Row 3")
    comma = ui.editor_rows(pd.DataFrame([{"name": "c", "question": "q", "type": "list", "options": "a, b"}]))
    assert comma[0]["options"] == ["a", "b"]


def test_history_frame() -> None:
    jobs = [_view(id="j1", name="Batch", status="completed", created_at="2026-01-01T10:00:00+00:00",
                  started_at="2026-01-01T10:00:00+00:00", finished_at="2026-01-01T10:01:05+00:00",
                  documents_done=3, documents_total=3, documents_failed=1,
                  usage=Usage(prompt_tokens=10, completion_tokens=5, cost_usd=0.5))]
    frame = ui.history_frame(jobs)
    row = frame.iloc[0].to_dict()
    assert row["job"] == "Batch" and row["documents"] == "3 / 3" and row["duration"] == "1 min 05 s"
    assert row["tokens"] == 15 and row["cost"] == "$0.5000" and "Completed" in row["status"]
    assert "Batch" in ui.job_option_label(jobs[0])
    assert ui.history_frame([]).empty


def test_metrics_frames_accept_mappings_and_lists() -> None:
    frames = ui.metrics_frames({
        "jobs_by_status": {"completed": 3, "failed": 1},
        "per_day": {"2026-01-02": {"jobs": 2, "documents": 7, "tokens": 10, "cost_usd": 0.1},
                    "2026-01-01": {"jobs": 1, "documents": 2, "tokens": 5, "cost_usd": 0.05}},
    })
    assert frames["status"].loc["completed", "jobs"] == 3
    assert list(frames["daily"].index) == ["2026-01-01", "2026-01-02"]
    assert list(frames["throughput"]["documents"]) == [2, 7]
    as_list = ui.metrics_frames({"per_day": [{"day": "2026-01-02", "tokens": 1}, {"day": "2026-01-01", "tokens": 2}]})
    assert list(as_list["daily"]["tokens"]) == [2, 1] and as_list["throughput"].empty
    empty = ui.metrics_frames({})
    assert all(frame.empty for frame in empty.values())
    numbers = ui.metric_numbers({"jobs_total": 1200, "cost_usd_total": 3.456, "documents_per_minute": 1.5,
                                 "queue_length": 0})
    assert numbers == {"Jobs": "1,200", "Docs / minute (24 h)": "1.50", "Queued": "0", "Cost": "$3.46"}


# --------------------------------------------------------------------------- untrusted text

HOSTILE = ("![](http://127.0.0.1:9/x.png) [Session expired - sign in again](http://127.0.0.1:9/login) "
           "<img src=x onerror=alert(1)> **bold** :red[red] $x^2$ `code` www.example.org ana@example.org")


def test_plain_escapes_every_markdown_character_and_keeps_the_text() -> None:
    escaped = ui.plain(HOSTILE)
    assert shown(escaped) == HOSTILE  # unescaped, it is exactly the input
    for i, ch in enumerate(escaped):  # no ASCII punctuation is left unescaped
        if ch in string.punctuation and ch != "\\":
            assert escaped[i - 1] == "\\", (escaped[:i + 1])
    assert "](" not in escaped


def test_plain_breaks_the_patterns_gfm_turns_into_links() -> None:
    """remark-gfm links URLs, www. names and addresses it finds in the text once escapes are resolved."""
    source = "see http://x.org/a, HTTPS://y.org, www.z.org or ana@example.org"
    text = re.sub(r"\\(.)", r"\1", ui.plain(source))  # the text nodes remark-gfm searches
    for pattern in (r"https?://", r"www\.", r"[\w.+-]+@[\w-]+"):  # its literal and email patterns
        assert not re.search(pattern, text, re.IGNORECASE), (pattern, text)
    assert shown(ui.plain(source)) == source
    assert ui.plain("swww.x http-ish") == "swww\\.x http\\-ish"  # only real link starts are touched


def test_plain_is_one_line_without_control_or_bidi_characters() -> None:
    assert ui.plain("a\n\n# b\r\n> c\t\x1b[31md\u202eexe.pdf\x00\u2060") == "a \\# b \\> c \\[31mdexe\\.pdf"
    assert ui.plain(None) == "" and ui.plain(2019) == "2019"
    assert ui.plain("✅ Ünïcode — ok") == "✅ Ünïcode — ok"


def test_an_old_job_json_still_loads_into_the_typed_view() -> None:
    """job.json files already on disk: dict parts with keys this version does not know, or none at all."""
    old = {"id": "j1", "name": "Old", "owner": "local", "status": "completed", "created_at": "2025-01-01T00:00:00+00:00",
           "email": {"status": "sent", "mode": "outbox", "path": "outbox/x.eml", "future_key": 1},
           "webhook": {"status": "failed", "http_status": 500}, "in_flight": [{"doc_id": "d1", "file": "a.pdf"}]}
    view = view_of(old)
    assert (view.email.status, view.email.mode, view.webhook.status) == ("sent", "outbox", "failed")
    assert view.in_flight[0].file == "a.pdf" and view.batch.status is None
    bare = view_of({k: old[k] for k in ("id", "name", "owner", "status", "created_at")})
    assert bare.email.status is None and bare.in_flight == [] and bare.webhook.status is None
    # still readable like the dicts they were (code written against them)
    assert view.email["status"] == "sent" and view.email.get("future_key") == 1 and bare.email.get("mode") is None
    with pytest.raises(KeyError):
        view.email["nope"]


def test_a_batch_jobs_progress_says_what_the_provider_is_doing():
    from policy_reader.app import view as ui

    fields = {"documents_done": 0, "documents_total": 10, "stage": "batch in_progress",
              "batch": {"status": "in_progress", "answered": 3, "total": 12}}
    assert ui.overall_label(_view(**fields)) == ("0 / 10 documents · Batch at the provider, running: 3 of 12 requests "
                                                 "answered")
    assert ui.batch_label(BatchProgress(status="validating")) == "Batch at the provider, being checked"
    assert ui.overall_label(_view(**{**fields, "stage": "waiting for quota"})).endswith("Waiting for the model's quota")


def test_accuracy_tables_for_a_gold_set_and_an_audit() -> None:
    from policy_reader.accuracy.gold import Miss, Score
    from policy_reader.accuracy.audit import AuditScore

    gold = ui.accuracy_frame({"year": Score.of(2, 3, page_correct=1)}, Score.of(2, 3, page_correct=1))
    assert gold.to_dict("records") == [
        {"variable": "year", "n": 3, "right": 2, "accuracy": "66.7%", "95% interval (Wilson)": "20.8% – 93.9%",
         "right page": 1},
        {"variable": "overall", "n": 3, "right": 2, "accuracy": "66.7%", "95% interval (Wilson)": "20.8% – 93.9%",
         "right page": 1}]
    audit = ui.accuracy_frame({"year": AuditScore.of(0, 0, population=4)}, AuditScore.of(0, 0, population=9),
                              audit=True)
    assert audit.iloc[0].to_dict() == {"variable": "year", "n": 0, "right": 0, "accuracy": "—",
                                       "95% interval (Wilson)": "—", "accepted answers": 4}
    misses = ui.misses_frame([Miss(kind="page", row=4, file="a.pdf", variable="year", expected=2019, found=2019,
                                   expected_page=2, page=3, quote="in 2019", status="accepted"),
                              Miss(kind="value", row=5, file="a.pdf", variable="sectors", expected=["energy"],
                                   found=None, status="not_found")])
    assert misses[["miss", "expected", "found"]].values.tolist() == [
        ["right value, other page", "2019", "2019"], ["wrong value", "energy", "(none)"]]


def test_an_audit_judges_the_models_value_not_the_correction() -> None:
    corrected = Answer(name="year", value=2020, original_value=2019, reviewed=True)
    assert ui.model_value(corrected) == 2019
    assert ui.model_value(Answer(name="year", value=2019, reviewed=True)) == 2019
    assert ui.audit_item_label(0, 5, "a.pdf", "year", None) == "1/5 · a.pdf · year · not marked"


def test_answer_page_text_shows_the_printed_page_when_it_differs() -> None:
    assert ui.answer_page_text(Answer(name="x", page=105, page_label="98")) == "Page 105 (printed 98)"
    assert ui.answer_page_text(Answer(name="x", page=4, page_label="4")) == "Page 4"
    assert ui.answer_page_text(Answer(name="x", page=4)) == "Page 4"
    assert ui.answer_page_text(Answer(name="x")) == ""


# --------------------------------------------------------------------------- review workbench (issue 27)

def _answer(name: str, value, status: AnswerStatus, **extra) -> Answer:
    return Answer(name=name, value=value, status=status, **extra)


def _workbench_docs() -> list[DocumentResult]:
    return [
        _doc("d0001", "a.pdf", [
            _answer("year_adopted", 2018, AnswerStatus.ACCEPTED, evidence="adopted in 2018", match_kind="exact"),
            _answer("sectors", ["energy"], AnswerStatus.NEEDS_REVIEW, evidence="energy matters", match_kind="exact"),
            _answer("adaptation", None, AnswerStatus.NOT_FOUND)]),
        _doc("d0002", "b.pdf", [
            _answer("year_adopted", 2019, AnswerStatus.NEEDS_REVIEW, evidence="in 2020", match_kind="fuzzy"),
            _answer("sectors", None, AnswerStatus.ERROR, note="the model timed out"),
            _answer("adaptation", False, AnswerStatus.ACCEPTED, reviewed=True, original_value=True)]),
        _doc("d0003", "c.pdf", [], status="failed", error="encrypted"),
    ]


def test_every_answer_state_reads_differently_without_colour() -> None:
    docs = _workbench_docs()
    frame, doc_ids = workbench.workbench_table(docs, VARS)
    assert doc_ids == ["d0001", "d0002", "d0003"]
    assert list(frame["document"]) == ["a.pdf", "b.pdf", "c.pdf"]
    assert frame.loc[0, "year_adopted"] == "✓ 2018"
    assert frame.loc[0, "sectors"] == "? energy"
    assert frame.loc[0, "adaptation"] == "– not stated"  # a finding, never a blank cell
    assert frame.loc[1, "sectors"] == "! error"
    assert frame.loc[1, "adaptation"] == "✎ no"  # corrected by an analyst
    assert frame.loc[2, "year_adopted"] == "✖ document failed"
    confirmed = docs[0].variables[0].model_copy(update={"reviewed": True})
    assert workbench.cell_text(confirmed) == "☑ 2018"
    legend = workbench.legend_text()
    for state in workbench.STATES:
        assert workbench.ANSWER_LABELS[state] in legend  # the legend covers every state
    assert len({workbench.state_label(s) for s in workbench.STATES}) == len(workbench.STATES)
    assert workbench.column_label("year_adopted") == "Year adopted"
    assert ui.failed_documents(docs) == [("c.pdf", "encrypted")]


def test_queue_walks_flagged_answers_in_the_chosen_order_and_skips_come_back_last() -> None:
    cells = workbench.states_vector(_workbench_docs(), VARS)
    counts = workbench.state_counts(cells)
    assert counts == {"needs_review": 2, "error": 1, "not_found": 1, "accepted": 1, "corrected": 1, "checked": 0}
    by_doc = workbench.review_queue(cells, workbench.ReviewFilter())
    assert [(c.doc_id, c.variable) for c in by_doc] == [("d0001", "sectors"), ("d0002", "year_adopted"),
                                                        ("d0002", "sectors")]
    by_var = workbench.review_queue(cells, workbench.ReviewFilter(), workbench.ORDER_BY_VARIABLE)
    assert [(c.doc_id, c.variable) for c in by_var] == [("d0002", "year_adopted"), ("d0001", "sectors"),
                                                        ("d0002", "sectors")]
    first = workbench.next_in_queue(by_doc, None)
    assert (first.doc_id, first.variable) == ("d0001", "sectors")
    after = workbench.next_in_queue(by_doc, ("d0001", "sectors"), skipped={("d0002", "year_adopted")})
    assert (after.doc_id, after.variable) == ("d0002", "sectors")
    only_skipped = workbench.next_in_queue(by_doc[:2], ("d0001", "sectors"), skipped={("d0002", "year_adopted")})
    assert (only_skipped.doc_id, only_skipped.variable) == ("d0002", "year_adopted")
    assert workbench.next_in_queue([], None) is None
    narrowed = workbench.review_queue(cells, workbench.ReviewFilter(states=frozenset({"error"}), doc_id="d0002"))
    assert [(c.doc_id, c.variable) for c in narrowed] == [("d0002", "sectors")]
    assert workbench.queue_progress(cells) == "3 to review → 0"
    assert workbench.queue_progress([c for c in cells if not c.flagged]).startswith("Nothing left")


def test_the_bulk_preview_marks_what_the_engines_selector_chose() -> None:
    cells = workbench.states_vector(_workbench_docs(), VARS, exact={("d0001", "sectors")})
    assert [(c.doc_id, c.variable) for c in cells if c.exact] == [("d0001", "sectors")]


def test_selection_comes_from_the_url_or_a_cell_and_nothing_else() -> None:
    ids, names = ["d0001", "d0002"], ["year_adopted", "sectors"]
    assert workbench.selection_from_url({"doc": "d0002", "var": "sectors"}, ids, names) == ("d0002", "sectors")
    assert workbench.selection_from_url({"doc": "d0009", "var": "sectors"}, ids, names) is None
    assert workbench.selection_from_url({"doc": "d0001"}, ids, names) is None
    assert workbench.selection_from_cell((1, "year_adopted"), ids, names) == ("d0002", "year_adopted")
    assert workbench.selection_from_cell((0, "document"), ids, names) == ("d0001", "year_adopted")
    assert workbench.selection_from_cell((5, "sectors"), ids, names) is None
    assert workbench.selection_from_cell(None, ids, names) is None


def test_evidence_panel_texts_say_why_and_how_the_quote_was_found() -> None:
    docs = _workbench_docs()
    flagged = docs[1].variables[0]
    assert workbench.match_text(flagged).startswith("quote found approximately")
    error = docs[1].variables[1]
    assert workbench.state_reason(error) == "! error — the model timed out"
    corrected = docs[1].variables[2]
    assert workbench.state_reason(corrected) == "✎ corrected (the engine said: yes)"
    from policy_reader.models import Passage

    rival = flagged.model_copy(update={"passages": [Passage(value=2020, evidence="in 2020", page=3, agrees=False)]})
    assert workbench.rival_passages(rival) == ["p. 3 — disagrees (2020): “in 2020”"]


def test_skipped_files_are_counted_with_the_documents() -> None:
    fields = {"documents_total": 3, "documents_done": 3, "documents_failed": 0, "status": "completed",
              "skipped": [{"name": "notes.pdf", "reason": "this is not a PDF file"},
                          {"name": "empty.pdf", "reason": "the file is empty"}]}
    view = _view(**fields)
    assert ui.skipped_summary(view) == "3 of 5 documents read, 2 skipped"
    assert ui.skipped_lines(view) == ["notes.pdf — this is not a PDF file", "empty.pdf — the file is empty"]
    assert ui.skipped_summary(_view(documents_total=2)) is None
    finished = _view(**fields)
    assert ui.final_message(finished) == ("warning", "Finished: 3 of 5 documents read, 2 skipped: notes.pdf — this "
                                                     "is not a PDF file; empty.pdf — the file is empty.")
    assert ui.skipped_summary(_view(**{**fields, "status": "running"})) == "2 of 5 files skipped"


def test_a_review_reads_as_its_history_line() -> None:
    from policy_reader.models import Review

    review = Review(value=2019, original_value=2018, changed=True, by="alice@example.org",
                    at="2026-12-07T17:20:00+00:00", note="page 3 says 2019")
    assert workbench.history_line(review) == "2026-12-07 17:20 UTC · alice@example.org: 2018 → 2019 — page 3 says 2019"
    kept = Review(value=2018, original_value=2018, by="bob", at="2026-12-07T17:21:00+00:00")
    assert workbench.history_line(kept) == "2026-12-07 17:21 UTC · bob: kept 2018"


def test_an_offline_job_never_claims_to_ask_a_model() -> None:
    from policy_reader.jobs.state import InFlight

    item = InFlight(file="a.pdf", stage="asking", variables_done=3, variables_total=7)
    assert ui.in_flight_label(item, backend="offline") == "a.pdf — Finding the answers in the text (3/7 variables)"
    fields = {"documents_done": 1, "documents_total": 4, "stage": "asking", "backend": "offline"}
    assert "model" not in ui.overall_label(_view(**fields))
    assert ui.overall_label(_view(**{**fields, "backend": "openai"})).endswith("· Asking the model")


def test_a_jobs_engine_names_the_provider_and_only_a_real_model() -> None:
    assert ui.job_engine_text("offline", "offline") == "Offline extractor"
    assert ui.job_engine_text("openai", "gpt-4o-mini") == "OpenAI · gpt-4o-mini"
    assert ui.job_engine_text("azure", "") == "Azure OpenAI"
