"""The benchmark corpus: generated policy PDFs with known facts, cached under bench/out/.

Why generated: the numbers must be reproducible on any machine without shipping documents, and
every fact's quote and page must be known so both designs can be checked for the same answers.
Why cached: fpdf2 needs ~15 s for a 300-page PDF; the cache key holds CORPUS_VERSION and the size
(full / quick), and the manifest is written last, so a half-written corpus is never reused.

Pages carry ~2,700 characters (~675 tokens) of policy-style prose, the density of a real policy
page. Each short document states each fact with probability 0.75, on a random page; the long
document states every fact once, spread over its 300 pages.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_reader.fsio import atomic_write_json, read_json
from policy_reader.models import Variable, VariableType

CORPUS_VERSION = "1"
SEED = 8
PAGE_CHARS = 2700

#: name -> (question, type, options, value the fake model returns, verbatim quote placed in the PDFs)
_SPEC: list[tuple[str, str, VariableType, tuple[str, ...], Any, str]] = [
    ("policy_title", "What is the title of the policy?", VariableType.TEXT, (),
     "National Climate Resilience Strategy", "This document sets out the National Climate Resilience Strategy"),
    ("year_adopted", "In which year was the policy adopted?", VariableType.YEAR, (),
     2019, "adopted by the Council of Ministers in 2019"),
    ("adoption_date", "On what date was the policy adopted?", VariableType.DATE, (),
     "2019-03-14", "formally approved on 14 March 2019"),
    ("emission_target_pct", "What greenhouse gas reduction (%) does the policy target?", VariableType.NUMBER, (),
     45, "reduce greenhouse gas emissions by 45 percent"),
    ("target_year", "By which year should the emission target be reached?", VariableType.YEAR, (),
     2030, "the reduction target shall be reached by 2030"),
    ("base_year", "What is the baseline year of the emission target?", VariableType.YEAR, (),
     2005, "measured against the 2005 baseline inventory"),
    ("covers_adaptation", "Does the policy cover adaptation to climate change?", VariableType.BOOLEAN, (),
     True, "dedicated measures for adaptation to climate change in every region"),
    ("sectors", "Which sectors does the policy cover?", VariableType.LIST,
     ("energy", "transport", "agriculture", "industry", "waste", "forestry"),
     ["energy", "transport", "agriculture"], "applies to the energy, transport and agriculture sectors"),
    ("responsible_ministry", "Which ministry implements the policy?", VariableType.CATEGORY,
     ("Ministry of Environment", "Ministry of Energy", "Ministry of Finance"),
     "Ministry of Environment", "The Ministry of Environment is responsible for implementation"),
    ("renewable_share_pct", "What share of electricity (%) should come from renewables?", VariableType.NUMBER, (),
     60, "renewable sources will supply 60 percent of electricity"),
    ("budget_musd", "What budget (million USD) is allocated?", VariableType.NUMBER, (),
     250, "an overall budget of 250 million US dollars"),
    ("review_period_years", "Every how many years is the policy reviewed?", VariableType.NUMBER, (),
     5, "the strategy shall be reviewed every 5 years"),
]

VARIABLES: list[Variable] = [Variable(name=n, question=q, type=t, options=o) for n, q, t, o, _v, _q in _SPEC]
#: The fake server's facts: {name: (value, quote)}.
FACTS: dict[str, tuple[Any, str]] = {n: (v, quote) for n, _q, _t, _o, v, quote in _SPEC}

_SUBJECTS = ["The Government", "The national authority", "Each regional council", "The inter-ministerial committee",
             "Local administrations", "The statistics office", "Public agencies", "The steering group"]
_VERBS = ["will coordinate", "shall monitor", "will publish", "is expected to support", "shall review",
          "will strengthen", "will consult on", "shall report on"]
_OBJECTS = ["the implementation of sectoral measures", "investment plans for public infrastructure",
            "the collection of activity data", "capacity building for municipal staff",
            "the quality of the national inventory", "incentives for efficient buildings",
            "the protection of coastal communities", "programmes for sustainable land use",
            "training for inspectors and auditors", "cooperation with research institutions"]
_TAILS = ["in line with international commitments.", "on the basis of transparent criteria.",
          "with the participation of civil society.", "as described in the annex of this chapter.",
          "within the limits of the annual budget law.", "following a public consultation.",
          "taking into account regional differences.", "and results will be made public each year."]


@dataclass(frozen=True)
class Corpus:
    """Paths of the generated PDFs and what they state."""

    folder: Path
    small: list[Path]  # the 5-15 page documents
    big: Path  # the 300-page document
    pages: dict[str, int]  # file name -> page count
    facts_placed: dict[str, dict[str, int]]  # file name -> {variable: page}

    @property
    def files(self) -> list[Path]:
        return [*self.small, self.big]

    @property
    def total_pages(self) -> int:
        return sum(self.pages.values())


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}"


def _page_text(rng: random.Random, heading: str, facts: list[str]) -> str:
    """One page: a heading and paragraphs of prose, the fact sentences inserted at random places."""
    sentences: list[str] = []
    while sum(len(s) + 1 for s in sentences) < PAGE_CHARS:
        sentences.append(_sentence(rng))
    for quote in facts:
        sentences.insert(rng.randrange(len(sentences) + 1), f"It is noted that {quote}.")
    paragraphs = [" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5)]
    return heading + "\n\n" + "\n\n".join(paragraphs)


def _document(rng: random.Random, title: str, n_pages: int, placed: dict[str, int]) -> list[str]:
    by_page: dict[int, list[str]] = {}
    for name, page in placed.items():
        by_page.setdefault(page, []).append(FACTS[name][1])
    return [_page_text(rng, f"{title} - Section {n}" if n > 1 else title, by_page.get(n, []))
            for n in range(1, n_pages + 1)]


def build_corpus(out_dir: Path, *, quick: bool = False) -> Corpus:
    """The corpus for this size, generated once per CORPUS_VERSION and reused afterwards."""
    from tests.pdf_factory import make_text_pdf  # fpdf2: a dev dependency, only needed to generate

    n_small, big_pages = (8, 60) if quick else (40, 300)
    folder = Path(out_dir) / f"corpus-v{CORPUS_VERSION}-{'quick' if quick else 'full'}"
    manifest = folder / "manifest.json"
    if manifest.is_file():
        data = read_json(manifest)
        corpus = Corpus(folder, [folder / n for n in data["small"]], folder / data["big"], data["pages"],
                        data["facts_placed"])
        if all(p.is_file() for p in corpus.files):
            return corpus

    rng = random.Random(SEED)
    pages: dict[str, int] = {}
    placed_all: dict[str, dict[str, int]] = {}
    small: list[Path] = []
    for i in range(n_small):
        name = f"policy-{i + 1:03d}.pdf"
        n_pages = rng.randint(5, 15)
        placed = {v.name: rng.randint(1, n_pages) for v in VARIABLES if rng.random() < 0.75}
        make_text_pdf(folder / name, _document(rng, f"Climate Policy Document {i + 1}", n_pages, placed))
        small.append(folder / name)
        pages[name], placed_all[name] = n_pages, placed
    big_name = f"national-plan-{big_pages}p.pdf"
    big_placed = {v.name: 1 + (k * (big_pages - 1)) // (len(VARIABLES) - 1) for k, v in enumerate(VARIABLES)}
    make_text_pdf(folder / big_name, _document(rng, "National Climate Plan", big_pages, big_placed))
    pages[big_name], placed_all[big_name] = big_pages, big_placed
    atomic_write_json(manifest, {"version": CORPUS_VERSION, "small": [p.name for p in small], "big": big_name,
                                 "pages": pages, "facts_placed": placed_all})
    return Corpus(folder, small, folder / big_name, pages, placed_all)


def build_scans(out_dir: Path, count: int) -> list[Path]:
    """`count` one-page image-only PDFs (scans): only OCR can read them. Cached like the corpus."""
    from tests.pdf_factory import make_image_only_pdf

    folder = Path(out_dir) / f"scans-v{CORPUS_VERSION}"
    paths = []
    for i in range(count):
        path = folder / f"scan-{i + 1:03d}.pdf"
        if not path.is_file():
            make_image_only_pdf(path, [f"Scanned policy annex {i + 1}", FACTS["year_adopted"][1] + ".",
                                       FACTS["emission_target_pct"][1] + ".",
                                       "The ministry will publish annual reports on implementation.",
                                       "Local administrations shall monitor the measures of this annex."])
        paths.append(path)
    return paths


def build_tiny(out_dir: Path, count: int) -> list[Path]:
    """`count` one-page text PDFs, for job-system benchmarks where the document content is irrelevant."""
    from tests.pdf_factory import make_text_pdf

    folder = Path(out_dir) / f"tiny-v{CORPUS_VERSION}"
    rng = random.Random(SEED)
    paths = []
    for i in range(count):
        path = folder / f"tiny-{i + 1:04d}.pdf"
        text = _page_text(rng, f"Short note {i + 1}", [FACTS["year_adopted"][1]])
        if not path.is_file():
            make_text_pdf(path, [text])
        paths.append(path)
    return paths
