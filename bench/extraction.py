"""Model calls, time and tokens: (a) the naive design vs (b) Policy Reader vs (c) the lower bound.

(a) naive, implemented here only: documents one after another, one call per variable, each with
    the whole document text (openai client, same fake server, same model, a simple prompt).
(b) Policy Reader with its defaults, through the real JobManager (LLM_BACKEND=openai pointed at
    the fake server, a fresh JOBS_DIR).
(c) lower bound: calls made by (b) x latency / LLM_MAX_CONCURRENCY — no design that makes (b)'s
    calls can finish sooner.
Then the same job again: the answer cache must make it cost zero model calls.

Why the fake server runs in its OWN process (`python -m bench.extraction serve`): it parses
multi-megabyte JSON bodies and scans them for quotes; in the benchmark's process that CPU work
would hold the GIL the product needs and slow (a) and (b) by an amount that has nothing to do with
them. Its counters (calls, prompt/completion tokens, peak concurrency) are read over stdin/stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from policy_reader.config import Settings, load_settings
from policy_reader.models import Variable

from .corpus import FACTS, VARIABLES, Corpus, build_corpus
from bench.report import row as _row

LATENCY_S = 0.3
MODEL = "gpt-4o-mini"
BENCH_KEY = "sk-bench-not-a-real-key"
TARGET_SPEEDUP = 50.0
TARGET_TOKEN_RATIO = 8.0
TARGET_BOUND_RATIO = 1.3
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the fake server process


class ServerProcess:
    """tests/fake_openai.FakeOpenAI in a child process, driven by one-line JSON commands."""

    def __init__(self, latency: float = LATENCY_S, facts: dict[str, tuple[Any, str]] | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.extraction", "serve"], cwd=REPO, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._lock = threading.Lock()
        self.base_url = self._reply()["base_url"]
        self.command("configure", latency=latency, facts=facts if facts is not None else FACTS)

    def _reply(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fake server exited (code {self._proc.poll()})")
        return json.loads(line)

    def command(self, op: str, **args: Any) -> dict[str, Any]:
        with self._lock:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
            self._proc.stdin.flush()
            return self._reply()

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def reset(self) -> None:
        self.command("reset")

    def stop(self) -> None:
        if self._proc.poll() is None:
            try:
                self.command("quit")
            except (OSError, RuntimeError, ValueError):
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve() -> None:
    """Child side: start the fake, answer commands on stdin until 'quit' or EOF."""
    sys.path.insert(0, str(REPO))
    from tests.fake_openai import FakeOpenAI, Quota, SchemaLimits

    class Counting(FakeOpenAI):
        """Counts the tokens it reports in `usage` (the same numbers the clients are billed)."""

        def __init__(self) -> None:
            super().__init__()
            self.totals = {"prompt_tokens": 0, "cached_prompt_tokens": 0, "completion_tokens": 0}

        def _usage(self, text: str, content: str, cached: int = 0) -> dict[str, Any]:
            usage = super()._usage(text, content, cached)
            with self._lock:
                self.totals["prompt_tokens"] += usage["prompt_tokens"]
                self.totals["cached_prompt_tokens"] += usage["prompt_tokens_details"]["cached_tokens"]
                self.totals["completion_tokens"] += usage["completion_tokens"]
            return usage

    server = Counting().start()  # its handler sets TCP_NODELAY (no 40 ms delayed-ACK stall per call)
    out = sys.stdout
    out.write(json.dumps({"base_url": server.base_url}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        reply: dict[str, Any] = {"ok": True}
        if op == "configure":
            server.latency = float(cmd.get("latency", server.latency))
            if "facts" in cmd:
                server.facts = {k: (v[0], v[1]) for k, v in cmd["facts"].items()}
            if "quota" in cmd:  # {"tokens_per_minute", "requests_per_minute", "window_s"} or null
                server.quota = Quota(**cmd["quota"]) if cmd["quota"] else None
            if "batch_delay" in cmd:
                server.batch_delay = float(cmd["batch_delay"])
            if "schema_limits" in cmd:  # "azure" or null
                server.schema_limits = SchemaLimits.azure() if cmd["schema_limits"] == "azure" else SchemaLimits()
        elif op == "reset":
            server.reset()
            with server._lock:
                server.totals = dict.fromkeys(server.totals, 0)
        elif op == "stats":
            with server._lock:
                reply = {"requests": len(server.requests), "calls": sum(1 for r in server.requests if r.status == 200),
                         "rate_limited": sum(1 for r in server.requests if r.status == 429),
                         "refused": sum(1 for r in server.requests if r.status not in (200, 429)),
                         "charged_tokens": sum(r.charged_tokens for r in server.requests if r.status == 200),
                         "first_start": min((r.started for r in server.requests), default=0.0),
                         "last_end": max((r.ended for r in server.requests), default=0.0),
                         "batches": server.batches_created,
                         "max_in_flight": server.max_in_flight, **server.totals}
        elif op == "timeline":  # for diagnosis: when each call ran and which pages it carried
            with server._lock:
                reqs = list(server.requests)
            reply = {"calls": [{"start": r.started, "end": r.ended, "pages": sorted(r.pages)[:1] + sorted(r.pages)[-1:]}
                               for r in reqs]}
        elif op == "quit":
            out.write(json.dumps(reply) + "\n")
            out.flush()
            break
        out.write(json.dumps(reply) + "\n")
        out.flush()
    server.stop()


# --------------------------------------------------------------------------- (a) the naive design


NAIVE_SYSTEM = "You extract one fact from a policy document. Reply with JSON."


def _naive_schema(var: Variable) -> dict[str, Any]:
    """The same answer shape as Policy Reader's, for a single variable (so the fake can answer it)."""
    from policy_reader.llm.prompts import build_schema

    return build_schema([var])


