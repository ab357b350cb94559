"""Untrusted files are parsed in child processes with limits, never in the app's own process.

Why: PDFium runs in C inside whatever process calls it. A 3 KB PDF of nested forms makes it parse
for minutes and allocate gigabytes in one call that no Python code can interrupt; under a memory
limit PDFium then aborts the whole process. So every PDF read (text, OCR), every evidence page image,
every variables template and every gold file (known answers) is handled by a reader process:

- memory: RLIMIT_AS of READER_MEMORY_MB, set by the child on itself before it touches a file, so a
  bomb aborts the child, never the app;
- time: the parent kills the child at the file's deadline (FILE_TIMEOUT_S for a PDF), whatever C call
  it is stuck in; RLIMIT_CPU backs that up inside the child;
- a dead child is replaced; the file that killed it is retried once (a crash can be the machine's,
  not the file's) and then reported with a clear reason (READER_MAX_CRASHES). Its result is written
  like any failed document, so recovery never feeds it to a reader again.

READER_PROCESSES children are kept warm and reused (starting one costs a Python start-up and the
PDF library's import), so isolation costs little on normal files. The child gets no secrets (a
minimal environment) and answers in JSON frames, never pickle: a child compromised by a malicious
file cannot execute code in the app by what it sends back.

Protocol on the child's stdin/stdout: frames of a 4-byte big-endian length and a payload. A request
is one JSON frame {"op", "params"}; replies are JSON frames {"type": "progress", ...} and then one of
{"type": "ok", "result": ..., "binary": bool} (+ one raw frame when binary) or {"type": "error", ...}.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_reader.errors import GoldError, PdfError, PolicyReaderError, VariablesError

log = logging.getLogger("policy_reader.reading.sandbox")

ProgressFn = Callable[[str, int, int], None]
_HEADER = struct.Struct(">I")
MAX_FRAME = 512 * 1024 * 1024  # a reply larger than this is a broken or hostile child
POLL_S = 0.2  # how often a waiting caller checks its deadline and its stop request
PROGRESS_EVERY_S = 0.1
# What a reader inherits: where programs and libraries are, the locale, and nothing else (no secrets).
_CHILD_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH", "OMP_NUM_THREADS", "SYSTEMROOT")


class ReaderCrashed(Exception):
    """The reader process died while it worked (memory limit, CPU limit, a fault in a C library)."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"reader process ended with {returncode}")
        self.returncode = returncode


class _Stopped(Exception):
    """The caller asked to stop while the child worked."""


class _Deadline(Exception):
    """The child did not answer before the deadline (not an OSError: a broken pipe is a crash)."""


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    processes: int = 2
    max_crashes: int = 2
    ocr_threads: int = 1


# --------------------------------------------------------------------------- framing (both sides)

def _write_frame(fd: int, payload: bytes) -> None:
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None = None, sel: selectors.BaseSelector | None = None,
                check: Callable[[], None] | None = None) -> bytes:
    chunks = []
    left = size
    while left:
        if sel is not None:
            while not sel.select(POLL_S):
                if check is not None:
                    check()
                if deadline is not None and time.monotonic() > deadline:
                    raise _Deadline()
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, **wait: Any) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, **wait))
    if size > MAX_FRAME:
        raise EOFError("frame too large")
    return _read_exact(fd, size, **wait)


# --------------------------------------------------------------------------- parent side

