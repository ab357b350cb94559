"""The offline extractor on real PDFs (fpdf2 -> pdf_text.read_pdf) and on plain pages."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from policy_reader.extraction.extractor import Extractor, make_extractor
from policy_reader.models import AnswerStatus, PageText, Usage, Variable
from policy_reader.extraction.offline import CHECKED_CONFIDENCE, MAX_CONFIDENCE, OfflineExtractor
from policy_reader.reading.pdf_text import read_pdf
from policy_reader.variables import load_variables

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"

YEAR = Variable(name="year_adopted", question="In which year was the policy adopted?", type="year")
TARGET_PCT = Variable(name="emission_target_pct", type="number",
                      question="What percentage reduction in greenhouse gas emissions does the policy target?")
TARGET_YEAR = Variable(name="target_year", type="year",
                       question="By which year should the emission reduction target be reached?")
ADAPTATION = Variable(name="covers_adaptation", type="boolean",
                      question="Does the policy cover adaptation to climate change?")
MINISTRY = Variable(name="responsible_ministry", type="category",
                    question="Which ministry is responsible for implementing the policy?",
                    options=("Ministry of Environment", "Ministry of Energy", "Ministry of Finance"))
SECTORS = Variable(name="sectors", type="list", question="Which sectors does the policy cover?",
                   options=("energy", "transport", "agriculture", "industry", "waste"))
DATE = Variable(name="adoption_date", type="date", question="On what date was the policy adopted?")
ALL = [YEAR, TARGET_PCT, TARGET_YEAR, ADAPTATION, MINISTRY, SECTORS, DATE]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _answers(pages: list[PageText], variables: list[Variable]):
    answers, usage = OfflineExtractor().answer(pages, variables)
    assert usage == Usage()
    assert [a.name for a in answers] == [v.name for v in variables]
    by_page = {p.number: _norm(p.text) for p in pages}
    for a in answers:  # honest statuses, capped confidence, verbatim evidence on the stated page
        # a lexical guess stays below MAX_CONFIDENCE and says so; only a checked one (no note) goes above
        assert 0.0 <= a.confidence <= (CHECKED_CONFIDENCE if not a.note else MAX_CONFIDENCE), a
        if a.status is AnswerStatus.NOT_FOUND:
            assert a.value is None and a.evidence == "" and a.page is None
        else:
            assert a.status is AnswerStatus.NEEDS_REVIEW
            assert a.evidence and a.evidence in by_page[a.page], (a.name, a.evidence)
    return {a.name: a for a in answers}


def test_is_an_extractor_without_network(settings):
    extractor = make_extractor(settings, backend="offline")
    assert isinstance(extractor, OfflineExtractor) and isinstance(extractor, Extractor)
    assert extractor.cache_id == "offline:v1"
    assert extractor.chunk_tokens >= 1_000_000


def test_simple_document_year_on_page_2(make_pdf):
    path = make_pdf("simple.pdf", ["Climate Policy of Testland\nIntroduction to the framework.",
                                   "The policy was adopted by Cabinet in 2019."])
    doc = read_pdf(path, ocr=False)
    got = _answers(doc.pages, [YEAR])["year_adopted"]
    assert (got.value, got.page) == (2019, 2)
    assert got.evidence == "The policy was adopted by Cabinet in 2019."
    assert got.status is AnswerStatus.NEEDS_REVIEW and got.confidence > 0.3


def test_every_type_with_distractors_on_other_pages(make_pdf):
    path = make_pdf("policy.pdf", [
        "Green Growth Act of Testland\n"
        "This Act replaces the Environment Act of 2005. Energy accounts for 58% of emissions in 2018.",
        "Part 1. Status\n"
        "The Act was approved by Parliament on 3 October 2020 and published in the Gazette. "
        "The Ministry of Energy is responsible for implementing the Act. The Ministry of Finance provides funds.",
        "Part 2. Targets and scope\n"
        "Testland will reduce greenhouse gas emissions by 55% below 1990 levels by 2040. "
        "The Act covers the energy, transport and waste sectors.",
        "Part 3. Resilience\n"
        "The Act also addresses adaptation to climate change through coastal protection.",
    ])
    got = _answers(read_pdf(path, ocr=False).pages, ALL)
    assert (got["year_adopted"].value, got["year_adopted"].page) == (2020, 2)
    assert (got["adoption_date"].value, got["adoption_date"].page) == ("2020-10-03", 2)
    assert (got["emission_target_pct"].value, got["emission_target_pct"].page) == (55, 3)
    assert (got["target_year"].value, got["target_year"].page) == (2040, 3)
    assert (got["covers_adaptation"].value, got["covers_adaptation"].page) == (True, 4)
    assert (got["responsible_ministry"].value, got["responsible_ministry"].page) == ("Ministry of Energy", 2)
    assert (got["sectors"].value, got["sectors"].page) == (["energy", "transport", "waste"], 3)


def test_negated_topic_is_false():
    pages = [PageText(number=1, text="Energy Strategy\nThe strategy focuses on power markets."),
             PageText(number=2, text="Scope. This strategy does not cover adaptation, which is left to a later plan.")]
    got = _answers(pages, [ADAPTATION])["covers_adaptation"]
    assert (got.value, got.page) == (False, 2)


def test_absent_facts_are_not_found():
    pages = [PageText(number=1, text="Urban Parks Guideline\nCities should plant trees along main streets."),
             PageText(number=2, text="Residents may comment on the draft through the city website.")]
    got = _answers(pages, ALL)
    for name in ("year_adopted", "emission_target_pct", "target_year", "covers_adaptation",
                 "responsible_ministry", "sectors", "adoption_date"):
        assert got[name].status is AnswerStatus.NOT_FOUND, (name, got[name])


def test_numbers_without_the_asked_unit_are_not_taken_as_percentages():
    pages = [PageText(number=1, text="The emission reduction programme has 12 projects and a budget of 40 million.")]
    got = _answers(pages, [TARGET_PCT])["emission_target_pct"]
    assert got.value in (None, 12) and got.confidence < 0.6  # never a confident wrong percentage


def test_confidence_reflects_competition():
    clear = [PageText(number=1, text="The policy was adopted in 2019.")]
    contested = [PageText(number=1, text="The policy was adopted in 2019."),
                 PageText(number=2, text="The policy was adopted again in 2021 after elections.")]
    one = _answers(clear, [YEAR])["year_adopted"]
    two = _answers(contested, [YEAR])["year_adopted"]
    assert two.value in (2019, 2021)
    assert two.confidence < one.confidence


def test_long_unpunctuated_pages_give_short_quotes():
    table = " ".join(f"row {i} value {i * 3}" for i in range(400)) + " the policy was adopted in 2017"
    got = _answers([PageText(number=1, text=table)], [YEAR])["year_adopted"]
    assert got.value == 2017 and len(got.evidence) <= 450


def _load_make_samples():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("filename", sorted(p.name for p in SAMPLES.glob("*.pdf")))
def test_bundled_samples_are_extracted_correctly(filename):
    expected = _load_make_samples().EXPECTED[filename]
    variables = load_variables(SAMPLES / "variables.csv", "variables.csv")
    doc = read_pdf(SAMPLES / filename, ocr=False)
    got = _answers(doc.pages, variables)
    for name, (value, page) in expected.items():
        answer = got[name]
        actual = sorted(answer.value) if isinstance(value, list) else answer.value
        assert (actual, answer.page) == ((sorted(value) if isinstance(value, list) else value), page), name
    assert got["policy_title"].page == 1 and got["policy_title"].value == doc.pages[0].text.splitlines()[0].strip()


def test_samples_folder_is_complete_and_reproducible(tmp_path):
    module = _load_make_samples()
    assert sorted(p.name for p in SAMPLES.glob("*.pdf")) == sorted(module.DOCUMENTS)
    assert len(load_variables(SAMPLES / "variables.csv", "variables.csv")) >= 6
    written = module.main(tmp_path)
    for path in written:
        assert path.read_bytes() == (SAMPLES / path.name).read_bytes(), f"{path.name}: run samples/make_samples.py"
        assert 2 <= read_pdf(path, ocr=False).page_count <= 6


def test_boolean_needs_its_subject_not_just_the_verb():
    pages = [PageText(number=1, text="This strategy covers climate finance and the energy sector.")]
    assert _answers(pages, [ADAPTATION])["covers_adaptation"].status is AnswerStatus.NOT_FOUND


def test_offline_quotes_are_aligned_exactly_on_their_pages_in_the_samples():
    """The offline extractor quotes sentences verbatim: grounding finds every one exactly, on its page."""
    from policy_reader.extraction.answers import extract_document
    from policy_reader.models import MatchKind

    variables = load_variables(SAMPLES / "variables.csv", "variables.csv")
    for pdf in sorted(SAMPLES.glob("*.pdf")):
        doc = read_pdf(pdf, ocr=False)
        expected = _load_make_samples().EXPECTED[pdf.name]
        for a in extract_document(doc, variables, OfflineExtractor(), threshold=0.8).answers:
            if a.value is None:
                continue
            assert a.match_kind is MatchKind.EXACT and a.span, (pdf.name, a.name, a.evidence)
            if a.status is AnswerStatus.ACCEPTED:  # only checked answers, and only right ones
                assert a.confidence == CHECKED_CONFIDENCE and (a.value, a.page) == expected[a.name]
            if a.name in expected:
                assert a.page == expected[a.name][1], (pdf.name, a.name)


# --------------------------------------------------------------------------- real ordinances (issue 28)

from tests.ordinance_corpus import ALDER, CEDAR, HELD_OUT, ORDINANCES, TEMPLATE  # noqa: E402

_T = {v.name: v for v in TEMPLATE}


def _offline(ordinance):
    """The whole template is asked, as a real job does (its sibling questions matter)."""
    answers, _usage = OfflineExtractor().answer(ordinance.page_texts(), TEMPLATE)
    return {a.name: a for a in answers}


def test_numbers_from_headings_and_section_numbers_are_never_answers():
    pages = [PageText(number=1, text="ARTICLE 17. WIND ENERGY\nSection 3\nThis Article is adopted under Chapter 5.35 "
                                     "of the County Code and Section 3 of the Zoning Enabling Act.\n"
                                     "4.2 Turbines shall be painted a non-reflective white.")]
    got = _answers(pages, [_T["max_height_feet"], _T["shadow_flicker_hours"], _T["setback_roads_feet"]])
    for name, a in got.items():
        assert a.status is AnswerStatus.NOT_FOUND, (name, a.value, a.evidence)


def test_a_number_in_another_unit_is_not_an_answer():
    """"one mile (5,280 feet)" is no noise limit in dBA; the noise rule's own 50 dBA is."""
    got = _offline(ALDER)["noise_limit_dba"]
    assert got.value == 50 and "dBA" in got.evidence


