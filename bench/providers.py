"""Real providers' limits: a job under a tokens-per-minute quota, batch mode's price, prompt caching.

(quota) A 12-document job through the real JobManager against the fake server with a 24,000
        tokens-per-minute quota (a sliding 60-second window; 429 with Retry-After past it; the
        x-ratelimit headers on every response). Nothing tells Policy Reader the quota up front
        (LLM_TOKENS_PER_MINUTE unset): it learns it from the headers. The time the quota allows is
        the tokens the quota charged (prompt + max tokens of each admitted request) / 24,000 per
        minute; the job must finish within 1.3x of it, with no failed document.
(batch) The same documents through batch mode (policy_reader/extraction/batch_client.py: upload, batch, poll,
        results mapped back through extract_document): its cost against the live job's.
(cache) The share of prompt tokens the fake reported as cached (identical prefixes of >= 1,024
        tokens, as providers cache) in the live job, and what that saved.

The fake runs in its own process (bench/extraction.ServerProcess), 300 ms per call.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import FACTS, VARIABLES
from bench.extraction import LATENCY_S, ServerProcess, bench_settings, run_policy_reader
from bench.report import row as _row

TPM = 24_000
TARGET_QUOTA_RATIO = 1.3
TARGET_BATCH_COST = 0.5
#: six variables of the benchmark's twelve: the quota scenario measures pacing, not width
QUOTA_VARIABLES = VARIABLES[:6]


def _documents(out_dir: Path, count: int) -> list[Path]:
    """`count` one-page policies stating the six facts, with some surrounding prose."""
    from tests.pdf_factory import make_text_pdf

    folder = out_dir / "providers"
    folder.mkdir(parents=True, exist_ok=True)
    filler = ("The strategy is implemented through annual action plans agreed with the regions. "
              "Progress is reported to Parliament every year. ")
    paths = []
    for i in range(count):
        quotes = " ".join(f"{FACTS[v.name][1]}." for v in QUOTA_VARIABLES)
        text = f"Policy {i + 1}. {filler * 3}\n{quotes}\n{filler * 2}"
        paths.append(make_text_pdf(folder / f"policy-{i + 1:02d}.pdf", [text]))
    return paths


def _sum_usage(results: list[Any]) -> Any:
    from policy_reader.models import Usage

    total = Usage()
    for doc in results:
        total = total.add(doc.usage)
    return total


def _found(answers_by_doc: dict[str, dict[str, Any]]) -> int:
    return sum(1 for answers in answers_by_doc.values() for name, value in answers.items() if value is not None)


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    from job_manager import JobManager
    from policy_reader.extraction.batch_client import BatchClient
    from policy_reader.extraction.answers import extract_document
    from policy_reader.llm.llm_extractor import price
    from policy_reader.reading.pdf_text import read_pdf_for

    count = 6 if quick else 12
    files = _documents(out_dir, count)
    notes: list[str] = []
    with ServerProcess(LATENCY_S, FACTS) as server, tempfile.TemporaryDirectory(prefix="bench-providers-") as tmp:
        settings = bench_settings(Path(tmp) / "jobs", server.base_url)
        server.command("configure", quota={"tokens_per_minute": TPM, "window_s": 60.0})
        manager = JobManager(settings)
        try:
            wall, (job_id, view) = run_policy_reader(manager, files, QUOTA_VARIABLES, name="bench quota")
            live = server.stats()
            results = manager.get_results(job_id)
        finally:
            manager.shutdown()
        live_usage = _sum_usage(results)
        live_found = _found({d.file: {a.name: a.value for a in d.variables} for d in results})

        # batch mode: the same documents and variables, no quota (batches have their own)
        server.command("configure", quota=None, batch_delay=1.0)
        server.reset()
        docs = [(f"d{i:04d}", read_pdf_for(path, settings)) for i, path in enumerate(files)]
        client = BatchClient(settings)
        t0 = time.perf_counter()
        state = client.wait(client.submit(docs, QUOTA_VARIABLES), poll_s=0.25)
        outcomes = client.results(state)
        batch_answers: dict[str, dict[str, Any]] = {}
        batch_usage = None
        for doc_id, doc in docs:
            out = extract_document(doc, QUOTA_VARIABLES, client.answers_for(doc_id, state, outcomes),
                                   threshold=settings.accept_threshold)
            batch_answers[doc_id] = {a.name: a.value for a in out.answers}
            batch_usage = out.usage if batch_usage is None else batch_usage.add(out.usage)
        batch_wall = time.perf_counter() - t0
        batch_stats = server.stats()

    failed = view.documents_failed if view.status == "completed" else count
    if view.status != "completed":
        notes.append(f"quota job ended {view.status}: {view.error}")
    allowed = live["charged_tokens"] / TPM * 60.0
    ratio = wall / allowed if allowed else float("inf")
    cached_share = live["cached_prompt_tokens"] / max(1, live["prompt_tokens"])
    uncached_cost = price(live_usage.model_copy(update={"cached_prompt_tokens": 0}), settings).cost_usd
    batch_ratio = batch_usage.cost_usd / live_usage.cost_usd if live_usage.cost_usd else float("inf")
    placed = count * len(QUOTA_VARIABLES)
    rows = [
        _row(f"quota: {count}-document job at {TPM:,} TPM, wall / time the quota allows "
             f"({live['charged_tokens']:,} tokens charged = {allowed:.0f} s)", ratio, "x",
             f"<= {TARGET_QUOTA_RATIO:g}", ratio <= TARGET_QUOTA_RATIO),
        _row("quota: documents failed", failed, "docs", "0", failed == 0),
        _row("quota: 429 answers (the provider said later)", live["rate_limited"], "calls", "<= 3",
             live["rate_limited"] <= 3),
        _row("quota: facts found", live_found, f"of {placed}", f"{placed}", live_found == placed),
        _row("cache: prompt tokens reported cached (live job)", cached_share * 100, "%", "> 0", cached_share > 0,
             digits=1),
        _row("cache: cost saved by cached prompt tokens", (1 - live_usage.cost_usd / uncached_cost) * 100
             if uncached_cost else 0.0, "%", digits=1),
        _row("batch: cost / live job cost (same documents and variables)", batch_ratio, "x",
             f"<= {TARGET_BATCH_COST:g}", batch_ratio <= TARGET_BATCH_COST + 0.01),
        _row("batch: facts found", _found(batch_answers), f"of {placed}", f"{placed}",
             _found(batch_answers) == placed),
        _row("batch: requests in the batch (live job: one call per document)", len(state.calls), "requests",
             f"{live['calls']}", len(state.calls) == live["calls"]),
    ]
    notes.append(f"quota: {count} one-page PDFs, {len(QUOTA_VARIABLES)} variables; the fake's quota is a sliding "
                 f"60 s window of {TPM:,} tokens charged as prompt characters / 4 + max tokens; LLM_TOKENS_PER_MINUTE "
                 f"unset (learnt from x-ratelimit headers). Wall {wall:.1f} s.")
    notes.append(f"batch: one batch of {len(state.calls)} requests, answered {1.0:g} s after creation by the fake; "
                 f"{batch_wall:.1f} s from upload to mapped answers.")
    return {"rows": rows, "notes": notes,
            "raw": {"quota": {**live, "wall_s": wall, "allowed_s": allowed},
                    "live_usage": live_usage.model_dump(), "batch_usage": batch_usage.model_dump(),
                    "batch": {**batch_stats, "wall_s": batch_wall}}}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(Path(__file__).resolve().parent / "out", quick="--quick" in sys.argv), indent=1,
                     default=str))
