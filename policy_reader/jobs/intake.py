"""A new job: what it must pass before it is accepted, and how it is stored.

Every check happens here, once, for the app and the CLI alike: files and variables present and
unique, recipients valid, the chosen backend able to run (e.g. its key is set), the user's limits.
The inputs are written first and job.json last, so a job becomes visible only once complete.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from policy_reader.jobs import ledger, limits
from policy_reader.llm import providers
from policy_reader.config import Settings
from policy_reader.errors import JobError, JobNotFound, VariablesError, storage_error
from policy_reader.models import SkippedFile, Variable
from policy_reader.untrusted import strip_invisible
from policy_reader.variables import check_variable_limits
from policy_reader.jobs.retention import job_states
from policy_reader.jobs.services import JobServices
from policy_reader.jobs.state import JobOptions, new_state, now
from policy_reader.jobs.store import doc_id_for

Files = Sequence[tuple[str, "bytes | Path"]]


def screen_files(files: Sequence[tuple[str, Any]], max_file_mb: float) -> tuple[list[tuple[str, Any]],
                                                                             list[SkippedFile]]:
    """Split uploads into (accepted, skipped). One bad file never drops the others.

    Only what makes a file certainly useless is skipped here (empty, over MAX_FILE_MB, not a PDF, the
    very same bytes as an earlier file); everything subtler (corrupt, encrypted, no text) is reported
    per document by the job. The skipped files are given to `create_job` so the job's record keeps them
    (job.json, JSON export, Errors sheet, email) — the app (bytes) and the CLI (paths) screen the same way."""
    accepted: list[tuple[str, Any]] = []
    skipped: list[SkippedFile] = []
    seen: dict[str, str] = {}
    for name, data in files:
        name = strip_invisible(str(name))[:300]  # shown on pages, in emails and exports: no bidi override
        size, head = _size_and_head(data)
        if not size:
            skipped.append(SkippedFile(name=name, reason="the file is empty", code="empty"))
        elif size > max_file_mb * 1024 * 1024:
            skipped.append(SkippedFile(name=name, code="too_large", size=size,
                                       reason=f"{size / 1048576:.1f} MB is over the {max_file_mb:g} MB limit"))
        elif b"%PDF-" not in head:
            skipped.append(SkippedFile(name=name, reason="this is not a PDF file", code="not_pdf", size=size))
        else:
            digest = _digest(data)
            if digest in seen:
                skipped.append(SkippedFile(name=name, code="duplicate", size=size,
                                           reason=f"the same file as {seen[digest]} (identical content), read once"))
                continue
            seen[digest] = name
            accepted.append((name, data))
    return accepted, skipped


def _size_and_head(data: bytes | Path) -> tuple[int, bytes]:
    if isinstance(data, (bytes, bytearray)):
        return len(data), bytes(data[:1024])
    path = Path(data)
    with path.open("rb") as handle:
        return path.stat().st_size, handle.read(1024)


def _digest(data: bytes | Path) -> str:
    if isinstance(data, (bytes, bytearray)):
        return hashlib.sha256(data).hexdigest()
    with Path(data).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_recipients(settings: Settings, recipients: Sequence[str]) -> list[str]:
    """Valid, deduplicated addresses, within EMAIL_ALLOWED_DOMAINS when it is set, at most EMAIL_MAX_RECIPIENTS."""
    cleaned = [r.strip() for r in recipients if r and r.strip()]
    if not cleaned:
        return []
    from policy_reader.delivery.emailer import validate_recipients

    return validate_recipients(cleaned, allowed_domains=settings.email_allowed_domain_list,
                               max_recipients=settings.email_max_recipients)


def check_backend(settings: Settings, options: JobOptions) -> tuple[str, str]:
    """(backend, model) the job will use; ConfigError when that backend cannot run (e.g. no key)."""
    from policy_reader.extraction.extractor import make_extractor

    provider = providers.resolve(settings, options.backend)  # `auto` resolved once, here; job.json keeps the name
    allowed = provider.model_names(settings)
    if provider.uses_model and options.model and options.model not in allowed:
        raise JobError(f"The model {options.model!r} is not offered here; choose one of: "
                       f"{', '.join(allowed) or 'none'} (ALLOWED_MODELS).", code="model")
    make_extractor(settings, backend=provider.name, model=options.model)
    return provider.name, providers.model_for(settings, provider.name, options.model)


def check_batch(settings: Settings, options: JobOptions, backend: str) -> None:
    """Batch mode needs a provider with a Batch API, and runs in the process that follows the batch."""
    if not options.batch:
        return
    if not providers.get(backend).batch:
        raise JobError("Batch mode needs OpenAI or Azure OpenAI (their Batch API); the offline extractor and this "
                       "backend answer at once anyway.", code="batch")
    if settings.job_store != "file":
        raise JobError("Batch mode runs with JOB_STORE=file for now: on the shared Azure queue each document "
                       "is its own message. Run the job without batch mode.", code="batch")
    if (options.second_opinion or "").strip():
        raise JobError("Batch mode and a second opinion do not go together yet: choose one of them.", code="batch")


def check_second_opinion(settings: Settings, options: JobOptions, backend: str, model: str) -> str | None:
    """The second engine of a job with a second opinion: "offline", or a model of the job's own (OpenAI or
    Azure) backend among those offered. Not the job's own engine: it would only repeat its answers."""
    choice = (options.second_opinion or "").strip()
    if not choice:
        return None
    if choice == "offline":
        if not providers.get(backend).uses_model:
            raise JobError("The offline extractor cannot give itself a second opinion: choose a model, or no "
                           "second opinion.", code="second_opinion")
        return choice
    if not providers.get(backend).uses_model:
        raise JobError("A second model needs a job on the OpenAI or Azure backend; with the offline extractor, "
                       "ask for no second opinion.", code="second_opinion")
    allowed = providers.get(backend).model_names(settings)
    if choice not in allowed:
        raise JobError(f"The model {choice!r} is not offered here for a second opinion; choose one of: "
                       f"{', '.join(allowed) or 'none'} (ALLOWED_MODELS), or 'offline'.", code="model")
    if choice == model:
        raise JobError(f"The second opinion must come from another engine than the job's own ({model}).",
                       code="second_opinion")
    return choice


