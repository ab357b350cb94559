"""Real-document accuracy: wind-energy ordinances (tests/ordinance_corpus.py) read from real PDFs.

Three readers over the same PDFs and the real setback template:
* a strong, honest model: the fake OpenAI server (tests/fake_openai.py) answering each variable the
  document states with the gold value and the quote as printed (confidence 0.95), nothing otherwise;
  measured: right answers accepted on the right page, wrong values accepted;
* a model carrying wrong values with real quotes: each stated variable answered with ANOTHER variable's
  value and quote, or with a bare repeated number ("500 feet") of another rule; none may be accepted;
* the offline extractor: absent features answered "not found", present ones right, wrong ones accepted.

    python -m bench.ordinances
"""
from __future__ import annotations


from pathlib import Path
from typing import Any

from bench.report import run_alone

TARGET_STRONG_ACCEPTED = 0.98
TARGET_OFFLINE_ABSENT = 0.80
TARGET_OFFLINE_PRESENT = 0.60


def _same(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return a == b


def _wrong_facts(gold: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """For each stated variable: another stated variable's different value with its quote, or, when the
    document prints that value as a bare "N feet" elsewhere, that bare quote (the issue's roads = 500)."""
    stated = [(n, f) for n, f in gold.items() if f is not None]
    out: dict[str, tuple[Any, str]] = {}
    for i, (name, (value, _quote)) in enumerate(stated):
        for other, (o_value, o_quote) in stated[i + 1:] + stated[:i]:
            if not _same(o_value, value):
                bare = f"{o_value:g} feet" if isinstance(o_value, (int, float)) and o_value >= 100 else o_quote
                out[name] = (o_value, bare if name.endswith("_feet") and other.endswith("_feet") else o_quote)
                break
    return out


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    from tests.ordinance_corpus import HELD_OUT, ORDINANCES

    tuned = _score(out_dir, ORDINANCES, "ordinances")
    held = _score(out_dir, HELD_OUT, "ordinances held out")
    return {"rows": tuned["rows"] + held["rows"], "notes": tuned["notes"] + held["notes"]}


def _score(out_dir: Path, ordinances: list[Any], label: str) -> dict[str, Any]:
    from bench.report import row
    from policy_reader.config import load_settings
    from policy_reader.extraction.answers import extract_document
    from policy_reader.extraction.extractor import make_extractor
    from policy_reader.extraction.offline import OfflineExtractor
    from policy_reader.models import AnswerStatus
    from policy_reader.reading.pdf_text import read_pdf
    from tests.fake_openai import FakeOpenAI
    from tests.ordinance_corpus import TEMPLATE, gold_facts, make_ordinance_pdfs

    ORDINANCES = ordinances

    paths = make_ordinance_pdfs(Path(out_dir) / "ordinances")
    docs = [(o, read_pdf(paths[o.name], ocr=False)) for o in ORDINANCES]
    present = [(o, n) for o in ORDINANCES for n, f in o.gold.items() if f is not None]
    absent = [(o, n) for o in ORDINANCES for n, f in o.gold.items() if f is None]
    details: list[str] = []
    with FakeOpenAI() as server:
        settings = load_settings(LLM_BACKEND="openai", OPENAI_API_KEY="sk-bench-0000", OPENAI_MODEL="fake",
                                 OPENAI_BASE_URL=server.base_url + "/v1", JOBS_DIR=str(Path(out_dir) / "jobs"))
        extractor = make_extractor(settings)
        strong_ok = strong_wrong = 0
        for o, doc in docs:
            server.facts = gold_facts(o)
            for a in extract_document(doc, TEMPLATE, extractor, threshold=0.8).answers:
                fact = o.gold[a.name]
                if a.status is AnswerStatus.ACCEPTED and (fact is None or not _same(a.value, fact[0])):
                    strong_wrong += 1
                if fact is None:
                    continue
                if (a.status is AnswerStatus.ACCEPTED and _same(a.value, fact[0])
                        and a.page == o.page_of(fact[1])):
                    strong_ok += 1
                else:
                    details.append(f"strong {o.name} {a.name}: {a.status.value} {a.value!r} p{a.page} {a.note!r}")
        wrong_total = wrong_accepted = 0
        for o, doc in docs:
            server.facts = _wrong_facts(o.gold)
            for a in extract_document(doc, TEMPLATE, extractor, threshold=0.8).answers:
                if a.value is None:
                    continue
                wrong_total += 1
                fact = o.gold[a.name]
                if a.status is AnswerStatus.ACCEPTED and (fact is None or not _same(a.value, fact[0])):
                    wrong_accepted += 1
                    details.append(f"wrong accepted {o.name} {a.name}={a.value!r} from {server.facts[a.name][1]!r}")

    off_absent = off_present = off_wrong_accepted = off_accepted = 0
    for o, doc in docs:
        for a in extract_document(doc, TEMPLATE, OfflineExtractor(), threshold=0.8).answers:
            fact = o.gold[a.name]
            right = fact is not None and a.value is not None and _same(a.value, fact[0])
            if fact is None and a.status is AnswerStatus.NOT_FOUND:
                off_absent += 1
            if right:
                off_present += 1
            if a.status is AnswerStatus.ACCEPTED:
                off_accepted += 1
                off_wrong_accepted += not right
            if not right and not (fact is None and a.status is AnswerStatus.NOT_FOUND):
                details.append(f"offline {o.name} {a.name}: {a.status.value} {a.value!r} (gold "
                               f"{fact[0] if fact else None!r})")

    n_p, n_a = len(present), len(absent)
    rows = [
        row(f"{label}: strong model, right answers accepted on the right page ({len(docs)} real-text PDFs, "
            f"{len(TEMPLATE)}-variable setback template)", 100 * strong_ok / n_p, "%",
            f">= {100 * TARGET_STRONG_ACCEPTED:.0f}", strong_ok / n_p >= TARGET_STRONG_ACCEPTED, digits=1),
        row(f"{label}: strong model, wrong values accepted", strong_wrong, "", "0", strong_wrong == 0),
        row(f"{label}: real quotes carrying wrong values accepted (of {wrong_total})", wrong_accepted, "", "0",
            wrong_accepted == 0),
        row(f"{label}: offline, absent features 'not found' (of {n_a})", 100 * off_absent / n_a, "%",
            f">= {100 * TARGET_OFFLINE_ABSENT:.0f}", off_absent / n_a >= TARGET_OFFLINE_ABSENT, digits=1),
        row(f"{label}: offline, present features right (of {n_p})", 100 * off_present / n_p, "%",
            f">= {100 * TARGET_OFFLINE_PRESENT:.0f}", off_present / n_p >= TARGET_OFFLINE_PRESENT, digits=1),
        row(f"{label}: offline, answers accepted", off_accepted, ""),
        row(f"{label}: offline, wrong values accepted", off_wrong_accepted, "", "0", off_wrong_accepted == 0),
    ]
    return {"rows": rows, "notes": [f"{label}: {d}" for d in details[:40]]}


def main(argv: list[str] | None = None) -> int:
    return run_alone("python -m bench.ordinances", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    raise SystemExit(main())



