"""Generated policies with planted facts, and fake models that quote them the way real models do.

Used by the grounding tests (tests/extraction/test_answers.py) and the grounding benchmark (bench/grounding.py).

Each policy has a title on page 1 and a footer ("Page N") on every page, like a real PDF. Each fact is planted
as one sentence, in one of three places: inside a paragraph, as the first sentence of a page (the
quote then starts at the top of the page: page 1's top is where the title facts sit), or split over a
page break (the first words end page N, the rest starts page N+1). The expected page is where the
fact's value is printed.

Fake models for the `responder` hook of tests/fake_openai.py:
* `cross_page_quoter`: quotes each fact verbatim from the prompt, page markers, footer and header
  included when the sentence runs over a break; a fact at the top of a page is quoted with the end of
  the previous page in front ("Page 4 </page> <page number="5"> The Ministry ...") and the previous
  page claimed; other claimed pages are sometimes wrong, null or absurd. Confidence always 1.0.
* `wrong_value_quoter`: for each fact in the prompt, a REAL sentence of the document attached to a
  wrong value: the fact's own value with another fact's sentence, or another fact's value (with its
  own sentence) given to a variable of the same type. Confidence always 1.0.
* `slipping_quoter`: `cross_page_quoter`'s quotes with a share of values slightly wrong (a list missing an
  item, a title cut short, a number off): the errors a second opinion is for (bench/second_opinion.py).
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from policy_reader.models import Variable, VariableType
from tests.pdf_factory import make_text_pdf


@dataclass(frozen=True)
class Fact:
    variable: Variable
    value: Any  # what a correct model answers
    sentence: str  # the planted sentence
    value_text: str  # the words of the sentence that state the value (never split by a page break)


def _var(name: str, question: str, vtype: VariableType, options: tuple[str, ...] = ()) -> Variable:
    return Variable(name=name, question=question, type=vtype, options=options)


FACTS: list[Fact] = [
    Fact(_var("policy_title", "What is the title of the policy?", VariableType.TEXT),
         "National Climate Resilience Strategy",
         "This document sets out the National Climate Resilience Strategy of the Republic.",
         "National Climate Resilience Strategy"),
    Fact(_var("year_adopted", "In which year was the policy adopted?", VariableType.YEAR), 2019,
         "The strategy was adopted by the Council of Ministers in 2019 after a public consultation.", "2019"),
    Fact(_var("adoption_date", "On what date was the policy adopted?", VariableType.DATE), "2019-03-14",
         "It was formally approved by Cabinet on 14 March 2019 and published in the Gazette.", "14 March 2019"),
    Fact(_var("emission_target_pct", "What greenhouse gas reduction (%) does the policy target?",
              VariableType.NUMBER), 45,
         "The Government commits to reduce greenhouse gas emissions by forty-five per cent compared with "
         "business as usual.", "forty-five per cent"),
    Fact(_var("target_year", "By which year should the emission target be reached?", VariableType.YEAR), 2030,
         "The emission reduction target shall be reached by 2030 at the latest.", "2030"),
    Fact(_var("base_year", "What is the baseline year of the emission target?", VariableType.YEAR), 2005,
         "Progress is measured against the 2005 baseline inventory of the national statistics office.", "2005"),
    Fact(_var("covers_adaptation", "Does the policy cover adaptation to climate change?", VariableType.BOOLEAN),
         True, "Chapter four sets out dedicated measures for adaptation to climate change in every county.",
         "adaptation to climate change"),
    Fact(_var("sectors", "Which sectors does the policy cover?", VariableType.LIST,
              ("energy", "transport", "agriculture", "industry", "waste", "forestry")),
         ["energy", "transport", "agriculture"],
         "The measures of this strategy apply to the energy, transport and agriculture sectors.",
         "energy, transport and agriculture sectors"),
    Fact(_var("responsible_ministry", "Which ministry implements the policy?", VariableType.CATEGORY,
              ("Ministry of Environment", "Ministry of Energy", "Ministry of Finance")),
         "Ministry of Environment",
         "The Ministry of Environment is responsible for the implementation of this strategy.",
         "Ministry of Environment"),
    Fact(_var("renewable_share_pct", "What share of electricity (%) should come from renewables?",
              VariableType.NUMBER), 60,
         "Renewable sources will supply 60 % of the electricity consumed in the country.", "60 %"),
    Fact(_var("budget_musd", "What budget (million USD) is allocated?", VariableType.NUMBER), 250,
         "An overall budget of 250 million US dollars is allocated to the first five-year phase.",
         "250 million"),
    Fact(_var("review_period_years", "Every how many years is the policy reviewed?", VariableType.NUMBER), 5,
         "The strategy shall be reviewed every 5 years by the inter-ministerial committee.", "5 years"),
]
VARIABLES: list[Variable] = [f.variable for f in FACTS]
BY_NAME: dict[str, Fact] = {f.variable.name: f for f in FACTS}

_FILLER = [
    "The national authority will coordinate the implementation of sectoral measures in line with "
    "international commitments.", "Local administrations shall monitor investment plans for public "
    "infrastructure on the basis of transparent criteria.", "Public agencies will publish the collection "
    "of activity data with the participation of civil society.", "Each county council is expected to "
    "support capacity building for municipal staff within the limits of the annual budget law.",
    "The steering group will strengthen incentives for efficient buildings following a public consultation.",
    "Results will be made public each year and discussed with stakeholders in every region.",
    "Cooperation with research institutions shall improve the quality of the national inventory.",
    "Training for inspectors and auditors will be organised taking into account regional differences.",
]


@dataclass
class Policy:
    path: Path
    pages: int
    expected: dict[str, int]  # variable name -> page where its value is printed
    placement: dict[str, str]  # variable name -> "middle" | "top" | "split"


def make_policies(folder: Path, count: int = 12, *, seed: int = 19) -> list[Policy]:
    """`count` text PDFs of 4-7 pages, every fact planted once (middle, top of a page or split)."""
    rng = random.Random(seed)
    policies = []
    for k in range(count):
        n_pages = rng.randint(4, 7)
        title = f"Climate Policy {k + 1}"
        body: list[list[str]] = [[rng.choice(_FILLER) for _ in range(rng.randint(9, 12))] for _ in range(n_pages)]
        tops: dict[int, str] = {}
        splits: dict[int, str] = {}
        expected: dict[str, int] = {}
        placement: dict[str, str] = {}
        for fact in rng.sample(FACTS, len(FACTS)):
            name = fact.variable.name
            roll = rng.random()
            page = rng.randint(1, n_pages)
            if roll < 0.25 and page not in tops and page - 1 not in splits:
                tops[page] = fact.sentence
                expected[name], placement[name] = page, "top"
            elif roll < 0.55 and page < n_pages and page not in splits and page + 1 not in tops:
                splits[page] = fact.sentence  # expected page: set below, once the cut is known
                placement[name] = "split"
            else:
                body[page - 1].insert(rng.randrange(len(body[page - 1]) + 1), fact.sentence)
                expected[name], placement[name] = page, "middle"
        texts = []
        for n in range(1, n_pages + 1):
            start = tops.get(n, "")  # a fact at the very top of the page, or the rest of a split sentence
            if n - 1 in splits:
                prev = splits[n - 1]
                start = prev[_cut(BY_NAME[_name_of(prev)], random.Random(f"{seed}-{k}-{n - 1}")):].strip()
            tail = ""
            if n in splits:
                tail = " " + splits[n][:_cut(BY_NAME[_name_of(splits[n])], random.Random(f"{seed}-{k}-{n}"))].strip()
            lines = [start] if start else []
            if n == 1:
                lines.append(title)
            lines.append(" ".join(body[n - 1]) + tail)
            texts.append("\n".join(lines) + f"\nPage {n}")
        path = make_text_pdf(Path(folder) / f"policy-{k + 1:02d}.pdf", texts)
        # split positions depend only on (seed, k, page): recompute the expected pages with the same cuts
        for page, sentence in splits.items():
            fact = BY_NAME[_name_of(sentence)]
            cut = _cut(fact, random.Random(f"{seed}-{k}-{page}"))
            value_end = fact.sentence.index(fact.value_text) + len(fact.value_text)
            expected[fact.variable.name] = page if cut >= value_end else page + 1
        policies.append(Policy(path, n_pages, expected, placement))
    return policies


def _name_of(sentence: str) -> str:
    return next(f.variable.name for f in FACTS if f.sentence == sentence)


def _cut(fact: Fact, rng: random.Random) -> int:
    """A word boundary of the sentence that does not cut through the value's words."""
    start = fact.sentence.index(fact.value_text)
    end = start + len(fact.value_text)
    bounds = [m.start() for m in re.finditer(" ", fact.sentence) if not start <= m.start() <= end]
    return rng.choice(bounds[1:-1] or bounds)


