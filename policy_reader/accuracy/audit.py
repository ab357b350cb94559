"""The audit sample: how right are the accepted answers of a job that has no gold set?

Accepted answers are the ones an analyst takes without looking, so they are the ones whose accuracy
matters (answers flagged for review get a person's eyes anyway). A reviewer checks a simple random
sample of them against their highlighted evidence; the share marked right estimates the accuracy of
all the job's accepted answers, with a 95% Wilson interval (accuracy.wilson).

Sample size for a target margin of error E (half the width of the interval) at 95% confidence:

    n0 = z^2 * p * (1 - p) / E^2        z = 1.96, p = 0.5 (the worst case: no prior guess needed)
    n  = ceil(n0 / (1 + (n0 - 1) / N))  finite population correction, N = accepted answers in the job

so ±5% needs 385 answers of a very large job, but 278 of 1,000 and 80 of 100. The interval is then
computed from the marks without the correction (Wilson), which errs on the wide side.

The draw is reproducible: a seed is chosen (or given), stored with the sample, and the sample is
`random.Random(seed).sample` of the accepted answers in a fixed order (documents in upload order,
variables in the job's order), so anyone can re-draw it from the stored results and the seed.
Per-variable estimates use the variable's share of the one sample: their intervals are wider than the
overall one (fewer answers each), and they say so by their n.

Pure functions; the job engine stores the sample and the marks with the job (jobs/accuracy.py).
"""
from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from policy_reader.accuracy.gold import CONFIDENCE, Proportion, z_value
from policy_reader.models import AnswerStatus, DocumentResult, Variable

MARGINS = (0.05, 0.10, 0.15, 0.20)  # what the app offers (AUDIT_MARGIN is the default)


def sample_size(population: int, margin: float, confidence: float = CONFIDENCE, p: float = 0.5) -> int:
    """Answers to check so the interval's half-width is about `margin` (see the module docstring)."""
    if population <= 0:
        return 0
    if not 0 < margin < 1:
        raise ValueError(f"the margin of error must be between 0 and 1, not {margin}")
    n0 = z_value(confidence) ** 2 * p * (1 - p) / margin ** 2
    return max(1, min(population, math.ceil(n0 / (1 + (n0 - 1) / population) - 1e-9)))


def item_key(doc_id: str, variable: str) -> str:
    return f"{doc_id}/{variable}"


def accepted_answers(documents: Sequence[DocumentResult], variables: Sequence[Variable]) -> list[tuple[str, str]]:
    """Every accepted answer as (doc_id, variable), documents in upload order, variables in the job's order.
    `documents` are the results as the model left them (an analyst's later corrections do not change
    which answers the engine accepted)."""
    order = {v.name: i for i, v in enumerate(variables)}
    out = []
    for doc in documents:
        if doc.status != "ok":
            continue
        accepted = [a.name for a in doc.variables if a.status == AnswerStatus.ACCEPTED and a.value is not None]
        out += [(doc.doc_id, name) for name in sorted(accepted, key=lambda n: order.get(n, len(order)))]
    return out


def draw(population: Sequence[tuple[str, str]], n: int, seed: int) -> list[tuple[str, str]]:
    """`n` items drawn at random with `seed`, listed in the population's order (a reviewer then sees one
    document's answers together). The same population and seed give the same sample."""
    chosen = set(random.Random(seed).sample(range(len(population)), min(n, len(population))))
    return [item for i, item in enumerate(population) if i in chosen]


def new_seed() -> int:
    return secrets.randbelow(2 ** 31)


class AuditMark(BaseModel):
    correct: bool
    at: str = ""


class AuditRecord(BaseModel):
    """The sample and its marks, as stored with the job (reviews.json, key "audit")."""

    seed: int
    margin: float
    confidence: float = CONFIDENCE
    population: int  # accepted answers in the job when the sample was drawn
    population_by_variable: dict[str, int] = Field(default_factory=dict)
    items: list[tuple[str, str]]  # (doc_id, variable), in review order
    marks: dict[str, AuditMark] = Field(default_factory=dict)  # item_key -> mark
    drawn_at: str = ""
    backend: str | None = None
    model: str | None = None
    prompt_version: str | None = None  # None: the extractor uses no prompt (offline)

    def mark_of(self, doc_id: str, variable: str) -> bool | None:
        mark = self.marks.get(item_key(doc_id, variable))
        return None if mark is None else mark.correct


