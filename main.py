"""Policy Reader — the Streamlit dashboard analysts work in.

A thin layer of widgets over `JobManager`: it starts jobs, shows their live progress, history,
results and reviews. It never does the work itself and never calls Streamlit from a worker
thread; every number it shows is read back through `JobManager`. What the page computes
(tables, labels, ETA text, upload screening) lives in `policy_reader/ui.py`, where it is tested.

Run with `make run` (or `streamlit run main.py`). With no API key it uses the offline extractor,
so "Try it with the samples" works out of the box.
"""
from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
SAMPLES_DIR = APP_DIR / "samples"  # relative to this file, not the working directory
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from job_manager import JobManager, JobOptions, current_user  # noqa: E402
from policy_reader import ui  # noqa: E402
from policy_reader.config import Settings, get_settings, scrub, startup_settings  # noqa: E402
from policy_reader.errors import JobNotFound, PolicyReaderError, VariablesError  # noqa: E402
from policy_reader.models import DocumentResult, Variable  # noqa: E402
from policy_reader.variables import (  # noqa: E402
    coerce_value,
    load_variables,
    parse_variables,
    variables_to_csv,
    variables_to_xlsx,
)

NAV_RUN, NAV_HISTORY, NAV_ADMIN = "🏠 Run", "📂 My jobs", "📊 Admin"
log = logging.getLogger("policy_reader.app")
TEMPLATE_TYPES = ["csv", "xlsx", "json"]


# --------------------------------------------------------------------------- set-up

def copy_secrets_to_env() -> None:
    """Streamlit secrets -> os.environ (keys not already set), so config.py needs no Streamlit.

    Must run before get_settings() is first called. A missing secrets.toml is normal (local
    runs, App Service settings) and is ignored.
    """
    try:
        items = {key: st.secrets[key] for key in st.secrets.keys()}
    except Exception:  # no secrets file, or an unreadable one: the environment alone is used
        return
    for key, value in items.items():
        if isinstance(value, (str, int, float, bool)) and key not in os.environ:
            os.environ[key] = str(value)


def app_settings() -> Settings:
    copy_secrets_to_env()
    settings = startup_settings()  # never raises: a bad setting comes back as settings.startup_problem
    if settings.startup_problem:  # the app still comes up, says why, and creates no job (issue 15)
        st.error(f"Policy Reader cannot start jobs: {settings.startup_problem}")
    return settings


def _release_manager(manager: JobManager) -> None:
    manager.shutdown(wait=False)


@st.cache_resource(show_spinner=False, on_release=_release_manager)
def job_manager_for(jobs_dir: str) -> JobManager:
    """One JobManager per process (per jobs folder). It resumes interrupted jobs as it starts."""
    return JobManager(startup_settings())  # start=True: workers start and interrupted jobs resume


def get_manager() -> JobManager:
    return job_manager_for(str(startup_settings().jobs_dir.resolve()))


def signed_in_user() -> str:
    """The Easy Auth user on App Service, else 'local'."""
    try:
        headers = {str(k): str(v) for k, v in dict(st.context.headers).items()}
    except Exception:  # no browser session (tests, scripts)
        headers = {}
    return current_user(headers)


