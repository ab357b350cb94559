"""The review loop on a 1,000-answer job: server time per review step, and interactions per reviewed answer.

A real job (JobManager, offline extractor, 125 generated one-page policies × 8 variables = 1,000 answers)
is reviewed the way the workbench does it:

- **view model + write**: one step = what the results page computes on every rerun (the engine's bulk
  selector, the answer states, the filtered queue, the table and its styling, the next answer) on the
  results as read back from the job, then one decision saved through `JobManager.save_review`.
- **AppTest step**: the real page (`main.py` under streamlit.testing's AppTest, same process): the time
  of one script run after pressing "✔ Right" on the selected answer, which saves it and opens the next
  one of the queue (its page image drawn by a reader process the first time, then cached).
- **interactions per reviewed answer**: the analyst's clicks and keystroke submissions for a scripted
  review of every flagged answer: one bulk accept per variable for the exactly quoted answers, then
  the queue — "right" (1 click), "not stated" (1), a correction every tenth answer (type + Enter = 2).

Targets (issue 27): p95 < 300 ms per step; ≤ 2 interactions per answer.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import row

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 300.0
TARGET_INTERACTIONS = 2.0
DOCS, VARIABLES = 125, 8

_FACTS = [  # (name, question, type, sentence with the value)
    ("year_adopted", "In which year was the policy adopted?", "year", "The policy was adopted in {y}."),
    ("target_year", "By which year should the target be reached?", "year", "The target shall be reached by {t}."),
    ("emission_target_pct", "What emission cut (%) does it target?", "number",
     "Emissions fall by {p} percent."),
    ("budget_musd", "What budget (million USD) does it commit?", "number", "It commits {b} million USD."),
    ("covers_adaptation", "Does the policy cover adaptation?", "boolean", "It covers adaptation to climate change."),
    ("lead_agency", "Which agency leads it?", "text", "The Ministry of Environment leads the policy."),
    ("review_year", "In which year is the policy reviewed?", "year", "It is reviewed in {r}."),
    ("sector", "Which sector does it target?", "text", "It targets the energy sector."),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def build_job(work: Path) -> tuple[Any, str]:
    """The 1,000-answer job, run to the end with the offline extractor; returns (manager, job id)."""
    from job_manager import JobManager
    from policy_reader.config import load_settings
    from policy_reader.models import Variable
    from tests.pdf_factory import make_text_pdf

    variables = [Variable(name=n, question=q, type=t) for n, q, t, _s in _FACTS[:VARIABLES]]
    files = []
    for i in range(DOCS):
        facts = [s.format(y=1990 + i % 30, t=2030 + i % 20, p=20 + i % 60, b=10 + i, r=2025 + i % 10)
                 for k, (_n, _q, _t, s) in enumerate(_FACTS) if (i + k) % 5]  # each fact in 4 of 5 documents
        files.append((f"policy_{i:03d}.pdf", make_text_pdf(work / f"policy_{i:03d}.pdf",
                                                         [f"Policy {i}\n\n" + "\n".join(facts)])))
    manager = JobManager(load_settings(JOBS_DIR=str(work / "jobs"), LLM_BACKEND="offline", OCR_ENABLED="false"))
    job_id = manager.submit(name="review bench", files=files, variables=variables)
    view = manager.wait(job_id, timeout=600)
    if str(getattr(view.status, "value", view.status)) != "completed":
        raise RuntimeError(f"the bench job ended {view.status}: {view.error}")
    return manager, job_id


def one_step(manager: Any, job_id: str, selected: tuple[str, str] | None) -> tuple[Any, float]:
    """What the results page computes for one rerun, then one decision ("right") saved."""
    from policy_reader.app import view as ui, workbench
    from policy_reader.jobs.result_book import exact_accept_decisions

    started = time.perf_counter()
    documents = manager.get_results(job_id, owner="local")
    variables = manager.get_variables(job_id, owner="local")
    exact = [(d.doc_id, d.variable) for d in exact_accept_decisions(documents, variables)]
    model = workbench.workbench_model(documents, variables, exact)
    workbench.state_counts(model.cells)
    queue = workbench.review_queue(model.cells, workbench.ReviewFilter())
    frame, _doc_ids = workbench.narrow_table(model, None, None)
    frame.to_json()  # the table as the page serialises it
    current = selected or ((queue[0].doc_id, queue[0].variable) if queue else None)
    upcoming = workbench.next_in_queue(queue, current)
    if current is not None:
        answer = ui.answers_by_name(next(d for d in documents if d.doc_id == current[0])).get(current[1])
        manager.save_review(job_id, current[0], current[1], value=answer.value, owner="local")
    return ((upcoming.doc_id, upcoming.variable) if upcoming else None), time.perf_counter() - started


def bench_view_model(manager: Any, job_id: str, steps: int) -> list[float]:
    selected = None
    times = []
    for _ in range(steps):
        selected, took = one_step(manager, job_id, selected)
        times.append(took)
        if selected is None:
            break
    return times


def bench_apptest(jobs_dir: Path, job_id: str, steps: int) -> list[float]:
    """Seconds per script run of the real page after "✔ Right" (the first run, cold, is not counted)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from policy_reader.config import get_settings

    os.environ.update({"JOBS_DIR": str(jobs_dir), "LLM_BACKEND": "offline", "OCR_ENABLED": "false"})
    get_settings.cache_clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "main.py"), default_timeout=120)
    at.query_params["job"] = job_id
    at.run()
    times = []
    for _ in range(steps):
        doc, var = at.query_params.get("doc"), at.query_params.get("var")
        buttons = [b for b in at.button if str(b.key or "").startswith(f"right_{job_id}_")]
        if not buttons:
            break
        started = time.perf_counter()
        buttons[0].click().run()
        times.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(str(at.exception[0].value))
        if (at.query_params.get("doc"), at.query_params.get("var")) == (doc, var):
            break
    st.cache_resource.clear()
    return times


