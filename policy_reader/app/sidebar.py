"""The sidebar: navigation, which backend answers, the configuration summary and who is signed in."""
from __future__ import annotations

import streamlit as st

from policy_reader.app import view as ui
from policy_reader.app.nav import PAGES, page_label
from policy_reader.config import Settings
from policy_reader.llm import providers


def render(settings: Settings, user: str) -> str:
    """Draw the sidebar; returns the chosen page (one of nav.PAGES)."""
    summary = providers.summary(settings)  # never holds a key, and URLs come with their credentials masked
    with st.sidebar:
        st.title("📑 Policy Reader")
        page = st.radio("Navigate", PAGES, key="nav", label_visibility="collapsed",
                        format_func=lambda p: page_label(p, settings.is_admin(user)))
        st.divider()
        if settings.startup_problem:  # the stand-in settings' backend is not what the operator configured
            st.markdown("**Backend:** not available")
            st.caption("A setting needs fixing (see the message on the page); no job can start until then.")
        else:
            st.markdown("**Backend:** " + ui.plain(ui.backend_label(summary)))
        if not providers.resolve(settings).uses_model and not settings.startup_problem:
            st.caption("No API key is set: answers come from the built-in offline extractor "
                       "(keyword and pattern rules). Set OPENAI_API_KEY or Azure OpenAI for model answers.")
        with st.expander("Configuration"):
            for key, value in summary.items():
                st.caption(f"**{ui.plain(key)}:** {ui.plain(value)}")
        st.caption(f"Signed in as **{ui.plain(user)}**")
    return page
