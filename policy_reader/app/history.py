"""My jobs: the signed-in user's jobs, newest first, to open, download, resume or delete."""
from __future__ import annotations

import streamlit as st

from policy_reader.jobs.manager import JobManager, JobStatus
from policy_reader.app import view as ui
from policy_reader.app.messages import flash, show_error, show_flash
from policy_reader.app.nav import open_job
from policy_reader.errors import PolicyReaderError


def render(manager: JobManager, user: str) -> None:
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
    if ui.is_terminal(job.status) or ui.status_value(job.status) == JobStatus.INTERRUPTED.value:
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
        st.markdown(f"Delete **{ui.plain(job.name)}** and its files?")
        if st.button("Delete for good", key="hist_delete", type="primary"):
            try:
                manager.delete_job(chosen, owner=user)
                if st.query_params.get("job") == chosen:
                    st.query_params.pop("job", None)
                flash("success", f"Deleted {job.name}.")
                st.rerun()
            except PolicyReaderError as exc:
                show_error(exc)
