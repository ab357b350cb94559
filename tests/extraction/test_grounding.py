"""Quote alignment (exact, fuzzy, across page breaks) and whether a quote's text supports a value."""
from __future__ import annotations

import pytest

from policy_reader.extraction.grounding import DocumentIndex, FUZZY_ACCEPT, FUZZY_MIN
from policy_reader.reading.quotes import clean_quote
from policy_reader.extraction.values import dates_in, numbers_in
from policy_reader.extraction.relevance import value_support
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


# --------------------------------------------------------------------------- real ordinances (issue 28)

from policy_reader.extraction.relevance import document_stats
from policy_reader.extraction.placement import locate  # noqa: E402
from tests.ordinance_corpus import (ALDER, BRENTON, CEDAR, DELMAR, HELD_OUT, ORDINANCES, PINECREST,  # noqa: E402
                                    TEMPLATE)

_T = {v.name: v for v in TEMPLATE}


@pytest.mark.parametrize("text, value", [
    ("Neighboring dwellings 1\u00bc times the total height", 1.25),
    ("a distance of 1 1/4 times the total height", 1.25),
    ("a distance of 1-1/2 times the height", 1.5),
    ("one and one-quarter times the total height", 1.25),
    ("equal to one and one-half times its total height", 1.5),
    ("three-quarters of a mile", 0.75),
    ("\u00bd mile from the airport", 0.5),
    ("a distance equal to 125 percent of the total height", 1.25),
    ("one and one-tenth times the height", 1.1),
])
def test_numbers_printed_as_fractions_are_read(text: str, value: float) -> None:
    assert any(abs(n - value) < 1e-9 for n in numbers_in(text)), numbers_in(text)


@pytest.mark.parametrize("doc, name", [(o, n) for o in [*ORDINANCES, *HELD_OUT] for n, f in o.gold.items()
                                        if f is not None],
                         ids=lambda x: getattr(x, "name", x))
def test_a_right_quote_is_not_flagged_because_the_template_has_neighbours(doc, name: str) -> None:
    """Every gold quote of the real setback template (twins `_feet` / `_multiplier`, height, noise,
    flicker) supports its value: relevance weighs the question's words by their rarity in the document."""
    value, quote = doc.gold[name]
    pages = doc.page_texts()
    located = locate(DocumentIndex(pages), _T[name], value, quote, others=TEMPLATE, stats=document_stats(pages))
    assert located is not None and located.support.ok, located and located.support.reason
    assert located.alignment.pages == [doc.page_of(quote)]


@pytest.mark.parametrize("doc, name, value, text", [
    (ALDER, "noise_limit_dba", 5280, "located within one mile (5,280 feet) of the boundary"),  # another rule, unit
    (ALDER, "setback_dwellings_feet", 1.25, "Neighboring dwellings 1\u00bc times the total height"),  # twin's unit
    (ALDER, "setback_roads_multiplier", 1.1, "not less than 1.1 times the total height of the turbine"),  # lines
    (CEDAR, "setback_roads_multiplier", 600, "shall exceed a total height of six hundred (600) feet"),
    (DELMAR, "setback_dwellings_feet", 1.25, "a distance equal to 125 percent of the total height of the turbine"),
    (BRENTON, "max_height_feet", 500, "A wind turbine shall be located no closer than 500 feet to any residence."),
    (BRENTON, "shadow_flicker_hours", 45, "shall not exceed 45 dBA at the exterior of any non-participating residence"),
    # held out (tests/ordinance_corpus.py): an identification number's placement, "multiple entities"
    (PINECREST, "max_height_feet", 15, "identification number located no higher than 15 feet\nabove ground level"),
    (PINECREST, "setback_dwellings_multiplier", 1.1,
     "setbacks from multiple entities shall be one and one-tenth times the\nheight of the total system"),
])
def test_a_quote_about_another_rule_is_still_caught(doc, name: str, value, text: str) -> None:
    support = value_support(_T[name], value, text, TEMPLATE, stats=document_stats(doc.page_texts()))
    assert not support.ok
    assert support.reason


def test_a_stated_maximum_is_about_a_question_of_the_maximum_whatever_its_verb() -> None:
    stats = document_stats(BRENTON.page_texts())
    for text in ("The total height of any wind turbine shall be no more than 499 feet.",
                 "The total height of any wind turbine shall not exceed 499 feet.",
                 "Turbines are limited to a total height of 499 feet."):
        assert value_support(_T["max_height_feet"], 499, text, TEMPLATE, stats=stats).ok, text


@pytest.mark.parametrize("doc, name, value, quote, row", [
    (CEDAR, "setback_dwellings_feet", 2640, "2,640 feet", "Occupied dwellings 2,640 feet"),  # not the lakes row
    (ALDER, "setback_roads_feet", 500, "500 feet", "five hundred (500) feet from the right-of-way"),  # not height
    (ALDER, "max_height_feet", 500, "500 feet", "The total height of a wind turbine shall not exceed 500 feet"),
])
def test_a_repeated_quote_is_tied_to_the_place_about_the_question(doc, name: str, value, quote: str, row: str) -> None:
    pages = doc.page_texts()
    index = DocumentIndex(pages)
    located = locate(index, _T[name], value, quote, others=TEMPLATE, stats=document_stats(pages))
    assert located is not None and located.occurrences == 2
    assert located.support.ok, located.support.reason
    part = located.alignment.parts[0]
    line_start = index.page_texts[part.page].rfind("\n", 0, part.start) + 1
    assert row in " ".join(index.page_texts[part.page][line_start:part.end + 60].split())


def test_a_wrong_value_carried_by_a_bare_repeated_quote_is_never_supported() -> None:
    """Residences 500, roads 400 on one page: roads = 500 with the bare quote "500 feet" is not support."""
    pages = BRENTON.page_texts()
    located = locate(DocumentIndex(pages), _T["setback_roads_feet"], 500, "500 feet", others=TEMPLATE,
                     stats=document_stats(pages))
    assert located is not None and not located.support.ok


def test_a_quote_equally_about_the_question_in_two_places_is_reviewed_saying_how_often_it_occurs() -> None:
    pages = [PageText(number=1, text="Section 2 Setbacks\nTurbines shall be set back 500 feet from public roads."),
             PageText(number=2, text="Section 9 Waivers\nTurbines shall be set back 500 feet from public roads "
                                     "unless the county engineer agrees in writing.")]
    located = locate(DocumentIndex(pages), _T["setback_roads_feet"], 500, "set back 500 feet from public roads",
                     others=TEMPLATE, stats=document_stats(pages))
    assert located is not None and not located.support.ok
    assert "occurs 2 times" in located.support.reason
    assert located.alignment.pages == [1]  # the highlight shows the chosen one


def test_small_number_words_are_numbers_with_their_unit_but_never_counted_twice() -> None:
    from policy_reader.extraction.values import number_spans

    assert [v for _s, _e, v in number_spans("of two times the combined height")] == [2.0]
    assert [v for _s, _e, v in number_spans("five hundred (500) feet")] == [500.0]
    assert [v for _s, _e, v in number_spans("one and one-half times")] == [1.5]