def _document_text(path: Path) -> str:
    """Whole-document text with page markers (plain pypdfium2: the naive design has no reader)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        parts = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            parts.append(f'<page number="{index + 1}">\n{textpage.get_text_range()}\n</page>')
            textpage.close()
            page.close()
        return "\n".join(parts)
    finally:
        pdf.close()


def run_naive(files: list[Path], variables: list[Variable], base_url: str) -> dict[str, Any]:
    """One document after another, one call per variable with the whole text. Returns answers found."""
    import openai

    client = openai.OpenAI(api_key=BENCH_KEY, base_url=base_url + "/v1", max_retries=0, timeout=600)
    found: dict[str, dict[str, Any]] = {}
    for path in files:
        text = _document_text(path)
        found[path.name] = {}
        for var in variables:
            reply = client.chat.completions.create(
                model=MODEL, temperature=0,
                messages=[{"role": "system", "content": NAIVE_SYSTEM},
                          {"role": "user", "content": f"Question ({var.name}): {var.question}\n\n"
                                                      f"<document>\n{text}\n</document>"}],
                response_format={"type": "json_schema",
                                 "json_schema": {"name": "answer", "strict": True, "schema": _naive_schema(var)}})
            answer = json.loads(reply.choices[0].message.content or "{}").get("answers", {}).get(var.name, {})
            if answer.get("value") is not None:
                found[path.name][var.name] = answer.get("page")
    return found


# --------------------------------------------------------------------------- (b) Policy Reader


def bench_settings(jobs_dir: Path, base_url: str, **overrides: Any) -> Settings:
    """Policy Reader's defaults, pointed at the fake server; no .env, nothing from the shell."""
    env: dict[str, Any] = {"JOBS_DIR": str(jobs_dir), "LLM_BACKEND": "openai", "OPENAI_API_KEY": BENCH_KEY,
                           "OPENAI_BASE_URL": base_url + "/v1", "OPENAI_MODEL": MODEL}
    env.update(overrides)
    return load_settings(_env_file=None, **env)


def run_policy_reader(manager: Any, files: list[Path], variables: list[Variable], *, name: str,
                      timeout: float = 900) -> tuple[float, Any]:
    """submit + wait through the real JobManager; returns (wall seconds, final JobView)."""
    t0 = time.perf_counter()
    job_id = manager.submit(name=name, files=[(p.name, p) for p in files], variables=variables)
    view = manager.wait(job_id, timeout=timeout)
    return time.perf_counter() - t0, (job_id, view)


def _warm_up(manager: Any, corpus: Corpus, server: ServerProcess) -> None:
    """One 1-document job first, so (b) is timed warm, as in a running app: the first job of a
    process pays ~0.35 s of one-time imports (openai, httpx, ssl) that are not per-job costs."""
    source = corpus.small[0]
    job_id = manager.submit(name="warm-up", files=[("warm-up.pdf", source.read_bytes() + b"\n%warm-up\n")],
                            variables=VARIABLES)
    manager.wait(job_id, timeout=120)
    server.reset()


