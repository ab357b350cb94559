"""What running the documents of one job needs, built once per job per process.

Both executors run documents the same way: the job's manifest, its variables, the settings with the
job's options applied, the extractor and the answer cache. Passwords of encrypted PDFs never reach
a job file: they stay in this process's `PasswordVault`.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_reader.extraction.cache import AnswerCache, JobCache
from policy_reader.config import Settings
from policy_reader.extraction.extractor import Extractor, make_extractor
from policy_reader.extraction.pipeline import DocumentTask
from policy_reader.models import Variable
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")


class PasswordVault:
    """Passwords for encrypted PDFs, per job, in memory only."""

    def __init__(self) -> None:
        self._items: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, job_id: str, password: str | None) -> None:
        if password:
            with self._lock:
                self._items[job_id] = password

    def get(self, job_id: str) -> str | None:
        with self._lock:
            return self._items.get(job_id)

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._items.pop(job_id, None)


def job_settings(settings: Settings, options: dict[str, Any]) -> Settings:
    """The settings with a job's options applied (OCR on/off, accept threshold)."""
    update: dict[str, Any] = {}
    if options.get("ocr") is not None:
        update["ocr_enabled"] = bool(options["ocr"])
    if options.get("accept_threshold") is not None:
        update["accept_threshold"] = float(options["accept_threshold"])
    return settings.model_copy(update=update) if update else settings


def second_engine(settings: Settings, options: dict[str, Any]) -> Extractor | None:
    """The job's second-opinion engine (checked at intake): the offline extractor, or another model of the
    job's backend."""
    choice = options.get("second_opinion")
    if not choice:
        return None
    if choice == "offline":
        return make_extractor(settings, backend="offline")
    return make_extractor(settings, backend=options.get("backend"), model=choice)


def make_cache(settings: Settings) -> AnswerCache | None:
    try:
        return AnswerCache(Path(settings.jobs_dir) / "_cache")
    except Exception:  # noqa: BLE001 - the cache is an optimisation, never a reason to fail
        log.warning("answer cache unavailable", exc_info=True)
        return None


def cache_scope(settings: Settings, owner: str) -> str:
    """Whose cached answers a job may reuse: its owner's, or everyone's when CACHE_SHARING is on."""
    return "" if settings.cache_sharing else f"owner:{owner}"


@dataclass
class JobContext:
    job_id: str
    manifest: dict[str, Any]
    docs: dict[str, dict[str, Any]]
    variables: list[Variable]
    settings: Settings
    extractor: Extractor
    cache: JobCache | None
    password: str | None = None
    second_opinion: Extractor | None = None  # JobOptions.second_opinion: a second engine to disagree with

    @classmethod
    def load(cls, store: JobStore, job_id: str, settings: Settings, vault: PasswordVault) -> "JobContext":
        """Raises PolicyReaderError (e.g. ConfigError) when the job's extractor cannot be built."""
        manifest = store.read_manifest(job_id)
        options = manifest.get("options") or {}
        run_settings = job_settings(settings, options)
        cache = make_cache(run_settings)
        state = store.read_state(job_id)
        owner = str(state.get("owner") or "local")
        model = state.get("model_override") or options.get("model")  # a re-run may choose another allowed model
        return cls(job_id=job_id, manifest=manifest, docs={d["doc_id"]: d for d in manifest["documents"]},
                   variables=[Variable.model_validate(v) for v in manifest.get("variables", [])],
                   settings=run_settings,
                   extractor=make_extractor(run_settings, backend=options.get("backend"), model=model),
                   cache=cache.for_job(job_id, cache_scope(settings, owner)) if cache else None,
                   password=vault.get(job_id), second_opinion=second_engine(run_settings, options))

    def task(self, doc: dict[str, Any], path: Path) -> DocumentTask:
        """One document of this job as the pipeline's task: the job's engine, settings, cache, password and
        second opinion, unpacked here once for every caller (a document run, a batch run)."""
        return DocumentTask(path=path, doc_id=doc["doc_id"], display_name=doc["file"], variables=self.variables,
                            extractor=self.extractor, settings=self.settings, cache=self.cache,
                            password=self.password, second_opinion=self.second_opinion)

    @property
    def documents(self) -> list[dict[str, Any]]:
        return list(self.manifest["documents"])
