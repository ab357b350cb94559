"""Quote alignment (exact, fuzzy, across page breaks) and whether a quote's text supports a value."""
from __future__ import annotations

import pytest

from policy_reader.extraction.grounding import (FUZZY_ACCEPT, FUZZY_MIN, DocumentIndex, clean_quote, dates_in, numbers_in,
                                     value_support)
from policy_reader.models import MatchKind, PageText, Variable, VariableType

PAGES = [PageText(number=1, text="Intro"),
         PageText(number=2, text="The Government shall “reduce emis-\nsions” by\n  45 %\u2014fully. The Ministry of"),
         PageText(number=3, text="Environment is responsible.\nPage 3")]


def _where(quote: str) -> tuple[str, list[int]] | None:
    found = DocumentIndex(PAGES).align(quote)
    return (found[0].kind.value, found[0].pages) if found else None


def test_exact_alignment_ignores_case_spacing_quotes_dashes_and_hyphenation() -> None:
    assert _where('the government shall "reduce emissions" by 45 % - fully') == ("exact", [2])
    assert _where("reduce emissions ... fully") == ("exact", [2])  # elided, in order
    assert _where("fully ... reduce emissions") is None  # pieces out of order
    assert _where("increase emissions") is None
    assert _where("") is None


def test_a_quote_over_a_page_break_with_prompt_markers_is_one_span_on_two_pages() -> None:
    quote = 'The Ministry of </page>\n<page number="3">\nEnvironment is responsible.'
    assert clean_quote(quote) == "The Ministry of Environment is responsible."
    (found, *_rest) = DocumentIndex(PAGES).align(quote)
    assert found.kind is MatchKind.EXACT and found.pages == [2, 3]
    two, three = found.parts
    assert PAGES[1].text[two.start:two.end] == "The Ministry of"
    assert PAGES[2].text[three.start:three.end] == "Environment is responsible"


def test_fuzzy_alignment_tolerates_ocr_noise_and_reports_its_similarity() -> None:
    index = DocumentIndex([PageText(number=1, text="Forest cover must reach 3O percent of the land by 2O32.")])
    (found,) = index.align("Forest cover must reach 30 percent of the land by 2032")
    assert found.kind is MatchKind.FUZZY and FUZZY_MIN <= found.similarity < 1 and found.pages == [1]
    assert found.similarity >= FUZZY_ACCEPT and found.acceptable
    assert index.align("Coal power plants will be phased out before 2040") == []
    assert index.align("Forest cover 30") == []  # too short to be matched approximately


def test_the_quote_on_the_preferred_page_comes_first_when_it_is_repeated() -> None:
    index = DocumentIndex([PageText(number=n, text="Adopted in 2019.") for n in (1, 2, 3)])
    assert [a.pages for a in index.align("Adopted in 2019", prefer_pages={3})][0] == [3]


def test_numbers_in_digits_words_scales_and_percentages() -> None:
    found = numbers_in("forty-five per cent, 1,200 people, 1.2 million dollars and 45 %")
    assert {45.0, 0.45, 1200.0, 1_200_000.0} <= found


def test_dates_in_common_formats() -> None:
    for text in ("14 March 2019", "March 14, 2019", "14/03/2019", "2019-03-14", "14th of March 2019", "14.3.2019"):
        assert (2019, 3, 14) in dates_in(text), text
    assert (2019, 3, None) in dates_in("in March 2019")


YEAR = Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)
TARGET = Variable(name="target_year", question="By which year should the emission target be reached?",
                  type=VariableType.YEAR)
PCT = Variable(name="target_pct", question="What greenhouse gas reduction (%) does the policy target?",
               type=VariableType.NUMBER)
DATE = Variable(name="adopted_on", question="On what date was the policy adopted?", type=VariableType.DATE)
ADAPT = Variable(name="adaptation", question="Does the policy cover adaptation to climate change?",
                 type=VariableType.BOOLEAN)
SECTORS = Variable(name="sectors", question="Which sectors does the policy cover?", type=VariableType.LIST,
                   options=("energy", "forestry"), instructions="Synonyms: forestry = forests, land use")
MINISTRY = Variable(name="ministry", question="Who implements it?", type=VariableType.CATEGORY,
                    options=("Ministry of Environment", "Ministry of Energy"))


@pytest.mark.parametrize("variable, value, text, ok", [
    (YEAR, 2019, "The strategy was approved by Cabinet in 2019.", True),  # "approved" for "adopted"
    (YEAR, 2019, "The policy covers the energy, transport and agriculture sectors.", False),
    (YEAR, 2030, "The reduction target shall be reached by 2030.", False),  # right digits, other question
    (TARGET, 2030, "The reduction target shall be reached by 2030.", True),
    (PCT, 45, "reduce greenhouse gas emissions by forty-five per cent", True),
    (PCT, 45, "reduce greenhouse gas emissions by 40 percent", False),
    (DATE, "2019-03-14", "It was adopted on 14 March 2019.", True),
    (DATE, "2019-03-14", "It was adopted in March 2019.", False),
    (DATE, "2019-03", "It was adopted in March 2019.", True),
    (ADAPT, True, "dedicated measures for adaptation to climate change", True),
    (ADAPT, True, "This is the National Climate Strategy", False),  # one key word of three
    (ADAPT, True, "The policy does not address adaptation to climate change", False),
    (ADAPT, False, "The policy does not address adaptation to climate change", True),
    (SECTORS, ["energy", "forestry"], "It applies to energy and to the management of forests.", True),
    (SECTORS, ["energy", "forestry"], "It applies to the energy sector.", False),
    (MINISTRY, "Ministry of Environment", "The Environment Ministry leads.", True),
    (MINISTRY, "Ministry of Energy", "The Ministry of Environment leads.", False),
])
def test_value_support(variable: Variable, value, text: str, ok: bool) -> None:
    support = value_support(variable, value, text, others=[YEAR, TARGET, PCT, DATE, ADAPT, SECTORS, MINISTRY])
    assert support.ok is ok, support.reason
    if not ok:
        assert support.reason
