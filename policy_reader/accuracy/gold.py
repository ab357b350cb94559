"""Measured accuracy: a job's answers against a gold set, with a 95% Wilson interval.

Why a gold set and an interval: a model's confidence says little about whether an answer is right,
and "needs review" flags only catch what the model doubted. What an analyst can publish is a count:
of the answers a careful person already knows (the gold set), how many did the table get right, and
how sure can we be of that rate given how many answers were checked (the interval).

- `wilson(correct, n)`: the Wilson score interval. Unlike the textbook p +- 1.96 sqrt(p(1-p)/n) it
  never leaves [0, 1] and stays honest at 0/n, n/n and small n, which is where audits of a few dozen
  answers live.
- `parse_gold(data)`: a gold CSV (`file, variable, value[, page]`) read with limits; the app runs it in
  a reader process (sandbox.load_gold), as it does every uploaded file.
- `same_value(variable, expected, found)`: values compared by the variable's type (numbers and years
  as numbers, booleans as yes/no, lists as sets, dates as ISO dates, text normalised, categories
  exactly), so "45%" in a gold sheet matches the number 45 and "Transport; energy" the list
  ["energy", "transport"].
- `evaluate(documents, variables, gold)`: per variable and overall n, correct, accuracy, interval,
  page_correct, and the misses with both values and the quote.

Pure functions (no I/O): the job engine (jobs/accuracy.py) feeds them a job's results.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

from pydantic import BaseModel, Field

from policy_reader.errors import GoldError
from policy_reader.models import Answer, DocumentResult, Variable, VariableType
from policy_reader.reading.sandbox import read_csv_cells
from policy_reader.extraction.second_opinion import comparable, normalise_text, same_value  # noqa: F401 - re-exported

CONFIDENCE = 0.95
GOLD_COLUMNS = ("file", "variable", "value")
GOLD_OPTIONAL = ("page",)
GOLD_MAX_FIELD_CHARS = 20_000  # one cell of a gold sheet; longer is not a value an analyst typed
_FORMULA_ESCAPED = re.compile(r"^'(?=[=+\-@\t\r])")  # our own CSV exports defuse cells with a leading '


# --------------------------------------------------------------------------- the interval

def z_value(confidence: float = CONFIDENCE) -> float:
    """1.959964... for 95%: the two-sided normal quantile."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval for `correct` successes out of `n` (None when n is 0).

    centre = (p + z^2/2n) / (1 + z^2/n),  half-width = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
    """
    if n <= 0:
        return None
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be between 0 and n ({correct} of {n})")
    z = z_value(confidence)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


class Proportion(BaseModel):
    """How many of n were right, the rate and its 95% Wilson interval (None when n is 0)."""

    n: int = 0
    correct: int = 0
    accuracy: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def of(cls, correct: int, n: int, **extra: Any) -> Any:
        interval = wilson(correct, n)
        return cls(n=n, correct=correct, accuracy=round(correct / n, 6) if n else None,
                   ci_low=round(interval[0], 6) if interval else None,
                   ci_high=round(interval[1], 6) if interval else None, **extra)

    def text(self) -> str:
        """'92.0% (95% CI 75.0%-97.8%, n=25)', or 'no answers checked'."""
        if not self.n or self.accuracy is None:
            return "no answers checked"
        return (f"{100 * self.accuracy:.1f}% (95% CI {100 * (self.ci_low or 0):.1f}%–"
                f"{100 * (self.ci_high or 0):.1f}%, {self.correct} of {self.n} right)")


class Score(Proportion):
    """One variable's (or the whole job's) accuracy against the gold set."""

    page_correct: int = 0  # right value AND on the gold page (rows without a gold page: right value)


# --------------------------------------------------------------------------- comparing values

# normalise_text, comparable and same_value live in extraction/second_opinion.py (one wing down), so the
# second opinion compares values without importing the accuracy wing; re-exported here.


# --------------------------------------------------------------------------- the gold file

class GoldRow(BaseModel):
    """One known answer: `value` as typed in the sheet ("" = the document does not state it)."""

    row: int  # the spreadsheet row number (2 = first row under the header)
    file: str
    variable: str
    value: str = ""
    page: int | None = None


def parse_gold(data: bytes, filename: str = "gold.csv", *, max_rows: int = 50_000) -> list[GoldRow]:
    """The rows of a gold CSV. Raises GoldError naming the file and the row for anything unreadable."""
    return gold_rows(read_csv_cells(data, filename, max_rows=max_rows, limit_name="GOLD_MAX_ROWS", error=GoldError),
                     filename)


def load_gold(data: bytes, filename: str, settings: Any) -> list[GoldRow]:
    """An uploaded gold CSV: its cells read in a reader process (GOLD_MAX_MB, GOLD_MAX_ROWS; the app never
    parses an uploaded file), then given their meaning here. Raises GoldError naming the file and row."""
    from policy_reader.reading import sandbox

    cells = sandbox.load_csv_cells(data, filename, settings, what="gold file", max_mb=settings.gold_max_mb,
                                   mb_limit_name="GOLD_MAX_MB", max_rows=settings.gold_max_rows,
                                   rows_limit_name="GOLD_MAX_ROWS", error=GoldError)
    return gold_rows(cells, filename)


def gold_rows(table: Sequence[Sequence[str]], filename: str = "gold.csv") -> list[GoldRow]:
    """A gold sheet's cells (header first) as GoldRows. Raises GoldError naming the file and the row."""
    header = [str(h).strip().lower().lstrip("\ufeff") for h in (table[0] if table else [])]
    missing = [c for c in GOLD_COLUMNS if c not in header]
    if missing:
        raise GoldError(f"{filename}: the header must name the columns file, variable, value (and optionally "
                        f"page); missing: {', '.join(missing)}.")
    where = {name: header.index(name) for name in (*GOLD_COLUMNS, *GOLD_OPTIONAL) if name in header}
    rows: list[GoldRow] = []
    seen: dict[tuple[str, str], int] = {}
    for number, cells in enumerate(table[1:], start=2):
        cells = [str(c) for c in cells]
        if not any(c.strip() for c in cells):
            continue
        rows.append(_gold_row(cells, where, number, filename, seen))
    if not rows:
        raise GoldError(f"{filename} has no rows under its header.", code="empty")
    return rows


