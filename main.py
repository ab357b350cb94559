"""Policy Reader — the Streamlit dashboard analysts work in. Streamlit runs this file.

A short router: set-up, who is signed in, the sidebar, then one page module of
`policy_reader/app/` (see its docstring for the map). The pages are widgets over `JobManager`:
they start jobs and show their progress, history, results and reviews, never do the work
themselves, never call Streamlit from a worker thread, and leave every check to the manager.

Run with `make run` (or `streamlit run main.py`). With no API key it uses the offline extractor,
so "Try it with the samples" works out of the box.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # `streamlit run` from another folder still finds the package
    sys.path.insert(0, str(APP_DIR))

from policy_reader.app import admin, history, job, run, setup, sidebar  # noqa: E402
from policy_reader.app.messages import guarded, show_error, show_flash  # noqa: E402
from policy_reader.app.nav import NAV_ADMIN, NAV_HISTORY  # noqa: E402
from policy_reader.errors import PolicyReaderError  # noqa: E402


def main() -> None:
    # a job's page opens with the sidebar folded: the results table and the evidence need the width
    st.set_page_config(page_title="Policy Reader", page_icon="📑", layout="wide",
                       initial_sidebar_state="collapsed" if st.query_params.get("job") else "expanded")
    settings = setup.app_settings()
    user = setup.signed_in_user(settings)  # behind Easy Auth without a principal: refused here
    try:
        manager = setup.get_manager()
    except PolicyReaderError as exc:
        show_error(exc)
        st.stop()
    setup.freeze_long_lived_objects()  # once per process: full collections stop pausing review steps
    page = sidebar.render(settings, user)
    if page == NAV_HISTORY:
        guarded(history.render, manager, user)
    elif page == NAV_ADMIN:
        guarded(admin.render, manager, settings, user)
    elif job_id := st.query_params.get("job"):
        guarded(job.render, manager, job_id, user)
    else:
        show_flash()
        guarded(run.render, manager, settings, user)


main()
