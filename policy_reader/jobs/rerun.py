"""Re-running part of a finished job: some documents, or some variables across the job.

Why: a document failed for want of its password, or an analyst wants one question asked again by
another allowed model. The rest of the job stays as it is, and so do the analyst's corrections unless
asked otherwise.

How, with the same machinery as a resume (so both executors, the same limits, exports and email):
`prepare` keeps a copy of each chosen document's result as a work file (`rerun.<doc_id>.json`, with
the variables to ask again), then removes the result; the executor then runs what has no result, as a
resume does. `run_again` (called by jobs/document.py for every document) finds that copy:

- variables chosen: only they are asked (the document's other answers are the copy's), merged back;
- whole document: everything is asked again, and answers that did not change come from the answer
  cache (extraction/cache.py: same file, variables, engine and prompt = zero model calls).

The copy's usage is added to the new result's, so the job's cost keeps what earlier runs spent.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from policy_reader.errors import JobError, JobNotFound, VariablesError
from policy_reader.jobs.services import JobServices
from policy_reader.jobs.store import JobStore, check_doc_id
from policy_reader.jobs.tally import Tally
from policy_reader.models import DocumentResult

MAX_RERUN_DOCUMENTS = 10_000


@dataclass(frozen=True)
class RerunPlan:
    doc_ids: list[str]
    variables: list[str] | None  # None: every variable of the documents
    model: str | None  # the model the job uses from now on (None: unchanged)
    keep_corrections: bool


def work_name(doc_id: str) -> str:
    return f"rerun.{check_doc_id(doc_id)}.json"


def prepare(services: JobServices, job_id: str, *, doc_ids: Sequence[str] | None, variables: Sequence[str] | None,
            model: str | None, keep_corrections: bool) -> RerunPlan:
    """Check the request, keep a copy of each chosen result and remove it, and reset the job's counts to
    the results that stay. Raises JobNotFound (a document), VariablesError (a variable) or JobError."""
    store = services.store
    manifest = store.read_manifest(job_id)
    known = [d["doc_id"] for d in manifest["documents"]]
    names = [v["name"] for v in manifest["variables"]]
    if doc_ids is None and not variables:
        raise JobError("Say what to re-run: documents, variables, or both.", code="rerun")
    chosen = list(dict.fromkeys(doc_ids)) if doc_ids is not None else list(known)
    if not chosen or len(chosen) > MAX_RERUN_DOCUMENTS:
        raise JobError("Choose at least one document to re-run.", code="rerun")
    for doc_id in chosen:
        if check_doc_id(doc_id) not in known:
            raise JobNotFound(f"No document {doc_id} in job {job_id}.")
    wanted = list(dict.fromkeys(variables)) if variables else None
    for name in wanted or []:
        if name not in names:
            raise VariablesError(f"No variable named {name!r} in this job.")
    if wanted is not None and set(wanted) == set(names):
        wanted = None  # every variable: the whole document
    if wanted is not None and (manifest.get("options") or {}).get("batch"):
        raise JobError("A batch-mode job re-runs whole documents: choose documents, not variables.", code="rerun")
    model = check_model(services, job_id, model)
    plan = RerunPlan(doc_ids=chosen, variables=wanted, model=model, keep_corrections=keep_corrections)

    for doc_id in chosen:  # the copy first: a crash in between leaves a copy and the result, never neither
        previous = store.read_result(job_id, doc_id)
        store.write_work(job_id, work_name(doc_id), json.dumps(
            {"variables": wanted, "result": previous}, ensure_ascii=False, default=str).encode("utf-8"))
        store.delete_result(job_id, doc_id)
    staying = [DocumentResult.model_validate(r) for d in known if d not in chosen
               if (r := store.read_result(job_id, d)) is not None]
    services.safe_apply(job_id, rerun_counts, Tally.of_results(staying), model)
    if not keep_corrections:
        services.book.drop_reviews(job_id, chosen, wanted)
    return plan


def check_model(services: JobServices, job_id: str, model: str | None) -> str | None:
    """Another model of the job's backend among those offered (ALLOWED_MODELS), or None to keep the job's."""
    if not model:
        return None
    from policy_reader.llm import providers

    state = services.store.read_state(job_id)
    backend = str(state.get("backend") or "")
    provider = providers.get(backend)
    allowed = provider.model_names(services.settings)
    if not provider.uses_model or model not in allowed:
        raise JobError(f"The model {model!r} is not offered for this job's backend ({backend}); choose one of: "
                       f"{', '.join(allowed) or 'none'} (ALLOWED_MODELS).", code="model")
    return model


def rerun_counts(state: dict[str, Any], staying: Tally, model: str | None) -> bool:
    """job.json counts the results that stay (the next run counts the others as it finishes them); a
    model chosen for the re-run becomes the job's model."""
    state.update(staying.fields(with_ids=True))
    if model:
        state.update(model=model, model_override=model)
    return True


def run_again(store: JobStore, job_id: str, doc_id: str, variables: list[Any],
              process: Callable[[list[Any]], DocumentResult]) -> DocumentResult:
    """Run one document (`process(variables)`), as its re-run asks when there is one (see the module
    docstring): only the chosen variables merged into the earlier answers, and earlier usage kept."""
    raw = store.read_work(job_id, work_name(doc_id))
    if raw is None:
        return process(variables)
    order = json.loads(raw)
    previous = DocumentResult.model_validate(order["result"]) if order.get("result") else None
    names = order.get("variables")
    if previous is None or previous.status != "ok" or not names:
        result = process(variables)
        return result if previous is None else result.model_copy(update={"usage": previous.usage.add(result.usage)})
    subset = [v for v in variables if v.name in set(names)]
    fresh = process(subset)
    if fresh.status != "ok":  # the earlier answers stay; the warning says the re-run failed
        warning = f"Asking {', '.join(names)} again failed: {fresh.error or 'failed'}. The earlier answers are kept."
        return previous.model_copy(update={"warnings": [*previous.warnings, warning],
                                           "usage": previous.usage.add(fresh.usage)})
    new = {a.name: a for a in fresh.variables}
    answers = [new.get(a.name, a) for a in previous.variables]
    return previous.model_copy(update={"variables": answers, "usage": previous.usage.add(fresh.usage),
                                       "cached": False, "cache_key": fresh.cache_key or previous.cache_key,
                                       "elapsed_s": round(previous.elapsed_s + fresh.elapsed_s, 3)})
