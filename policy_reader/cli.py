"""Command line: `python -m policy_reader extract a.pdf b.pdf --variables vars.csv --out results.xlsx`.

A CLI run is a job like any other: it goes through the same JobManager (same folder, same
checkpoints, same exports), so `jobs`, `status`, `cancel` and `resume` work on it, from this
process or another one, and the Streamlit app shows it too.

`evaluate JOB --gold gold.csv [--json out.json]` measures a finished job's accuracy against known answers.

Exit codes: 0 the job ran (per-document errors are in the output; `evaluate`: it measured); 1 the job failed
(every document failed) or was cancelled; 2 a fatal configuration or usage error (one line on stderr);
130 interrupted with Ctrl-C (the job is cancelled cleanly, finished documents are kept).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from policy_reader.delivery.formats import EXPORT_FORMATS
from policy_reader.config import Settings, jobs_dir_problem, load_settings, settings_markdown_table
from policy_reader.errors import PolicyReaderError, storage_error
from policy_reader.jobs.state import JobStatus
from policy_reader.llm import providers
from policy_reader.untrusted import strip_invisible

EXIT_OK, EXIT_JOB_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = tuple(EXPORT_FORMATS)  # json, csv, xlsx (delivery/formats.py)
PASSWORD_ENV = "PDF_PASSWORD"
# ESC sequences (CSI, OSC, DCS and two-character ones), then any other C0/C1 control or DEL.
_TERMINAL_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[\]PX^_][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])"
                                r"|[\x00-\x1f\x7f-\x9f]")


class CliError(Exception):
    """A fatal usage/configuration problem: printed as one line, exit code 2."""


def safe(text: object) -> str:
    """Text from a document, a file or job name or an error, made harmless for a terminal.

    A job name or PDF file name can carry escape sequences that retitle the terminal, rewrite
    what is on screen or (on some terminals) answer back as typed input: they are removed, and
    line breaks and tabs become spaces, so what is printed is one line of visible text. Bidi overrides and
    other invisible characters go too (policy_reader/untrusted.py): a name cannot print reversed.
    """
    return strip_invisible(_TERMINAL_SEQUENCE.sub(lambda m: m.group(0) if m.group(0) in "\t\n\r" else "",
                                                  str(text if text is not None else "")))


def build_parser() -> argparse.ArgumentParser:
    from policy_reader import __version__

    parser = argparse.ArgumentParser(prog="policy-reader",
                                     description="Policy Reader: extract variables from policy PDFs.")
    parser.add_argument("--version", action="version", version=f"policy-reader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("extract", help="Extract variables from PDFs into a CSV, Excel or JSON file.")
    ex.add_argument("pdfs", nargs="*", metavar="PDF", help="PDF files to read.")
    ex.add_argument("--variables", required=True, metavar="FILE", help="Variables file (.csv, .xlsx or .json).")
    ex.add_argument("--out", required=True, metavar="PATH", help="Output file (.json, .csv or .xlsx).")
    ex.add_argument("--format", choices=FORMATS, help="Output format (default: from the --out extension).")
    ex.add_argument("--backend", choices=[p.name for p in providers.registered()],
                    help="Answer engine (default: LLM_BACKEND).")
    ex.add_argument("--model", help="Model (OpenAI) or deployment (Azure) name.")
    ex.add_argument("--workers", type=int, metavar="N", help="Documents processed in parallel.")
    ex.add_argument("--email", action="append", default=[], metavar="ADDRESS", help="Email the results (repeatable).")
    pw = ex.add_mutually_exclusive_group()
    pw.add_argument("--ask-password", action="store_true",
                    help="Prompt for the password of encrypted PDFs (not echoed). Or set PDF_PASSWORD.")
    pw.add_argument("--password-file", metavar="FILE",
                    help="Read the password of encrypted PDFs from the first line of FILE ('-': standard input).")
    pw.add_argument("--password", nargs="?", const="", default=None, help=argparse.SUPPRESS)  # refused: see _password
    ex.add_argument("--no-ocr", action="store_true", help="Do not OCR pages without a text layer.")
    ex.add_argument("--batch", action="store_true",
                    help="Use the provider's Batch API: about half the price, results within 24 hours (the command "
                         "waits for the batch; Ctrl-C cancels it).")
    ex.add_argument("--second-opinion", metavar="ENGINE",
                    help="Ask a second engine too ('offline', or another model of the backend); answers the two "
                         "disagree on are marked for review.")
    ex.add_argument("--name", help="Job name (default: the output file name).")

    js = sub.add_parser("jobs", help="List jobs, newest first.")
    js.add_argument("--json", action="store_true", help="Print JSON.")
    st = sub.add_parser("status", help="Show one job.")
    st.add_argument("job")
    st.add_argument("--json", action="store_true", help="Print JSON.")
    rs = sub.add_parser("resume", help="Run what is left of an interrupted, cancelled or failed job (waits).")
    rs.add_argument("job")
    rr = sub.add_parser("rerun", help="Run some documents (or variables) of a finished job again (waits).")
    rr.add_argument("job")
    rr.add_argument("--doc", action="append", default=None, metavar="DOC",
                    help="A document to run again: its id (d0001) or file name (repeatable; default: every "
                         "document when --variable is given).")
    rr.add_argument("--variable", action="append", default=None, metavar="NAME",
                    help="Ask only this variable again (repeatable); the other answers stay.")
    rr.add_argument("--model", help="Another allowed model (ALLOWED_MODELS) for the job from now on.")
    rr.add_argument("--drop-corrections", action="store_true",
                    help="Forget the analyst's corrections of what is run again (kept by default).")
    rpw = rr.add_mutually_exclusive_group()
    rpw.add_argument("--ask-password", action="store_true", help="Prompt for the password of encrypted PDFs.")
    rpw.add_argument("--password-file", metavar="FILE", help="Read the PDF password from the first line of FILE.")
    rr.add_argument("--password", nargs="?", const="", default=None, help=argparse.SUPPRESS)
    cn = sub.add_parser("cancel", help="Cancel a job (also one running in another process).")
    cn.add_argument("job")
    se = sub.add_parser("resend", help="Send a finished job's results email again (within the email limits).")
    se.add_argument("job")
    cf = sub.add_parser("config", help="Print the configuration (no secrets).")
    cf.add_argument("--markdown", action="store_true", help="Print the configuration reference table.")
    cf.add_argument("--check", action="store_true",
                    help="Validate the configuration and the jobs folder; print a one-line summary (start-up).")
    ev = sub.add_parser("evaluate", help="Measure a finished job's accuracy against a gold set of known answers.")
    ev.add_argument("job")
    ev.add_argument("--gold", required=True, metavar="FILE",
                    help="CSV with the columns file, variable, value and optionally page (an empty value: the "
                         "document does not state it).")
    ev.add_argument("--json", metavar="PATH", help="Also write the result as JSON to PATH ('-': standard output).")
    ev.add_argument("--as-extracted", action="store_true",
                    help="Measure the model's answers as extracted, before any analyst's correction.")
    rc = sub.add_parser("recover", help="Resume every job a crash or restart interrupted, and wait for them.")
    rc.add_argument("--quiet", action="store_true", help="Print nothing when there is nothing to resume.")
    sub.add_parser("worker", help="Process queued documents (needs JOB_STORE=azure).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "config":
            return _config(args)
        if args.command == "recover":
            return _recover(args)
        if args.command == "worker":
            return _worker()
        if args.command == "extract":
            return _extract(args)
        if args.command == "evaluate":
            return _evaluate(args)
        return _job_command(args)
    except (CliError, PolicyReaderError) as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    except OSError as exc:  # the jobs folder or an output file refused us: one line, never a traceback
        _fail(storage_error(exc, "read or write the files it needs").message)
        return EXIT_CONFIG


# --------------------------------------------------------------------------- commands

def _config(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_markdown_table())
        return EXIT_OK
    settings = load_settings()
    summary = providers.summary(settings)
    if settings.ocr_enabled:  # whether OCR can really run here (libraries, model files), not only the switch
        from policy_reader.reading.ocr import availability

        ocr = availability()
        summary["ocr"] = "on, " + ocr.describe()
        if not ocr.available:
            print(f"warning: OCR is unavailable ({ocr.reason}): scanned pages will not be read.", file=sys.stderr)
    if args.check:
        _check_jobs_dir(settings)
        print("config: " + " | ".join(f"{key}: {safe(value)}" for key, value in summary.items()))
        return EXIT_OK
    for key, value in summary.items():
        print(f"{key:12} {safe(value)}")
    return EXIT_OK


def _check_jobs_dir(settings: Settings) -> None:
    problem = jobs_dir_problem(settings)  # the same sentence the app shows (config.startup_settings)
    if problem:
        raise CliError(problem)


def _recover(args: argparse.Namespace) -> int:
    """Resume interrupted jobs in this process (startup.sh runs it beside the app after a restart)."""
    from policy_reader.jobs.manager import JobManager

    manager = JobManager(load_settings(), start=False)
    try:
        resumed = manager.recover_interrupted()
        if resumed or not args.quiet:
            print(f"recover: resuming {len(resumed)} interrupted job(s)", file=sys.stderr)
        for job_id in resumed:
            view = manager.wait(job_id)
            print(f"recover: job {job_id} {view.status.value if hasattr(view.status, 'value') else view.status}",
                  file=sys.stderr)
    finally:
        manager.shutdown(wait=False)
    return EXIT_OK


def _worker() -> int:
    settings = load_settings()
    if settings.job_store != "azure":
        raise CliError("The worker needs JOB_STORE=azure (Azure Blob + Queue Storage); with JOB_STORE=file "
                       "the app and `extract` run jobs themselves.")
    from policy_reader.jobs.worker import main as worker_main

    return int(worker_main(settings) or 0)


def _extract(args: argparse.Namespace) -> int:
    from policy_reader.jobs.manager import JobManager, JobOptions

    from policy_reader.variables import load_variables

    fmt = _output_format(args.out, args.format)
    out = _check_out(Path(args.out))
    pdfs = _check_inputs(args.pdfs)
    var_path = Path(args.variables)
    if not var_path.is_file():
        raise CliError(f"Variables file not found: {args.variables}")
    variables = load_variables(var_path, var_path.name)
    settings = _settings_for(args)
    options = JobOptions(backend=args.backend, model=args.model, ocr=False if args.no_ocr else None,
                         password=_password(args), batch=args.batch, second_opinion=args.second_opinion)
    from policy_reader.jobs.intake import screen_files

    accepted, skipped = screen_files([(p.name, p) for p in pdfs], settings.max_file_mb)
    for skip in skipped:  # kept in the job's record too (job.json, exports, email)
        print(f"skipped: {safe(skip.name)}: {safe(skip.reason)}", file=sys.stderr)
    manager = JobManager(settings, start=False)
    try:
        job_id = manager.create_job(name=args.name or out.stem, files=accepted, variables=variables,
                                    recipients=args.email, owner="local", options=options, skipped=skipped)
        print(f"Job {job_id}: {len(accepted)} document(s)" + (f" ({len(skipped)} skipped)" if skipped else "")
              + f", {len(variables)} variable(s), backend {providers.resolve(settings, args.backend).name}",
              file=sys.stderr)
        manager.run_job_async(job_id)
        view, interrupted = _watch(manager, job_id)
        _write_output(manager, job_id, fmt, out)
        return _report(view, out, interrupted)
    finally:
        manager.shutdown(wait=False)


def _evaluate(args: argparse.Namespace) -> int:
    """Accuracy against a gold set: a table on stdout (and JSON with --json). Exit 0 when it ran,
    2 (one line) when the gold file or the job cannot be used."""
    from policy_reader.jobs.manager import JobManager

    from policy_reader.fsio import atomic_write_text

    gold = Path(args.gold)
    if not gold.is_file():
        raise CliError(f"Gold file not found: {args.gold}")
    json_out = None if args.json in (None, "-") else _check_out(Path(args.json))
    manager = JobManager(load_settings(), start=False)
    try:
        evaluation = manager.evaluate(args.job, gold.read_bytes(), gold.name, as_extracted=args.as_extracted)
        variables = [v.name for v in manager.get_variables(args.job)]
    finally:
        manager.shutdown(wait=False)
    text = json.dumps(evaluation.to_json(), indent=1, ensure_ascii=False)
    if args.json == "-":
        print(text)
        return EXIT_OK
    print(evaluation_report(evaluation, variables, job_id=args.job, gold=gold.name))
    if json_out is not None:
        atomic_write_text(json_out, text + "\n")
        print(f"JSON written to {json_out}", file=sys.stderr)
    return EXIT_OK


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def evaluation_report(evaluation: Any, variables: Sequence[str], *, job_id: str, gold: str) -> str:
    """The terminal table: per variable and overall n, right, accuracy, 95% Wilson interval, right page;
    then the misses with both values and the quote, and the gold rows that matched nothing."""
    from policy_reader.variables import format_value

    names = [n for n in variables if n in evaluation.variables]
    names += [n for n in evaluation.variables if n not in names]
    width = max([len("overall"), *(len(safe(n)) for n in names)]) + 2
    lines = [f"Accuracy of job {safe(job_id)} against {safe(gold)} ({evaluation.overall.n} known answers)", "",
             f"{'VARIABLE':{width}}{'N':>5}{'RIGHT':>7}{'ACCURACY':>10}  {'95% CI (Wilson)':17}{'RIGHT PAGE':>11}"]

    def line(name: str, score: Any) -> str:
        interval = f"{_percent(score.ci_low)} – {_percent(score.ci_high)}" if score.n else "—"
        return (f"{safe(name):{width}}{score.n:>5}{score.correct:>7}{_percent(score.accuracy):>10}  {interval:17}"
                f"{score.page_correct:>11}")

    lines += [line(n, evaluation.variables[n]) for n in names]
    lines.append(line("overall", evaluation.overall))
    value_misses = [m for m in evaluation.misses if m.kind == "value"]
    page_misses = [m for m in evaluation.misses if m.kind == "page"]
    if value_misses:
        lines += ["", f"Wrong values ({len(value_misses)}):"]
    for m in value_misses:
        lines.append(f"  row {m.row}: {safe(m.file)} / {safe(m.variable)}: expected "
                     f"{safe(format_value(m.expected)) or '(not stated)'}, found {safe(format_value(m.found)) or '(none)'}"
                     f"{f' (page {m.page})' if m.page else ''} [{safe(m.status)}]")
        if m.quote:
            lines.append(f'    quote: "{safe(m.quote)[:300]}"')
    if page_misses:
        lines += ["", f"Right values on another page ({len(page_misses)}):"]
    for m in page_misses:
        lines.append(f"  row {m.row}: {safe(m.file)} / {safe(m.variable)}: page {m.page or '—'}, the gold set says "
                     f"page {m.expected_page}")
    if evaluation.skipped:
        lines += ["", f"Gold rows not measured ({len(evaluation.skipped)}):"]
        lines += [f"  {safe(reason)}" for reason in evaluation.skipped[:20]]
        if len(evaluation.skipped) > 20:
            lines.append(f"  ... and {len(evaluation.skipped) - 20} more")
    lines += ["", ("The interval is where the true accuracy lies with 95% confidence, given how many answers the "
                   "gold set checks.")]
    return "\n".join(lines)


def _job_command(args: argparse.Namespace) -> int:
    from policy_reader.jobs.manager import JobManager

    manager = JobManager(load_settings(), start=False)
    try:
        if args.command == "jobs":
            return _list(manager, args.json)
        if args.command == "status":
            view = manager.get_job_status(args.job)
            print(view.model_dump_json(indent=1) if args.json else _describe(view))
            return EXIT_OK
        if args.command == "cancel":
            manager.cancel_job(args.job)
            view = manager.get_job_status(args.job)
            print(f"Job {safe(args.job)}: " + ("cancelled." if view.status == JobStatus.CANCELLED
                                          else f"{view.status.value}; cancel requested, it stops within seconds."
                                          if view.cancel_requested else f"already {view.status.value}."))
            return EXIT_OK
        if args.command == "resend":  # a limit refused is one line on stderr, exit 2 (main)
            manager.resend_email(args.job)
            email = manager.get_job_status(args.job).email
            print(f"Job {safe(args.job)}: email {safe(email.status)}"
                  + (f" — {safe(email.error)}" if email.error else "."))
            return EXIT_OK
        if args.command == "resume":
            manager.resume_job(args.job)
            view, interrupted = _watch(manager, args.job)
            return _report(view, None, interrupted)
        if args.command == "rerun":
            manager.rerun(args.job, doc_ids=_doc_ids(manager, args.job, args.doc), variables=args.variable,
                          password=_password(args), model=args.model, keep_corrections=not args.drop_corrections)
            view, interrupted = _watch(manager, args.job)
            return _report(view, None, interrupted)
    finally:
        manager.shutdown(wait=False)
    raise CliError(f"Unknown command {args.command}")


def _doc_ids(manager: Any, job_id: str, docs: Sequence[str] | None) -> list[str] | None:
    """Document ids from ids or file names ("d0002", "report.pdf"); None: every document."""
    if not docs:
        return None
    by_name: dict[str, str] = {}
    for doc in manager.store.read_manifest(job_id)["documents"]:
        by_name.setdefault(doc["file"], doc["doc_id"])
    return [by_name.get(d, d) for d in docs]


def _list(manager: Any, as_json: bool) -> int:
    views = manager.list_jobs(owner=None)
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=1))
        return EXIT_OK
    if not views:
        print("No jobs.")
        return EXIT_OK
    print(f"{'JOB':20}  {'STATUS':11}  {'DONE':>9}  {'FAILED':>6}  {'CREATED':19}  NAME")
    for v in views:
        print(f"{v.id:20}  {v.status.value:11}  {f'{v.documents_done}/{v.documents_total}':>9}  "
              f"{v.documents_failed:>6}  {v.created_at[:19]:19}  {safe(v.name)}")
    return EXIT_OK


# --------------------------------------------------------------------------- checks

def _output_format(out: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise CliError(f"Cannot tell the output format from {out!r}: use a "
                   f"{', '.join('.' + f for f in FORMATS[:-1])} or .{FORMATS[-1]} name, or --format.")


def _check_out(out: Path) -> Path:
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"Output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"Output folder is not writable: {folder}")
    if out.is_dir():
        raise CliError(f"--out is a folder, not a file: {out}")
    return out


def _check_inputs(names: Sequence[str]) -> list[Path]:
    if not names:
        raise CliError("No input files: give one or more PDF paths.")
    paths = [Path(n) for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CliError(f"Input file not found: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return paths


def _password(args: argparse.Namespace) -> str | None:
    """The password for encrypted PDFs, from a prompt, a file or PDF_PASSWORD — never from argv.

    Why not `--password VALUE`: the command line of a process is readable by every user of the
    machine (`ps`, /proc/PID/cmdline) for as long as the job runs.
    """
    if args.password is not None:
        raise CliError("--password is not accepted: a password on the command line is visible to other users "
                       f"(ps). Use --ask-password, --password-file FILE or the {PASSWORD_ENV} environment variable.")
    if args.ask_password:
        try:
            return getpass.getpass("Password for encrypted PDFs: ") or None
        except (EOFError, KeyboardInterrupt):
            raise CliError("No password was entered.") from None
    if args.password_file:
        try:
            if args.password_file == "-":
                text = sys.stdin.readline()
            else:
                with open(args.password_file, encoding="utf-8") as fh:
                    text = fh.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"Cannot read the password file {args.password_file}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
        return text.rstrip("\r\n") or None
    return os.environ.get(PASSWORD_ENV) or None


def _settings_for(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.backend:
        overrides["LLM_BACKEND"] = args.backend
    if args.workers:
        if args.workers < 1:
            raise CliError("--workers must be at least 1.")
        overrides["DOCS_PER_JOB"] = args.workers
        overrides["MAX_PARALLEL_DOCUMENTS"] = max(args.workers, load_settings().max_parallel_documents)
    return load_settings(**overrides)


# --------------------------------------------------------------------------- progress and output

def _watch(manager: Any, job_id: str) -> tuple[Any, bool]:
    """Draw progress until the job ends. Ctrl-C cancels the job cleanly (a second Ctrl-C quits)."""
    progress = Progress(sys.stderr)
    interrupted = False
    while True:
        try:
            view = manager.wait(job_id, timeout=0.25)
            progress.draw(view)
            if view.finished or view.status == JobStatus.INTERRUPTED:
                progress.close()
                return view, interrupted
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            progress.close()
            print("Cancelling… (finished documents are kept; Ctrl-C again to quit at once)", file=sys.stderr)
            manager.cancel_job(job_id)


def _write_output(manager: Any, job_id: str, fmt: str, out: Path) -> None:
    from policy_reader.fsio import atomic_write_bytes

    atomic_write_bytes(out, manager.get_export(job_id, fmt))


def _report(view: Any, out: Path | None, interrupted: bool) -> int:
    where = f" -> {out}" if out else ""
    skipped = f", {view.documents_skipped} skipped" if view.documents_skipped else ""
    line = (f"Job {view.id} {view.status.value}: {view.documents_done - view.documents_failed} of "
            f"{view.files_uploaded} document(s) read, {view.documents_failed} failed{skipped}{where}")
    print(line, file=sys.stderr)
    if view.email.status == "failed":
        print(f"Email not sent: {safe(view.email.error)}", file=sys.stderr)
    if view.limit_message:
        print(safe(view.limit_message), file=sys.stderr)
    for warning in view.warnings:
        print(f"warning: {safe(warning)}", file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    if view.status == JobStatus.COMPLETED:
        return EXIT_OK
    if view.error:
        _fail(view.error)
    return EXIT_JOB_FAILED


def _describe(view: Any) -> str:
    lines = [f"Job        {view.id}", f"Name       {safe(view.name)}", f"Status     {view.status.value}",
             f"Owner      {safe(view.owner)}", f"Documents  {view.documents_done}/{view.documents_total} done, "
             f"{view.documents_failed} failed" + (f", {view.documents_skipped} skipped" if view.skipped else ""),
             f"Created    {view.created_at}",
             f"Backend    {safe(view.backend)} ({safe(view.model)})",
             f"Usage      {view.usage.prompt_tokens + view.usage.completion_tokens:,} tokens, ${view.usage.cost_usd:.4f}"]
    if view.finished_at:
        lines.append(f"Finished   {view.finished_at}")
    for skip in view.skipped:
        lines.append(f"Skipped    {safe(skip.name)}: {safe(skip.reason)}")
    if view.error:
        lines.append(f"Error      {safe(view.error)}")
    if view.limit_message:
        lines.append(f"Note       {safe(view.limit_message)}")
    for doc in view.in_flight:
        lines.append(f"In flight  {safe(doc.file)} — {safe(doc.stage)} "
                     f"{doc.variables_done}/{doc.variables_total}")
    if view.email.status not in (None, "none"):
        detail = view.email.error or view.email.path or ""
        lines.append(f"Email      {safe(view.email.status)} {safe(detail)}".rstrip())
    return "\n".join(lines)


def progress_line(view: Any, width: int = 24) -> str:
    """One line of progress: bar, counts, what is being read, ETA, tokens and cost."""
    total = max(view.documents_total, 1)
    filled = int(width * view.documents_done / total)
    bar = "#" * filled + "-" * (width - filled)
    parts = [f"[{bar}] {view.documents_done}/{view.documents_total} documents"]
    if view.documents_failed:
        parts.append(f"{view.documents_failed} failed")
    if view.status == JobStatus.PENDING:
        parts.append("queued" + (f" (#{view.queue_position})" if view.queue_position else ""))
    elif view.stage and view.stage not in ("running",):
        parts.append(safe(view.stage))
    if view.in_flight:
        doc = view.in_flight[0]
        more = f" +{len(view.in_flight) - 1}" if len(view.in_flight) > 1 else ""
        parts.append(f"{safe(doc.stage)} {safe(doc.file)}{more}")
    if view.eta_s is not None:
        parts.append(f"ETA {int(view.eta_s)}s")
    tokens = view.usage.prompt_tokens + view.usage.completion_tokens
    if tokens:
        parts.append(f"{tokens:,} tokens ${view.usage.cost_usd:.4f}")
    return " · ".join(parts)


class Progress:
    """Redraws one line with \\r on a terminal; prints a new line on each change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last = ""
        self.last_key: tuple[Any, ...] = ()
        self.width = 0
        self.last_draw = 0.0

    def draw(self, view: Any) -> None:
        line = progress_line(view)
        if self.tty:
            if line != self.last or time.monotonic() - self.last_draw > 1:
                pad = max(0, self.width - len(line))
                self.stream.write("\r" + line + " " * pad)
                self.stream.flush()
                self.width = len(line)
                self.last, self.last_draw = line, time.monotonic()
            return
        key = (view.status.value, view.documents_done, view.documents_failed, view.stage)
        if key != self.last_key:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_key = key

    def close(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


def _fail(message: str) -> None:
    text = " ".join(safe(message).split())
    print(f"error: {text}", file=sys.stderr)
