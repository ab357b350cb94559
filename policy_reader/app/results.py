"""A finished job's results: the table, downloads, one answer's evidence on its page, the review form."""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from policy_reader.jobs.manager import JobManager
from policy_reader.app import view as ui
from policy_reader.app import workbench as wb
from policy_reader.app.messages import say, show_error
from policy_reader.errors import PolicyReaderError
from policy_reader.llm import providers
from policy_reader.jobs.result_book import document_reviewed_decisions, exact_accept_decisions
from policy_reader.models import DocumentResult, Variable

FORMATS = [("csv", "⬇️ CSV", "text/csv"),
           ("xlsx", "⬇️ Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           ("json", "⬇️ JSON", "application/json")]


def render(manager: JobManager, view: Any, user: str) -> None:
    try:
        model = workbench_model(manager, view, user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    if not model.documents:
        st.info("No document finished, so there are no results to show.")
        return
    st.subheader("Results")
    st.caption(ui.plain(wb.results_summary(model.documents, model.cells, view.usage)))  # one line: fits a laptop
    workbench(manager, view.id, user, model)
    for file, error in ui.failed_documents(model.documents):
        st.warning(f"**{ui.plain(file)}** could not be read: {ui.plain(error)}")
    downloads(manager, view.id, user)


_MODELS: OrderedDict[tuple[Any, ...], wb.WorkbenchModel] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 8


def workbench_model(manager: JobManager, view: Any, user: str) -> wb.WorkbenchModel:
    """The job's results and everything the workbench derives from them, computed once per version: a
    review step then only narrows and walks them (1,000 answers: bench/review.py). The key holds what
    changes the results (documents finished, the reviews' version), so a decision, an undo or a re-run
    is seen at the next rerun; the owner check runs on every call."""
    version = manager.services.book.reviews_version(view.id)
    key = (view.id, user, view.documents_done, view.finished_at, version)
    with _MODELS_LOCK:
        cached = _MODELS.get(key)
        if cached is not None:
            _MODELS.move_to_end(key)
    if cached is not None:
        manager.get_job_status(view.id, owner=user)  # still this user's job
        return cached
    documents = manager.get_results(view.id, owner=user)
    variables = manager.get_variables(view.id, owner=user)
    exact = [(d.doc_id, d.variable) for d in exact_accept_decisions(documents, variables)]
    model = wb.workbench_model(documents, variables, exact)
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    return model


# --------------------------------------------------------------------------- the workbench

def workbench(manager: JobManager, job_id: str, user: str, model: wb.WorkbenchModel) -> None:
    """The table and the selected answer's evidence side by side; the selection lives in the URL
    (`?doc=&var=`), so a reload or a shared link opens the same answer."""
    documents, variables, cells = model.documents, model.variables, model.cells
    table_side, evidence_side = st.columns([3, 2], gap="small")
    with table_side:
        chosen, order = review_filters(job_id, documents, variables, cells)
    frame, doc_ids = wb.narrow_table(model, chosen.doc_id, chosen.variable)
    names = [c for c in frame.columns if c != "document"]
    queue = wb.review_queue(cells, chosen, order)
    selected = wb.selection_from_url(st.query_params, doc_ids, names)
    if selected is None:  # the first answer to review, else the table's first answer
        first = next((c for c in queue if c.flagged), None) or next(
            (c for c in cells if c.doc_id in doc_ids and c.variable in names), None)
        selected = (first.doc_id, first.variable) if first else None
    with table_side:
        progress, step = st.columns([4, 1], vertical_alignment="center")
        progress.markdown("**Next to review:** " + ui.plain(wb.queue_progress(queue)), help=ui.plain(
            "Flagged answers (needs review, error) of the filter above, walked in the chosen order; each "
            "decision opens the next one."))
        upcoming = wb.next_in_queue([c for c in queue if c.flagged], selected)
        step.button("Next ▶", key=f"queue_next_{job_id}", width="stretch", disabled=upcoming is None,
                    on_click=select_answer, args=(upcoming.doc_id, upcoming.variable) if upcoming else ("", ""))
        st.caption("Legend: " + ui.plain(wb.legend_text()), help=ui.plain(" · ".join(
            f"{wb.state_label(s)}: {wb.STATE_MEANINGS[s]}" for s in wb.STATES)))  # above the table: its toolbar
        results_table(job_id, frame, doc_ids, names, variables, selected)     # never covers a button
        bulk_actions(manager, job_id, user, documents, variables, cells, chosen)
    with evidence_side, st.container(border=True, key="evidence_panel"):  # .st-key-evidence_panel in the page
        if selected is None:
            st.info("Select a cell of the table to see its evidence here.")
        else:
            evidence_panel(manager, job_id, user, documents, variables, selected, queue)


def review_filters(job_id: str, documents: list[DocumentResult], variables: list[Variable],
                   cells: list[wb.ReviewCell]) -> tuple[wb.ReviewFilter, str]:
    """Status, document and variable filters with their counts, and the queue's order."""
    counts = wb.state_counts(cells)
    # the labels stay the same as the counts change (a widget whose option labels change loses its value)
    states = st.multiselect("Status", list(wb.STATES), default=sorted(wb.FLAGGED_STATES), key=f"filter_states_{job_id}",
                            format_func=wb.state_label,
                            help="Which answers the queue walks through (none chosen: every answer)")
    st.caption(ui.plain(" · ".join(f"{wb.state_label(s)}: {counts.get(s, 0)}" for s in wb.STATES)))
    f2, f3, f4 = st.columns([2, 2, 2])
    docs = {d.doc_id: d.file for d in documents if d.status == "ok"}
    doc = f2.selectbox("Document", [None, *docs], key=f"filter_doc_{job_id}",
                       format_func=lambda d: "every document" if d is None else docs[d])
    labels = {v.name: wb.column_label(v.name) for v in variables}
    var = f3.selectbox("Variable", [None, *labels], key=f"filter_var_{job_id}",
                       format_func=lambda n: "every variable" if n is None else labels[n])
    order = f4.radio("Order", [wb.ORDER_BY_DOCUMENT, wb.ORDER_BY_VARIABLE], key=f"queue_order_{job_id}",
                     horizontal=True, format_func=lambda o: "by document" if o == wb.ORDER_BY_DOCUMENT else
                     "by variable", help="The order 'Next to review' walks in")
    return wb.ReviewFilter(states=frozenset(states), doc_id=doc, variable=var), order


def select_answer(doc_id: str, variable: str) -> None:
    """Put an answer in the URL: the page opens it, a reload keeps it, a copied link shares it."""
    st.query_params["doc"] = doc_id
    st.query_params["var"] = variable


def _on_cell(key: str, doc_ids: list[str], names: list[str]) -> None:
    event = st.session_state.get(key) or {}
    cells = (event.get("selection") or {}).get("cells") or []
    chosen = wb.selection_from_cell(tuple(cells[0]) if cells else None, doc_ids, names)
    if chosen:
        select_answer(*chosen)


def results_table(job_id: str, frame: Any, doc_ids: list[str], names: list[str], variables: list[Variable],
                  selected: tuple[str, str] | None) -> None:
    """The results with single-cell selection; the document column pinned, readable headers with the
    question on hover."""
    key = f"results_{job_id}"
    position = (doc_ids.index(selected[0]), selected[1]) if selected and selected[0] in doc_ids else None
    event = st.session_state.get(key) or {}
    shown_cells = [tuple(c) for c in ((event.get("selection") or {}).get("cells") or [])]
    if position is not None and shown_cells != [position]:  # the URL (a reload, Next, a link) wins
        st.session_state[key] = {"selection": {"rows": [], "columns": [], "cells": [list(position)]}}
    questions = {v.name: v.question for v in variables}
    config: dict[str, Any] = {"document": st.column_config.TextColumn("Document", pinned=True, width="medium")}
    for name in names:
        config[name] = st.column_config.TextColumn(wb.column_label(name), help=ui.plain(questions.get(name, "")),
                                                   width="small")  # ~6 variables beside the evidence at 1440 px
    st.dataframe(frame, hide_index=True, width="stretch", key=key,
                 column_config=config, on_select=partial(_on_cell, key, doc_ids, names),
                 selection_mode="single-cell", height=min(38 + 35 * len(frame), 420))


def downloads(manager: JobManager, job_id: str, user: str) -> None:
    columns = st.columns(len(FORMATS) + 3)
    for column, (fmt, label, mime) in zip(columns, FORMATS):
        # made when clicked, not on every rerun: a review step does not rebuild three exports
        data = partial(manager.get_export, job_id, fmt, owner=user)
        column.download_button(label, data, f"policy-reader-{job_id}.{fmt}", mime, key=f"dl_{fmt}_{job_id}",
                               on_click="ignore", width="stretch")


_PAGES: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()  # drawn pages, newest last
_DRAWING: dict[tuple[Any, ...], Future[bytes]] = {}
_PAGES_LOCK = threading.Lock()
_PAGES_KEPT = 64
_PREFETCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-prefetch")


def page_png(path: str, mtime: float, page: int, quote: str, span: tuple[tuple[int, int, int], ...] = ()) -> bytes:
    """Drawn by a reader process (policy_reader/reading/sandbox.py): the app never parses an uploaded PDF. The
    aligned `span` (grounding.py) is highlighted; the quote is the fallback. Kept (64 pages, process-wide),
    and a page already being drawn for the review queue (prefetch_page) is waited for, not drawn twice."""
    key = (path, mtime, page, quote, span)
    with _PAGES_LOCK:
        if key in _PAGES:
            _PAGES.move_to_end(key)
            return _PAGES[key]
        pending = _DRAWING.get(key)
    if pending is not None:
        return pending.result()
    return _draw(key)


def _draw(key: tuple[Any, ...]) -> bytes:
    from policy_reader.reading import sandbox
    from policy_reader.config import startup_settings

    path, _mtime, page, quote, span = key
    try:
        data = sandbox.render_page_png(Path(path), page, startup_settings(), highlight=quote or None, span=span)
    finally:
        with _PAGES_LOCK:
            _DRAWING.pop(key, None)
    with _PAGES_LOCK:
        _PAGES[key] = data
        while len(_PAGES) > _PAGES_KEPT:
            _PAGES.popitem(last=False)
    return data


def prefetch_page(manager: JobManager, job_id: str, user: str, doc: DocumentResult, answer: Any) -> None:
    """Draw the next answer's page in the background (one at a time) while the analyst reads this one, so
    the next review step shows it at once. Never raises: the step itself draws it if this fails."""
    if answer is None or not answer.page or (doc.pages and not 1 <= answer.page <= doc.pages):
        return
    try:
        path = manager.input_path(job_id, doc.doc_id, owner=user)
        key = (str(path), path.stat().st_mtime, int(answer.page), answer.evidence or "",
               tuple((s.page, s.start, s.end) for s in answer.span))
    except (OSError, PolicyReaderError):
        return
    with _PAGES_LOCK:
        if key in _PAGES or key in _DRAWING:
            return
        _DRAWING[key] = _PREFETCH.submit(_draw, key)


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


# --------------------------------------------------------------------------- the evidence panel

def evidence_panel(manager: JobManager, job_id: str, user: str, documents: list[DocumentResult],
                   variables: list[Variable], selected: tuple[str, str], queue: list[wb.ReviewCell]) -> None:
    """One answer: value, status with the reason, confidence, how the quote was found, the decision
    buttons, the page with the quote highlighted, the rival passages, the correction history."""
    doc = next(d for d in documents if d.doc_id == selected[0])
    variable = next(v for v in variables if v.name == selected[1])
    answer = ui.answers_by_name(doc).get(variable.name)
    message = st.session_state.pop(f"panel_msg_{job_id}", None)
    if message:
        say(*message)
    st.markdown(f"**{ui.plain(doc.file)}** · {ui.plain(wb.column_label(variable.name))}")
    st.caption(ui.plain(variable.question))
    if answer is None:
        st.info("This variable has no answer for this document.")
        return
    current = (doc.doc_id, variable.name)
    skipped = st.session_state.setdefault(f"skipped_{job_id}", set())
    upcoming = wb.next_in_queue(queue, current, skipped)
    st.markdown("#### " + ui.plain(wb.cell_text(answer)))
    st.markdown(ui.plain(wb.state_reason(answer)))
    page = f" · page {answer.page}" + (" (OCR)" if answer.from_ocr else "") if answer.page else ""
    st.caption(ui.plain(f"confidence {answer.confidence:.2f} · {wb.match_text(answer)}{page}"))
    decision_buttons(manager, job_id, user, doc, variable, answer, upcoming)
    evidence_quote(answer, missing="No evidence quote.")
    evidence_image(manager, job_id, user, doc, answer)
    correction_form(manager, job_id, user, doc, variable, answer, upcoming)
    if upcoming is not None:
        following = next(d for d in documents if d.doc_id == upcoming.doc_id)
        prefetch_page(manager, job_id, user, following, ui.answers_by_name(following).get(upcoming.variable))
    rivals = wb.rival_passages(answer)
    if rivals:
        with st.expander(f"Other passages ({len(rivals)})"):
            for line in rivals:
                st.markdown("- " + ui.plain(line))
    correction_history(answer)
    rerun_controls(manager, job_id, user, doc, variable)


def decision_buttons(manager: JobManager, job_id: str, user: str, doc: DocumentResult, variable: Variable,
                     answer: Any, upcoming: wb.ReviewCell | None) -> None:
    """One action per answer: right, not stated in the document, skip (or correct to…, below the page);
    each opens the next answer of the queue."""
    key = f"{job_id}_{doc.doc_id}_{variable.name}"
    after = (upcoming.doc_id, upcoming.variable) if upcoming else None
    right, absent, skip = st.columns(3)
    common = (manager, job_id, user, doc.doc_id, doc.file, variable.name)
    right.button("✔ Right", key=f"right_{key}", width="stretch", on_click=_decide,
                 args=(*common, answer.value, "", after), help="The value is what the document says")
    absent.button("∅ Not stated", key=f"absent_{key}", width="stretch", on_click=_decide,
                  args=(*common, None, "", after), help="The document does not say")
    skip.button("⏭ Skip", key=f"skip_{key}", width="stretch", on_click=_skip, args=(job_id, doc.doc_id,
                                                                                     variable.name, after),
                disabled=after is None, help="Decide later: skipped answers come back at the end of the queue")


def correction_form(manager: JobManager, job_id: str, user: str, doc: DocumentResult, variable: Variable,
                    answer: Any, upcoming: wb.ReviewCell | None) -> None:
    """Correct to…: the value typed like the engine's answers (refused with the reason), with a note."""
    key = f"{job_id}_{doc.doc_id}_{variable.name}"
    after = (upcoming.doc_id, upcoming.variable) if upcoming else None
    common = (manager, job_id, user, doc.doc_id, doc.file, variable.name)
    options = f" — one of: {', '.join(variable.options)}" if variable.options else ""
    with st.form(key=f"review_{key}", border=False, enter_to_submit=True):
        value_col, note_col = st.columns([3, 2])
        value_col.text_input("Correct to…", value=ui.display_value(answer.value), key=f"value_{key}",
                             help=ui.plain(f"Type: {ui.status_value(variable.type)}{options}"))
        note_col.text_input("Note (optional)", key=f"note_{key}", placeholder="why", max_chars=500,
                            help="Kept with the correction, in the JSON and the Excel Evidence sheet")
        st.form_submit_button("💾 Save correction", width="stretch", on_click=_correct, args=(*common, key, after))


def _panel_message(job_id: str, kind: str, text: str) -> None:
    st.session_state[f"panel_msg_{job_id}"] = (kind, text)


def record_review(manager: JobManager, job_id: str, doc_id: str, variable: str, value: Any, user: str,
                  note: str = "") -> Any:
    """One analyst decision through the manager, which types the value (refused with the reason, nothing
    saved) and keeps who, when and the note. Returns the review as stored: what the message says."""
    return manager.save_review(job_id, doc_id, variable, value=value, reviewed=True, note=note, owner=user)


def _decide(manager: JobManager, job_id: str, user: str, doc_id: str, file: str, variable: str, value: Any,
            note: str, after: tuple[str, str] | None) -> None:
    try:
        stored = record_review(manager, job_id, doc_id, variable, value, user, note)
    except PolicyReaderError as exc:
        _panel_message(job_id, "error", exc.message)  # says why, and that nothing was stored
        return
    kept = ui.display_value(stored.value) if stored.value is not None else "not stated in the document"
    _panel_message(job_id, "success", f"Saved: {file} · {wb.column_label(variable)} = {kept}"
                                      f"{' (corrected)' if stored.changed else ' (confirmed)'}.")
    select_answer(*(after or (doc_id, variable)))


def _correct(manager: JobManager, job_id: str, user: str, doc_id: str, file: str, variable: str, key: str,
             after: tuple[str, str] | None) -> None:
    raw = str(st.session_state.get(f"value_{key}") or "").strip()
    note = str(st.session_state.get(f"note_{key}") or "").strip()
    _decide(manager, job_id, user, doc_id, file, variable, raw or None, note, after)


def _skip(job_id: str, doc_id: str, variable: str, after: tuple[str, str] | None) -> None:
    st.session_state.setdefault(f"skipped_{job_id}", set()).add((doc_id, variable))
    if after:
        select_answer(*after)


def correction_history(answer: Any) -> None:
    """The analyst's decision on this answer: the engine's value, the stored one, who, when, the note."""
    if answer.review is None:
        return
    st.markdown("**Correction history**")
    st.caption(ui.plain(wb.history_line(answer.review)))


def rerun_controls(manager: JobManager, job_id: str, user: str, doc: DocumentResult, variable: Variable) -> None:
    """Re-run this document (e.g. once its password is known), or this variable across the job (e.g. with
    another allowed model): answers that did not change come from the cache; corrections are kept unless
    the analyst says otherwise (JobManager.rerun)."""
    with st.expander("Re-run"):
        models = [""] + providers.resolve(manager.settings).model_names(manager.settings)
        left, right = st.columns(2)
        model = left.selectbox("Model", models, key=f"rerun_model_{job_id}",
                               format_func=lambda m: m or "the job's model")
        password = right.text_input("Password for encrypted PDFs", type="password", key=f"rerun_password_{job_id}",
                                    help="Kept in memory only, never stored.")
        keep = st.checkbox("Keep the corrections already made", value=True, key=f"rerun_keep_{job_id}")
        a, b = st.columns(2)
        options = {"model": model or None, "password": password or None, "keep_corrections": keep}
        if a.button("🔁 Re-run " + ui.plain(doc.file[:40]), key=f"rerun_doc_{job_id}", width="stretch"):
            _rerun(manager, job_id, user, doc_ids=[doc.doc_id], **options)
        if b.button("🔁 Re-run " + ui.plain(wb.column_label(variable.name)[:30]) + " in every document",
                    key=f"rerun_var_{job_id}", width="stretch"):
            _rerun(manager, job_id, user, variables=[variable.name], **options)


def _rerun(manager: JobManager, job_id: str, user: str, **request: Any) -> None:
    try:
        manager.rerun(job_id, owner=user, **request)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    st.rerun()  # the job page shows its progress, then the results again


# --------------------------------------------------------------------------- bulk decisions

def bulk_actions(manager: JobManager, job_id: str, user: str, documents: list[DocumentResult],
                 variables: list[Variable], cells: list[wb.ReviewCell], chosen: wb.ReviewFilter) -> None:
    """Accept the flagged answers whose quote is exact and states the value (of a variable or a document),
    or mark a document reviewed; each says how many answers changed and can be undone. What each
    action takes is the engine's selector (result_book), the same the counts show."""
    undo = st.session_state.get(f"bulk_undo_{job_id}")
    with st.expander("Bulk decisions", expanded=bool(undo) or st.session_state.get(f"bulk_used_{job_id}", False)):
        by_var = {v.name: sum(1 for c in cells if c.exact and c.variable == v.name) for v in variables}
        a, b = st.columns([3, 2], vertical_alignment="bottom")
        var = a.selectbox("Variable", list(by_var), key=f"bulk_var_{job_id}", index=_index(by_var, chosen.variable),
                          format_func=wb.column_label)  # stable labels: a selectbox keeps its choice
        b.button(f"✔ Accept {by_var.get(var, 0)} exact quotes", key=f"bulk_accept_var_{job_id}", width="stretch", on_click=_bulk,
                 disabled=not by_var.get(var), args=(manager, job_id, user, "accepted",
                                                     exact_accept_decisions(documents, variables, variable=var)),
                 help="Accept every flagged answer of this variable whose quote is in the document exactly as "
                      "written and states the value (answers with a disagreeing passage stay flagged)")
        docs = {d.doc_id: d.file for d in documents if d.status == "ok"}
        if not docs:
            return
        by_doc = {i: sum(1 for c in cells if c.exact and c.doc_id == i) for i in docs}
        c, d, e = st.columns([3, 2, 2], vertical_alignment="bottom")
        doc = c.selectbox("Document", list(docs), key=f"bulk_doc_{job_id}", index=_index(docs, chosen.doc_id),
                          format_func=lambda i: docs[i])
        d.button(f"✔ Accept {by_doc.get(doc, 0)} exact quotes", key=f"bulk_accept_doc_{job_id}", width="stretch", on_click=_bulk,
                 disabled=not by_doc.get(doc), args=(manager, job_id, user, "accepted",
                                                     exact_accept_decisions(documents, variables, doc_id=doc)))
        e.button("☑ Mark reviewed", key=f"bulk_reviewed_doc_{job_id}", width="stretch", on_click=_bulk,
                 args=(manager, job_id, user, "marked reviewed", document_reviewed_decisions(documents, doc)),
                 help="Every answer of this document not reviewed yet is checked as it stands")
        if undo:
            st.info(ui.plain(undo["text"]))
            st.button(f"↶ Undo ({undo['changed']} answers)", key=f"bulk_undo_btn_{job_id}", on_click=_undo,
                      args=(manager, job_id, user))


def _index(options: dict[str, Any], value: str | None) -> int:
    keys = list(options)
    return keys.index(value) if value in keys else 0


def _bulk(manager: JobManager, job_id: str, user: str, what: str, decisions: list[Any]) -> None:
    try:
        batch = manager.save_reviews(job_id, decisions, owner=user)
    except PolicyReaderError as exc:
        _panel_message(job_id, "error", f"Nothing changed: {exc.message}")
        return
    text = f"{batch.count} answer{'s' if batch.count != 1 else ''} {what}."
    st.session_state[f"bulk_used_{job_id}"] = True
    st.session_state[f"bulk_undo_{job_id}"] = {"action": batch.action_id, "changed": batch.count, "text": text}


def _undo(manager: JobManager, job_id: str, user: str) -> None:
    undo = st.session_state.pop(f"bulk_undo_{job_id}", None)
    if not undo:
        return
    try:
        batch = manager.undo_reviews(job_id, undo["action"], owner=user)
    except PolicyReaderError as exc:
        _panel_message(job_id, "error", f"Not undone: {exc.message}")
        return
    _panel_message(job_id, "success", f"Undone: {batch.count} answer{'s' if batch.count != 1 else ''} "
                                      "are back as they were.")