def test_a_percentage_of_the_height_is_converted_to_a_multiple():
    got = _offline(CEDAR)["setback_property_line_multiplier"]
    assert got.value == pytest.approx(1.1) and "110%" in got.evidence


def test_fractions_are_read_as_multiples():
    got = _offline(ALDER)["setback_dwellings_multiplier"]
    assert got.value == pytest.approx(1.25)


def test_on_real_ordinances_absent_features_are_not_found_and_no_wrong_value_is_accepted():
    from policy_reader.extraction.answers import extract_document
    from policy_reader.models import DocumentText

    absent = not_found = present = right = 0
    for ordinance in [*ORDINANCES, *HELD_OUT]:
        pages = ordinance.page_texts()
        doc = DocumentText(pages=pages, page_count=len(pages), sha256="2" * 64)
        for a in extract_document(doc, TEMPLATE, OfflineExtractor(), threshold=0.8).answers:
            fact = ordinance.gold[a.name]
            ok = fact is not None and a.value is not None and a.value == pytest.approx(fact[0])
            if a.status is AnswerStatus.ACCEPTED:
                assert ok, (ordinance.name, a.name, a.value, a.evidence)
            if fact is None:
                absent += 1
                not_found += a.status is AnswerStatus.NOT_FOUND
            else:
                present += 1
                right += ok
    assert not_found >= 0.8 * absent, (not_found, absent)
    assert right >= 0.6 * present, (right, present)


def test_the_sample_job_shows_accepted_flagged_and_not_found_answers_side_by_side():
    """A newcomer's first job: checked offline answers are accepted, the rest flagged or not found."""
    from policy_reader.extraction.answers import extract_document

    variables = load_variables(SAMPLES / "variables.csv", "variables.csv")
    statuses = set()
    for pdf in sorted(SAMPLES.glob("*.pdf")):
        doc = read_pdf(pdf, ocr=False)
        expected = _load_make_samples().EXPECTED[pdf.name]
        for a in extract_document(doc, variables, OfflineExtractor(), threshold=0.8).answers:
            statuses.add(a.status)
            if a.status is AnswerStatus.ACCEPTED:
                assert (a.value, a.page) == expected[a.name], (pdf.name, a.name)
    assert {AnswerStatus.ACCEPTED, AnswerStatus.NEEDS_REVIEW, AnswerStatus.NOT_FOUND} <= statuses
