"""Answer cache: the finished answers of one document, keyed by everything that shapes them.

Why: analysts re-run jobs (a forgotten variable, a resumed job, the same PDF in a second batch).
Same file bytes + same variables + same engine/model + same prompt + same threshold = same answers,
so a re-run makes zero model calls. Only complete, error-free results are stored.
Files: <JOBS_DIR>/_cache/<key>.json, written atomically; a damaged file is simply a miss.

Entries belong to the jobs that use them. A job uses the cache through `for_job(job_id, scope)`,
which records `<key>.refs/<job_id>` for every entry it reads or writes; deleting or expiring the last
job that uses an entry removes it (`release`, and `sweep` for what a crash or another instance left).
The scope is the job's owner, so one user's cache never answers another user's job, unless the
operator allows sharing (CACHE_SHARING) — and then only for the very same document bytes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from pydantic import ValidationError

from policy_reader.fsio import atomic_write_json, read_json
from policy_reader.extraction.grounding import GROUNDING_VERSION
from policy_reader.reading.pdf_text import READING_VERSION
from policy_reader.models import Answer, AnswerStatus, Usage, Variable
from policy_reader.llm.prompts import PROMPT_VERSION

log = logging.getLogger(__name__)

CACHE_DIRNAME = "_cache"


@dataclass
class CachedAnswers:
    answers: list[Answer]
    usage: Usage  # what the original run spent (a cache hit itself spends nothing)


class AnswerCache:
    """root: the cache folder, <JOBS_DIR>/_cache (passing the jobs folder itself also works)."""

    def __init__(self, root: Path) -> None:
        root = Path(root)
        self.root = root if root.name == CACHE_DIRNAME else root / CACHE_DIRNAME

    @staticmethod
    def key(file_sha256: str, variables: list[Variable], cache_id: str, accept_threshold: float,
            scope: str = "") -> str:
        """sha256 over the file hash, the variables (sorted by name), engine, prompt, grounding and reading versions, threshold
        and the scope (the owner, unless answers are shared between users)."""
        material = json.dumps({
            "scope": scope,
            "file": file_sha256,
            "variables": sorted((v.model_dump(mode="json") for v in variables), key=lambda d: d["name"]),
            "extractor": cache_id,
            "prompt": PROMPT_VERSION,
            "grounding": GROUNDING_VERSION,  # answers checked by older alignment rules are not reused
            "reading": READING_VERSION,  # answers to text read by older rules (tables) are not reused
            "threshold": round(float(accept_threshold), 6),
        }, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str, variables: list[Variable]) -> CachedAnswers | None:
        """The cached answers in `variables` order, or None (missing, damaged or not matching)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            data = read_json(path)
            answers = {a["name"]: Answer.model_validate(a) for a in data["answers"]}
            usage = Usage.model_validate(data.get("usage", {}))
            return CachedAnswers([answers[v.name] for v in variables], usage)
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("ignoring damaged cache entry %s: %s", path.name, exc)
            return None

    def put(self, key: str, answers: list[Answer], usage: Usage) -> bool:
        """Store a finished document's answers. Refuses (False) when any answer is an error."""
        if any(a.status == AnswerStatus.ERROR for a in answers):
            return False
        atomic_write_json(self._path(key), {
            "prompt_version": PROMPT_VERSION,
            "answers": [a.model_dump(mode="json") for a in answers],
            "usage": usage.model_dump(mode="json"),
        })
        return True

    # ------------------------------------------------------------------ ownership

    def for_job(self, job_id: str, scope: str) -> "JobCache":
        return JobCache(self, job_id, scope)

    def _refs(self, key: str) -> Path:
        return self.root / f"{key}.refs"

    def _lock(self, key: str) -> FileLock:
        return FileLock(str(self.root / f".{key}.lock"), timeout=30)

    def add_ref(self, key: str, job_id: str) -> None:
        self._refs(key).mkdir(parents=True, exist_ok=True)
        (self._refs(key) / job_id).touch()

    def release(self, job_id: str, keys: Iterable[str]) -> list[str]:
        """The job no longer uses these entries; those no other job uses are deleted. Returns them."""
        removed = []
        for key in set(keys):
            if not key or not _KEY.fullmatch(key):
                continue
            with self._lock(key):
                (self._refs(key) / job_id).unlink(missing_ok=True)
                if not _ref_names(self._refs(key)):
                    self._drop(key)
                    removed.append(key)
        return removed

    def sweep(self, job_exists: Callable[[str], bool], min_age_s: float) -> list[str]:
        """Forget references of jobs that no longer exist (a crash between deleting a job and releasing
        its entries, another instance's deletion) and delete entries nobody uses, once older than
        `min_age_s` (an entry being written right now has its reference a moment later)."""
        removed = []
        if not self.root.is_dir():
            return removed
        now = time.time()
        for path in self.root.glob("*.json"):
            key = path.stem
            if not _KEY.fullmatch(key):
                continue
            with self._lock(key):
                for name in _ref_names(self._refs(key)):
                    if not job_exists(name):
                        (self._refs(key) / name).unlink(missing_ok=True)
                try:
                    old = now - path.stat().st_mtime >= min_age_s
                except OSError:
                    continue
                if old and not _ref_names(self._refs(key)):
                    self._drop(key)
                    removed.append(key)
        return removed

    def _drop(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        shutil.rmtree(self._refs(key), ignore_errors=True)
        (self.root / f".{key}.lock").unlink(missing_ok=True)


class JobCache:
    """One job's view of the cache: keys in the job's scope, and every entry it uses referenced by it."""

    def __init__(self, cache: AnswerCache, job_id: str, scope: str) -> None:
        self.cache = cache
        self.job_id = job_id
        self.scope = scope

    def key(self, file_sha256: str, variables: list[Variable], cache_id: str, accept_threshold: float) -> str:
        return AnswerCache.key(file_sha256, variables, cache_id, accept_threshold, scope=self.scope)

    def get(self, key: str, variables: list[Variable]) -> CachedAnswers | None:
        found = self.cache.get(key, variables)
        if found is not None:
            with self.cache._lock(key):
                if self.cache._path(key).is_file():
                    self.cache.add_ref(key, self.job_id)
        return found

    def put(self, key: str, answers: list[Answer], usage: Usage) -> bool:
        with self.cache._lock(key):
            stored = self.cache.put(key, answers, usage)
            if stored:
                self.cache.add_ref(key, self.job_id)
        return stored


_KEY = re.compile(r"^[0-9a-f]{64}$")


def _ref_names(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir()]
    except OSError:
        return []
