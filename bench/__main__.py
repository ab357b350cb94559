"""`python -m bench` (or `make bench`): every benchmark, one table, bench/results.md + results.json.

    python -m bench            # full run (~40 PDFs + a 300-page one; under ~10 minutes on 2 cores)
    python -m bench --quick    # smaller corpus, shorter windows: for development
    python -m bench --only extraction,jobs

Each section runs in turn (never two at once: they would steal each other's CPU). A section that
is missing or fails becomes a row carrying its error, never a crash: the other numbers still count.
Sections owned by colleagues (reading.py, scaleout.py) are imported lazily.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
SECTIONS = ("extraction", "providers", "pacing", "reading", "grounding", "ordinances", "second_opinion", "jobs", "ui",
            "review", "scaleout")


def _clean_environment() -> None:
    """Benchmarks measure the defaults: no key, endpoint or tuning from the shell leaks in."""
    from tests.fixtures.common import _ENV_PREFIXES

    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            del os.environ[key]


def _error_row(section: str, exc: BaseException) -> dict[str, Any]:
    detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return {"benchmark": f"{section}: did not run ({detail})", "value": float("nan"), "unit": "",
            "target": "runs", "ok": False}


def run_section(name: str, out_dir: Path, quick: bool) -> dict[str, Any]:
    """{"rows", "comparison", "notes"} of one section; errors become a failed row."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{name}")
        result = module.run(out_dir, quick=quick)
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{name}":
            return {"rows": [_error_row(name, RuntimeError("bench/" + name + ".py is not there yet"))]}
        traceback.print_exc()
        return {"rows": [_error_row(name, exc)]}
    except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
        traceback.print_exc()
        return {"rows": [_error_row(name, exc)]}
    finally:
        print(f"[bench] {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    if isinstance(result, dict):
        return {"rows": list(result.get("rows", [])), "comparison": list(result.get("comparison", [])),
                "notes": list(result.get("notes", [])), "raw": result.get("raw")}
    return {"rows": list(result)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller corpus and windows (development)")
    parser.add_argument("--only", help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="work folder (corpus cache)")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    os.chdir(REPO)  # import paths and relative JOBS_DIRs never depend on where it was started
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    _clean_environment()
    from bench.report import machine_facts, render, write

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    comparison: list[dict[str, Any]] = []
    notes: list[str] = []
    raw: dict[str, Any] = {}
    for name in sections:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        result = run_section(name, args.out, args.quick)
        rows += [{**row, "section": name} for row in result["rows"]]
        comparison += result.get("comparison") or []
        notes += [f"{name}: {n}" for n in result.get("notes") or []]
        if result.get("raw") is not None:
            raw[name] = result["raw"]

    command = "python -m bench" + (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    facts = machine_facts()
    elapsed = time.perf_counter() - started
    text = render(rows, comparison, notes, command, facts, elapsed)
    print(text)
    write(BENCH / "results.md", BENCH / "results.json", text,
          {"command": command, "machine": facts, "elapsed_s": round(elapsed, 1), "rows": rows,
           "comparison": comparison, "notes": notes, "raw": raw})
    print(f"[bench] written {BENCH / 'results.md'} and {BENCH / 'results.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