def flash(kind: str, text: str) -> None:
    """Queue a message that must survive the rerun that follows an action."""
    st.session_state.setdefault("flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("flash", []):
        getattr(st, kind, st.info)(text)


def show_error(exc: BaseException) -> None:
    """Every failure reaches the analyst as one clear sentence, never a traceback."""
    if isinstance(exc, PolicyReaderError):
        st.error(exc.message)
    else:
        try:
            log.error("unexpected error in the app: %s", scrub(traceback.format_exc(), get_settings()))
        except PolicyReaderError:
            pass
        st.error(f"Something went wrong ({type(exc).__name__}). The details are in the server log.")


def guarded(render: Callable[..., None], *args: Any) -> None:
    """Render one page section so that an unexpected error is a message, not a crashed page.
    (st.rerun / st.stop raise BaseException subclasses and pass through.)"""
    try:
        render(*args)
    except Exception as exc:  # noqa: BLE001 - the boundary that reports everything to the user
        show_error(exc)


def open_job(job_id: str) -> None:
    """Callback: show a job on the Run page (and in the URL, so it can be bookmarked)."""
    st.query_params["job"] = job_id
    st.session_state["nav"] = NAV_RUN


def new_job() -> None:
    st.query_params.pop("job", None)
    st.session_state["nav"] = NAV_RUN


# --------------------------------------------------------------------------- sidebar

def sidebar(settings: Settings, user: str) -> str:
    summary = settings.summary()  # never contains a key, only whether one is set
    with st.sidebar:
        st.title("📑 Policy Reader")
        page = st.radio("Navigate", [NAV_RUN, NAV_HISTORY, NAV_ADMIN], key="nav", label_visibility="collapsed")
        st.divider()
        backend = summary.get("backend", "offline")
        st.markdown(f"**Backend:** {ui.backend_label(summary)}")
        if backend == "offline":
            st.caption("No API key is set: answers come from the built-in offline extractor "
                       "(keyword and pattern rules). Set OPENAI_API_KEY or Azure OpenAI for model answers.")
        with st.expander("Configuration"):
            for key, value in summary.items():
                st.caption(f"**{key}:** {value}")
        st.caption(f"Signed in as **{user}**")
    return page


# --------------------------------------------------------------------------- start page

def _initial_variables() -> list[Variable]:
    try:
        return load_variables(SAMPLES_DIR / "variables.csv", "variables.csv")
    except (PolicyReaderError, OSError):
        return [Variable(name="year_adopted", question="In which year was the policy adopted?", type="year")]


def _variables_state() -> None:
    if "vars_df" not in st.session_state:
        st.session_state["vars_df"] = ui.variables_frame(_initial_variables())
        st.session_state["vars_version"] = 0


def _load_template(upload: Any) -> None:
    """Load an uploaded template once per file (re-loading on every rerun would undo edits)."""
    marker = f"{upload.file_id}:{upload.name}"
    if st.session_state.get("template_marker") == marker:
        error = st.session_state.get("template_error")
        if error:
            st.error(error)
        return
    st.session_state["template_marker"] = marker
    try:
        variables = load_variables(upload.getvalue(), upload.name)
    except VariablesError as exc:
        st.session_state["template_error"] = exc.message
        st.error(exc.message)
        return
    st.session_state["template_error"] = None
    st.session_state["vars_df"] = ui.variables_frame(variables)
    st.session_state["vars_version"] += 1
    st.toast(f"Loaded {len(variables)} variables from {upload.name}", icon="📋")


def variables_editor() -> list[Variable] | None:
    """The variables table; returns the parsed variables, or None (error shown) when invalid."""
    _variables_state()
    upload = st.file_uploader("Load a template (CSV, Excel or JSON)", type=TEMPLATE_TYPES, key="template_upload",
                              help="Columns: name, question, type, options, always_review, instructions.")
    if upload is not None:
        _load_template(upload)
    edited = st.data_editor(
        st.session_state["vars_df"],
        key=f"vars_editor_{st.session_state['vars_version']}",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn("Name", help="Short identifier, e.g. year_adopted", required=True),
            "question": st.column_config.TextColumn("Question", width="large",
                                                    help="The question the reader answers for every document"),
            "type": st.column_config.SelectboxColumn("Type", options=ui.VARIABLE_TYPES, default="text",
                                                     required=True),
            "options": st.column_config.TextColumn("Options", help="For category / list: choices separated by ';'"),
            "always_review": st.column_config.CheckboxColumn("Always review", default=False,
                                                             help="Flag every answer for a human check"),
            "instructions": st.column_config.TextColumn("Instructions", help="Optional hints for the reader"),
        },
    )
    try:
        variables = parse_variables(ui.editor_rows(edited), first_row=1, row_label="Row")
    except VariablesError as exc:
        st.error(exc.message)
        return None
    left, right, _ = st.columns([1, 1, 4])
    left.download_button("⬇️ Save as CSV", variables_to_csv(variables), "variables.csv", "text/csv",
                         key="tpl_csv", on_click="ignore")
    right.download_button("⬇️ Save as Excel", variables_to_xlsx(variables), "variables.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          key="tpl_xlsx", on_click="ignore")
    return variables


def job_options_form(settings: Settings) -> tuple[str, str, JobOptions]:
    """Name, recipients and model settings of the next job."""
    left, right = st.columns(2)
    name = left.text_input("Job name", value=ui.default_job_name(), key="job_name")
    recipients = right.text_area("Email results to", key="recipients", height=68,
                                 placeholder="analyst@example.org, lead@example.org",
                                 help="Optional. CSV and Excel are emailed when the job ends.")
    with st.expander("Options: model, thresholds, OCR, password"):
        c1, c2, c3 = st.columns(3)
        backends = [settings.resolved_backend] + ([] if settings.resolved_backend == "offline" else ["offline"])
        backend = c1.selectbox("Backend", backends, key="opt_backend",
                               help="The configured backend, or the offline extractor")
        model = c2.text_input("Model", value=settings.model_name, key="opt_model",
                              disabled=backend == "offline", help="Model (OpenAI) or deployment (Azure)")
        threshold = c3.slider("Auto-accept at confidence", 0.0, 1.0, float(settings.accept_threshold), 0.05,
                              key="opt_threshold", help="Answers below this are marked for review")
        c4, c5 = st.columns(2)
        ocr = c4.toggle("OCR scanned pages", value=settings.ocr_enabled, key="opt_ocr")
        password = c5.text_input("Password for encrypted PDFs", type="password", key="opt_password",
                                 help="Used to open protected PDFs of this job; kept in memory only, never stored.")
    options = JobOptions(backend=backend, model=None if backend == "offline" or model == settings.model_name else model,
                         accept_threshold=threshold, ocr=ocr, password=password or None)
    return name, recipients, options


def _validated_recipients(text: str) -> list[str]:
    addresses = ui.parse_recipients_text(text)
    if not addresses:
        return []
    from policy_reader.emailer import validate_recipients
    return validate_recipients(addresses)


def submit_job(manager: JobManager, user: str, **kwargs: Any) -> None:
    """Start a job at once and put its id in the URL, so refresh / bookmark / second tab reopen it."""
    job_id = manager.submit(owner=user, **kwargs)
    st.query_params["job"] = job_id
    st.rerun()


def samples_card(manager: JobManager, user: str) -> None:
    pdfs = sorted(SAMPLES_DIR.glob("*.pdf"))
    if not pdfs:
        return
    with st.container(border=True):
        text, button = st.columns([4, 1], vertical_alignment="center")
        text.markdown(f"**New here?** Run the {len(pdfs)} bundled sample policies with the sample variables "
                      "and see a full job — progress, results, evidence — in about a minute. No key needed.")
        if button.button("▶️ Try it with the samples", key="run_samples", type="primary", width="stretch",
                         disabled=bool(manager.settings.startup_problem)):
            try:
                variables = load_variables(SAMPLES_DIR / "variables.csv", "variables.csv")
                submit_job(manager, user, name="Sample policies", files=[(p.name, p) for p in pdfs],
                           variables=variables)
            except PolicyReaderError as exc:
                show_error(exc)


def start_page(manager: JobManager, settings: Settings, user: str) -> None:
    st.title("📑 Policy Reader")
    st.caption("Turn a pile of policy PDFs into a clean, sourced table of answers.")
    samples_card(manager, user)

    st.subheader("1 · Documents")
    uploads = st.file_uploader("Policy PDFs", type=["pdf"], accept_multiple_files=True, key="pdf_upload",
                               help=f"Drag and drop any number of PDFs (up to {settings.max_file_mb:g} MB each). "
                                    "Scanned pages are read with OCR.")
    st.subheader("2 · Variables")
    st.caption("One row per thing to find in every document. Load a template or edit the table.")
    variables = variables_editor()
    st.subheader("3 · Run")
    name, recipients_text, options = job_options_form(settings)

    if st.button("🚀 Run", type="primary", key="run_job", disabled=not uploads or bool(settings.startup_problem)):
        files = [(f.name, f.getvalue()) for f in uploads or []]
        accepted, problems = ui.screen_uploads(files, settings.max_file_mb)
        for problem in problems:
            st.warning(problem)
        if not accepted:
            st.error("None of the uploaded files is a readable PDF: add at least one PDF.")
            return
        if variables is None:
            st.error("Fix the variables table above first.")
            return
        try:
            recipients = _validated_recipients(recipients_text)
            for problem in problems:
                flash("warning", problem)
            submit_job(manager, user, name=name or ui.default_job_name(), files=accepted, variables=variables,
                       recipients=recipients, options=options)
        except PolicyReaderError as exc:
            st.session_state.pop("flash", None)
            show_error(exc)
    if not uploads:
        st.caption("Add PDFs above to run a job.")


# --------------------------------------------------------------------------- job page

@st.fragment(run_every=2)
def live_progress(job_id: str, owner: str) -> None:
    """Refreshes itself every 2 s (not the whole page); one full rerun when the job ends."""
    guarded(_live_progress_body, job_id, owner)


def _live_progress_body(job_id: str, owner: str) -> None:
    manager = get_manager()
    try:
        view = manager.get_job_status(job_id, owner=owner)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    if not ui.is_active(view.status):
        st.rerun()  # the full page now shows the final message and the results
    status_line(view)  # inside the fragment: "Queued" turns into "Running" without a page rerun
    message = ui.queue_message(view)
    if message:
        st.info(message, icon="⏳")
    st.progress(ui.progress_fraction(view.documents_done, view.documents_total), text=ui.overall_label(view))
    for item in view.in_flight or []:
        done, total = ui._get(item, "variables_done", 0), ui._get(item, "variables_total", 0)
        st.progress(ui.progress_fraction(done, total), text=ui.in_flight_label(item))
    elapsed = ui.elapsed_seconds(view.started_at)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Elapsed", ui.format_duration(elapsed) or "—")
    c2.metric("Remaining", ui.eta_text(view.eta_s, view.status) or "—")
    c3.metric("Tokens", f"{ui.total_tokens(view.usage):,}")
    c4.metric("Cost so far", ui.format_cost(view.usage.cost_usd if view.usage else 0))
    try:
        lines = ui.event_lines(manager.read_events(job_id, limit=12, owner=owner))
    except PolicyReaderError:
        lines = []
    if lines:
        st.code("\n".join(lines), language=None, wrap_lines=True)
    if st.button("⏹️ Cancel job", key=f"cancel_{job_id}"):
        try:
            manager.cancel_job(job_id, owner=owner)
            st.toast("Cancelling… finished documents are kept.", icon="⏹️")
        except PolicyReaderError as exc:
            show_error(exc)
    st.caption("You can close this tab: the job keeps running and this link reopens it.")


def status_line(view: Any) -> None:
    st.markdown(f"{ui.status_badge(view.status)} · created {ui.format_time(view.created_at)} · "
                f"{view.backend or ''} {('· ' + view.model) if view.model else ''} · job `{view.id}`")


def job_page(manager: JobManager, job_id: str, user: str) -> None:
    try:
        view = manager.get_job_status(job_id, owner=user)
    except JobNotFound as exc:
        st.error(exc.message)
        st.button("➕ New job", on_click=new_job, key="new_job_missing")
        return
    except PolicyReaderError as exc:
        show_error(exc)
        st.button("➕ New job", on_click=new_job, key="new_job_error")
        return
    head, action = st.columns([5, 1], vertical_alignment="bottom")
    head.title(f"📄 {view.name}")
    action.button("➕ New job", on_click=new_job, key="new_job", width="stretch")
    show_flash()
    if ui.is_active(view.status):
        live_progress(job_id, user)
        return
    status_line(view)
    kind, text = ui.final_message(view)
    getattr(st, kind)(text)
    if ui.status_value(view.status) in ui.RESUMABLE_STATUSES:
        if st.button("▶️ Resume", key=f"resume_{job_id}", help="Finished documents are kept; the rest are read"):
            try:
                manager.resume_job(job_id, owner=user)
                st.rerun()
            except PolicyReaderError as exc:
                show_error(exc)
    guarded(results_section, manager, view, user)
    guarded(email_section, manager, view, user)


def results_section(manager: JobManager, view: Any, user: str) -> None:
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
    reviews = ui.review_count(documents)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Documents read", f"{sum(d.status == 'ok' for d in documents)} / {len(documents)}")
    c2.metric("Answers to review", reviews)
    c3.metric("Tokens", f"{ui.total_tokens(view.usage):,}", help=ui.format_usage(view.usage))
    c4.metric("Cost", ui.format_cost(view.usage.cost_usd if view.usage else 0))
    st.dataframe(ui.style_results(values, mask), hide_index=True, width="stretch", key=f"results_{view.id}")
    st.caption("🟨 needs review (low confidence, unverified quote or always-review) · 🟥 document failed")
    for file, error in ui.failed_documents(documents):
        st.warning(f"**{file}** could not be read: {error}")
    downloads(manager, view.id, user)
    detail_view(manager, view.id, user, documents, variables)


def downloads(manager: JobManager, job_id: str, user: str) -> None:
    formats = [("csv", "⬇️ CSV", "text/csv"),
               ("xlsx", "⬇️ Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
               ("json", "⬇️ JSON", "application/json")]
    columns = st.columns(len(formats) + 3)
    for column, (fmt, label, mime) in zip(columns, formats):
        try:
            data = manager.get_export(job_id, fmt, owner=user)
        except PolicyReaderError as exc:
            show_error(exc)
            continue
        column.download_button(label, data, f"policy-reader-{job_id}.{fmt}", mime, key=f"dl_{fmt}_{job_id}",
                               on_click="ignore", width="stretch")


@st.cache_data(show_spinner=False, max_entries=64)
def page_png(path: str, mtime: float, page: int, quote: str) -> bytes:
    from policy_reader.page_image import render_page_png
    return render_page_png(Path(path), page, highlight=quote or None)


def detail_view(manager: JobManager, job_id: str, user: str, documents: list[DocumentResult],
                variables: list[Variable]) -> None:
    st.subheader("Check an answer")
    ok_docs = [d for d in documents if d.status == "ok"]
    if not ok_docs or not variables:
        return
    left, right = st.columns(2)
    docs_by_id = {d.doc_id: d for d in ok_docs}
    vars_by_name = {v.name: v for v in variables}
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
        st.markdown(f"**{variable.question}**")
        st.markdown(f"### {ui.display_value(answer.value) or '—'}")
        st.caption(ui.answer_status_text(answer))
        if answer.evidence:
            st.markdown(f"> {answer.evidence}")
            st.caption(f"Page {answer.page}" + (" (read by OCR)" if answer.from_ocr else ""))
        else:
            st.caption("No evidence quote.")
        review_form(manager, job_id, user, doc, variable, answer)
    with image_col:
        if answer.page:
            try:
                path = manager.input_path(job_id, doc.doc_id, owner=user)
                st.image(page_png(str(path), path.stat().st_mtime, int(answer.page), answer.evidence or ""),
                         caption=f"{doc.file} — page {answer.page}, quote highlighted", width="stretch")
            except OSError:
                st.warning("The stored PDF is no longer available, so the page cannot be shown.")
            except Exception as exc:  # noqa: BLE001 - a page that cannot be drawn must not hide the answer
                show_error(exc)


def review_form(manager: JobManager, job_id: str, user: str, doc: DocumentResult, variable: Variable,
                answer: Any) -> None:
    key = f"{job_id}_{doc.doc_id}_{variable.name}"
    with st.form(key=f"review_{key}", border=True):
        raw = st.text_input("Correct value", value=ui.display_value(answer.value), key=f"value_{key}",
                            help=f"Type: {ui.status_value(variable.type)}"
                                 + (f" — one of: {', '.join(variable.options)}" if variable.options else ""))
        save, mark = st.columns(2)
        corrected = save.form_submit_button("💾 Save correction", width="stretch")
        confirmed = mark.form_submit_button("✔️ Value is right", width="stretch")
    if not (corrected or confirmed):
        return
    if confirmed:
        value, problem = answer.value, None
    else:
        value, problem = coerce_value(variable, raw) if raw.strip() else (None, None)
    if problem:
        st.error(f"{variable.name}: {problem}")
        return
    try:
        manager.save_review(job_id, doc.doc_id, variable.name, value=value, reviewed=True, owner=user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    flash("success", f"Saved: {doc.file} · {variable.name} = {ui.display_value(value) or '(empty)'}. "
                     "Downloads and a re-sent email include it.")
    st.rerun()


def email_section(manager: JobManager, view: Any, user: str) -> None:
    email = view.email or {}
    status = ui._get(email, "status")
    if not view.recipients and not status:
        return
    st.subheader("Email")
    mode = ui._get(email, "mode")
    error = ui._get(email, "error")
    recipients = ", ".join(view.recipients or [])
    if error and status == "sent":
        st.warning(error)  # some recipients were refused; the others got it
    elif error:
        st.error(f"The email was not sent: {error}")
    if status and not (error and status != "sent"):
        where = "written to the outbox (.eml, no SMTP server configured)" if mode == "outbox" else "sent"
        st.caption(f"Email {status} — {where} · to {recipients or 'nobody'}")
    label = "🔁 Send again" if error else "📧 Re-send email (with reviews)"
    if view.recipients and st.button(label, key=f"resend_{view.id}"):
        try:
            manager.resend_email(view.id, owner=user)
            flash("success", "Email sent again." if mode != "outbox" else "A new email was written to the outbox.")
            st.rerun()
        except PolicyReaderError as exc:
            show_error(exc)
    try:
        outbox = manager.outbox_files(view.id, owner=user)
    except PolicyReaderError:
        outbox = []
    if outbox:
        latest = outbox[-1]
        try:
            st.download_button("⬇️ Download the email (.eml)", latest.read_bytes(), latest.name, "message/rfc822",
                               key=f"eml_{view.id}", on_click="ignore")
        except OSError:
            pass


# --------------------------------------------------------------------------- history and admin

def history_page(manager: JobManager, user: str) -> None:
    st.title("📂 My jobs")
    show_flash()
    try:
        jobs = manager.list_jobs(owner=user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    if not jobs:
        st.info("No jobs yet. Start one on the Run page.")
        return
    st.dataframe(ui.history_frame(jobs), hide_index=True, width="stretch",
                 column_config={"id": st.column_config.TextColumn("Job id", width="small")})
    by_id = {job.id: job for job in jobs}
    chosen = st.selectbox("Job", list(by_id), format_func=lambda jid: ui.job_option_label(by_id[jid]),
                          key="history_job")
    job = by_id[chosen]
    c1, c2, c3, c4 = st.columns(4)
    c1.button("📄 Open", key="hist_open", on_click=open_job, args=(chosen,), width="stretch")
    if ui.is_terminal(job.status) or ui.status_value(job.status) == "interrupted":
        try:
            c2.download_button("⬇️ Excel", manager.get_export(chosen, "xlsx", owner=user),
                               f"policy-reader-{chosen}.xlsx", key="hist_dl", on_click="ignore", width="stretch")
        except PolicyReaderError:
            c2.caption("No results to download.")
    if ui.status_value(job.status) in ui.RESUMABLE_STATUSES and c3.button("▶️ Resume", key="hist_resume",
                                                                         width="stretch"):
        try:
            manager.resume_job(chosen, owner=user)
            open_job(chosen)
            st.rerun()
        except PolicyReaderError as exc:
            show_error(exc)
    with c4.popover("🗑️ Delete", width="stretch"):
        st.write(f"Delete **{job.name}** and its files?")
        if st.button("Delete for good", key="hist_delete", type="primary"):
            try:
                manager.delete_job(chosen, owner=user)
                if st.query_params.get("job") == chosen:
                    st.query_params.pop("job", None)
                flash("success", f"Deleted {job.name}.")
                st.rerun()
            except PolicyReaderError as exc:
                show_error(exc)


def _bar_chart(title: str, frame: Any, empty_text: str) -> None:
    st.markdown(f"**{title}**")
    if frame.empty:
        st.caption(empty_text)
    else:
        st.bar_chart(frame)


def admin_page(manager: JobManager, settings: Settings, user: str) -> None:
    st.title("📊 Admin")
    everyone = settings.is_admin(user)
    st.caption("All users' jobs on this server." if everyone else
               "Your jobs. (Operators listed in ADMIN_USERS see every user's jobs.)")
    try:
        metrics = manager.metrics(owner=None if everyone else user)
    except PolicyReaderError as exc:
        show_error(exc)
        return
    numbers = ui.metric_numbers(metrics)
    if numbers:
        for column, (label, value) in zip(st.columns(len(numbers)), numbers.items()):
            column.metric(label, value)
    frames = ui.metrics_frames(metrics)
    left, right = st.columns(2)
    with left:
        _bar_chart("Jobs by status", frames["status"], "No jobs yet.")
    with right:
        _bar_chart("Throughput (documents per day)", frames["throughput"], "No finished documents yet.")
    daily = frames["daily"]
    st.markdown("**Tokens and cost per day**")
    token_cols = [c for c in daily.columns if "token" in str(c)]
    cost_cols = [c for c in daily.columns if "cost" in str(c)]
    if daily.empty or not float(daily[token_cols + cost_cols].fillna(0).to_numpy().sum()):
        st.caption("No model usage yet (the offline extractor costs nothing).")
    else:
        c1, c2 = st.columns(2)
        if token_cols:
            c1.bar_chart(daily[token_cols])
        if cost_cols:
            c2.bar_chart(daily[cost_cols])
    if not daily.empty:
        st.dataframe(daily.sort_index(ascending=False), width="stretch")


# --------------------------------------------------------------------------- main

def main() -> None:
    st.set_page_config(page_title="Policy Reader", page_icon="📑", layout="wide",
                       initial_sidebar_state="expanded")
    settings = app_settings()
    try:
        manager = get_manager()
    except PolicyReaderError as exc:
        show_error(exc)
        st.stop()
    user = signed_in_user()
    page = sidebar(settings, user)
    if page == NAV_HISTORY:
        guarded(history_page, manager, user)
    elif page == NAV_ADMIN:
        guarded(admin_page, manager, settings, user)
    else:
        job_id = st.query_params.get("job")
        if job_id:
            guarded(job_page, manager, job_id, user)
        else:
            show_flash()
            guarded(start_page, manager, settings, user)


main()
