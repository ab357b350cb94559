"""Measured accuracy against a gold set (policy_reader/accuracy/gold.py), up to `policy-reader evaluate` on the
bundled samples, whose numbers are checked against a count made here, independently, from
samples/make_samples.py's EXPECTED answers."""
from __future__ import annotations

import json
import math

import pytest

from policy_reader.accuracy.gold import (
    GoldRow,
    evaluate,
    normalise_text,
    parse_gold,
    same_value,
    wilson,
)
from policy_reader.errors import GoldError
from policy_reader.models import (
    Answer,
    AnswerStatus,
    DocumentResult,
    Variable,
    VariableType,
)
from samples.make_samples import DOCUMENTS, EXPECTED
from tests.fixtures.accuracy import gold_csv

V = VariableType


def _var(kind: VariableType, options: tuple[str, ...] = ()) -> Variable:
    return Variable(name="x", question="?", type=kind, options=options)


# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(("correct", "n", "low", "high"), [
    # published values (e.g. Newcombe 1998, Brown, Cai & DasGupta 2001), 95%
    (8, 10, 0.4902, 0.9433),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),
    (1, 2, 0.0945, 0.9055),
])
def test_wilson_interval_matches_published_values(correct: int, n: int, low: float, high: float) -> None:
    got = wilson(correct, n)
    assert got is not None
    assert got[0] == pytest.approx(low, abs=5e-5) and got[1] == pytest.approx(high, abs=5e-5)


def test_wilson_is_none_without_answers_and_refuses_impossible_counts() -> None:
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(3, 2)


# --------------------------------------------------------------------------- comparing by type


@pytest.mark.parametrize(("kind", "options", "expected", "found", "same"), [
    (V.NUMBER, (), "45%", 45, True),
    (V.NUMBER, (), "45", 45.0, True),
    (V.NUMBER, (), "1,200", 1200, True),
    (V.NUMBER, (), "45", 44.9, False),
    (V.YEAR, (), "2019", 2019, True),
    (V.YEAR, (), "in 2019", "2019", True),
    (V.YEAR, (), "2019", 2020, False),
    (V.BOOLEAN, (), "Yes", True, True),
    (V.BOOLEAN, (), "no", False, True),
    (V.BOOLEAN, (), "yes", False, False),
    (V.LIST, ("energy", "transport", "agriculture"), "Transport; energy", ["energy", "transport"], True),
    (V.LIST, ("energy", "transport", "agriculture"), "energy, transport", ["energy", "transport", "agriculture"],
     False),
    (V.DATE, (), "4 June 2019", "2019-06-04", True),
    (V.DATE, (), "2019-06", "2019-06-04", False),
    (V.TEXT, (), "  NATIONAL   Climate “Policy”. ", 'national climate "policy"', True),
    (V.TEXT, (), "National Climate Policy", "National Climate Strategy", False),
    (V.CATEGORY, ("Ministry of Energy", "Ministry of Environment"), "Ministry of Energy", "Ministry of Energy", True),
    (V.CATEGORY, ("Ministry of Energy", "Ministry of Environment"), "Ministry of Energy", "Ministry of Environment",
     False),
    (V.NUMBER, (), None, None, True),  # the document does not state it, and the table agrees
    (V.NUMBER, (), None, 45, False),
    (V.NUMBER, (), "45", None, False),
])
def test_values_are_compared_by_their_type(kind, options, expected, found, same) -> None:
    from policy_reader.variables import coerce_value

    variable = _var(kind, options)
    typed = coerce_value(variable, expected)[0] if expected is not None else None
    assert same_value(variable, typed, found) is same


def test_text_normalisation_folds_case_quotes_dashes_and_spacing() -> None:
    assert normalise_text("  The ‘Green’ Plan — 2030.\n") == "the 'green' plan - 2030"


# --------------------------------------------------------------------------- the gold file