def _gold_row(cells: list[str], where: Mapping[str, int], number: int, filename: str,
              seen: dict[tuple[str, str], int]) -> GoldRow:
    def cell(name: str) -> str:
        i = where.get(name)
        value = cells[i] if i is not None and i < len(cells) else ""
        if len(value) > GOLD_MAX_FIELD_CHARS:
            raise GoldError(f"{filename} row {number}: the {name} cell is longer than {GOLD_MAX_FIELD_CHARS:,} "
                            f"characters.")
        return _FORMULA_ESCAPED.sub("", value.strip())

    file, variable = cell("file"), cell("variable")
    if not file or not variable:
        raise GoldError(f"{filename} row {number}: the {'file' if not file else 'variable'} cell is empty.")
    page_text = cell("page")
    page = None
    if page_text:
        if not re.fullmatch(r"\d{1,7}(\.0*)?", page_text) or int(page_text.split(".")[0]) < 1:
            raise GoldError(f"{filename} row {number}: page {page_text[:20]!r} is not a page number (1, 2, ...).")
        page = int(page_text.split(".")[0])
    key = (_file_key(file), variable)
    if key in seen:
        raise GoldError(f"{filename} row {number}: {file} / {variable} is already given in row {seen[key]}.")
    seen[key] = number
    return GoldRow(row=number, file=file, variable=variable, value=cell("value"), page=page)


def _file_key(name: str) -> str:
    """Gold sheets name files as uploaded, or with a folder in front: the base name, case-insensitive."""
    return re.split(r"[\\/]", name.strip())[-1].casefold()


# --------------------------------------------------------------------------- evaluating a job

