"""View-model helpers for the Streamlit app (main.py): pure functions, no Streamlit import.

Why a separate module: everything the dashboard *computes* (tables, labels, badges, ETA text,
upload screening) is plain data in, plain data out, so it is unit-tested without a browser or a
script runner, and main.py stays a thin layer of widgets.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from policy_reader.jobs.state import (ACTIVE, RESUMABLE, TERMINAL, BatchProgress, InFlight, JobStatus,
                                      JobView)
from policy_reader.llm import providers
from policy_reader.models import (Answer, AnswerStatus, DocumentResult, Usage,
                                  Variable, VariableType, page_reference)
from policy_reader.untrusted import strip_invisible

# The engine's status vocabulary (jobs/state.py), not a copy: a status added there must get a badge here
# (tests/test_architecture.py checks every JobStatus has one).
ACTIVE_STATUSES = ACTIVE
TERMINAL_STATUSES = TERMINAL
RESUMABLE_STATUSES = RESUMABLE

STATUS_BADGES: dict[str, tuple[str, str, str]] = {
    # status: (emoji, colour for Streamlit markdown, label)
    JobStatus.PENDING.value: ("⏳", "gray", "Queued"),
    JobStatus.RUNNING.value: ("🔄", "blue", "Running"),
    JobStatus.COMPLETED.value: ("✅", "green", "Completed"),
    JobStatus.FAILED.value: ("❌", "red", "Failed"),
    JobStatus.CANCELLED.value: ("⏹️", "orange", "Cancelled"),
    JobStatus.INTERRUPTED.value: ("⚠️", "orange", "Interrupted"),
}


STAGE_LABELS = {
    "reading": "Reading text",
    "ocr": "OCR of scanned pages",
    "asking": "Asking the model",
    "matching": "Finding the answers in the text (offline)",
    "merging": "Checking evidence",
    "queued": "Waiting for a slot",
    "emailing": "Sending email",
    "exporting": "Writing exports",
    "running": "Running",
    "waiting for quota": "Waiting for the model's quota",
}
_BATCH_STATUS = {"validating": "being checked", "in_progress": "running", "finalizing": "finishing",
                 "completed": "done", "cancelling": "being cancelled", "cancelled": "cancelled",
                 "expired": "expired", "failed": "failed"}


def batch_label(batch: BatchProgress) -> str:
    """'Batch at the provider, running: 3 of 10 requests answered' for a batch-mode job."""
    status = str(batch.status or "")
    text = f"Batch at the provider, {_BATCH_STATUS.get(status, status.replace('_', ' ') or 'submitted')}"
    total = int(batch.total or 0)
    if total:
        text += f": {int(batch.answered or 0)} of {total} requests answered"
    return text

_EVENT_TEXT = {
    "job.created": "Job created",
    "job.started": "Job started",
    "job.completed": "Job completed",
    "job.failed": "Job failed",
    "job.cancelled": "Job cancelled",
    "job.cancel_requested": "Cancel requested — stopping after the current step",
    "job.interrupted": "Job interrupted",
    "job.resumed": "Job resumed",
    "doc.finished": "Finished",
    "doc.failed": "Failed",
    "review.saved": "Review saved",
    "email.sent": "Email sent",
    "email.failed": "Email failed",
    "exports.failed": "Exports failed",
}

EDITOR_COLUMNS = ["name", "question", "type", "options", "always_review", "instructions"]
VARIABLE_TYPES = [t.value for t in VariableType]


def status_value(status: Any) -> str:
    """The plain string of a JobStatus / AnswerStatus / str (enums and strings both reach the UI)."""
    return str(getattr(status, "value", status) or "").lower()


def status_badge(status: Any) -> str:
    """Markdown badge for a job status, e.g. ':green[✅ Completed]'."""
    key = status_value(status)
    emoji, colour, label = STATUS_BADGES.get(key, ("•", "gray", key.capitalize() or "Unknown"))
    return f":{colour}[{emoji} {label}]"


def status_label(status: Any) -> str:
    """Plain-text badge (tables cannot render markdown colours)."""
    key = status_value(status)
    emoji, _, label = STATUS_BADGES.get(key, ("•", "gray", key.capitalize() or "Unknown"))
    return f"{emoji} {label}"


def is_active(status: Any) -> bool:
    return status_value(status) in ACTIVE_STATUSES


def is_terminal(status: Any) -> bool:
    return status_value(status) in TERMINAL_STATUSES


def job_engine_text(backend: str | None, model: str | None) -> str:
    """'Azure OpenAI · gpt-4o' for a job's engine; the offline extractor has no model to name
    (it read "offline · offline")."""
    provider = providers.find(backend or "")
    name = provider.label if provider else (backend or "")
    if provider is not None and not provider.uses_model:
        return name
    return f"{name} · {model}" if model else name


def backend_label(summary: Mapping[str, str]) -> str:
    """'OpenAI · gpt-4o-mini' from settings.summary() — which never holds a key, so neither does this."""
    backend = summary.get("backend", "offline")
    provider = providers.find(backend)
    name = provider.label if provider else backend
    if provider is not None and not provider.uses_model:
        return f"{name} (no API key needed)"
    model = summary.get("model") or "?"
    return f"{name} · {model}"


def format_duration(seconds: float | None) -> str:
    """Human duration: '45 s', '3 min 05 s', '2 h 03 min'. Empty for unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    total = int(round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def eta_text(eta_s: float | None, status: Any = JobStatus.RUNNING) -> str:
    """What the analyst reads next to the progress bar."""
    key = status_value(status)
    if key == JobStatus.PENDING.value:
        return "starts when a slot is free"
    if key != JobStatus.RUNNING.value:
        return ""
    if eta_s is None:
        return "estimating…"
    if eta_s < 5:
        return "almost done"
    return f"about {format_duration(eta_s)} left"


def parse_time(value: str | datetime | None) -> datetime | None:
    """ISO-8601 (as JobView stores) to an aware datetime; None for missing or malformed."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def elapsed_seconds(started_at: Any, finished_at: Any = None, now: datetime | None = None) -> float | None:
    """Seconds the job has been (or was) running; None before it starts."""
    start = parse_time(started_at)
    if start is None:
        return None
    end = parse_time(finished_at) or now or datetime.now(timezone.utc)
    return max(0.0, (end - start).total_seconds())


def format_time(value: Any) -> str:
    """'2026-11-25 21:14 UTC' — short, unambiguous, sortable."""
    parsed = parse_time(value)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if parsed else ""


def total_tokens(usage: Usage | Mapping[str, Any] | None) -> int:
    if usage is None:
        return 0
    if isinstance(usage, Mapping):
        return int(usage.get("prompt_tokens", 0) or 0) + int(usage.get("completion_tokens", 0) or 0)
    return usage.prompt_tokens + usage.completion_tokens


def format_cost(cost_usd: float | None) -> str:
    cost = float(cost_usd or 0.0)
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def format_usage(usage: Usage | None) -> str:
    """'12,345 tokens · $0.0123' (cached prompt tokens noted when there are any)."""
    usage = usage or Usage()
    text = f"{total_tokens(usage):,} tokens · {format_cost(usage.cost_usd)}"
    if usage.cached_prompt_tokens:
        text += f" ({usage.cached_prompt_tokens:,} cached)"
    return text


def progress_fraction(done: int | None, total: int | None) -> float:
    """Clamped 0..1 fraction for st.progress (never divides by zero)."""
    if not total:
        return 0.0
    return min(1.0, max(0.0, float(done or 0) / float(total)))


_OFFLINE_STAGE_LABELS = {"asking": "Finding the answers in the text"}  # the offline extractor asks no model


def stage_label(stage: str, backend: Any = "") -> str:
    """The words for a job's stage; an offline job never claims to ask a model."""
    if str(backend or "") == "offline" and stage in _OFFLINE_STAGE_LABELS:
        return _OFFLINE_STAGE_LABELS[stage]
    return STAGE_LABELS.get(stage, stage.capitalize())


def in_flight_label(item: InFlight, backend: Any = "") -> str:
    """'report.pdf — Asking the model (3/7 variables)' for one document in flight."""
    file = item.file or item.doc_id or "document"
    stage = str(item.stage or "")
    label = stage_label(stage, backend) or "Working"
    done, total = item.variables_done, item.variables_total
    if total:
        unit = "pages" if stage in ("reading", "ocr") else "variables"
        return f"{file} — {label} ({done or 0}/{total} {unit})"
    return f"{file} — {label}"


def overall_label(view: JobView) -> str:
    """Text of the overall bar: '3 / 10 documents (1 failed) · Asking the model'."""
    done = int(view.documents_done or 0)
    total = int(view.documents_total or 0)
    failed = int(view.documents_failed or 0)
    text = f"{done} / {total} documents"
    if failed:
        text += f" ({failed} failed)"
    stage = view.stage
    if stage and str(stage).startswith("batch"):
        text += f" · {batch_label(view.batch if view.batch.status else BatchProgress(status=str(stage)[6:]))}"
    elif stage and stage != "running":  # the status badge already says "Running"
        text += f" · {stage_label(str(stage), view.backend)}"
    return text


def email_label(view: JobView) -> str | None:
    """What the job's email did, in words: 'Email sent to a@x.org on 2026-01-01 10:00 UTC.', or None when
    the job has no recipients (never "Email none — sent · to nobody")."""
    email = view.email
    status = str(email.status or "")
    recipients = ", ".join(view.recipients or [])
    if not recipients or status in ("", "none"):
        return None
    if status == "pending":
        return f"Email to {recipients}: sent when the job finishes."
    if status == "sending":
        return f"Email to {recipients}: being sent."
    if status == "failed":
        return f"Email to {recipients}: not sent."
    if status == "sent":
        if email.mode == "outbox":
            return f"Email to {recipients}: written to the outbox (.eml file; no SMTP server is configured)."
        when = format_time(email.sent_at)
        return f"Email sent to {recipients}" + (f" on {when}" if when else "") + "."
    return f"Email to {recipients}: {status.replace('_', ' ')}."


def queue_message(view: JobView) -> str | None:
    """'Queued: 2 jobs ahead of this one.' when the job waits for a slot, else None."""
    if status_value(view.status) != JobStatus.PENDING.value:
        return None
    position = view.queue_position  # 1-based place in the queue
    if position is None:
        return "Queued: it starts as soon as a slot is free."
    ahead = max(0, int(position) - 1)
    if ahead == 0:
        return "Queued: this job is next and starts as soon as a running job finishes."
    return f"Queued: {ahead} job{'s' if ahead != 1 else ''} ahead of this one. It starts automatically."


def final_message(view: JobView) -> tuple[str, str]:
    """(kind, text) for the end of a job; kind is one of success / warning / error / info."""
    key = status_value(view.status)
    total = int(view.documents_total or 0)
    failed = int(view.documents_failed or 0)
    ok = max(0, int(view.documents_done or 0) - failed)
    error = view.error or view.limit_message
    warned = "".join(f" {w}" for w in (view.warnings or []))  # job-wide, e.g. OCR unavailable
    skipped = skipped_lines(view)
    if key == JobStatus.COMPLETED.value and skipped:  # the uploads not read are counted with the documents, and named
        failures = f", {failed} failed (see below)" if failed else ""
        return "warning", (f"Finished: {skipped_summary(view)}{failures}: {'; '.join(skipped)}.{warned}")
    if key == JobStatus.COMPLETED.value:
        if failed:
            return "warning", f"Finished: {ok} of {total} documents read, {failed} failed (see below).{warned}"
        done = f"Finished: all {total} document{'s' if total != 1 else ''} read."
        return ("warning", done + warned) if warned else ("success", done)
    if key == JobStatus.FAILED.value:
        return "error", f"The job failed: {error or 'no reason was recorded'}."
    if key == JobStatus.CANCELLED.value:
        return "warning", f"Cancelled. {ok} document{'s' if ok != 1 else ''} finished before that are kept."
    if key == JobStatus.INTERRUPTED.value:
        return "warning", "The job was interrupted (the server restarted). Resume it to finish the rest."
    return "info", status_label(key)


def event_text(event: Mapping[str, Any]) -> str:
    """One event of events.jsonl ({"t", "type", ...fields}) as a sentence for the log panel."""
    kind = str(event.get("type") or event.get("event") or "")
    text = event.get("message") or event.get("msg") or _EVENT_TEXT.get(kind, kind.replace(".", " ").capitalize())
    details = []
    if event.get("file"):
        details.append(str(event["file"]))
    if event.get("variable"):
        details.append(str(event["variable"]))
    for key, label in (("documents", "documents"), ("variables", "variables")):
        if event.get(key) is not None and kind == "job.created":
            details.append(f"{event[key]} {label}")
    if event.get("mode"):
        details.append(f"mode {event['mode']}")
    line = f"{text}: {', '.join(details)}" if details else str(text)
    if event.get("error"):
        line += f" — {event['error']}"
    elif event.get("reason"):
        line += f" ({event['reason']})"
    return line


def event_lines(events: Iterable[Mapping[str, Any]], limit: int = 12) -> list[str]:
    """Latest log lines, oldest first: 'HH:MM:SS  message'. Tolerates missing keys."""
    lines: list[str] = []
    for event in list(events)[-limit:]:
        stamp = parse_time(event.get("t") or event.get("ts") or event.get("time"))
        clock = stamp.strftime("%H:%M:%S") if stamp else "--:--:--"
        level = str(event.get("level", "")).upper()
        failed = level in ("WARNING", "ERROR") or str(event.get("type", "")).endswith(".failed")
        prefix = "⚠ " if failed else ""
        lines.append(f"{clock}  {prefix}{event_text(event)}".rstrip())
    return lines


# --------------------------------------------------------------------------- untrusted text

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and an escaped one is
# always literal: no emphasis, link, image, HTML, heading, list, table, code, `:color[...]`
# directive, `$` math or autolink can start from it.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Escapes do not stop GFM's autolink literals: remark-gfm links `http://…`, `www.…` and `a@b.c` found in
# the *text* after parsing. An invisible WORD JOINER right after the scheme, `www` or `@` breaks
# those patterns without changing what the analyst reads.
WORD_JOINER = "\u2060"
_AUTOLINK_START = re.compile(r"(?i)(?<![a-z0-9])(?:https?|ftp|mailto|xmpp|www)(?=[:.])|@")


def plain(text: Any) -> str:
    """Untrusted text (from a document, a file or job name, a template, a URL, a header, an error
    quoting any of them) as Streamlit markdown that renders as exactly that text, on one line.

    Why escape instead of a no-markdown element: Streamlit's alerts, captions, titles, labels and
    help texts all render markdown, and a PDF's `![](http://attacker/x.png)` rendered as markdown
    makes the analyst's browser fetch the attacker's URL. Copied text carries the invisible word
    joiners that keep URLs and addresses from turning into links.
    """
    one_line = " ".join(strip_invisible(text).split())
    unlinked = _AUTOLINK_START.sub(lambda match: match.group(0) + WORD_JOINER, one_line)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", unlinked)


def parse_recipients_text(text: str | None) -> list[str]:
    """Addresses typed one per line or separated by commas / semicolons (validated by emailer)."""
    return [part.strip() for part in re.split(r"[,;\n]", text or "") if part.strip()]


# --------------------------------------------------------------------------- variables editor

def variables_frame(variables: Sequence[Variable]) -> pd.DataFrame:
    """Variables as the editor's table: options joined by '; '."""
    rows = [
        {
            "name": v.name,
            "question": v.question,
            "type": status_value(v.type),
            "options": "; ".join(v.options),
            "always_review": bool(v.always_review),
            "instructions": v.instructions,
        }
        for v in variables
    ]
    return pd.DataFrame(rows, columns=EDITOR_COLUMNS).astype(
        {"name": "object", "question": "object", "type": "object", "options": "object",
         "always_review": "bool", "instructions": "object"})


def _cell(value: Any) -> Any:
    """NaN / None / pd.NA from an edited cell -> None; strings stripped."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.strip() if isinstance(value, str) else value


def editor_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Edited table -> rows for variables.parse_variables(rows, first_row=1). A fully blank row
    becomes {} (parse_variables skips it) so row numbers in error messages match the table;
    options are split on ';' (or ',' when there is no ';')."""
    rows: list[dict[str, Any]] = []
    for record in frame.to_dict(orient="records"):
        clean = {key: _cell(record.get(key)) for key in EDITOR_COLUMNS}
        if not any(clean.get(k) for k in ("name", "question", "options", "instructions")):
            rows.append({})
            continue
        options = clean.get("options") or ""
        sep = ";" if ";" in options else ","
        clean["options"] = [part.strip() for part in str(options).split(sep) if part.strip()]
        clean["type"] = clean.get("type") or VariableType.TEXT.value
        clean["always_review"] = bool(clean.get("always_review") or False)
        clean["instructions"] = clean.get("instructions") or ""
        clean["name"] = clean.get("name") or ""
        clean["question"] = clean.get("question") or ""
        rows.append(clean)
    return rows


# --------------------------------------------------------------------------- results

def answers_by_name(document: DocumentResult) -> dict[str, Answer]:
    return {answer.name: answer for answer in document.variables}


def display_value(value: Any) -> str:
    """A value as a table cell. Uses variables.format_value when available (one formatting for
    tables and exports); falls back to a local rendering so the UI never breaks on it."""
    try:
        from policy_reader.variables import format_value  # owned by the variables module
        return format_value(value)
    except ImportError:
        pass
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def needs_review(answer: Answer | None) -> bool:
    """Highlight an answer until an analyst has reviewed it, when it needs review or errored."""
    if answer is None or answer.reviewed:
        return False
    return status_value(answer.status) in (AnswerStatus.NEEDS_REVIEW.value, AnswerStatus.ERROR.value)


def answer_page_text(answer: Answer) -> str:
    """'Page 105 (printed 98)': the PDF page and, when the PDF prints another number, that one (issue 28)."""
    return page_reference(answer.page, answer.page_label, word="Page")


def failed_documents(documents: Sequence[DocumentResult]) -> list[tuple[str, str]]:
    return [(doc.file, doc.error or "unknown error") for doc in documents if doc.status != "ok"]


# --------------------------------------------------------------------------- history and admin

def history_frame(jobs: Sequence[JobView]) -> pd.DataFrame:
    """The user's jobs, newest first, as a table."""
    rows = []
    for job in jobs:
        usage = job.usage
        rows.append({
            "job": job.name or job.id,
            "status": status_label(job.status),
            "created": format_time(job.created_at),
            "documents": f"{job.documents_done or 0} / {job.documents_total or 0}",
            "failed": int(job.documents_failed or 0),
            "skipped": len(job.skipped),  # uploads not read (the job page says why)
            "duration": format_duration(elapsed_seconds(job.started_at, job.finished_at)
                                        if job.finished_at else None),
            "tokens": total_tokens(usage),
            "cost": format_cost(usage.cost_usd if usage is not None else 0.0),
            "id": job.id,
        })
    return pd.DataFrame(rows, columns=["job", "status", "created", "documents", "failed", "skipped", "duration",
                                       "tokens", "cost", "id"])


def job_option_label(job: JobView) -> str:
    return f"{job.name or job.id} · {status_label(job.status)} · {format_time(job.created_at)}"


def _series_frame(data: Any, index_name: str) -> pd.DataFrame:
    """Turn {key: number | {col: number}} or [{...}] into a DataFrame indexed by `index_name`."""
    if data is None:
        return pd.DataFrame()
    if isinstance(data, Mapping):
        if not data:
            return pd.DataFrame()
        first = next(iter(data.values()))
        if isinstance(first, Mapping):
            frame = pd.DataFrame.from_dict(data, orient="index")
        else:
            frame = pd.DataFrame({"value": pd.Series(data)})
        frame.index.name = index_name
        return frame.sort_index()
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        frame = pd.DataFrame(list(data))
        if frame.empty:
            return frame
        key = next((k for k in (index_name, "day", "date", "minute", "time", "status") if k in frame.columns), None)
        if key:
            frame = frame.set_index(key)
            frame.index.name = index_name
        return frame.sort_index()
    return pd.DataFrame()


def metrics_frames(metrics: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """JobManager.metrics() -> chart-ready frames: 'status' (jobs by status), 'daily' (jobs,
    documents, tokens, cost per day) and 'throughput' (documents per day), each possibly
    empty. Tolerant of the exact shape so the admin page never crashes on it."""
    by_status = metrics.get("jobs_by_status") or metrics.get("by_status") or {}
    status = _series_frame(by_status, "status")
    if "value" in status.columns:
        status = status.rename(columns={"value": "jobs"})
    daily_raw = metrics.get("per_day") or metrics.get("daily") or metrics.get("by_day") or {}
    daily = _series_frame(daily_raw, "day")
    throughput = daily[["documents"]] if "documents" in daily.columns else pd.DataFrame()
    return {"status": status, "daily": daily, "throughput": throughput}


def metric_numbers(metrics: Mapping[str, Any]) -> dict[str, str]:
    """Headline numbers for st.metric, formatted; only the ones present."""
    out: dict[str, str] = {}
    for key, label in (("jobs_total", "Jobs"), ("documents_per_minute", "Docs / minute (24 h)"),
                       ("queue_length", "Queued"), ("running_here", "Running"),
                       ("tokens_total", "Tokens"), ("cost_usd_total", "Cost")):
        value = metrics.get(key)
        if value is None:
            continue
        if key == "cost_usd_total":
            out[label] = format_cost(float(value))
        elif isinstance(value, float):
            out[label] = f"{value:,.2f}"
        else:
            out[label] = f"{value:,}" if isinstance(value, int) else str(value)
    return out


def default_job_name(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"Job {now.strftime('%Y-%m-%d %H:%M')}"


# --------------------------------------------------------------------------- measured accuracy


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def interval_text(score: Any) -> str:
    """'75.0% – 97.8%' (the 95% Wilson interval), or '—' when nothing was counted."""
    if not score.n:
        return "—"
    return f"{percent(score.ci_low)} – {percent(score.ci_high)}"


def accuracy_frame(scores: Mapping[str, Any], overall: Any, *, audit: bool = False) -> pd.DataFrame:
    """Per variable, then overall: n, right, accuracy, 95% interval; a gold set adds the right-page count,
    an audit the accepted answers each estimate is about."""
    rows = []
    for name, score in [*scores.items(), ("overall", overall)]:
        row = {"variable": name, "n": int(score.n), "right": int(score.correct),
               "accuracy": percent(score.accuracy), "95% interval (Wilson)": interval_text(score)}
        if audit:
            row["accepted answers"] = int(score.population)
        else:
            row["right page"] = int(score.page_correct)
        rows.append(row)
    return pd.DataFrame(rows)


def misses_frame(misses: Sequence[Any]) -> pd.DataFrame:
    """The gold set's misses: both values, both pages, the status and the quote (plain text cells)."""
    from policy_reader.variables import format_value

    columns = ["row", "file", "variable", "miss", "expected", "found", "gold page", "page", "status", "quote"]
    return pd.DataFrame([{
        "row": m.row, "file": m.file, "variable": m.variable,
        "miss": "wrong value" if m.kind == "value" else "right value, other page",
        "expected": format_value(m.expected) or "(not stated)", "found": format_value(m.found) or "(none)",
        "gold page": m.expected_page, "page": m.page, "status": m.status, "quote": m.quote,
    } for m in misses], columns=columns)


def audit_item_label(index: int, total: int, file: str, variable: str, mark: bool | None) -> str:
    sign = {True: "✔ right", False: "✘ wrong", None: "not marked"}[mark]
    return f"{index + 1}/{total} · {file} · {variable} · {sign}"


def model_value(answer: Answer) -> Any:
    """The value the model gave (an analyst's correction aside): what an audit judges."""
    return answer.original_value if answer.reviewed and answer.original_value is not None else answer.value


def skipped_summary(view: Any) -> str | None:
    """'3 of 5 documents read, 2 skipped' when files of the upload were skipped (JobView.skipped); while
    the job runs, '2 of 5 files skipped'."""
    skipped = list(view.skipped or [])
    if not skipped:
        return None
    total = int(view.documents_total or 0)
    if is_active(view.status):
        return f"{len(skipped)} of {total + len(skipped)} files skipped"
    failed = int(view.documents_failed or 0)
    read = max(0, int(view.documents_done or 0) - failed)
    return f"{read} of {total + len(skipped)} documents read, {len(skipped)} skipped"


def skipped_lines(view: Any) -> list[str]:
    """'notes.pdf — this is not a PDF file' per skipped file of the upload."""
    out = []
    for item in view.skipped or []:
        out.append(f"{item.name or 'file'} — "
                   f"{item.reason or 'skipped'}")
    return out