def test_gold_csv_is_read_with_its_row_numbers_any_delimiter_and_optional_page() -> None:
    data = "\ufeffFile;Variable;Value;Page;comment\na.pdf;year;2019;2;ok\n\n;;;;\nb.pdf;flag;'=yes;;x\n".encode()
    rows = parse_gold(data)
    assert rows == [GoldRow(row=2, file="a.pdf", variable="year", value="2019", page=2),
                    GoldRow(row=5, file="b.pdf", variable="flag", value="=yes", page=None)]
    assert parse_gold(b"file,variable,value\na.pdf,year,2019\n")[0].page is None


@pytest.mark.parametrize(("data", "message"), [
    (b"file,name,value\na.pdf,year,2019\n", "missing: variable"),
    (b"file,variable,value\n", "has no rows"),
    (b"file,variable,value\n,year,2019\n", "row 2: the file cell is empty"),
    (b"file,variable,value,page\na.pdf,year,2019,two\n", "row 2: page 'two' is not a page number"),
    (b"file,variable,value,page\na.pdf,year,2019,0\n", "row 2: page '0'"),
    (b"file,variable,value\na.pdf,year,2019\nA.PDF,year,2020\n", "row 3: A.PDF / year is already given in row 2"),
])
def test_a_bad_gold_file_is_one_clear_error_naming_the_row(data: bytes, message: str) -> None:
    with pytest.raises(GoldError) as err:
        parse_gold(data, "gold.csv")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_gold_file_limits() -> None:
    with pytest.raises(GoldError, match="more than 2 rows"):
        parse_gold(b"file,variable,value\n" + b"".join(b"a.pdf,x%d,1\n" % i for i in range(3)), max_rows=2)
    with pytest.raises(GoldError, match="longer than"):
        parse_gold(b"file,variable,value\na.pdf,x," + b"y" * 25_000 + b"\n")


# --------------------------------------------------------------------------- evaluate (pure)


def _doc(file: str, answers: list[Answer], status: str = "ok") -> DocumentResult:
    return DocumentResult(doc_id="d0001", file=file, status=status, variables=answers)


def test_misses_carry_both_values_the_page_and_the_quote_and_unknown_rows_are_skipped() -> None:
    year = Variable(name="year", question="?", type=V.YEAR)
    docs = [_doc("a.pdf", [Answer(name="year", value=2019, page=2, evidence="adopted in 2019",
                                  status=AnswerStatus.ACCEPTED)])]
    gold = [GoldRow(row=2, file="folder/A.pdf", variable="year", value="2018", page=2),
            GoldRow(row=3, file="other.pdf", variable="year", value="2018"),
            GoldRow(row=4, file="a.pdf", variable="budget", value="3")]
    result = evaluate(docs, [year], gold)
    assert (result.overall.n, result.overall.correct, result.overall.page_correct) == (1, 0, 0)
    miss = result.misses[0]
    assert (miss.kind, miss.row, miss.expected, miss.found, miss.page, miss.quote, miss.status) == (
        "value", 2, 2018, 2019, 2, "adopted in 2019", "accepted")
    assert [s.split(":")[0] for s in result.skipped] == ["row 3", "row 4"]
    with pytest.raises(GoldError, match="None of the 2 rows"):
        evaluate(docs, [year], gold[1:])
    with pytest.raises(GoldError, match="row 9: year: no year"):
        evaluate(docs, [year], [GoldRow(row=9, file="a.pdf", variable="year", value="soon")])


def test_a_failed_document_counts_as_wrong_and_a_right_value_on_another_page_is_a_page_miss() -> None:
    year = Variable(name="year", question="?", type=V.YEAR)
    docs = [_doc("a.pdf", [Answer(name="year", value=2019, page=3, status=AnswerStatus.ACCEPTED)]),
            DocumentResult(doc_id="d0002", file="b.pdf", status="failed", error="unreadable")]
    result = evaluate(docs, [year], [GoldRow(row=2, file="a.pdf", variable="year", value="2019", page=2),
                                     GoldRow(row=3, file="b.pdf", variable="year", value="2019", page=2)])
    assert (result.overall.n, result.overall.correct, result.overall.page_correct) == (2, 1, 0)
    assert [(m.kind, m.status) for m in result.misses] == [("page", "accepted"), ("value", "failed")]


