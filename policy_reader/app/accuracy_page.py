"""A finished job's measured accuracy: the audit of a random sample of accepted answers, marked right or
wrong next to their highlighted evidence, and the comparison with a gold set uploaded as CSV."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from policy_reader.jobs.manager import JobManager
from policy_reader.app import view as ui
from policy_reader.app.messages import flash, show_error
from policy_reader.app.results import evidence_image, evidence_quote
from policy_reader.accuracy.audit import MARGINS
from policy_reader.errors import PolicyReaderError
from policy_reader.models import DocumentResult, Variable


def render(manager: JobManager, view: Any, user: str) -> None:
    if not ui.is_terminal(view.status):
        return
    st.subheader("Accuracy")
    # tracked tabs: the chosen one survives reruns (an upload, a mark) and only it is drawn
    audit_tab, gold_tab = st.tabs(["Audit a sample", "Compare with a gold set"], key=f"accuracy_tab_{view.id}",
                                  on_change="rerun")
    if audit_tab.open:
        with audit_tab:
            audit_section(manager, view, user)
    if gold_tab.open:
        with gold_tab:
            gold_section(manager, view, user)


def _table(frame: Any) -> None:
    """A small table of counts, readable as text (st.table renders cells as markdown: the only text in it,
    the variable names, goes through ui.plain; the rest are numbers and percentages made here)."""
    frame = frame.copy()
    frame["variable"] = frame["variable"].map(ui.plain)
    st.table(frame, hide_index=True)


# --------------------------------------------------------------------------- audit


def _margin_choice(manager: JobManager, key: str) -> float:
    default = manager.settings.audit_margin
    margins = sorted({*MARGINS, default})
    return st.selectbox("Target margin of error (95% confidence)", margins, index=margins.index(default), key=key,
                        format_func=lambda m: f"± {100 * m:g} points",
                        help="The sample size follows: n0 = 1.96² × 0.25 / margin², corrected for the number of "
                             "accepted answers. A smaller margin means more answers to check.")


def audit_section(manager: JobManager, view: Any, user: str) -> None:
    st.caption("How right are the answers the engine accepted without review? Check a random sample of them "
               "against their evidence: the share you mark right estimates the accuracy of all accepted "
               "answers, with its 95% interval. The estimate goes into the Excel Summary sheet, the JSON "
               "export and a re-sent email.")
    record = manager.get_audit(view.id, owner=user)
    if record is None:
        margin = _margin_choice(manager, f"audit_margin_{view.id}")
        if st.button("🎲 Draw the audit sample", key=f"audit_draw_{view.id}"):
            _draw(manager, view.id, user, margin, replace=False)
        return
    estimate = manager.audit_estimate(view.id, owner=user)
    st.progress(ui.progress_fraction(estimate.marked, estimate.sample_size), text=ui.plain(estimate.progress_text()))
    c1, c2, c3 = st.columns(3)
    c1.metric("Accuracy of accepted answers", ui.percent(estimate.overall.accuracy))
    c2.metric("95% interval (Wilson)", ui.interval_text(estimate.overall))
    c3.metric("Marked", f"{estimate.marked} / {estimate.sample_size}")
    st.caption(ui.plain(f"{estimate.sample_text()}. Model: {estimate.model_text()}."))
    _table(ui.accuracy_frame(estimate.variables, estimate.overall, audit=True))
    try:
        documents = {d.doc_id: d for d in manager.get_results(view.id, owner=user)}
        variables = {v.name: v for v in manager.get_variables(view.id, owner=user)}
    except PolicyReaderError as exc:
        show_error(exc)
        return
    items = list(record.items)
    marks = [record.mark_of(doc_id, name) for doc_id, name in items]
    first_open = next((i for i, mark in enumerate(marks) if mark is None), None)
    if first_open is None:
        st.success("Audit complete: every sampled answer is marked. Downloads and a re-sent email include the "
                   "estimate.")
    labels = [ui.audit_item_label(i, len(items), documents[d].file if d in documents else d, name, marks[i])
              for i, (d, name) in enumerate(items)]
    index = st.selectbox("Sampled answer", range(len(items)), format_func=lambda i: labels[i],
                         index=first_open if first_open is not None else 0, key=f"audit_pick_{view.id}_{first_open}")
    doc_id, name = items[index]
    doc, variable = documents.get(doc_id), variables.get(name)
    if doc is None or variable is None:
        st.warning("This sampled answer is no longer in the job's results.")
        return
    audit_item(manager, view.id, user, doc, variable, marks[index])
    with st.expander("Draw a new sample (discards the marks)"):
        margin = _margin_choice(manager, f"audit_remargin_{view.id}")
        if st.button("Discard the marks and draw again", key=f"audit_redraw_{view.id}"):
            _draw(manager, view.id, user, margin, replace=True)


def _draw(manager: JobManager, job_id: str, user: str, margin: float, *, replace: bool) -> None:
    try:
        record = manager.start_audit(job_id, margin=margin, replace=replace, owner=user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    flash("success", f"Drew {len(record.items)} of {record.population} accepted answers at random "
                     f"(seed {record.seed}). Mark each one right or wrong.")
    st.rerun()


def audit_item(manager: JobManager, job_id: str, user: str, doc: DocumentResult, variable: Variable,
               mark: bool | None) -> None:
    """One sampled answer: the question, the model's value and quote, the page with the quote highlighted."""
    answer = ui.answers_by_name(doc).get(variable.name)
    if answer is None:
        st.warning("This sampled answer is no longer in the job's results.")
        return
    text_col, image_col = st.columns([2, 3])
    with text_col:
        st.markdown(f"**{ui.plain(doc.file)}** · {ui.plain(variable.question)}")
        st.markdown("### " + (ui.plain(ui.display_value(ui.model_value(answer))) or "—"))
        evidence_quote(answer)
        st.caption({True: "Marked right.", False: "Marked wrong.", None: "Not marked yet."}[mark])
        right, wrong = st.columns(2)
        key = f"{job_id}_{doc.doc_id}_{variable.name}"
        if right.button("✔️ Right", key=f"audit_right_{key}", width="stretch", type="primary" if mark is None else
                        "secondary"):
            _mark(manager, job_id, user, doc.doc_id, variable.name, True)
        if wrong.button("✘ Wrong", key=f"audit_wrong_{key}", width="stretch"):
            _mark(manager, job_id, user, doc.doc_id, variable.name, False)
    with image_col:
        evidence_image(manager, job_id, user, doc, answer)


