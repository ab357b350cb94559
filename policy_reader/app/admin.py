"""Admin: jobs by status, throughput, tokens and cost. Every user's jobs for the names in
ADMIN_USERS; one's own for everyone else (`local` included)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from policy_reader.jobs.manager import JobManager
from policy_reader.app import view as ui
from policy_reader.app.messages import show_error
from policy_reader.app.nav import NAV_ADMIN, page_label
from policy_reader.config import Settings
from policy_reader.errors import PolicyReaderError


def render(manager: JobManager, settings: Settings, user: str) -> None:
    everyone = settings.is_admin(user)
    st.title(page_label(NAV_ADMIN, everyone))
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
            column.metric(label, ui.plain(value))
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


def _bar_chart(title: str, frame: Any, empty_text: str) -> None:
    st.markdown(f"**{title}**")
    if frame.empty:
        st.caption(empty_text)
    else:
        st.bar_chart(frame)