def new_audit(documents: Sequence[DocumentResult], variables: Sequence[Variable], *, margin: float,
              seed: int | None = None, drawn_at: str = "", backend: str | None = None, model: str | None = None,
              prompt_version: str | None = None) -> AuditRecord:
    """A new sample of the accepted answers sized for `margin` (ValueError when there is none)."""
    population = accepted_answers(documents, variables)
    if not population:
        raise ValueError("this job has no accepted answers to audit")
    seed = new_seed() if seed is None else int(seed)
    by_variable: dict[str, int] = {}
    for _doc, name in population:
        by_variable[name] = by_variable.get(name, 0) + 1
    items = draw(population, sample_size(len(population), margin), seed)
    return AuditRecord(seed=seed, margin=margin, population=len(population), population_by_variable=by_variable,
                       items=items, drawn_at=drawn_at, backend=backend, model=model, prompt_version=prompt_version)


class AuditScore(Proportion):
    population: int = 0  # accepted answers (of this variable) in the job
    sampled: int = 0  # of them in the sample (marked or not)


class AuditEstimate(BaseModel):
    """The accuracy of a job's accepted answers, estimated from the marked sample."""

    overall: AuditScore
    variables: dict[str, AuditScore]
    sample_size: int
    marked: int
    margin: float
    confidence: float
    seed: int
    drawn_at: str = ""
    backend: str | None = None
    model: str | None = None
    prompt_version: str | None = None

    @property
    def complete(self) -> bool:
        return self.marked >= self.sample_size

    def progress_text(self) -> str:
        return (f"{self.marked} of {self.sample_size} sampled answers marked"
                + ("" if self.complete else " (audit in progress)"))

    def sample_text(self) -> str:
        return (f"{self.sample_size} of {self.overall.population} accepted answers drawn at random (seed "
                f"{self.seed}), sized for a margin of ±{100 * self.margin:g}% at {100 * self.confidence:g}%; "
                f"{self.progress_text()}")

    def model_text(self) -> str:
        model = " · ".join(x for x in (self.backend, self.model) if x) or "unknown"
        return f"{model}; prompt version {self.prompt_version or 'n/a (offline extractor, no prompt)'}"

    def to_json(self) -> dict[str, Any]:
        """The JSON export's `accuracy` entry."""
        return {"method": "audit", "scope": "accepted answers", **self.model_dump(mode="json"),
                "complete": self.complete}


def estimate(record: AuditRecord, variables: Sequence[Variable] = ()) -> AuditEstimate:
    """Per variable and overall: the marked items' share right, with its Wilson interval."""
    names = [v.name for v in variables] or list(record.population_by_variable)
    names += [n for n in record.population_by_variable if n not in names]
    tallies = {name: [0, 0, 0] for name in names}  # sampled, marked, right
    for doc_id, name in record.items:
        tally = tallies.setdefault(name, [0, 0, 0])
        tally[0] += 1
        mark = record.mark_of(doc_id, name)
        if mark is not None:
            tally[1] += 1
            tally[2] += mark
    per_variable = {name: AuditScore.of(right, marked, population=record.population_by_variable.get(name, 0),
                                        sampled=sampled)
                    for name, (sampled, marked, right) in tallies.items() if record.population_by_variable.get(name)}
    marked = sum(t[1] for t in tallies.values())
    overall = AuditScore.of(sum(t[2] for t in tallies.values()), marked, population=record.population,
                            sampled=len(record.items))
    return AuditEstimate(overall=overall, variables=per_variable, sample_size=len(record.items), marked=marked,
                         margin=record.margin, confidence=record.confidence, seed=record.seed,
                         drawn_at=record.drawn_at, backend=record.backend, model=record.model,
                         prompt_version=record.prompt_version)
