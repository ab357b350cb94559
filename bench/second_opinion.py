"""Second opinion: how much review it adds, and how many wrong accepted answers it catches, on planted facts.

The 12 generated policies of the grounding benchmark (tests/policy_corpus.py), every fact planted once. The
first model quotes every fact verbatim but lets 15% of its values slip (`slipping_quoter`: a list missing an
item, a title cut short, a number or year a little off, a flipped yes/no, another option); grounding sends
the slips it can see to review and accepts the others. Three designs read the same answers:

- no second opinion (the default);
- the offline extractor as second opinion (no model call);
- a second model that slips as often, independently (another seed of the same fake model).

Per design: answers to review, wrong answers still accepted, right answers sent to review (the cost), model
calls. And what agreement could save: answers flagged for review on which both engines agree.
The pipeline's own code is used (extraction.extract_document, second_opinion.apply_second_opinion), as
pipeline.process_document calls it; the fake OpenAI server runs in this process.

    python -m bench.second_opinion [--quick]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import run_alone

SLIP_RATE = 0.15


def _score(rows: list[tuple[Any, Any, Any]]) -> dict[str, int]:
    """rows: (fact, answer after the design, first engine's answer)."""
    from policy_reader.accuracy.gold import same_value
    from policy_reader.models import AnswerStatus

    right = [same_value(f.variable, f.value, a.value) for f, a, _first in rows]
    review = [a.status is AnswerStatus.NEEDS_REVIEW for _f, a, _first in rows]
    accepted = [a.status is AnswerStatus.ACCEPTED for _f, a, _first in rows]
    return {"n": len(rows), "wrong": right.count(False), "review": sum(review),
            "wrong_accepted": sum(acc and not ok for acc, ok in zip(accepted, right)),
            "right_review": sum(rev and ok for rev, ok in zip(review, right)),
            "wrong_review": sum(rev and not ok for rev, ok in zip(review, right)),
            "changed": sum(a.value != first.value for _f, a, first in rows)}


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    from bench.report import row
    from policy_reader.accuracy.gold import same_value
    from policy_reader.config import load_settings
    from policy_reader.extraction.answers import extract_document
    from policy_reader.extraction.extractor import make_extractor
    from policy_reader.models import AnswerStatus, MatchKind
    from policy_reader.reading.pdf_text import read_pdf
    from policy_reader.extraction.second_opinion import apply_second_opinion
    from tests.fake_openai import FakeOpenAI
    from tests.policy_corpus import BY_NAME, VARIABLES, make_policies, slipping_quoter

    folder = Path(out_dir) / "second_opinion_policies"
    policies = [(p, read_pdf(p.path)) for p in make_policies(folder, 4 if quick else 12)]
    first_model, second_model = slipping_quoter(seed=3, rate=SLIP_RATE), slipping_quoter(seed=4, rate=SLIP_RATE)
    with FakeOpenAI() as server:
        server.responder = lambda req: (second_model if req.body.get("model") == "fake-second" else first_model)(req)
        settings = load_settings(LLM_BACKEND="openai", OPENAI_API_KEY="sk-bench-0000", OPENAI_MODEL="fake-first",
                                 OPENAI_BASE_URL=server.base_url + "/v1", JOBS_DIR=str(Path(out_dir) / "jobs"))
        engines = {"offline": make_extractor(settings, backend="offline"),
                   "second model": make_extractor(settings, model="fake-second")}
        first_answers, second_answers, calls = [], {name: [] for name in engines}, {"none": 0}
        texts = [{page.number: page.text for page in doc.pages} for _policy, doc in policies]
        for _policy, doc in policies:
            out = extract_document(doc, VARIABLES, make_extractor(settings), threshold=0.8)
            first_answers.append(out.answers)
            calls["none"] += out.usage.calls
            for name, engine in engines.items():
                other = extract_document(doc, VARIABLES, engine, threshold=0.8)
                second_answers[name].append(other.answers)
                calls[name] = calls.get(name, 0) + other.usage.calls

    def rows_of(answers_per_doc: list[list[Any]]) -> list[tuple[Any, Any, Any]]:
        return [(BY_NAME[a.name], a, first) for answers, firsts in zip(answers_per_doc, first_answers)
                for a, first in zip(answers, firsts)]

    scores = {"none": _score(rows_of(first_answers))}
    for name in engines:
        combined = [apply_second_opinion(VARIABLES, first, second, name, pages)
                    for first, second, pages in zip(first_answers, second_answers[name], texts)]
        scores[name] = _score(rows_of(combined))
    # what agreement could spare: flagged answers that both engines give, with an aligned quote
    agree = {name: [0, 0] for name in engines}  # flagged answers both engines agree on, of which wrong
    for name in engines:
        for firsts, seconds in zip(first_answers, second_answers[name]):
            for a, b in zip(firsts, seconds):
                fact = BY_NAME[a.name]
                if a.status is AnswerStatus.NEEDS_REVIEW and a.value is not None and b.value is not None \
                        and b.match_kind is not MatchKind.NONE and same_value(fact.variable, a.value, b.value):
                    agree[name][0] += 1
                    agree[name][1] += not same_value(fact.variable, fact.value, a.value)

    base = scores["none"]
    n = base["n"]
    rows = [row(f"second opinion: planted facts asked ({len(policies)} policies; first model slips {SLIP_RATE:.0%} "
                f"of values)", n, "answers"),
            row("second opinion: wrong values from the first model", base["wrong"], "answers")]
    for name, label in (("none", "none"), ("offline", "offline extractor"), ("second model", "second model")):
        s = scores[name]
        rows += [
            row(f"second opinion [{label}]: answers to review", s["review"], f"of {n}"),
            row(f"second opinion [{label}]: wrong answers accepted (slipped through)", s["wrong_accepted"],
                f"of {s['wrong']} wrong"),
            row(f"second opinion [{label}]: right answers sent to review", s["right_review"], ""),
            row(f"second opinion [{label}]: model calls", calls["none"] + (calls[name] if name != "none" else 0), ""),
        ]
    for name, label in (("offline", "offline extractor"), ("second model", "second model")):
        s = scores[name]
        added, caught = s["review"] - base["review"], base["wrong_accepted"] - s["wrong_accepted"]
        rows += [
            row(f"second opinion [{label}]: review added vs none", added, "answers"),
            row(f"second opinion [{label}]: wrong accepted answers caught", caught,
                f"of {base['wrong_accepted']}"),
            row(f"second opinion [{label}]: added reviews per wrong answer caught",
                added / caught if caught else float("nan"), "", digits=1),
            row(f"second opinion [{label}]: flagged answers both engines agree on (could skip review)",
                agree[name][0], f"{agree[name][1]} wrong"),
            row(f"second opinion [{label}]: values changed", s["changed"], "", "0", s["changed"] == 0),
        ]
    return {"rows": rows, "raw": {"scores": scores, "calls": calls, "agree": agree}}


def main(argv: list[str] | None = None) -> int:
    return run_alone("python -m bench.second_opinion", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