class _Child:
    """One reader process and its pipes."""

    def __init__(self, limits: Limits) -> None:
        # No secrets: a minimal environment, and a working folder without the app's .env file.
        env = {k: os.environ[k] for k in _CHILD_ENV_KEYS if k in os.environ}
        paths = [str(Path(__file__).resolve().parents[2]), *filter(None, [os.environ.get("PYTHONPATH")])]
        env.update(PYTHONPATH=os.pathsep.join(paths), OCR_THREADS=str(limits.ocr_threads))
        env.setdefault("OMP_NUM_THREADS", str(limits.ocr_threads))
        self.proc = subprocess.Popen([sys.executable, "-m", "policy_reader.reading.sandbox", "--child", str(limits.memory_mb)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
                                     cwd="/", start_new_session=True)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def request(self, op: str, params: dict[str, Any], *, deadline: float, on_progress: ProgressFn | None,
                should_stop: Callable[[], bool] | None) -> tuple[Any, bytes | None]:
        def check() -> None:
            if should_stop is not None and should_stop():
                raise _Stopped()

        try:
            # CPU time is a backstop behind the wall-clock deadline (OCR may use several threads)
            request = {"op": op, "params": params, "cpu_s": 2 * max(1.0, deadline - time.monotonic()) + 5}
            _write_frame(self.proc.stdin.fileno(), json.dumps(request).encode())
        except OSError:
            raise ReaderCrashed(self.proc.poll()) from None
        out = self.proc.stdout.fileno()
        while True:
            try:
                message = json.loads(_read_frame(out, deadline=deadline, sel=self.selector, check=check))
            except (EOFError, OSError, ValueError):
                raise ReaderCrashed(self._exit_code()) from None
            kind = message.get("type")
            if kind == "progress":
                if on_progress is not None:
                    on_progress(str(message["stage"]), int(message["done"]), int(message["total"]))
                continue
            if kind == "ok":
                blob = _read_frame(out, deadline=deadline, sel=self.selector, check=check) \
                    if message.get("binary") else None
                return message.get("result"), blob
            if kind == "error":
                raise _error_from(message)
            raise ReaderCrashed(None)

    def _exit_code(self) -> int | None:
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it closed its pipe but lives on: treat as crashed
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.selector.close()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def _error_from(message: dict[str, Any]) -> PolicyReaderError:
    kind = message.get("kind")
    text = str(message.get("message") or "The file could not be read.")
    code = str(message.get("code") or "unreadable")
    if kind == "VariablesError":
        return VariablesError(text, code=code)
    if kind == "GoldError":
        return GoldError(text, code=code)
    return PdfError(text, code=code)


class Sandbox:
    """A pool of warm reader processes (see the module docstring)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.processes)
        self._closed = False
        self.crashes = 0  # children that died while working (observability and tests)

    def call(self, op: str, params: dict[str, Any], *, timeout_s: float, on_progress: ProgressFn | None = None,
             should_stop: Callable[[], bool] | None = None, what: str = "this PDF",
             grace_s: float = 2.0) -> tuple[Any, bytes | None]:
        """Run one operation in a reader process. Raises the operation's own PolicyReaderError, or
        PdfError with code "timeout" (killed `grace_s` after `timeout_s`, or out of CPU time),
        "reader_crashed" (the child died READER_MAX_CRASHES times) or "cancelled" (`should_stop`)."""
        deadline = time.monotonic() + timeout_s + grace_s
        crashes = 0
        while True:
            with self._slots:
                child = self._take()
                try:
                    result = child.request(op, params, deadline=deadline, on_progress=on_progress,
                                           should_stop=should_stop)
                except PolicyReaderError:
                    self._give_back(child)
                    raise
                except _Deadline:
                    child.kill()
                    raise _timeout(what, timeout_s) from None
                except _Stopped:
                    child.kill()
                    raise PdfError("Stopped while reading.", code="cancelled") from None
                except ReaderCrashed as exc:
                    child.kill()
                    if exc.returncode == -signal.SIGXCPU:  # its CPU-time backstop: a timeout, not a crash
                        raise _timeout(what, timeout_s) from None
                    crashes += 1
                    self.crashes += 1
                    log.warning("a reader process died on %s (%s), %d time(s)", what, exc.returncode, crashes)
                    if crashes >= self.limits.max_crashes or time.monotonic() >= deadline:
                        raise PdfError(_crash_message(what, exc.returncode, crashes, self.limits),
                                       code="reader_crashed") from None
                    continue
                except BaseException:
                    child.kill()
                    raise
                self._give_back(child)
                return result

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.proc.poll() is None:
                    return child
                child.kill()
        return _Child(self.limits)

    def _give_back(self, child: _Child) -> None:
        with self._lock:
            if self._closed or child.proc.poll() is not None:
                child.kill()
            else:
                self._idle.append(child)

    def pids(self) -> list[int]:
        with self._lock:
            return [child.proc.pid for child in self._idle if child.proc.poll() is None]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.kill()


def _timeout(what: str, timeout_s: float) -> PdfError:
    return PdfError(f"Reading {what} took longer than the limit of {timeout_s:g} s; the reader was stopped. The "
                    f"file may be malformed or hostile; nothing else is affected.", code="timeout")


def _crash_message(what: str, returncode: int | None, crashes: int, limits: Limits) -> str:
    reason = (f"needed more than the {limits.memory_mb} MB of memory a reader may use (READER_MEMORY_MB) or "
              f"crashed the parser")
    times = "once" if crashes == 1 else f"{crashes} times"
    return (f"Reading {what} stopped its reader process {times}: it {reason}. The file may be malformed or "
            f"hostile; it was set aside and nothing else is affected.")


_SANDBOXES: dict[Limits, Sandbox] = {}
_SANDBOXES_LOCK = threading.Lock()


def get_sandbox(settings: Any) -> Sandbox:
    """The process-wide pool for these limits (READER_PROCESSES, READER_MEMORY_MB, READER_MAX_CRASHES)."""
    limits = Limits(memory_mb=int(settings.reader_memory_mb), processes=int(settings.reader_processes),
                    max_crashes=int(settings.reader_max_crashes), ocr_threads=int(settings.ocr_threads))
    with _SANDBOXES_LOCK:
        box = _SANDBOXES.get(limits)
        if box is None:
            box = _SANDBOXES[limits] = Sandbox(limits)
        return box


def reader_pids() -> list[int]:
    """The reader processes alive in this process's pools (for the benchmark's memory figures)."""
    with _SANDBOXES_LOCK:
        boxes = list(_SANDBOXES.values())
    return [pid for box in boxes for pid in box.pids()]


@atexit.register
def _close_all() -> None:
    with _SANDBOXES_LOCK:
        boxes = list(_SANDBOXES.values())
        _SANDBOXES.clear()
    for box in boxes:
        box.close()


# --------------------------------------------------------------------------- the operations (parent API)

def read_pdf(path: Path, settings: Any, *, password: str | None = None, ocr: bool | None = None,
             on_progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None) -> Any:
    """pdf_text.read_pdf_for in a reader process. Returns a DocumentText; raises PdfError."""
    from policy_reader.models import DocumentText

    params = {"path": str(Path(path).resolve()), "password": password,
              "ocr": settings.ocr_enabled if ocr is None else bool(ocr), "max_file_mb": settings.max_file_mb,
              "max_pages": settings.max_pages, "timeout_s": settings.file_timeout_s}
    _, data = get_sandbox(settings).call("read_pdf", params, timeout_s=settings.file_timeout_s,
                                         on_progress=on_progress, should_stop=should_stop)
    return DocumentText.model_validate_json(data or b"")  # JSON, validated: never an object the child made


def render_page_png(path: Path, page: int, settings: Any, *, highlight: str | None = None, scale: float = 1.5,
                    password: str | None = None, span: Any = ()) -> bytes:
    """page_image.render_page_png in a reader process (the evidence image the app shows). `span`: the
    answer's aligned quote, as SpanPart models or (page, start, end) tuples."""
    parts = [[int(p.page), int(p.start), int(p.end)] if hasattr(p, "page") else [int(x) for x in p] for p in span]
    params = {"path": str(Path(path).resolve()), "page": int(page), "highlight": highlight, "scale": float(scale),
              "password": password, "max_megapixels": float(settings.render_max_megapixels), "span": parts}
    _, png = get_sandbox(settings).call("render_page", params, timeout_s=settings.render_timeout_s,
                                        what=f"page {page} of this PDF")
    return png or b""