class Miss(BaseModel):
    """A gold answer the table got wrong (kind "value"), or got right on another page (kind "page")."""

    kind: str  # "value" | "page"
    row: int  # the gold sheet's row
    file: str
    variable: str
    expected: Any = None
    found: Any = None
    expected_page: int | None = None
    page: int | None = None
    quote: str = ""
    status: str = ""  # the answer's status (accepted, needs_review, not_found, error), or "failed" (document)


class Evaluation(BaseModel):
    overall: Score
    variables: dict[str, Score]
    misses: list[Miss]
    skipped: list[str] = Field(default_factory=list)  # gold rows that match nothing in the job (and why)

    def to_json(self) -> dict[str, Any]:
        """The published shape: {"overall": {...}, "variables": {name: {...}}, "misses": [...]}."""
        return {"overall": self.overall.model_dump(), "variables": {k: v.model_dump() for k, v in self.variables.items()},
                "misses": [m.model_dump(mode="json") for m in self.misses]}


def evaluate(documents: Sequence[DocumentResult], variables: Sequence[Variable], gold: Sequence[GoldRow],
             *, filename: str = "gold.csv") -> Evaluation:
    """Compare every gold row with the job's answer. Raises GoldError when a gold value cannot be read as
    its variable's type, or when no row matches the job at all."""
    from policy_reader.variables import coerce_value

    by_name = {v.name: v for v in variables}
    docs: dict[str, list[DocumentResult]] = {}
    for doc in documents:
        docs.setdefault(_file_key(doc.file), []).append(doc)
    counts: dict[str, list[int]] = {v.name: [0, 0, 0] for v in variables}  # n, correct, page_correct
    misses: list[Miss] = []
    skipped: list[str] = []
    for row in gold:
        variable = by_name.get(row.variable)
        matches = docs.get(_file_key(row.file), [])
        if variable is None:
            skipped.append(f"row {row.row}: no variable {row.variable!r} in this job")
            continue
        if len(matches) != 1:
            skipped.append(f"row {row.row}: " + (f"no document {row.file!r} with results in this job" if not matches
                                                 else f"{len(matches)} documents are named {row.file!r}"))
            continue
        expected, problem = coerce_value(variable, row.value) if row.value else (None, None)
        if problem:
            raise GoldError(f"{filename} row {row.row}: {row.variable}: {problem}.")
        doc = matches[0]
        answer = next((a for a in doc.variables if a.name == variable.name), None)
        found = answer.value if answer is not None else None
        right = same_value(variable, expected, found)
        on_page = right and (row.page is None or expected is None or _on_page(variable, answer, row.page))
        tally = counts[variable.name]
        tally[0] += 1
        tally[1] += right
        tally[2] += on_page
        if not on_page:
            misses.append(Miss(kind="page" if right else "value", row=row.row, file=doc.file, variable=variable.name,
                               expected=expected, found=found, expected_page=row.page,
                               page=answer.page if answer is not None else None,
                               quote=answer.evidence if answer is not None else "",
                               status=_status(doc, answer)))
    if not any(t[0] for t in counts.values()):
        raise GoldError(f"None of the {len(gold):,} rows of {filename} names a document and variable of this job"
                        + (f" ({skipped[0]})." if skipped else "."), code="no_match")
    scores = {name: Score.of(c, n, page_correct=p) for name, (n, c, p) in counts.items() if n}
    total = [sum(t[i] for t in counts.values()) for i in range(3)]
    return Evaluation(overall=Score.of(total[1], total[0], page_correct=total[2]), variables=scores,
                      misses=misses, skipped=skipped)


def _on_page(variable: Variable, answer: Answer | None, page: int) -> bool:
    """The answer's page is the gold page (for a list, gathered from several pages: one of them)."""
    if answer is None:
        return False
    return answer.page == page or (variable.type == VariableType.LIST and page in answer.pages)


def _status(doc: DocumentResult, answer: Answer | None) -> str:
    if doc.status != "ok":
        return "failed"
    return answer.status.value if answer is not None else "missing"
