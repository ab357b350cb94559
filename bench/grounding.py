"""Grounding on 12 generated policies: the true page against a model that quotes across page breaks
with the prompt's markers, and no acceptance for real quotes attached to wrong values.

The policies and the two fake models are those of the tests (tests/policy_corpus.py): each fact is
planted once, inside a paragraph, at the top of a page or split over a page break; the models answer
with confidence 1.0 (as small local models do). The fake OpenAI server runs in this process.

The fuzzy matcher (grounding._best_span: rapidfuzz's LCS opcodes) is measured against the difflib
SequenceMatcher it replaced (the same function as it was, kept here as the baseline): the same rows
with each, and the CPU one answer's fuzzy alignment costs for quotes of 1,000 to 3,000 characters
(MAX_QUOTE_CHARS; a longer quote is not aligned, also timed) with one character in 60 changed.

    python -m bench.grounding [--quick]
"""
from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bench.report import run_alone

TARGET_PAGE = 0.95


def _difflib_best_span(piece: str, text: str, lo: int, hi: int) -> tuple[int, int, float] | None:
    """The baseline: grounding._best_span as it was with difflib (git history), unchanged."""
    from difflib import SequenceMatcher

    window = text[lo:hi]
    blocks = [b for b in SequenceMatcher(None, piece, window, autojunk=False).get_matching_blocks() if b.size]
    solid = [b for b in blocks if b.size >= 3] or blocks
    if not solid:
        return None
    start, end = lo + solid[0].b, lo + solid[-1].b + solid[-1].size
    return start, end, SequenceMatcher(None, piece, text[start:end], autojunk=False).ratio()


@contextmanager
def _matcher(name: str) -> Iterator[None]:
    from policy_reader.extraction import grounding

    kept = grounding._best_span
    if name == "difflib":
        grounding._best_span = _difflib_best_span
    try:
        yield
    finally:
        grounding._best_span = kept


def _accuracy(policies: list[Any], server: Any, extractor: Any) -> dict[str, Any]:
    from policy_reader.extraction.answers import extract_document
    from policy_reader.models import AnswerStatus, MatchKind
    from tests.policy_corpus import VARIABLES, cross_page_quoter, wrong_value_quoter

    server.responder = cross_page_quoter()
    answers, checking = [], 0.0
    for policy, doc in policies:
        t0 = time.perf_counter()
        out = extract_document(doc, VARIABLES, extractor, threshold=0.8)
        checking += time.perf_counter() - t0
        answers += [(policy, doc, a) for a in out.answers]
    server.responder = wrong_value_quoter()
    wrong = []
    for _policy, doc in policies:
        wrong += [a for a in extract_document(doc, VARIABLES, extractor, threshold=0.8).answers if a.value is not None]
    return {
        "n": len(answers),
        "right": sum(a.page == p.expected[a.name] for p, _d, a in answers),
        "by_place": Counter(p.placement[a.name] for p, _d, a in answers),
        "right_by_place": Counter(p.placement[a.name] for p, _d, a in answers if a.page == p.expected[a.name]),
        "kinds": Counter(a.match_kind.value for _p, _d, a in answers),
        "unaligned_accepted": sum(a.status is AnswerStatus.ACCEPTED and a.match_kind is MatchKind.NONE
                                  for _p, _d, a in answers),
        "outside": sum(a.page is not None and not 1 <= a.page <= d.page_count for _p, d, a in answers),
        "accepted": sum(a.status is AnswerStatus.ACCEPTED for _p, _d, a in answers),
        "wrong": len(wrong), "wrong_accepted": sum(a.status is AnswerStatus.ACCEPTED for a in wrong),
        "checking_s": checking,
        "outcome": [(a.name, a.status.value, a.page, a.match_kind.value, round(a.similarity, 2))
                    for _p, _d, a in answers],
    }


