"""The start page: try the samples, or upload PDFs, set the variables and options, and run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from policy_reader.jobs.intake import screen_files
from policy_reader.jobs.manager import JobManager, JobOptions
from policy_reader.llm import providers
from policy_reader.reading import sandbox
from policy_reader.app import view as ui
from policy_reader.app.messages import say, show_error
from policy_reader.config import Settings, startup_settings
from policy_reader.errors import PolicyReaderError, VariablesError
from policy_reader.models import Variable
from policy_reader.variables import load_variables, parse_variables, variables_to_csv, variables_to_xlsx

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"  # beside main.py, not the working directory
TEMPLATE_TYPES = ["csv", "xlsx", "json"]
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(manager: JobManager, settings: Settings, user: str) -> None:
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
    name, recipients, options = job_options_form(settings)

    blocked = not uploads or variables is None or bool(settings.startup_problem)
    if st.button("🚀 Run", type="primary", key="run_job", disabled=blocked,
                 help="Fix the variables table first" if variables is None else None):
        files = [(f.name, f.getvalue()) for f in uploads or []]
        accepted, skipped = screen_files(files, settings.max_file_mb)  # the skipped stay in the job's record
        problems = [f"{f.name}: {f.reason} — skipped." for f in skipped]
        for problem in problems:
            say("warning", problem)
        if not accepted:
            say("error", "None of the uploaded files is a readable PDF: add at least one PDF.")
            return
        if variables is None:
            say("error", "Fix the variables table above first.")
            return
        try:
            submit_job(manager, user, name=name or ui.default_job_name(), files=accepted, variables=variables,
                       recipients=recipients, options=options, skipped=skipped)
        except PolicyReaderError as exc:  # recipients, model, limits: the manager says what is wrong
            st.session_state.pop("flash", None)
            show_error(exc)
    if not uploads:
        st.caption("Add PDFs above to run a job.")
    elif variables is None:
        st.caption("Run is off until the variables table above is valid.")


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


# --------------------------------------------------------------------------- variables

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
            say("error", error)
        return
    st.session_state["template_marker"] = marker
    try:  # parsed by a reader process, with the template limits: a hostile workbook cannot stall the app
        variables = sandbox.load_variables(upload.getvalue(), upload.name, startup_settings())
    except VariablesError as exc:  # no older table stays behind the error: the job asks what the page shows
        st.session_state["template_error"] = exc.message
        st.session_state["vars_df"] = ui.variables_frame([])
        st.session_state["vars_version"] += 1
        say("error", exc.message + " Fix the template and load it again, or type the variables below.")
        return
    st.session_state["template_error"] = None
    st.session_state["vars_df"] = ui.variables_frame(variables)
    st.session_state["vars_version"] += 1
    st.toast(ui.plain(f"Loaded {len(variables)} variables from {upload.name}"), icon="📋")


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
        say("error", exc.message)
        return None
    left, right, _ = st.columns([1, 1, 4])
    left.download_button("⬇️ Save as CSV", variables_to_csv(variables), "variables.csv", "text/csv",
                         key="tpl_csv", on_click="ignore")
    right.download_button("⬇️ Save as Excel", variables_to_xlsx(variables), "variables.xlsx", XLSX_MIME,
                          key="tpl_xlsx", on_click="ignore")
    return variables


# --------------------------------------------------------------------------- options

def job_options_form(settings: Settings) -> tuple[str, list[str], JobOptions]:
    """Name, recipients and model settings of the next job. Recipients are split here and checked
    (addresses, EMAIL_ALLOWED_DOMAINS) by the manager when the job is created."""
    left, right = st.columns(2)
    name = left.text_input("Job name", value=ui.default_job_name(), key="job_name")
    recipients = right.text_area("Email results to", key="recipients", height=68,
                                 placeholder="analyst@example.org, lead@example.org",
                                 help="Optional. CSV and Excel are emailed when the job ends.")
    with st.expander("Options: model, thresholds, OCR, password, second opinion"):
        c1, c2, c3 = st.columns(3)
        backends = [p.name for p in providers.offered(settings)]
        backend = c1.selectbox("Backend", backends, key="opt_backend",
                               help="The configured backend, or the offline extractor")
        provider = providers.get(backend)
        default_model = providers.model_for(settings)
        models = provider.model_names(settings) or [default_model]
        model = c2.selectbox("Model", models, key="opt_model", disabled=not provider.uses_model,
                             help="Model (OpenAI) or deployment (Azure): the configured one, or one of "
                                  "ALLOWED\\_MODELS")
        threshold = c3.slider("Auto-accept at confidence", 0.0, 1.0, float(settings.accept_threshold), 0.05,
                              key="opt_threshold", help="Answers below this are marked for review")
        c4, c5, c6 = st.columns(3)
        ocr = c4.toggle("OCR scanned pages", value=settings.ocr_enabled, key="opt_ocr")
        batch = c5.toggle("Batch mode (half price)", value=False, key="opt_batch",
                          disabled=not provider.batch or settings.job_store != "file",
                          help="The provider's Batch API: about half the price, results within 24 hours. "
                               "The job waits for the batch; you can close the tab.")
        password = c6.text_input("Password for encrypted PDFs", type="password", key="opt_password",
                                 help="Used to open protected PDFs of this job; kept in memory only, never stored.")
        seconds = ["off"] + ([] if not provider.uses_model else
                             ["offline"] + [m for m in provider.model_names(settings) if m != model])
        second = c6.selectbox("Second opinion", seconds, key="opt_second",
                              format_func=lambda c: {"off": "off", "offline": "offline extractor"}.get(c, c),
                              help="Ask a second engine too; answers the two disagree on go to review, with both "
                                   "values and quotes. Costs a second pass (free for the offline extractor).")
    chosen = None if not provider.uses_model or not model or model == default_model else model
    options = JobOptions(backend=backend, model=chosen, accept_threshold=threshold, ocr=ocr,
                         password=password or None, batch=bool(batch) and provider.batch,
                         second_opinion=None if second == "off" else second)
    return name, ui.parse_recipients_text(recipients), options