# --------------------------------------------------------------------------- fake models

_TOKEN = re.compile(r'<page number="\d+">|</page>|<document>|</document>|\S+')
_PAGE_OPEN = re.compile(r'<page number="(\d+)">')


def _locate(sentence: str, text: str) -> tuple[int, int] | None:
    """Span of `sentence` in the prompt text, whatever markers, footers or headers lie between its words."""
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    words = sentence.split()
    for i, (tok, start, _end) in enumerate(tokens):
        if tok != words[0]:
            continue
        j, w, end = i + 1, 1, tokens[i][2]
        skipped = 0
        while w < len(words) and j < len(tokens) and skipped <= 12:
            if tokens[j][0] == words[w]:
                end = tokens[j][2]
                w += 1
                skipped = 0
            else:
                skipped += 1
            j += 1
        if w == len(words):
            return start, end
    return None


def _page_at(text: str, pos: int) -> int | None:
    opened = [m for m in _PAGE_OPEN.finditer(text) if m.start() <= pos]
    return int(opened[-1].group(1)) if opened else None


def _answers(req: Any) -> dict[str, dict[str, Any]]:
    return {n: {"value": None, "evidence": "", "page": None, "confidence": 0} for n in req.variable_names}


def cross_page_quoter(seed: int = 7) -> Callable[[Any], dict[str, Any]]:
    """A model that copies quotes with the prompt's page markers (see the module docstring)."""
    rng = random.Random(seed)

    def respond(req: Any) -> dict[str, Any]:
        text = req.messages[-1]["content"]
        answers = _answers(req)
        for name in req.variable_names:
            fact = BY_NAME.get(name)
            span = _locate(fact.sentence, text) if fact else None
            if fact is None or span is None:
                continue
            start, end = span
            page = _page_at(text, start)
            opened = text.rfind(">", 0, start)
            at_top = not text[opened + 1:start].strip()
            if at_top and page is not None:
                marker = text.rfind('<page number="', 0, start)
                previous_end = text.rfind("</page>", 0, marker)
                if previous_end != -1:  # "Page 4 </page> <page number="5"> The Ministry ..."
                    start = text.rfind("\n", 0, text.rfind("\n", 0, previous_end)) + 1
                    claimed: int | None = page - 1
                else:  # the very top of the document: the marker itself, and no page
                    start, claimed = marker, None
            else:
                roll = rng.random()
                claimed = (page if roll < 0.6 else None if roll < 0.75 else 3847659201 if roll < 0.85
                           else max(1, (page or 1) + rng.choice((-1, 1))))
            answers[name] = {"value": fact.value, "evidence": text[start:end], "page": claimed, "confidence": 1.0}
        return {"content": json.dumps({"answers": answers})}

    return respond


