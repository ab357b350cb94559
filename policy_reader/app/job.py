"""One job, opened by `?job=<id>`: live progress while it runs, then its outcome, results and email."""
from __future__ import annotations

from typing import Any

import streamlit as st

from policy_reader.jobs.manager import JobManager
from policy_reader.app import view as ui
from policy_reader.app import accuracy_page as accuracy, results
from policy_reader.app.messages import flash, guarded, say, show_error, show_flash
from policy_reader.app.nav import new_job
from policy_reader.app.setup import get_manager
from policy_reader.errors import JobNotFound, PolicyReaderError


def render(manager: JobManager, job_id: str, user: str) -> None:
    try:
        view = manager.get_job_status(job_id, owner=user)
    except JobNotFound as exc:  # also another user's job: indistinguishable from a missing one
        show_error(exc)
        st.button("➕ New job", on_click=new_job, key="new_job_missing")
        return
    except PolicyReaderError as exc:
        show_error(exc)
        st.button("➕ New job", on_click=new_job, key="new_job_error")
        return
    head, action = st.columns([5, 1], vertical_alignment="bottom")
    head.title("📄 " + ui.plain(view.name))
    action.button("➕ New job", on_click=new_job, key="new_job", width="stretch")
    show_flash()
    if ui.is_active(view.status):
        skipped_files(view)  # once finished, the final message counts and names them
        live_progress(job_id, user)
        return
    status_line(view)
    kind, text = ui.final_message(view)
    say(kind, text)
    if ui.status_value(view.status) in ui.RESUMABLE_STATUSES:
        if st.button("▶️ Resume", key=f"resume_{job_id}", help="Finished documents are kept; the rest are read"):
            try:
                manager.resume_job(job_id, owner=user)
                st.rerun()
            except PolicyReaderError as exc:
                show_error(exc)
    guarded(results.render, manager, view, user)
    guarded(accuracy.render, manager, view, user)
    guarded(email_section, manager, view, user)


def skipped_files(view: Any) -> None:
    """The uploads that were not read stay on the job's page, counted with the documents, with the reason."""
    summary = ui.skipped_summary(view)
    if not summary:
        return
    say("warning", summary + ": " + "; ".join(ui.skipped_lines(view)))


def status_line(view: Any) -> None:
    st.markdown(f"{ui.status_badge(view.status)} · created {ui.plain(ui.format_time(view.created_at))} · "
                f"{ui.plain(ui.job_engine_text(view.backend, view.model))} · job `{ui.plain(view.id)}`")


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
    st.progress(ui.progress_fraction(view.documents_done, view.documents_total), text=ui.plain(ui.overall_label(view)))
    for item in view.in_flight or []:
        done, total = item.variables_done, item.variables_total
        st.progress(ui.progress_fraction(done, total), text=ui.plain(ui.in_flight_label(item, view.backend)))
    elapsed = ui.elapsed_seconds(view.started_at)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Elapsed", ui.format_duration(elapsed) or "—")
    c2.metric("Remaining", ui.eta_text(view.eta_s, view.status) or "—")
    c3.metric("Tokens", f"{ui.total_tokens(view.usage):,}")
    c4.metric("Cost so far", ui.plain(ui.format_cost(view.usage.cost_usd if view.usage else 0)))
    try:
        lines = ui.event_lines(manager.read_events(job_id, limit=12, owner=owner))
    except PolicyReaderError:
        lines = []
    if lines:
        st.code("\n".join(lines), language=None, wrap_lines=True)  # a code block: never markdown
    if st.button("⏹️ Cancel job", key=f"cancel_{job_id}"):
        try:
            manager.cancel_job(job_id, owner=owner)
            st.toast("Cancelling… finished documents are kept.", icon="⏹️")
        except PolicyReaderError as exc:
            show_error(exc)
    st.caption("You can close this tab: the job keeps running and this link reopens it.")


def email_section(manager: JobManager, view: Any, user: str) -> None:
    email = view.email
    status = email.status
    if not view.recipients and status in (None, "", "none", "skipped"):
        return  # no recipients: nothing was sent, and the page does not claim otherwise
    st.subheader("Email")
    mode = email.mode
    error = email.error
    if error and status == "sent":
        say("warning", error)  # some recipients were refused; the others got it
    elif error:
        say("error", f"The email was not sent: {error}")
    caption = ui.email_label(view)
    if caption and not (error and status != "sent"):
        st.caption(ui.plain(caption))
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
