"""Grounding on 12 generated policies: the true page against a model that quotes across page breaks
with the prompt's markers, and no acceptance for real quotes attached to wrong values.

The policies and the two fake models are those of the tests (tests/policy_corpus.py): each fact is
planted once, inside a paragraph, at the top of a page or split over a page break; the models answer
with confidence 1.0 (as small local models do). The fake OpenAI server runs in this process.

    python -m bench.grounding [--quick]
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.report import run_alone

TARGET_PAGE = 0.95


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    from bench.report import row
    from policy_reader.config import load_settings
    from policy_reader.extraction.answers import extract_document
    from policy_reader.extraction.extractor import make_extractor
    from policy_reader.models import AnswerStatus, MatchKind
    from policy_reader.reading.pdf_text import read_pdf
    from tests.fake_openai import FakeOpenAI
    from tests.policy_corpus import VARIABLES, cross_page_quoter, make_policies, wrong_value_quoter

    folder = Path(out_dir) / "grounding_policies"
    policies = [(p, read_pdf(p.path)) for p in make_policies(folder, 4 if quick else 12)]
    with FakeOpenAI() as server:
        settings = load_settings(LLM_BACKEND="openai", OPENAI_API_KEY="sk-bench-0000", OPENAI_MODEL="fake",
                                 OPENAI_BASE_URL=server.base_url + "/v1", JOBS_DIR=str(Path(out_dir) / "jobs"))
        extractor = make_extractor(settings)

        server.responder = cross_page_quoter()
        answers, checking = [], 0.0
        for policy, doc in policies:
            t0 = time.perf_counter()
            out = extract_document(doc, VARIABLES, extractor, threshold=0.8)
            checking += time.perf_counter() - t0
            answers += [(policy, doc, a) for a in out.answers]
        right = sum(a.page == p.expected[a.name] for p, _d, a in answers)
        by_place = Counter(p.placement[a.name] for p, _d, a in answers)
        right_by_place = Counter(p.placement[a.name] for p, _d, a in answers if a.page == p.expected[a.name])
        kinds = Counter(a.match_kind.value for _p, _d, a in answers)
        unaligned_accepted = sum(a.status is AnswerStatus.ACCEPTED and a.match_kind is MatchKind.NONE
                                 for _p, _d, a in answers)
        outside = sum(a.page is not None and not 1 <= a.page <= d.page_count for _p, d, a in answers)
        accepted = sum(a.status is AnswerStatus.ACCEPTED for _p, _d, a in answers)

        server.responder = wrong_value_quoter()
        wrong = []
        for _policy, doc in policies:
            wrong += [a for a in extract_document(doc, VARIABLES, extractor, threshold=0.8).answers
                      if a.value is not None]
        wrong_accepted = sum(a.status is AnswerStatus.ACCEPTED for a in wrong)

    n = len(answers)
    rows = [
        row(f"grounding: planted facts on the right page ({len(policies)} policies, cross-page quoting model)",
            100 * right / n, "%", f">= {100 * TARGET_PAGE:.0f}", right / n >= TARGET_PAGE, digits=1),
        *[row(f"grounding: right page, fact {place} ({by_place[place]})", 100 * right_by_place[place] / by_place[place],
              "%", digits=1) for place in ("middle", "top", "split")],
        row("grounding: answers aligned exact / fuzzy / none", kinds["exact"], f"/ {kinds['fuzzy']} / {kinds['none']}"),
        row("grounding: unaligned answers accepted", unaligned_accepted, "", "0", unaligned_accepted == 0),
        row("grounding: pages outside the document", outside, "", "0", outside == 0),
        row("grounding: correct answers accepted", 100 * accepted / n, "%", digits=1),
        row(f"grounding: real quotes with wrong values accepted (of {len(wrong)})", wrong_accepted, "", "0",
            wrong_accepted == 0),
        row("grounding: check + merge time per document (12 variables, fake model)", 1000 * checking / len(policies),
            "ms"),
    ]
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    return run_alone("python -m bench.grounding", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