# --------------------------------------------------------------------------- the bundled samples


def _truth(wrong: bool) -> dict[tuple[str, str], tuple[object, int]]:
    """The samples' known answers (titles on page 1 included); `wrong`: a few deliberately changed."""
    truth = {(f, name): vp for f, answers in EXPECTED.items() for name, vp in answers.items()}
    truth.update({(f, "policy_title"): (doc["title"], 1) for f, doc in DOCUMENTS.items()})
    if wrong:
        truth.update({
            ("nordavia_climate_policy_2019.pdf", "emission_target_pct"): (40, 3),
            ("kestria_energy_transition_strategy.pdf", "sectors"): (["energy", "transport"], 2),
            ("lowland_low_emission_development_plan.pdf", "covers_adaptation"): (False, 4),
            ("nordavia_climate_policy_2019.pdf", "responsible_ministry"): ("Ministry of Finance", 2),
            ("lowland_low_emission_development_plan.pdf", "policy_title"): ("Lowland Plan", 1),
            ("kestria_energy_transition_strategy.pdf", "target_year"): (2035, 4),  # the right value, wrong page
        })
    return truth


def _spelled(value: object) -> str:
    """A known answer written the way an analyst types it in a spreadsheet."""
    if isinstance(value, bool):
        return "Yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(item.capitalize() for item in reversed(value))
    if isinstance(value, str) and value[:4].isdigit() and len(value) == 10:  # an ISO date, written out
        import datetime as dt

        day = dt.date.fromisoformat(value)
        return f"{day.day} {day:%B %Y}"
    if isinstance(value, int) and not 1800 <= value <= 2200:
        return f"{value}%"
    if isinstance(value, str) and not value.startswith("Ministry"):
        return f"  {value.upper()} "
    return str(value)


def _hand_count(results, truth) -> dict[str, list[int]]:
    """n, right, right with the right page per variable: plain Python equality against the truth."""
    counts: dict[str, list[int]] = {}
    answers = {(doc.file, a.name): a for doc in results for a in doc.variables}
    for (file, name), (value, page) in truth.items():
        answer = answers[(file, name)]
        found = sorted(answer.value) if isinstance(answer.value, list) else answer.value
        right = found == (sorted(value) if isinstance(value, list) else value)
        tally = counts.setdefault(name, [0, 0, 0])
        tally[0] += 1
        tally[1] += right
        tally[2] += right and answer.page == page
    return counts