def _mark(manager: JobManager, job_id: str, user: str, doc_id: str, variable: str, correct: bool) -> None:
    try:
        manager.mark_audit(job_id, doc_id, variable, correct=correct, owner=user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    st.rerun()


# --------------------------------------------------------------------------- gold set


def gold_section(manager: JobManager, view: Any, user: str) -> None:
    st.caption("Upload the answers you know (CSV with the columns file, variable, value and optionally page; an "
               "empty value means the document does not state it). Values are compared by type: numbers and "
               "years as numbers, yes/no, lists as sets, dates, text ignoring case and spacing, categories "
               "exactly.")
    upload = st.file_uploader("Gold set (CSV)", type=["csv"], key=f"gold_upload_{view.id}")
    as_extracted = st.checkbox("Measure the model's answers before analysts' corrections",
                               key=f"gold_extracted_{view.id}")
    if upload is None:
        return
    try:  # parsed in a reader process (sandbox.load_gold), with GOLD_MAX_MB and GOLD_MAX_ROWS
        evaluation = manager.evaluate(view.id, upload.getvalue(), Path(upload.name).name or "gold.csv",
                                      as_extracted=as_extracted, owner=user)
        variables = [v.name for v in manager.get_variables(view.id, owner=user)]
    except PolicyReaderError as exc:
        show_error(exc)
        return
    overall = evaluation.overall
    c1, c2, c3 = st.columns(3)
    c1.metric("Accuracy", ui.percent(overall.accuracy), help=f"{overall.correct} of {overall.n} known answers right")
    c2.metric("95% interval (Wilson)", ui.interval_text(overall))
    c3.metric("Right value on the right page", f"{overall.page_correct} / {overall.n}")
    ordered = {n: evaluation.variables[n] for n in variables if n in evaluation.variables}
    _table(ui.accuracy_frame(ordered, overall))
    if evaluation.misses:
        st.markdown(f"**Misses ({len(evaluation.misses)})**")
        st.dataframe(ui.misses_frame(evaluation.misses), hide_index=True, width="stretch",
                     key=f"gold_misses_{view.id}")
    if evaluation.skipped:
        st.caption(ui.plain(f"{len(evaluation.skipped)} gold rows were not measured: "
                            + "; ".join(evaluation.skipped[:5]) + ("; ..." if len(evaluation.skipped) > 5 else "")))
    st.download_button("⬇️ Accuracy (JSON)", json.dumps(evaluation.to_json(), indent=1, ensure_ascii=False),
                       f"policy-reader-{view.id}-accuracy.json", "application/json", key=f"gold_json_{view.id}",
                       on_click="ignore")
