"""The Streamlit pages. `main.py` (the entry point Streamlit runs) routes to one module per page.

    setup.py     secrets -> environment, settings, the process-wide JobManager, the signed-in user
    messages.py  alerts, flashed messages, the error boundary (`guarded`), all shown as plain text
    nav.py       the sidebar's page names and the callbacks that open a job or start a new one
    sidebar.py   navigation, backend and configuration summary, who is signed in
    run.py       the start page: samples, uploads, variables editor, job options, Run
    job.py       one job (`?job=<id>`): live progress, final status, resume, email
    results.py   a finished job's results: table, downloads, evidence page, review form
    accuracy.py  a finished job's measured accuracy: the audit sample (mark right/wrong by the evidence)
                 and the comparison with an uploaded gold set
    history.py   the user's jobs: open, download, resume, delete
    admin.py     jobs by status, throughput, tokens and cost

Widgets only: what a page computes lives in `policy_reader/app/view.py` (pure, unit-tested) and every check
on what the user submits is made once, by `JobManager`. Anything that came from a document, a file
or job name, a template, a URL or a header is shown through `ui.plain` (never as markdown).
Not a top-level `pages/` folder: Streamlit would turn that into its own multipage navigation.
"""