def load_variables(data: bytes, filename: str, settings: Any) -> list[Any]:
    """variables.load_variables in a reader process, with the template limits. Raises VariablesError."""
    from policy_reader.models import Variable

    result = _parse_upload(settings, "load_variables", data, filename, "variables file", settings.template_max_mb,
                           "TEMPLATE_MAX_MB", VariablesError, max_variables=settings.max_variables,
                           max_question_chars=settings.max_question_chars)
    return [Variable.model_validate(item) for item in result]


def load_csv_cells(data: bytes, filename: str, settings: Any, *, what: str, max_mb: float, mb_limit_name: str,
                   max_rows: int, rows_limit_name: str, error: type[PolicyReaderError]) -> list[list[str]]:
    """read_csv_cells in a reader process: an uploaded table's cells, refused above `max_mb` before any
    parsing. The caller gives the cells their meaning (accuracy.gold.gold_rows), so the reader never
    imports the code that checks answers."""
    result = _parse_upload(settings, "load_csv_cells", data, filename, what, max_mb, mb_limit_name, error,
                           max_rows=max_rows, rows_limit=rows_limit_name, error_kind=error.__name__)
    return [[str(cell) for cell in row] for row in result]


def _parse_upload(settings: Any, method: str, data: bytes, filename: str, what: str, max_mb: float,
                  limit_name: str, error: type[PolicyReaderError], **limits: Any) -> Any:
    """An uploaded file parsed by `method` in a reader process: refused above `max_mb` before any
    parsing, and a reader stopped by the file (time, memory) reported as `error`."""
    if len(data) > max_mb * 1024 * 1024:
        raise error(f"The {what} {filename!r} is {len(data) / 1048576:.1f} MB; the limit is "
                    f"{max_mb:g} MB ({limit_name}).", code="too_large")
    params = {"data": data.hex(), "filename": filename, **limits}
    try:
        result, _ = get_sandbox(settings).call(method, params, timeout_s=settings.template_timeout_s,
                                               what=f"the {what} {filename!r}")
    except PdfError as exc:  # the reader was stopped (time) or died (memory) on this file
        raise error(exc.message, code=exc.code) from None
    return result


