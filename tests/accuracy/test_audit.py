"""The audit sample (policy_reader/accuracy/audit.py): its size for a margin of error, a reproducible draw of the
accepted answers only, and the estimate with its Wilson interval."""
from __future__ import annotations

import math

import pytest

from policy_reader.accuracy.gold import wilson
from policy_reader.delivery.formats import audit_summary_rows
from policy_reader.accuracy.audit import (
    AuditMark,
    accepted_answers,
    draw,
    estimate,
    item_key,
    new_audit,
    sample_size,
)
from policy_reader.models import (
    Answer,
    AnswerStatus,
    DocumentResult,
    Variable,
    VariableType,
)

VARIABLES = [Variable(name="year", question="?", type=VariableType.YEAR),
             Variable(name="target", question="?", type=VariableType.NUMBER)]


def _documents(count: int) -> list[DocumentResult]:
    """`count` documents: `year` accepted everywhere, `target` accepted in every other document."""
    docs = []
    for i in range(count):
        answers = [Answer(name="target", value=40 + i, status=AnswerStatus.ACCEPTED if i % 2 == 0
                          else AnswerStatus.NEEDS_REVIEW),
                   Answer(name="year", value=2000 + i, status=AnswerStatus.ACCEPTED)]
        docs.append(DocumentResult(doc_id=f"d{i + 1:04d}", file=f"doc{i}.pdf", variables=answers))
    docs.append(DocumentResult(doc_id=f"d{count + 1:04d}", file="broken.pdf", status="failed"))
    return docs


@pytest.mark.parametrize(("population", "margin", "expected"), [
    (10 ** 9, 0.05, 385), (1000, 0.05, 278), (100, 0.05, 80), (10 ** 9, 0.10, 97), (6, 0.20, 5), (1, 0.05, 1),
    (0, 0.05, 0),
])
def test_sample_size_for_a_margin_of_error(population: int, margin: float, expected: int) -> None:
    assert sample_size(population, margin) == expected
    # the formula by hand: n0 = 1.96^2 * 0.25 / E^2, then the finite population correction
    if population:
        n0 = 1.959963984540054 ** 2 * 0.25 / margin ** 2
        assert expected == min(population, math.ceil(n0 / (1 + (n0 - 1) / population)))


def test_a_sample_of_that_size_has_about_that_margin() -> None:
    n = sample_size(10 ** 9, 0.05)
    low, high = wilson(n // 2, n)
    assert (high - low) / 2 <= 0.05  # at p = 0.5, the widest case


def test_only_accepted_answers_are_drawn_in_a_fixed_order() -> None:
    population = accepted_answers(_documents(4), list(reversed(VARIABLES)))
    assert population == [("d0001", "target"), ("d0001", "year"), ("d0002", "year"), ("d0003", "target"),
                          ("d0003", "year"), ("d0004", "year")]


def test_the_draw_is_reproducible_from_its_seed() -> None:
    population = [(f"d{i:04d}", "year") for i in range(1, 501)]
    first = draw(population, 40, seed=1234)
    assert first == draw(population, 40, seed=1234)
    assert first != draw(population, 40, seed=1235)
    assert len(set(first)) == 40 and first == sorted(first, key=population.index)
    assert draw(population, 900, seed=1) == population


def test_new_audit_records_what_it_needs_to_be_redrawn() -> None:
    docs = _documents(30)
    record = new_audit(docs, VARIABLES, margin=0.2, seed=77, backend="openai", model="gpt-x", prompt_version="2")
    assert record.population == 45 and record.population_by_variable == {"year": 30, "target": 15}
    assert len(record.items) == sample_size(45, 0.2) == 16
    assert record.items == draw(accepted_answers(docs, VARIABLES), 16, 77)
    assert new_audit(docs, VARIABLES, margin=0.2, seed=77).items == record.items
    with pytest.raises(ValueError, match="no accepted answers"):
        new_audit([DocumentResult(doc_id="d0001", file="a.pdf", variables=[Answer(name="year")])], VARIABLES,
                  margin=0.1)


def test_the_estimate_counts_marked_answers_per_variable_with_wilson_intervals() -> None:
    record = new_audit(_documents(30), VARIABLES, margin=0.2, seed=77)
    marks = {}
    for i, (doc_id, name) in enumerate(record.items[:12]):  # 12 of 16 marked; every fourth one wrong
        marks[item_key(doc_id, name)] = AuditMark(correct=i % 4 != 3)
    record = record.model_copy(update={"marks": marks})
    result = estimate(record, VARIABLES)
    assert (result.marked, result.sample_size, result.complete) == (12, 16, False)
    assert (result.overall.n, result.overall.correct) == (12, 9)
    assert (result.overall.ci_low, result.overall.ci_high) == pytest.approx(wilson(9, 12), abs=1e-4)
    for name in ("year", "target"):
        marked = [i for i, item in enumerate(record.items[:12]) if item[1] == name]
        right = sum(i % 4 != 3 for i in marked)
        score = result.variables[name]
        assert (score.n, score.correct, score.population) == (len(marked), right, record.population_by_variable[name])
        assert score.sampled == sum(1 for item in record.items if item[1] == name)
    assert "audit in progress" in result.progress_text()


def test_summary_rows_say_what_was_measured_and_how() -> None:
    record = new_audit(_documents(4), VARIABLES, margin=0.2, seed=5, backend="openai", model="gpt-x",
                       prompt_version="2")
    record = record.model_copy(update={"marks": {item_key(*item): AuditMark(correct=True) for item in record.items}})
    rows = {row.label: row for row in audit_summary_rows(estimate(record, VARIABLES))}
    n = len(record.items)
    assert n == sample_size(6, 0.2) == 5
    headline = rows["accuracy of accepted answers (audit)"]
    assert headline.value == 1.0 and headline.number_format == "0.0%"
    assert rows["95% interval (Wilson)"].value.startswith(f"{100 * wilson(n, n)[0]:.1f}% – 100.0% ({n} of {n} marked right)")
    assert f"{n} of 6 accepted answers drawn at random (seed 5)" in rows["audit sample"].value
    assert rows["audited model and prompt"].value == "openai · gpt-x; prompt version 2"
    assert rows["accuracy: year"].value.startswith("100.0% (95% CI")