def _long_quote_cpu(sizes: tuple[int, ...]) -> dict[int, float]:
    """CPU seconds of aligning one quote of each size (one character in 60 changed, so not exact)."""
    import random

    from policy_reader.extraction.grounding import DocumentIndex
    from policy_reader.models import PageText

    rng = random.Random(7)
    words = ("policy strategy implementation regional climate energy transport emissions target reduce annual "
             "report parliament ministry budget agreed plan action measures progress monitoring review").split()
    pages = [PageText(number=i + 1, text=" ".join(rng.choice(words) for _ in range(330))) for i in range(12)]
    text = "\n".join(page.text for page in pages)
    index = DocumentIndex(pages)
    out = {}
    for size in sizes:
        quote = "".join("#" if i % 60 == 30 else c for i, c in enumerate(text[1000:1000 + size]))
        t0 = time.process_time()
        index.align(quote)
        out[size] = time.process_time() - t0
    return out


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    from bench.report import row
    from policy_reader.config import load_settings
    from policy_reader.extraction.extractor import make_extractor
    from policy_reader.extraction.grounding import MAX_QUOTE_CHARS
    from policy_reader.reading.pdf_text import read_pdf
    from tests.fake_openai import FakeOpenAI
    from tests.policy_corpus import make_policies

    folder = Path(out_dir) / "grounding_policies"
    policies = [(p, read_pdf(p.path)) for p in make_policies(folder, 4 if quick else 12)]
    results = {}
    with FakeOpenAI() as server:
        settings = load_settings(LLM_BACKEND="openai", OPENAI_API_KEY="sk-bench-0000", OPENAI_MODEL="fake",
                                 OPENAI_BASE_URL=server.base_url + "/v1", JOBS_DIR=str(Path(out_dir) / "jobs"))
        extractor = make_extractor(settings)
        for name in ("difflib", "rapidfuzz"):
            with _matcher(name):
                results[name] = _accuracy(policies, server, extractor)
    sizes = (1000, 2000, MAX_QUOTE_CHARS)
    cpu = {}
    for name in ("difflib", "rapidfuzz"):
        with _matcher(name):
            cpu[name] = _long_quote_cpu(sizes)
    refused = _long_quote_cpu((16_000,))[16_000]

    r = results["rapidfuzz"]
    n = r["n"]
    same = results["difflib"]["outcome"] == r["outcome"]
    differing = sum(a != b for a, b in zip(results["difflib"]["outcome"], r["outcome"]))
    rows = [
        row(f"grounding: planted facts on the right page ({len(policies)} policies, cross-page quoting model)",
            100 * r["right"] / n, "%", f">= {100 * TARGET_PAGE:.0f}", r["right"] / n >= TARGET_PAGE, digits=1),
        *[row(f"grounding: right page, fact {place} ({r['by_place'][place]})",
              100 * r["right_by_place"][place] / r["by_place"][place], "%", digits=1)
          for place in ("middle", "top", "split")],
        row("grounding: answers aligned exact / fuzzy / none", r["kinds"]["exact"],
            f"/ {r['kinds']['fuzzy']} / {r['kinds']['none']}"),
        row("grounding: unaligned answers accepted", r["unaligned_accepted"], "", "0", r["unaligned_accepted"] == 0),
        row("grounding: pages outside the document", r["outside"], "", "0", r["outside"] == 0),
        row("grounding: correct answers accepted", 100 * r["accepted"] / n, "%", digits=1),
        row(f"grounding: real quotes with wrong values accepted (of {r['wrong']})", r["wrong_accepted"], "", "0",
            r["wrong_accepted"] == 0),
        row("grounding: check + merge time per document (12 variables, fake model)",
            1000 * r["checking_s"] / len(policies), "ms"),
        row("grounding: answers that differ, rapidfuzz matcher vs difflib (status, page, kind, similarity to 0.01)",
            differing, f"of {n}", "0", same),
        row("grounding: difflib baseline, planted facts on the right page / correct accepted",
            100 * results["difflib"]["right"] / n, f"% / {100 * results['difflib']['accepted'] / n:.1f} %", digits=1),
        *[row(f"grounding: CPU of one {size:,}-character fuzzy quote, difflib / rapidfuzz",
              cpu["difflib"][size] / max(cpu["rapidfuzz"][size], 1e-4), "x",
              f"(difflib {cpu['difflib'][size]:.2f} s, rapidfuzz {cpu['rapidfuzz'][size] * 1000:.0f} ms)")
          for size in sizes],
        row(f"grounding: CPU of one 16,000-character quote (over MAX_QUOTE_CHARS={MAX_QUOTE_CHARS:,}: not aligned, "
            "to review)", refused * 1000, "ms", "< 100", refused < 0.1),
    ]
    return {"rows": rows, "raw": {"cpu_s": cpu, "refused_16000_s": refused}}


def main(argv: list[str] | None = None) -> int:
    return run_alone("python -m bench.grounding", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
