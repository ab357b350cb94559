"""Numbers for the admin view: jobs by status, documents per minute, tokens and cost per day."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from policy_reader.jobs.state import JobStatus, JobView, now, parse_time


def job_metrics(views: Sequence[JobView], *, queue_length: int, running_here: int) -> dict[str, Any]:
    by_status = Counter(v.status.value for v in views)
    moment = now()
    docs = 0
    minutes = 0.0
    per_day: dict[str, dict[str, Any]] = {}
    for view in views:
        started = parse_time(view.started_at)
        if started and moment - started < timedelta(days=1):
            end = parse_time(view.finished_at) or moment
            minutes += max((end - started).total_seconds(), 1.0) / 60
            docs += view.documents_done
        day = (view.created_at or "")[:10]
        entry = per_day.setdefault(day, {"jobs": 0, "documents": 0, "tokens": 0, "cost_usd": 0.0})
        entry["jobs"] += 1
        entry["documents"] += view.documents_done
        entry["tokens"] += view.usage.prompt_tokens + view.usage.completion_tokens
        entry["cost_usd"] = round(entry["cost_usd"] + view.usage.cost_usd, 6)
    return {"jobs_by_status": {s.value: by_status.get(s.value, 0) for s in JobStatus},
            "jobs_total": len(views),
            "documents_per_minute": round(docs / minutes, 2) if minutes else 0.0,
            "per_day": dict(sorted(per_day.items(), reverse=True)),
            "queue_length": queue_length,
            "running_here": running_here}