def _states(sentence: str, fact: Fact) -> bool:
    """Whether `sentence` happens to state `fact`'s value too (then it is no wrong quote for it)."""
    digits = re.findall(r"\d+", str(fact.value))
    return fact.value_text in sentence or any(d in re.findall(r"\d+", sentence) for d in digits)


def wrong_value_quoter(seed: int = 11) -> Callable[[Any], dict[str, Any]]:
    """A model that attaches real sentences of the document to wrong values (see the module docstring)."""
    rng = random.Random(seed)

    def respond(req: Any) -> dict[str, Any]:
        text = req.messages[-1]["content"]
        answers = _answers(req)
        present = [f for f in FACTS if _locate(f.sentence, text)]
        for name in req.variable_names:
            fact = BY_NAME.get(name)
            others = [f for f in present if fact is not None and f is not fact]
            if fact is None or fact not in present or not others:
                continue
            same_type = [f for f in others if f.variable.type is fact.variable.type and f.value != fact.value
                         and fact.variable.type is not VariableType.TEXT]
            unrelated = [f for f in others if not _states(f.sentence, fact)]
            if same_type and (rng.random() < 0.5 or not unrelated):  # another fact's value, its own sentence
                donor = rng.choice(same_type)
                value = donor.value
            elif unrelated:  # this fact's value, with a (real) sentence that does not state it
                donor = rng.choice(unrelated)
                value = fact.value
            else:
                continue
            if fact.variable.type is VariableType.LIST:
                value = list(fact.value) + ["forestry"]
            start, end = _locate(donor.sentence, text)  # type: ignore[misc]
            answers[name] = {"value": value, "evidence": text[start:end], "page": _page_at(text, start),
                             "confidence": 1.0}
        return {"content": json.dumps({"answers": answers})}

    return respond


def _slip(fact: Fact, rng: random.Random) -> Any:
    """A plausible wrong value for `fact`, the kind a careful model still makes now and then: a list missing
    its last item, a title cut short, a number, year or date a little off, a boolean flipped, another option."""
    kind, value = fact.variable.type, fact.value
    if kind is VariableType.LIST:
        return list(value)[:-1]
    if kind is VariableType.TEXT:
        return " ".join(str(value).split()[:-1])
    if kind is VariableType.NUMBER:
        return value + rng.choice((-5, 5, 10))
    if kind is VariableType.YEAR:
        return value + rng.choice((-1, 1))
    if kind is VariableType.DATE:
        return str(value)[:8] + f"{int(str(value)[8:]) % 28 + 1:02d}"
    if kind is VariableType.BOOLEAN:
        return not value
    return next(o for o in fact.variable.options if o != value)


def slipping_quoter(seed: int = 3, rate: float = 0.15) -> Callable[[Any], dict[str, Any]]:
    """`cross_page_quoter`'s real quotes, but each value slips (`_slip`) with probability `rate`.
    Deterministic per request text and seed, so the same document always gets the same answers (two runs, or
    two designs, compare like with like); two seeds slip independently (two different models)."""
    import hashlib

    def respond(req: Any) -> dict[str, Any]:
        text = req.messages[-1]["content"]
        digest = int(hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()[:12], 16)
        reply = json.loads(cross_page_quoter(seed=digest)(req)["content"])
        rng = random.Random(digest)
        for name, answer in reply["answers"].items():
            if answer["value"] is not None and rng.random() < rate:
                answer["value"] = _slip(BY_NAME[name], rng)
        return {"content": json.dumps(reply)}

    return respond
