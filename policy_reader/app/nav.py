"""Page names of the sidebar radio (widget key `nav`) and the callbacks that move between pages."""
from __future__ import annotations

import streamlit as st

NAV_RUN, NAV_HISTORY, NAV_ADMIN = "🏠 Run", "📂 My jobs", "📊 Admin"
PAGES = [NAV_RUN, NAV_HISTORY, NAV_ADMIN]


def page_label(page: str, admin: bool) -> str:
    """The sidebar's name of a page: the statistics page is 'Admin' only for the operators of ADMIN_USERS
    (who see every user's jobs); everyone else, the only local user included, sees their own 'Usage'."""
    return page if page != NAV_ADMIN or admin else "📊 Usage"


def open_job(job_id: str) -> None:
    """Callback: show a job on the Run page (and in the URL, so it can be bookmarked)."""
    st.query_params["job"] = job_id
    st.session_state["nav"] = NAV_RUN


def new_job() -> None:
    st.query_params.pop("job", None)
    st.session_state["nav"] = NAV_RUN
