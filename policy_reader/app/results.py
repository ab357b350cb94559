"""A finished job's results: the table, downloads, one answer's evidence on its page, the review form."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from policy_reader.jobs.manager import JobManager
from policy_reader.app import view as ui
from policy_reader.app.messages import flash, show_error
from policy_reader.errors import PolicyReaderError
from policy_reader.models import DocumentResult, Variable

FORMATS = [("csv", "⬇️ CSV", "text/csv"),
           ("xlsx", "⬇️ Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           ("json", "⬇️ JSON", "application/json")]


def render(manager: JobManager, view: Any, user: str) -> None:
    try:
        documents = manager.get_results(view.id, owner=user)
        variables = manager.get_variables(view.id, owner=user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    if not documents:
        st.info("No document finished, so there are no results to show.")
        return
    st.subheader("Results")
    values, mask = ui.results_table(documents, variables)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Documents read", f"{sum(d.status == 'ok' for d in documents)} / {len(documents)}")
    c2.metric("Answers to review", ui.review_count(documents))
    c3.metric("Tokens", f"{ui.total_tokens(view.usage):,}", help=ui.plain(ui.format_usage(view.usage)))
    c4.metric("Cost", ui.plain(ui.format_cost(view.usage.cost_usd if view.usage else 0)))
    st.dataframe(ui.style_results(values, mask), hide_index=True, width="stretch", key=f"results_{view.id}")
    st.caption("🟨 needs review (low confidence, unverified quote or always-review) · 🟥 document failed")
    for file, error in ui.failed_documents(documents):
        st.warning(f"**{ui.plain(file)}** could not be read: {ui.plain(error)}")
    downloads(manager, view.id, user)
    detail_view(manager, view.id, user, documents, variables)


def downloads(manager: JobManager, job_id: str, user: str) -> None:
    columns = st.columns(len(FORMATS) + 3)
    for column, (fmt, label, mime) in zip(columns, FORMATS):
        try:
            data = manager.get_export(job_id, fmt, owner=user)
        except PolicyReaderError as exc:
            show_error(exc)
            continue
        column.download_button(label, data, f"policy-reader-{job_id}.{fmt}", mime, key=f"dl_{fmt}_{job_id}",
                               on_click="ignore", width="stretch")


@st.cache_data(show_spinner=False, max_entries=64)
def page_png(path: str, mtime: float, page: int, quote: str, span: tuple[tuple[int, int, int], ...] = ()) -> bytes:
    """Drawn by a reader process (policy_reader/reading/sandbox.py): the app never parses an uploaded PDF. The
    aligned `span` (grounding.py) is highlighted; the quote is the fallback."""
    from policy_reader.reading import sandbox
    from policy_reader.config import startup_settings

    return sandbox.render_page_png(Path(path), page, startup_settings(), highlight=quote or None, span=span)


def detail_view(manager: JobManager, job_id: str, user: str, documents: list[DocumentResult],
                variables: list[Variable]) -> None:
    st.subheader("Check an answer")
    ok_docs = [d for d in documents if d.status == "ok"]
    if not ok_docs or not variables:
        return
    left, right = st.columns(2)
    docs_by_id = {d.doc_id: d for d in ok_docs}
    vars_by_name = {v.name: v for v in variables}
    # select box options are plain text (only their label is markdown): shown as they are
    doc = docs_by_id[left.selectbox("Document", list(docs_by_id), format_func=lambda i: docs_by_id[i].file,
                                    key=f"detail_doc_{job_id}")]
    variable = vars_by_name[right.selectbox("Variable", list(vars_by_name), key=f"detail_var_{job_id}",
                                            format_func=lambda n: f"{n} — {vars_by_name[n].question}")]
    answer = ui.answers_by_name(doc).get(variable.name)
    if answer is None:
        st.info("This variable has no answer for this document.")
        return
    text_col, image_col = st.columns([2, 3])
    with text_col:
        st.markdown(f"**{ui.plain(variable.question)}**")
        st.markdown("### " + (ui.plain(ui.display_value(answer.value)) or "—"))
        st.caption(ui.plain(ui.answer_status_text(answer)))
        evidence_quote(answer, missing="No evidence quote.")
        review_form(manager, job_id, user, doc, variable, answer)
    with image_col:
        evidence_image(manager, job_id, user, doc, answer)


def evidence_quote(answer: Any, *, missing: str | None = None) -> None:
    """The answer's quote and its page (text from the PDF: shown as text, never as markup)."""
    if answer.evidence:
        st.markdown("> " + ui.plain(answer.evidence))
        st.caption(ui.answer_page_text(answer) + (" (read by OCR)" if answer.from_ocr else ""))
    elif missing:
        st.caption(missing)


def evidence_image(manager: JobManager, job_id: str, user: str, doc: DocumentResult, answer: Any) -> None:
    """The answer's page with its aligned quote highlighted (drawn by a reader process); never a page
    outside the PDF, and a page that cannot be drawn never hides the answer."""
    if not answer.page or (doc.pages and not 1 <= answer.page <= doc.pages):
        return
    try:
        path = manager.input_path(job_id, doc.doc_id, owner=user)
        span = tuple((s.page, s.start, s.end) for s in answer.span)  # the aligned quote (grounding.py)
        st.image(page_png(str(path), path.stat().st_mtime, int(answer.page), answer.evidence or "", span),
                 caption=ui.plain(f"{doc.file} — {ui.answer_page_text(answer).lower()}, quote highlighted"), width="stretch")
    except OSError:
        st.warning("The stored PDF is no longer available, so the page cannot be shown.")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)


def review_form(manager: JobManager, job_id: str, user: str, doc: DocumentResult, variable: Variable,
                answer: Any) -> None:
    """Correct a value or confirm it. The manager types the value (and refuses it with the reason)."""
    key = f"{job_id}_{doc.doc_id}_{variable.name}"
    options = f" — one of: {', '.join(variable.options)}" if variable.options else ""
    with st.form(key=f"review_{key}", border=True):
        raw = st.text_input("Correct value", value=ui.display_value(answer.value), key=f"value_{key}",
                            help=ui.plain(f"Type: {ui.status_value(variable.type)}{options}"))
        note = st.text_input("Note (optional)", key=f"note_{key}", max_chars=500,
                             help="Why: kept with the correction, in the JSON and the Excel Evidence sheet.")
        save, mark = st.columns(2)
        corrected = save.form_submit_button("💾 Save correction", width="stretch")
        confirmed = mark.form_submit_button("✔️ Value is right", width="stretch")
    if not (corrected or confirmed):
        return
    value = answer.value if confirmed else (raw.strip() or None)
    try:
        stored = manager.save_review(job_id, doc.doc_id, variable.name, value=value, reviewed=True, note=note,
                                     owner=user)
    except PolicyReaderError as exc:
        show_error(exc)  # refused: the message says why, and that nothing was stored
        return
    kept = ui.display_value(stored.value) if stored.value is not None else "not stated in the document"
    flash("success", f"Saved: {doc.file} · {variable.name} = {kept}"
                     f"{' (corrected)' if stored.changed else ' (confirmed)'}. Downloads and a re-sent email "
                     "include it.")
    st.rerun()
