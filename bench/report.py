"""Rendering the benchmark results: one markdown text printed to the terminal and written to
bench/results.md, and the same data as bench/results.json (both through fsio, atomically)."""
from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

from policy_reader.fsio import atomic_write_json, atomic_write_text

ROW_COLUMNS = ("benchmark", "value", "unit", "target", "ok")
DESIGN_COLUMNS = ("design", "wall_s", "calls", "prompt_tokens", "completion_tokens", "cost_usd", "facts_found")


def row(name: str, value: float, unit: str, target: str = "", ok: bool | None = None, *,
        digits: int = 3) -> dict[str, Any]:
    """One line of the results table; `ok` is None for a measurement without a target."""
    return {"benchmark": name, "value": round(float(value), digits), "unit": unit, "target": target,
            "ok": True if ok is None else bool(ok)}


def run_alone(prog: str, description: str, run: Any, argv: list[str] | None = None) -> int:
    """A section on its own (`python -m bench.<section> [--quick]`), in a scratch folder: its rows,
    one per line. `python -m bench --only <section>` writes them into results.md instead."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp), quick=args.quick)
        for r in result["rows"] if isinstance(result, dict) else result:
            print(f"{r['benchmark']:100} {r['value']:>10} {r['unit']:14} {r['target']:>6} {'ok' if r['ok'] else 'FAIL'}")
    return 0


def machine_facts() -> dict[str, str]:
    """What the numbers depend on: cores, CPU, Python, date."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cores usable": str(len(os.sched_getaffinity(0))), "cpu": cpu,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col, "")
            if col == "ok" and not row.get("target") and value is True:
                value = ""  # informational row: nothing to pass or fail
            cells.append(_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(rows: list[dict[str, Any]], comparison: list[dict[str, Any]], notes: list[str], command: str,
           facts: dict[str, str], elapsed_s: float) -> str:
    missed = [r for r in rows if r.get("target") and not r.get("ok")]
    parts = ["# Policy Reader benchmarks", "",
             f"Command: `{command}` (took {elapsed_s:.0f} s)", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()), "",
             "## Results", "", table(rows, ROW_COLUMNS), ""]
    if comparison:
        parts += ["## Model calls: (a) naive vs (b) Policy Reader vs (c) lower bound", "",
                  table(comparison, DESIGN_COLUMNS), ""]
    if notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    parts += [f"**{len(missed)} target(s) missed**: " + "; ".join(r["benchmark"] for r in missed)
              if missed else "All targets met.", ""]
    return "\n".join(parts)


def write(out_md: Path, out_json: Path, text: str, payload: dict[str, Any]) -> None:
    atomic_write_text(out_md, text)
    atomic_write_json(out_json, payload)
