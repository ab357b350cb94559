"""Where jobs live and how work is queued, behind one small interface.

The job engine only talks to a `JobStore` (state, inputs, results, exports, events).
`FileJobStore` keeps everything in one folder per job under JOBS_DIR; `AzureJobStore`
(jobs/azure_store.py: Blob Storage with ETag If-Match for `update_state`, If-None-Match:* for
`write_result`) implements the same protocol, so the UI, the CLI and the executors never know which
one they use.

Safety rules every implementation keeps:
- job ids are validated by a strict regex on *every* call, so no id can reach outside the store;
- `update_state` is a conditional read-modify-write (thread lock + file lock here), so two
  processes (two app instances, the CLI beside the app) never lose each other's changes;
- `write_result` has exclusive-create semantics: a document's checkpoint is written once;
- every file write is atomic (policy_reader/fsio.py): a kill leaves the old or the new file.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from filelock import FileLock

from policy_reader.errors import JobDamaged, JobError, JobNotFound
from policy_reader.fsio import append_line, atomic_copy_file, atomic_create_bytes, atomic_write_bytes, atomic_write_json, read_json

JOB_ID_RE = re.compile(r"^[0-9a-f]{20}$")
DOC_ID_RE = re.compile(r"^d[0-9]{4,6}$")
EXPORT_NAME_RE = re.compile(r"^results\.[a-z0-9]{1,10}$")  # a format of delivery/formats.EXPORT_FORMATS
WORK_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}(\.[a-z0-9_-]{1,40})?\.json$")  # e.g. batch.json, text.d0001.json
STATE_FILE = "job.json"
MANIFEST_FILE = "documents.json"
REVIEWS_FILE = "reviews.json"
EVENTS_FILE = "events.jsonl"
USAGE_DIR = "_usage"  # per-user usage ledgers (jobs/ledger.py), beside the job folders: deleting a job keeps them


def new_job_id() -> str:
    """20 random hex characters: unguessable, fixed format, safe as a folder name."""
    return secrets.token_hex(10)


def check_job_id(job_id: object) -> str:
    """Return `job_id` if it has the exact job-id format, else raise JobNotFound.

    Called on every lookup: "../x", absolute paths, empty strings and anything else that is not
    20 lowercase hex characters can never be turned into a path.
    """
    if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
        raise JobNotFound(f"No job with id {str(job_id)[:40]!r}: a job id is 20 hexadecimal characters.")
    return job_id


def check_work_name(name: object) -> str:
    if not isinstance(name, str) or not WORK_NAME_RE.fullmatch(name):
        raise JobError(f"Invalid work file name {str(name)[:60]!r}.")
    return name


def check_doc_id(doc_id: object) -> str:
    if not isinstance(doc_id, str) or not DOC_ID_RE.fullmatch(doc_id):
        raise JobNotFound(f"No document with id {str(doc_id)[:40]!r} in this job.")
    return doc_id


def doc_id_for(index: int) -> str:
    """Stable document id inside a job: d0001, d0002, ..."""
    return f"d{index + 1:04d}"


def checked_state(job_id: str, read: Callable[[], Any]) -> dict[str, Any]:
    """job.json as read by `read()`, or JobDamaged when it is torn or not a job state."""
    try:
        state = read()
    except ValueError:
        state = None
    if not isinstance(state, dict) or "status" not in state:
        raise JobDamaged(f"Job {job_id}'s state file (job.json) is damaged, so the job cannot be shown or run. "
                         f"Delete it and start it again.")
    return state


def checked_manifest(job_id: str, read: Callable[[], Any]) -> dict[str, Any]:
    """documents.json as read by `read()`, or JobDamaged when it is missing, torn or incomplete."""
    try:
        manifest = read()
    except (ValueError, FileNotFoundError):
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("documents"), list) \
            or not isinstance(manifest.get("variables"), list):
        raise JobDamaged(f"Job {job_id}'s list of documents and variables (documents.json) is missing or "
                         f"damaged, so the job cannot run. Delete it and start it again.")
    return manifest


def usage_key(owner: str) -> str:
    """The ledger's name for a user: a hash, so any principal name is a safe file or blob name."""
    import hashlib

    return hashlib.sha256(str(owner).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: one document of one job (one queue message in a distributed store)."""

    job_id: str
    doc_id: str


@runtime_checkable
class JobStore(Protocol):
    """The operations JobManager needs from storage. All ids are validated by the store."""

    def new_job_id(self) -> str: ...
    def create_job(self, job_id: str, state: dict[str, Any], manifest: dict[str, Any]) -> None: ...
    def exists(self, job_id: str) -> bool: ...
    def list_job_ids(self) -> list[str]: ...
    def read_state(self, job_id: str) -> dict[str, Any]: ...
    def update_state(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]: ...
    def read_manifest(self, job_id: str) -> dict[str, Any]: ...
    def write_input(self, job_id: str, stored_name: str, data: bytes | Path) -> None: ...
    def input_path(self, job_id: str, stored_name: str) -> Path: ...
    def write_result(self, job_id: str, doc_id: str, result: dict[str, Any]) -> bool: ...
    def read_result(self, job_id: str, doc_id: str) -> dict[str, Any] | None: ...
    def list_results(self, job_id: str) -> list[str]: ...
    def delete_result(self, job_id: str, doc_id: str) -> None: ...
    def read_reviews(self, job_id: str) -> dict[str, Any]: ...
    def update_reviews(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]: ...
    def write_export(self, job_id: str, name: str, data: bytes) -> None: ...
    def read_export(self, job_id: str, name: str) -> bytes | None: ...
    def write_work(self, job_id: str, name: str, data: bytes) -> None: ...
    def read_work(self, job_id: str, name: str) -> bytes | None: ...
    def append_event(self, job_id: str, event: dict[str, Any]) -> None: ...
    def read_events(self, job_id: str, limit: int) -> list[dict[str, Any]]: ...
    def outbox_dir(self, job_id: str) -> Path: ...
    def publish_outbox(self, job_id: str) -> list[str]: ...
    def release_local_copies(self, job_id: str) -> None: ...
    def delete_job(self, job_id: str) -> None: ...
    def read_usage(self, owner: str) -> dict[str, Any]: ...
    def update_usage(self, owner: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]: ...


class FileJobStore:
    """One folder per job under `root` (JOBS_DIR). Safe for several threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # --- paths (the only place ids become paths)
    def job_dir(self, job_id: str) -> Path:
        return self.root / check_job_id(job_id)

    def _existing_dir(self, job_id: str) -> Path:
        folder = self.job_dir(job_id)
        if not (folder / STATE_FILE).is_file():
            raise JobNotFound(f"No job with id {job_id!r}.")
        return folder

    # --- locking: a thread lock (same process) plus a file lock (other processes)
    def _thread_lock(self, job_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(job_id, threading.RLock())

    def locked(self, job_id: str) -> "_JobLock":
        folder = self._existing_dir(job_id)
        return _JobLock(self._thread_lock(job_id), FileLock(str(folder / ".lock"), timeout=30))

    # --- jobs
    def new_job_id(self) -> str:
        while True:
            job_id = new_job_id()
            if not self.job_dir(job_id).exists():
                return job_id

    def create_job(self, job_id: str, state: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Write the manifest first and job.json last: a job is visible only once complete."""
        folder = self.job_dir(job_id)
        (folder / "inputs").mkdir(parents=True, exist_ok=True)
        (folder / "results").mkdir(exist_ok=True)
        atomic_write_json(folder / MANIFEST_FILE, manifest)
        atomic_write_json(folder / STATE_FILE, state)

    def exists(self, job_id: str) -> bool:
        try:
            return (self.job_dir(job_id) / STATE_FILE).is_file()
        except JobNotFound:
            return False

    def list_job_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir()
                if JOB_ID_RE.fullmatch(p.name) and (p / STATE_FILE).is_file()]

    def read_state(self, job_id: str) -> dict[str, Any]:
        folder = self._existing_dir(job_id)
        try:
            return checked_state(job_id, lambda: read_json(folder / STATE_FILE))
        except FileNotFoundError:
            raise JobNotFound(f"No job with id {job_id!r}.") from None

    def update_state(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """Locked read-modify-write. `change(state)` mutates the dict in place; returning False
        means "no change" (nothing is written). Returns the state after the change."""
        with self.locked(job_id):
            state = self.read_state(job_id)
            if change(state) is False:
                return state
            state["version"] = int(state.get("version", 0)) + 1
            atomic_write_json(self.job_dir(job_id) / STATE_FILE, state)
            return state

    def read_manifest(self, job_id: str) -> dict[str, Any]:
        folder = self._existing_dir(job_id)
        return checked_manifest(job_id, lambda: read_json(folder / MANIFEST_FILE))

    # --- inputs
    def _input_file(self, job_id: str, stored_name: str) -> Path:
        if "/" in stored_name or "\\" in stored_name or stored_name.startswith(".") or not stored_name:
            raise JobError(f"Invalid stored file name {stored_name!r}.")
        return self.job_dir(job_id) / "inputs" / stored_name

    def write_input(self, job_id: str, stored_name: str, data: bytes | Path) -> None:
        target = self._input_file(job_id, stored_name)
        if isinstance(data, (bytes, bytearray)):
            atomic_write_bytes(target, bytes(data))
        else:
            atomic_copy_file(Path(data), target)

    def input_path(self, job_id: str, stored_name: str) -> Path:
        return self._input_file(job_id, stored_name)

    # --- results: one checkpoint per document, written once
    def write_result(self, job_id: str, doc_id: str, result: dict[str, Any]) -> bool:
        """Exclusive create: returns False (and writes nothing) if the result already exists."""
        target = self._existing_dir(job_id) / "results" / f"{check_doc_id(doc_id)}.json"
        data = json.dumps(result, ensure_ascii=False, default=str).encode("utf-8")
        return atomic_create_bytes(target, data)

    def read_result(self, job_id: str, doc_id: str) -> dict[str, Any] | None:
        path = self._existing_dir(job_id) / "results" / f"{check_doc_id(doc_id)}.json"
        try:
            return read_json(path)
        except FileNotFoundError:
            return None

    def delete_result(self, job_id: str, doc_id: str) -> None:
        """Only a re-run removes a checkpoint (jobs/rerun.py keeps a copy first): the next run writes it anew."""
        (self._existing_dir(job_id) / "results" / f"{check_doc_id(doc_id)}.json").unlink(missing_ok=True)

    def list_results(self, job_id: str) -> list[str]:
        folder = self._existing_dir(job_id) / "results"
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("d*.json") if DOC_ID_RE.fullmatch(p.stem))

    # --- reviews
    def read_reviews(self, job_id: str) -> dict[str, Any]:
        try:
            return read_json(self._existing_dir(job_id) / REVIEWS_FILE)
        except FileNotFoundError:
            return {"version": 0, "items": {}}

    def update_reviews(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        with self.locked(job_id):
            reviews = self.read_reviews(job_id)
            change(reviews)
            reviews["version"] = int(reviews.get("version", 0)) + 1
            atomic_write_json(self.job_dir(job_id) / REVIEWS_FILE, reviews)
            return reviews

    # --- exports
    def _export_file(self, job_id: str, name: str) -> Path:
        if not EXPORT_NAME_RE.fullmatch(name):
            raise JobError(f"Unknown export {name!r}: exports are named results.<format>.")
        return self._existing_dir(job_id) / "exports" / name

    def write_export(self, job_id: str, name: str, data: bytes) -> None:
        atomic_write_bytes(self._export_file(job_id, name), data)

    def read_export(self, job_id: str, name: str) -> bytes | None:
        try:
            return self._export_file(job_id, name).read_bytes()
        except FileNotFoundError:
            return None

    # --- work files: what a run needs to resume (a submitted batch, the documents' text)
    def _work_file(self, job_id: str, name: str) -> Path:
        return self._existing_dir(job_id) / "work" / check_work_name(name)

    def write_work(self, job_id: str, name: str, data: bytes) -> None:
        atomic_write_bytes(self._work_file(job_id, name), data)

    def read_work(self, job_id: str, name: str) -> bytes | None:
        try:
            return self._work_file(job_id, name).read_bytes()
        except FileNotFoundError:
            return None

    # --- events
    def append_event(self, job_id: str, event: dict[str, Any]) -> None:
        append_line(self._existing_dir(job_id) / EVENTS_FILE, json.dumps(event, ensure_ascii=False, default=str))

    def read_events(self, job_id: str, limit: int) -> list[dict[str, Any]]:
        """The last `limit` events, oldest first. A torn last line (killed writer) is skipped."""
        path = self._existing_dir(job_id) / EVENTS_FILE
        try:
            lines = _tail_lines(path, max(1, limit))
        except FileNotFoundError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events[-limit:]

    def outbox_dir(self, job_id: str) -> Path:
        return self._existing_dir(job_id) / "outbox"

    def publish_outbox(self, job_id: str) -> list[str]:
        """Nothing to publish: the outbox folder is the store itself."""
        return []

    def release_local_copies(self, job_id: str) -> None:
        """Nothing to release: the files are the store itself."""

    def delete_job(self, job_id: str) -> None:
        folder = self.job_dir(job_id)
        if not folder.exists():
            raise JobNotFound(f"No job with id {job_id!r}.")
        # Rename first so a half-deleted folder is never seen as a job.
        trash = self.root / f".deleted-{job_id}-{secrets.token_hex(4)}"
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


    # --- per-user usage ledger (jobs/ledger.py): one file per user, changed under that user's lock
    def _usage_file(self, owner: str) -> Path:
        return self.root / USAGE_DIR / f"{usage_key(owner)}.json"

    def read_usage(self, owner: str) -> dict[str, Any]:
        try:
            ledger = read_json(self._usage_file(owner))
        except (FileNotFoundError, ValueError):  # never written (or damaged: written atomically, so never torn)
            ledger = None
        return ledger if isinstance(ledger, dict) else {"owner": owner}

    def update_usage(self, owner: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """Locked read-modify-write of the user's ledger: a thread lock plus an advisory file lock (`flock`,
        which App Service's SMB `/home` honours between the processes of one instance; no hard links), so a
        check and the record it makes are one step for every thread and process. `change` returning False
        writes nothing; an exception (a limit refused) writes nothing and propagates."""
        path = self._usage_file(owner)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path.parent / f".{path.stem}.lock"), timeout=30)
        with _JobLock(self._thread_lock(f"usage:{path.stem}"), lock):
            ledger = self.read_usage(owner)
            if change(ledger) is False:
                return ledger
            ledger["version"] = int(ledger.get("version", 0)) + 1
            atomic_write_json(path, ledger)
            return ledger


class _JobLock:
    def __init__(self, thread_lock: threading.RLock, file_lock: FileLock) -> None:
        self._thread_lock = thread_lock
        self._file_lock = file_lock

    def __enter__(self) -> "_JobLock":
        self._thread_lock.acquire()
        try:
            self._file_lock.acquire()
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._file_lock.release()
        finally:
            self._thread_lock.release()


def _tail_lines(path: Path, count: int, block: int = 65536) -> list[str]:
    """The last `count` lines of a file, reading from the end (events logs can be long)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        data = b""
        pos = size
        while pos > 0 and data.count(b"\n") <= count:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]