def _wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("wrong", [False, True], ids=["gold", "deliberately-wrong-gold"])
def test_evaluate_on_the_samples_matches_a_hand_count(samples_job, tmp_path, monkeypatch, capsys, wrong) -> None:
    """`policy-reader evaluate JOB --gold gold.csv --json out.json` on the bundled samples: every number
    is the count made here from EXPECTED, the terminal shows the same, and the JSON has the issue's shape."""
    from policy_reader import cli

    manager, job_id = samples_job
    truth = _truth(wrong)
    gold = tmp_path / "gold.csv"
    gold.write_bytes(gold_csv([(f"samples/{f}", name, _spelled(v), p) for (f, name), (v, p) in truth.items()]
                              + [("not-in-this-job.pdf", "year_adopted", "2019", 2)]))
    results = manager.get_results(job_id)
    counts = _hand_count(results, truth)
    n, right, on_page = (sum(c[i] for c in counts.values()) for i in range(3))
    assert n == 25  # 8 variables x 3 samples, and the renewable share Nordavia alone states
    if not wrong:  # the offline extractor reads the three samples right: the hand count says so too
        assert (right, on_page) == (25, 25)
    else:  # five values and one page were changed: the count moves by exactly that much
        assert (right, on_page) == (25 - 5, 25 - 5 - 1)

    monkeypatch.setenv("JOBS_DIR", str(manager.settings.jobs_dir))
    out = tmp_path / "accuracy.json"
    assert cli.main(["evaluate", job_id, "--gold", str(gold), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())

    assert set(report) == {"overall", "variables", "misses"}
    fields = {"n", "correct", "accuracy", "ci_low", "ci_high", "page_correct"}
    assert set(report["overall"]) == fields
    assert (report["overall"]["n"], report["overall"]["correct"], report["overall"]["page_correct"]) == (
        n, right, on_page)
    low, high = _wilson_by_hand(right, n)
    assert report["overall"]["accuracy"] == pytest.approx(right / n, abs=1e-4)
    assert report["overall"]["ci_low"] == pytest.approx(low, abs=1e-4)
    assert report["overall"]["ci_high"] == pytest.approx(high, abs=1e-4)
    assert set(report["variables"]) == set(counts)
    for name, (vn, vright, vpage) in counts.items():
        entry = report["variables"][name]
        assert set(entry) == fields
        assert (entry["n"], entry["correct"], entry["page_correct"]) == (vn, vright, vpage), name
        assert (entry["ci_low"], entry["ci_high"]) == pytest.approx(_wilson_by_hand(vright, vn), abs=1e-4)
    value_misses = {(m["file"], m["variable"]) for m in report["misses"] if m["kind"] == "value"}
    assert len(value_misses) == n - right
    if wrong:
        miss = next(m for m in report["misses"] if m["variable"] == "emission_target_pct")
        assert (miss["expected"], miss["found"], miss["page"]) == (40, 45, 3)
        assert "45%" in miss["quote"]
        page_miss = next(m for m in report["misses"] if m["kind"] == "page")
        assert (page_miss["variable"], page_miss["expected_page"], page_miss["page"]) == ("target_year", 4, 3)

    overall_line = next(line for line in printed.splitlines() if line.startswith("overall"))
    assert overall_line.split()[1:4] == [str(n), str(right), f"{100 * right / n:.1f}%"]
    assert f"{100 * low:.1f}% – {100 * high:.1f}%" in overall_line
    assert "not-in-this-job.pdf" in printed  # the row that matched nothing is named, not counted


def test_evaluate_uses_analyst_corrections_unless_as_extracted(samples_job) -> None:
    manager, job_id = samples_job
    gold = gold_csv([("nordavia_climate_policy_2019.pdf", "target_year", "2030", 3)])
    doc_id = next(d.doc_id for d in manager.get_results(job_id) if d.file.startswith("nordavia"))
    manager.save_review(job_id, doc_id, "target_year", value=2031)
    assert manager.evaluate(job_id, gold).overall.correct == 0
    assert manager.evaluate(job_id, gold, as_extracted=True).overall.correct == 1


def test_cli_evaluate_a_bad_gold_file_is_one_line_and_exit_2(samples_job, tmp_path, monkeypatch, capsys) -> None:
    from policy_reader import cli

    manager, job_id = samples_job
    monkeypatch.setenv("JOBS_DIR", str(manager.settings.jobs_dir))
    bad = tmp_path / "gold.csv"
    bad.write_bytes(b"file,variable,value\nnordavia_climate_policy_2019.pdf,covers_adaptation,perhaps\n")
    assert cli.main(["evaluate", job_id, "--gold", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: gold.csv row 2: covers_adaptation: expected yes or no") and "\n" not in err
    assert cli.main(["evaluate", job_id, "--gold", str(tmp_path / "missing.csv")]) == 2
    assert "Gold file not found" in capsys.readouterr().err
    assert cli.main(["evaluate", "0" * 20, "--gold", str(bad)]) == 2