def check_page_limit(services: JobServices, owner: str) -> None:
    """USER_MAX_PAGES_PER_DAY, from the pages recorded in the user's ledger today plus what their running jobs
    read since (jobs/ledger.py): deleting a job does not give its pages back."""
    s = services.settings
    if not s.user_max_pages_per_day:
        return
    states = [state for _job_id, state in job_states(services.store)]
    pages = ledger.pages_today(services.store, owner, states)
    limits.check_new_job(s, limits.UserUsage(pages_today=pages), 0, now())


def create_job(services: JobServices, *, name: str, files: Files, variables: Sequence[Variable],
               recipients: Sequence[str] = (), owner: str = "local", options: JobOptions | None = None,
               skipped: Sequence[SkippedFile] = ()) -> str:
    """Check and store a new job; it is PENDING until it is submitted to an executor. `skipped`: the
    uploads screening left out (screen_files), kept in the job's record with their reasons."""
    options = options or JobOptions()
    name = strip_invisible(name)  # shown in emails, pages, the CLI and exports: no bidi override survives
    skipped = [f.model_copy(update={"name": strip_invisible(f.name)[:300], "reason": strip_invisible(f.reason)[:500]})
               for f in (SkippedFile.model_validate(f) for f in list(skipped)[:10_000])]
    if not files:
        if skipped:
            raise JobError(f"None of the {len(skipped)} files can be read ("
                           + "; ".join(f"{f.name}: {f.reason}" for f in skipped[:5])
                           + "). Add at least one PDF to start a job.", code="no_files")
        raise JobError("Add at least one PDF to start a job.", code="no_files")
    variables = list(variables)
    if not variables:
        raise VariablesError("Add at least one variable to extract.")
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise VariablesError("Variable names must be unique within a job.")
    check_variable_limits(variables, max_variables=services.settings.max_variables,
                          max_question_chars=services.settings.max_question_chars)
    recipients = check_recipients(services.settings, recipients)
    backend, model = check_backend(services.settings, options)
    check_batch(services.settings, options, backend)
    # the provider (`auto` resolved) is decided once, here, and kept in the options the run builds its engine
    # from; the model a job names stays as named (none: the provider's default; Azure batches have their own)
    options = options.model_copy(update={"backend": backend,
                                         "second_opinion": check_second_opinion(services.settings, options,
                                                                                backend, model)})
    check_page_limit(services, owner)

    store = services.store
    job_id = store.new_job_id()
    # check and record in one atomic step (jobs/ledger.py): simultaneous requests cannot all pass
    ledger.admit_job(store, services.settings, owner, job_id, len(files))
    documents = []
    for index, (filename, data) in enumerate(files):
        doc_id = doc_id_for(index)
        documents.append({"doc_id": doc_id, "file": strip_invisible(filename)[:300] or f"document-{index + 1}.pdf",
                          "stored": f"{doc_id}-{_safe_name(str(filename))}", "size": _size_of(data)})
    manifest: dict[str, Any] = {"name": name, "documents": documents,
                                "variables": [v.model_dump(mode="json") for v in variables],
                                "options": options.model_dump(exclude={"password"}), "recipients": recipients}
    state = new_state(job_id=job_id, name=name, owner=owner, documents=len(documents), recipients=recipients,
                      backend=backend, model=model, priority=options.priority, skipped=skipped)
    try:
        for doc, (_name, data) in zip(documents, files):
            store.write_input(job_id, doc["stored"], data)
        store.create_job(job_id, state, manifest)
    except BaseException as exc:  # a full disk, a kill: no half-stored job (it would be invisible) is kept
        _discard(store, job_id)
        ledger.forget_job(store, owner, job_id)
        if isinstance(exc, OSError):
            raise storage_error(exc, "store the uploaded files") from None
        raise
    services.vault.put(job_id, options.password)
    services.events.emit(job_id, "job.created", documents=len(documents), variables=len(variables),
                         **({"skipped": len(skipped)} if skipped else {}))
    return job_id


def _discard(store: Any, job_id: str) -> None:
    try:
        store.delete_job(job_id)
    except (JobNotFound, OSError):
        pass


def _size_of(data: bytes | Path) -> int:
    return len(data) if isinstance(data, (bytes, bytearray)) else Path(data).stat().st_size


def _safe_name(filename: str) -> str:
    from policy_reader.reading.pdf_text import sanitize_filename

    return sanitize_filename(filename) or "document.pdf"