def interactions(manager: Any, job_id: str, *, bulk: bool, limit: int) -> tuple[int, int, int]:
    """(interactions, answers reviewed, of them by bulk accept) for the scripted review of the flagged
    answers: with `bulk`, one bulk accept per variable first; then the queue, one action per answer (the
    first `limit` of it: each answer costs the same, and the ratio is what is reported)."""
    from policy_reader.app import view as ui, workbench
    from policy_reader.jobs.result_book import exact_accept_decisions

    documents = manager.get_results(job_id, owner="local")
    variables = manager.get_variables(job_id, owner="local")
    clicks = reviewed = by_bulk = 0
    for variable in variables if bulk else []:
        decisions = exact_accept_decisions(documents, variables, variable=variable.name)
        if decisions:
            batch = manager.save_reviews(job_id, decisions, owner="local")
            clicks += 1
            by_bulk += batch.count
    reviewed += by_bulk
    documents = manager.get_results(job_id, owner="local")
    queue = workbench.review_queue(workbench.states_vector(documents, variables), workbench.ReviewFilter())
    by_id = {d.doc_id: ui.answers_by_name(d) for d in documents}
    for n, cell in enumerate(queue[:limit]):
        answer = by_id[cell.doc_id][cell.variable]
        if n % 10 == 9 and answer.value is not None:  # a correction: type the value, press Enter
            manager.save_review(job_id, cell.doc_id, cell.variable, value=answer.value, note="checked", owner="local")
            clicks += 2
        else:  # right, or not stated: one click
            manager.save_review(job_id, cell.doc_id, cell.variable, value=answer.value, owner="local")
            clicks += 1
        reviewed += 1
    return clicks, reviewed, by_bulk


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    work = out_dir / "review"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manager, job_id = build_job(work)
    built = time.perf_counter() - started
    documents = manager.get_results(job_id, owner="local")
    answers = sum(len(d.variables) for d in documents)
    flagged = sum(1 for d in documents for a in d.variables if a.status.value in ("needs_review", "error"))
    rows = [row(f"review job: {DOCS} documents × {VARIABLES} variables, offline (built in {built:.0f} s)",
                answers, "answers"), row("answers flagged for review", flagged, "answers", digits=0)]
    try:
        steps = manager_steps = bench_view_model(manager, job_id, 30 if quick else 100)
        p50, p95 = statistics.median(steps) * 1000, _percentile(steps, 0.95) * 1000
        rows.append(row(f"view model + save_review per step, p50 ({len(manager_steps)} steps)", p50, "ms", digits=1))
        rows.append(row("view model + save_review per step, p95", p95, "ms", f"< {TARGET_P95_MS:g}",
                        p95 < TARGET_P95_MS, digits=1))
        app = bench_apptest(work / "jobs", job_id, 8 if quick else 25)
        if app:
            a50, a95 = statistics.median(app) * 1000, _percentile(app, 0.95) * 1000
            rows.append(row(f"page rerun after '✔ Right' (AppTest, whole script), p50 ({len(app)} steps)", a50, "ms",
                            digits=1))
            rows.append(row("page rerun after '✔ Right' (AppTest, whole script), p95", a95, "ms",
                            f"< {TARGET_P95_MS:g}", a95 < TARGET_P95_MS, digits=1))
    finally:
        manager.shutdown()
    for bulk in (False, True):  # a fresh job each: every flagged answer is reviewed
        folder = work / ("bulk" if bulk else "queue")
        folder.mkdir(exist_ok=True)
        fresh, fresh_id = build_job(folder)
        try:
            clicks, reviewed, by_bulk = interactions(fresh, fresh_id, bulk=bulk, limit=50 if quick else 150)
        finally:
            fresh.shutdown()
        per = clicks / max(1, reviewed)
        how = (f"bulk accept per variable, then the queue ({by_bulk} by bulk)" if bulk else
               "the queue only, a correction every tenth answer")
        rows.append(row(f"interactions per reviewed answer, {how}: {clicks} for {reviewed} answers", per,
                        "per answer", f"<= {TARGET_INTERACTIONS:g}", per <= TARGET_INTERACTIONS, digits=2))
    return {"rows": rows, "notes": ["review: one step = the results page's view model on the job's results as "
                                    "read back, plus one save_review; the AppTest row is the whole page's script "
                                    "run after pressing '✔ Right'."]}


if __name__ == "__main__":
    from bench.report import run_alone

    sys.exit(run_alone("python -m bench.review", __doc__.splitlines()[0], run))