# --------------------------------------------------------------------------- child side

def _child_main(memory_mb: int) -> int:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    proto_out = os.dup(1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    proto_in = sys.stdin.fileno()
    while True:
        try:
            request = json.loads(_read_frame(proto_in))
        except EOFError:
            return 0
        op, params = request.get("op"), request.get("params") or {}
        _cpu_limit(float(request.get("cpu_s") or 120))

        last = {"at": 0.0, "stage": ""}

        def progress(stage: str, done: int, total: int) -> None:
            """Relayed at most ten times a second (a job shows progress twice a second), and always
            when the stage changes or ends, so a 300-page document costs no 300 round trips."""
            now = time.monotonic()
            if now - last["at"] < PROGRESS_EVERY_S and stage == last["stage"] and done < total:
                return
            last.update(at=now, stage=stage)
            _write_frame(proto_out, json.dumps({"type": "progress", "stage": stage, "done": done,
                                                "total": total}).encode())

        try:
            result, blob = _OPERATIONS[op](params, progress)
        except PolicyReaderError as exc:
            reply = {"type": "error", "kind": type(exc).__name__, "code": exc.code, "message": exc.message}
            _write_frame(proto_out, json.dumps(reply).encode())
            continue
        except MemoryError:
            reply = {"type": "error", "kind": "PdfError", "code": "too_large",
                     "message": f"Reading this file needed more than the {memory_mb} MB of memory a reader may use "
                                f"(READER_MEMORY_MB)."}
            _write_frame(proto_out, json.dumps(reply).encode())
            continue
        except Exception as exc:  # noqa: BLE001 - any other failure is this file's, reported as such
            reply = {"type": "error", "kind": "PdfError", "code": "unreadable",
                     "message": f"The file could not be read ({type(exc).__name__})."}
            _write_frame(proto_out, json.dumps(reply).encode())
            continue
        _write_frame(proto_out, json.dumps({"type": "ok", "result": result, "binary": blob is not None}).encode())
        if blob is not None:
            _write_frame(proto_out, blob)


def _cpu_limit(seconds: float) -> None:
    """This request may use `seconds` more CPU time (RLIMIT_CPU is cumulative for the process)."""
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft = int(spent + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _op_read_pdf(params: dict[str, Any], progress: ProgressFn) -> tuple[None, bytes]:
    from policy_reader.reading.pdf_text import read_pdf as read

    doc = read(Path(params["path"]), password=params.get("password"), ocr=bool(params.get("ocr")),
               max_file_mb=float(params["max_file_mb"]), max_pages=int(params["max_pages"]),
               timeout_s=float(params["timeout_s"]), on_progress=progress)
    return None, doc.model_dump_json().encode("utf-8")  # pydantic's own (fast) JSON, as a binary frame


def _op_render_page(params: dict[str, Any], progress: ProgressFn) -> tuple[None, bytes]:
    from policy_reader.models import SpanPart
    from policy_reader.reading.page_image import render_page_png as render

    span = [SpanPart(page=int(p), start=int(a), end=int(b)) for p, a, b in params.get("span") or []]
    png = render(Path(params["path"]), int(params["page"]), highlight=params.get("highlight"),
                 scale=float(params.get("scale") or 1.5), password=params.get("password"), span=span,
                 max_megapixels=float(params["max_megapixels"]))
    return None, png


def _op_load_variables(params: dict[str, Any], progress: ProgressFn) -> tuple[Any, None]:
    from policy_reader.variables import check_variable_limits, load_variables as load

    variables = load(bytes.fromhex(params["data"]), str(params["filename"]))
    check_variable_limits(variables, max_variables=int(params["max_variables"]),
                          max_question_chars=int(params["max_question_chars"]))
    return [v.model_dump(mode="json") for v in variables], None


def _op_load_csv_cells(params: dict[str, Any], progress: ProgressFn) -> tuple[Any, None]:
    error = _UPLOAD_ERRORS.get(str(params.get("error_kind")), PolicyReaderError)
    return read_csv_cells(bytes.fromhex(params["data"]), str(params["filename"]), max_rows=int(params["max_rows"]),
                          limit_name=str(params["rows_limit"]), error=error), None


_UPLOAD_ERRORS: dict[str, type[PolicyReaderError]] = {"GoldError": GoldError, "VariablesError": VariablesError}


def read_csv_cells(data: bytes, filename: str, *, max_rows: int, limit_name: str,
                   error: type[PolicyReaderError] = PolicyReaderError) -> list[list[str]]:
    """The cells of an uploaded CSV, header row first (delimiter sniffed among , ; tab). What a reader
    process returns for a table file, so the code that gives the cells their meaning (a gold sheet)
    never parses the raw bytes. Raises `error` naming the row the csv module cannot read, or when there
    are more than `max_rows` rows under the header (`limit_name` says which setting)."""
    import csv
    import io

    from policy_reader.variables import decode_text

    text = decode_text(data)
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        table = [next(reader, [])]
    except csv.Error as exc:
        raise error(f"{filename}: the header row cannot be read ({exc}).") from None
    number = 1
    try:
        for number, cells in enumerate(reader, start=2):
            if number - 1 > max_rows:
                raise error(f"{filename} has more than {max_rows:,} rows ({limit_name}).", code="too_large")
            table.append(cells)
    except csv.Error as exc:
        raise error(f"{filename} row {number}: {exc}.") from None
    return table


_OPERATIONS: dict[str, Callable[[dict[str, Any], ProgressFn], tuple[Any, bytes | None]]] = {
    "read_pdf": _op_read_pdf,
    "render_page": _op_render_page,
    "load_variables": _op_load_variables,
    "load_csv_cells": _op_load_csv_cells,
}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(_child_main(int(sys.argv[2])))
    sys.exit("usage: python -m policy_reader.reading.sandbox --child MEMORY_MB (started by the app, not by hand)")