def _found_by_job(manager: Any, job_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for doc in manager.get_results(job_id):
        found[doc.file] = {a.name: a.page for a in doc.variables if a.value is not None}
    return found


def _recall(found: dict[str, dict[str, Any]], corpus: Corpus) -> tuple[int, int]:
    """(facts answered on the right page, facts placed) over the corpus."""
    placed = sum(len(v) for v in corpus.facts_placed.values())
    right = sum(1 for doc, facts in corpus.facts_placed.items() for name, page in facts.items()
                if found.get(doc, {}).get(name) == page)
    return right, placed


# --------------------------------------------------------------------------- the benchmark


def _cost(stats: dict[str, Any], settings: Settings) -> float:
    from policy_reader.llm.llm_extractor import price
    from policy_reader.models import Usage

    usage = Usage(calls=stats["calls"], prompt_tokens=stats["prompt_tokens"],
                  cached_prompt_tokens=stats["cached_prompt_tokens"], completion_tokens=stats["completion_tokens"])
    return price(usage, settings).cost_usd


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    """Returns {"rows": [...], "comparison": [...], "notes": [...]} (see bench/report.py)."""
    from job_manager import JobManager

    corpus = build_corpus(out_dir, quick=quick)
    files, variables = corpus.files, VARIABLES
    notes: list[str] = []
    with ServerProcess(LATENCY_S, FACTS) as server, tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        settings = bench_settings(Path(tmp) / "jobs", server.base_url)
        manager = JobManager(settings)
        try:
            _warm_up(manager, corpus, server)
            # (b) Policy Reader with its defaults
            server.reset()
            b_wall, (job_id, view) = run_policy_reader(manager, files, variables, name="bench (b)")
            b = server.stats()
            if view.status != "completed" or view.documents_failed:
                notes.append(f"(b) ended {view.status} with {view.documents_failed} failed documents: {view.error}")
            b_recall = _recall(_found_by_job(manager, job_id), corpus)

            # the same job again: answers must come from the cache
            server.reset()
            r_wall, (_rid, r_view) = run_policy_reader(manager, files, variables, name="bench (b) re-run")
            rerun = server.stats()
        finally:
            manager.shutdown()

        # (a) the naive design
        server.reset()
        t0 = time.perf_counter()
        a_found = run_naive(files, variables, server.base_url)
        a_wall = time.perf_counter() - t0
        a = server.stats()
        a_recall = _recall(a_found, corpus)

    c_wall = b["calls"] * LATENCY_S / settings.llm_max_concurrency
    speedup = a_wall / b_wall
    token_ratio = a["prompt_tokens"] / max(1, b["prompt_tokens"])
    bound_ratio = b_wall / c_wall if c_wall else float("inf")
    corpus_desc = f"{len(files)} PDFs, {corpus.total_pages} pages, {len(variables)} variables"
    rows = [
        _row(f"(a)/(b) wall time, {corpus_desc}", speedup, "x", f">= {TARGET_SPEEDUP:g}", speedup >= TARGET_SPEEDUP),
        _row("(a)/(b) prompt tokens", token_ratio, "x", f">= {TARGET_TOKEN_RATIO:g}", token_ratio >= TARGET_TOKEN_RATIO),
        _row(f"(b)/(c) wall time (c = calls x {LATENCY_S:g} s / {settings.llm_max_concurrency})", bound_ratio, "x",
             f"<= {TARGET_BOUND_RATIO:g}", bound_ratio <= TARGET_BOUND_RATIO),
        _row("re-run of the same job: model calls", rerun["requests"], "calls", "0", rerun["requests"] == 0),
        _row("re-run of the same job: wall time", r_wall, "s"),
        _row("(b) peak model calls in flight", b["max_in_flight"], "calls",
             f"<= {settings.llm_max_concurrency}", b["max_in_flight"] <= settings.llm_max_concurrency),
        _row("(b) prompt tokens reported cached by the provider (prefixes >= 1,024 tokens)",
             100 * b["cached_prompt_tokens"] / max(1, b["prompt_tokens"]), "%", "> 0", b["cached_prompt_tokens"] > 0,
             digits=1),
    ]
    if r_view.status != "completed":
        notes.append(f"re-run ended {r_view.status}: {r_view.error}")
    comparison = [
        _design("(a) naive: one call per variable, whole document, one document at a time", a_wall, a,
                _cost(a, settings), a_recall),
        _design(f"(b) Policy Reader, defaults (DOCS_PER_JOB={settings.docs_per_job}, "
                f"LLM_MAX_CONCURRENCY={settings.llm_max_concurrency}, CHUNK_TOKENS={settings.chunk_tokens})",
                b_wall, b, _cost(b, settings), b_recall),
        {"design": "(c) lower bound: (b)'s calls x latency / concurrency", "wall_s": round(c_wall, 2),
         "calls": b["calls"], "prompt_tokens": "", "completion_tokens": "", "cost_usd": "", "facts_found": ""},
    ]
    notes.append("(b) is timed after a 1-document warm-up job (one-time imports), each with a fresh JOBS_DIR.")
    notes.append(f"Fake OpenAI-compatible server in its own process, {LATENCY_S * 1000:g} ms per call; tokens = "
                 "characters / 4 of the request (as the fake reports them). Cost at PRICE_*_PER_1M defaults. "
                 "facts_found = placed facts answered on the right page.")
    return {"rows": rows, "comparison": comparison, "notes": notes,
            "raw": {"a": {**a, "wall_s": a_wall}, "b": {**b, "wall_s": b_wall}, "c_wall_s": c_wall,
                    "rerun": {**rerun, "wall_s": r_wall}}}



def _design(label: str, wall: float, stats: dict[str, Any], cost: float, recall: tuple[int, int]) -> dict[str, Any]:
    return {"design": label, "wall_s": round(wall, 2), "calls": stats["calls"],
            "prompt_tokens": stats["prompt_tokens"], "completion_tokens": stats["completion_tokens"],
            "cost_usd": round(cost, 4), "facts_found": f"{recall[0]}/{recall[1]}"}


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _serve()
    else:
        result = run(REPO / "bench" / "out", quick="--quick" in sys.argv)
        print(json.dumps(result, indent=1, default=str))
