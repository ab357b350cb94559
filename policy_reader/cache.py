"""Answer cache: the finished answers of one document, keyed by everything that shapes them.

Why: analysts re-run jobs (a forgotten variable, a resumed job, the same PDF in a second batch).
Same file bytes + same variables + same engine/model + same prompt + same threshold = same answers,
so a re-run makes zero model calls. Only complete, error-free results are stored.
Files: <JOBS_DIR>/_cache/<key>.json, written atomically; a damaged file is simply a miss.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .fsio import atomic_write_json, read_json
from .grounding import GROUNDING_VERSION
from .models import Answer, AnswerStatus, Usage, Variable
from .prompts import PROMPT_VERSION

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
    def key(file_sha256: str, variables: list[Variable], cache_id: str, accept_threshold: float) -> str:
        """sha256 over the file hash, the variables (sorted by name), engine, prompt version, threshold."""
        material = json.dumps({
            "file": file_sha256,
            "variables": sorted((v.model_dump(mode="json") for v in variables), key=lambda d: d["name"]),
            "extractor": cache_id,
            "prompt": PROMPT_VERSION,
            "grounding": GROUNDING_VERSION,  # answers checked by older alignment rules are not reused
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
