"""JOB_STORE=azure: job state and files in Azure Blob Storage, work in Azure Queue Storage.

Why: the file store serves one instance. With several App Service instances (or workers beside the
app) the state must live where every process can change it safely, and the work must sit on a real
managed queue that redelivers what a dead process was doing.

Blob layout (one container, AZURE_STORAGE_CONTAINER):
    jobs/<job_id>/job.json            state: read-modify-write with If-Match (ETag), retried on 412
    jobs/<job_id>/documents.json      manifest, written once
    jobs/<job_id>/inputs/<stored>     uploaded PDFs (streamed in blocks, never held whole in memory)
    jobs/<job_id>/results/<doc>.json  one checkpoint per document, created with If-None-Match: *
    jobs/<job_id>/reviews.json        analyst corrections (If-Match like job.json)
    jobs/<job_id>/exports/results.*   CSV / Excel / JSON
    jobs/<job_id>/events.jsonl        append blob (each append is atomic on the service)
    jobs/<job_id>/outbox/*.eml        emails written when no SMTP server is configured

Work: one message per document on Azure Queue Storage (azure_queue.py), one queue per owner so that
users take turns.

Files the libraries need as paths (pdfium reads a path; the emailer writes an outbox folder) are
mirrored in a local cache under JOBS_DIR/_azure/<container>/ and written atomically via fsio.
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

from azure.core import MatchConditions
from azure.core.exceptions import (AzureError, HttpResponseError, ResourceExistsError, ResourceModifiedError,
                                   ResourceNotFoundError)
from azure.storage.blob import ContainerClient

from policy_reader.config import Settings
from policy_reader.errors import JobError, JobNotFound
from policy_reader.fsio import atomic_write_stream
from policy_reader.jobs.azure_clients import storage_clients, storage_error
from policy_reader.jobs.azure_queue import AzureWorkQueue
from policy_reader.jobs.store import (EVENTS_FILE, EXPORT_NAME_RE, JOB_ID_RE, MANIFEST_FILE, REVIEWS_FILE, STATE_FILE, check_doc_id,
                    check_job_id, check_work_name, checked_manifest, checked_state, new_job_id, usage_key)

log = logging.getLogger("policy_reader.azure")

MAX_CAS_ATTEMPTS = 60  # read-modify-write retries on 412 before giving up
EVENTS_TAIL_BYTES = 256 * 1024
OUTBOX_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class AzureJobStore:
    """The JobStore protocol (jobs/store.py) on Azure Blob Storage."""

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self.settings = settings
        self._service, self._queues = storage_clients(settings)
        self.container: ContainerClient = self._service.get_container_client(settings.azure_storage_container)
        self.cache_root = Path(settings.jobs_dir) / "_azure" / settings.azure_storage_container
        self.conflicts = 0  # 412s met by update_state / update_reviews (observability and tests)
        self._conflicts_lock = threading.Lock()
        if create:
            self.ensure_container()

    def ensure_container(self) -> None:
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise storage_error(exc, self.settings, "creating the blob container") from None

    def work_queue(self, *, create: bool = True) -> AzureWorkQueue:
        return AzureWorkQueue(self.settings, self._queues, create=create)

    # ------------------------------------------------------------------ names

    @staticmethod
    def _blob(job_id: str, name: str) -> str:
        return f"jobs/{check_job_id(job_id)}/{name}"

    @staticmethod
    def _stored(stored_name: str) -> str:
        if (not stored_name or "/" in stored_name or "\\" in stored_name or stored_name.startswith(".")
                or len(stored_name) > 300):
            raise JobError(f"Invalid stored file name {stored_name!r}.")
        return stored_name

    def _read_json(self, blob: str) -> tuple[Any, str] | None:
        """(parsed JSON, ETag), or None when the blob does not exist."""
        try:
            downloader = self.container.download_blob(blob)
            data = downloader.readall()
        except ResourceNotFoundError:
            return None
        return json.loads(data), downloader.properties.etag

    @staticmethod
    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")

    def _cas(self, blob: str, change: Callable[[dict[str, Any]], Any], missing: Callable[[], dict[str, Any]] | None,
             job_id: str) -> dict[str, Any]:
        """Conditional read-modify-write: write only if the blob is unchanged since we read it (If-Match),
        or still absent (If-None-Match: *); on 412 re-read and re-apply `change`. Nobody's update is lost."""
        for attempt in range(MAX_CAS_ATTEMPTS):
            found = self._read_json(blob)
            if found is None:
                if missing is None:
                    raise JobNotFound(f"No job with id {job_id!r}.")
                obj, etag = missing(), None
            else:
                obj, etag = found
            if change(obj) is False:
                return obj
            obj["version"] = int(obj.get("version", 0)) + 1
            try:
                if etag is None:
                    self.container.upload_blob(blob, self._dumps(obj), overwrite=False)
                else:
                    self.container.upload_blob(blob, self._dumps(obj), overwrite=True, etag=etag,
                                               match_condition=MatchConditions.IfNotModified)
                return obj
            except (ResourceModifiedError, ResourceExistsError):
                with self._conflicts_lock:
                    self.conflicts += 1
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))
            except ResourceNotFoundError:
                raise JobNotFound(f"No job with id {job_id!r}.") from None
        raise JobError(f"Job {job_id} is being changed by too many processes at once; try again.", code="busy")

    # ------------------------------------------------------------------ jobs

    def new_job_id(self) -> str:
        while True:
            job_id = new_job_id()
            if not self.exists(job_id):
                return job_id

    def create_job(self, job_id: str, state: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Manifest first, job.json last (created, never overwritten): a job is visible once complete."""
        self.container.upload_blob(self._blob(job_id, MANIFEST_FILE), self._dumps(manifest), overwrite=True)
        try:
            self.container.upload_blob(self._blob(job_id, STATE_FILE), self._dumps(state), overwrite=False)
        except ResourceExistsError:
            raise JobError(f"Job {job_id} already exists.", code="exists") from None

    def exists(self, job_id: str) -> bool:
        try:
            return self.container.get_blob_client(self._blob(job_id, STATE_FILE)).exists()
        except JobNotFound:
            return False

    def list_job_ids(self) -> list[str]:
        ids = []
        for item in self.container.walk_blobs(name_starts_with="jobs/", delimiter="/"):
            name = item.name.rstrip("/").rsplit("/", 1)[-1]
            if JOB_ID_RE.fullmatch(name):
                ids.append(name)
        return ids

    def read_state(self, job_id: str) -> dict[str, Any]:
        found = self._read_json_or_damaged(self._blob(job_id, STATE_FILE))
        if found is None:
            raise JobNotFound(f"No job with id {job_id!r}.")
        return checked_state(job_id, lambda: found[0])

    def update_state(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """ETag-conditioned read-modify-write; `change` may run several times (it must be a pure edit)."""
        return self._cas(self._blob(job_id, STATE_FILE), change, None, job_id)

    def read_manifest(self, job_id: str) -> dict[str, Any]:
        found = self._read_json_or_damaged(self._blob(job_id, MANIFEST_FILE))
        if found is None and not self.exists(job_id):
            raise JobNotFound(f"No job with id {job_id!r}.")
        return checked_manifest(job_id, lambda: found[0] if found else None)

    def _read_json_or_damaged(self, blob: str) -> tuple[Any, str] | None:
        """Like _read_json, but a blob that is not JSON reads as (None, ""), for the damage checks."""
        try:
            return self._read_json(blob)
        except ValueError:
            return None, ""

    # ------------------------------------------------------------------ inputs

    def write_input(self, job_id: str, stored_name: str, data: bytes | Path) -> None:
        """Upload one PDF; a path is streamed block by block, so a 100 MB file is never in memory whole."""
        blob = self._blob(job_id, f"inputs/{self._stored(stored_name)}")
        if isinstance(data, (bytes, bytearray)):
            self.container.upload_blob(blob, bytes(data), overwrite=True)
            return
        path = Path(data)
        with open(path, "rb") as fh:
            self.container.upload_blob(blob, fh, length=path.stat().st_size, overwrite=True)

    def input_path(self, job_id: str, stored_name: str) -> Path:
        """A local copy of the input (pdfium needs a path), downloaded once into the cache."""
        stored = self._stored(stored_name)
        local = self.cache_root / check_job_id(job_id) / "inputs" / stored
        if local.is_file():
            return local
        blob = self.container.get_blob_client(self._blob(job_id, f"inputs/{stored}"))
        try:
            downloader = blob.download_blob()
            atomic_write_stream(local, downloader.readinto)
        except ResourceNotFoundError:
            raise JobNotFound(f"The stored file {stored} of job {job_id} is missing.") from None
        return local

    # ------------------------------------------------------------------ results

    def write_result(self, job_id: str, doc_id: str, result: dict[str, Any]) -> bool:
        """Create the checkpoint with If-None-Match: *. False (nothing written) if it already exists."""
        blob = self._blob(job_id, f"results/{check_doc_id(doc_id)}.json")
        try:
            self.container.upload_blob(blob, self._dumps(result), overwrite=False)
            return True
        except ResourceExistsError:
            return False

    def delete_result(self, job_id: str, doc_id: str) -> None:
        """Only a re-run removes a checkpoint (jobs/rerun.py keeps a copy first): the next run writes it anew."""
        try:
            self.container.delete_blob(self._blob(job_id, f"results/{check_doc_id(doc_id)}.json"))
        except ResourceNotFoundError:
            pass

    def read_result(self, job_id: str, doc_id: str) -> dict[str, Any] | None:
        found = self._read_json(self._blob(job_id, f"results/{check_doc_id(doc_id)}.json"))
        return None if found is None else found[0]

    def list_results(self, job_id: str) -> list[str]:
        prefix = self._blob(job_id, "results/")
        out = []
        for name in self.container.list_blob_names(name_starts_with=prefix):
            stem = name[len(prefix):].removesuffix(".json")
            try:
                out.append(check_doc_id(stem))
            except JobNotFound:
                continue
        return sorted(out)

    # ------------------------------------------------------------------ reviews

    def read_reviews(self, job_id: str) -> dict[str, Any]:
        found = self._read_json(self._blob(job_id, REVIEWS_FILE))
        return {"version": 0, "items": {}} if found is None else found[0]

    def update_reviews(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        if not self.exists(job_id):
            raise JobNotFound(f"No job with id {job_id!r}.")

        def apply(reviews: dict[str, Any]) -> None:
            change(reviews)  # reviews always change: the version moves even for an identical value

        return self._cas(self._blob(job_id, REVIEWS_FILE), apply, lambda: {"version": 0, "items": {}}, job_id)

    # ------------------------------------------------------------------ exports

    def _export_blob(self, job_id: str, name: str) -> str:
        if not EXPORT_NAME_RE.fullmatch(name):
            raise JobError(f"Unknown export {name!r}: exports are named results.<format>.")
        return self._blob(job_id, f"exports/{name}")

    def write_export(self, job_id: str, name: str, data: bytes) -> None:
        self.container.upload_blob(self._export_blob(job_id, name), data, overwrite=True)

    def read_export(self, job_id: str, name: str) -> bytes | None:
        try:
            return self.container.download_blob(self._export_blob(job_id, name)).readall()
        except ResourceNotFoundError:
            return None

    # ------------------------------------------------------------------ work files

    def write_work(self, job_id: str, name: str, data: bytes) -> None:
        self.container.upload_blob(self._blob(job_id, f"work/{check_work_name(name)}"), data, overwrite=True)

    def read_work(self, job_id: str, name: str) -> bytes | None:
        try:
            return self.container.download_blob(self._blob(job_id, f"work/{check_work_name(name)}")).readall()
        except ResourceNotFoundError:
            return None

    # ------------------------------------------------------------------ events

    def append_event(self, job_id: str, event: dict[str, Any]) -> None:
        blob = self.container.get_blob_client(self._blob(job_id, EVENTS_FILE))
        line = (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        try:
            blob.append_block(line)
        except ResourceNotFoundError:
            try:
                blob.create_append_blob(match_condition=MatchConditions.IfMissing)
            except (ResourceExistsError, ResourceModifiedError, HttpResponseError):
                pass  # another process created it first
            blob.append_block(line)

    def read_events(self, job_id: str, limit: int) -> list[dict[str, Any]]:
        """The last `limit` events, oldest first (reads only the tail of the log)."""
        blob = self.container.get_blob_client(self._blob(job_id, EVENTS_FILE))
        try:
            size = blob.get_blob_properties().size
            offset = max(0, size - EVENTS_TAIL_BYTES)
            data = blob.download_blob(offset=offset, length=size - offset).readall() if size else b""
        except ResourceNotFoundError:
            return []
        lines = data.decode("utf-8", errors="replace").splitlines()
        if offset:
            lines = lines[1:]  # the first line may be cut
        events = []
        for line in lines[-max(1, limit):]:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    # ------------------------------------------------------------------ outbox (.eml when no SMTP)

    def outbox_dir(self, job_id: str) -> Path:
        """Local mirror of the job's outbox blobs (the emailer writes .eml files into a folder)."""
        local = self.cache_root / check_job_id(job_id) / "outbox"
        local.mkdir(parents=True, exist_ok=True)
        prefix = self._blob(job_id, "outbox/")
        for name in self.container.list_blob_names(name_starts_with=prefix):
            file_name = name[len(prefix):]
            target = local / file_name
            if set(file_name) <= OUTBOX_NAME_CHARS and not file_name.startswith(".") and not target.exists():
                atomic_write_stream(target, self.container.download_blob(name).readinto)
        return local

    def publish_outbox(self, job_id: str) -> list[str]:
        """Upload .eml files written locally into the job's outbox blobs (each once, never overwritten)."""
        local = self.cache_root / check_job_id(job_id) / "outbox"
        uploaded = []
        if not local.is_dir():
            return uploaded
        for path in sorted(local.glob("*.eml")):
            if not set(path.name) <= OUTBOX_NAME_CHARS:
                continue
            try:
                with open(path, "rb") as fh:
                    self.container.upload_blob(self._blob(job_id, f"outbox/{path.name}"), fh, overwrite=False)
                uploaded.append(path.name)
            except ResourceExistsError:
                continue
        return uploaded

    def outbox_blobs(self, job_id: str) -> list[str]:
        prefix = self._blob(job_id, "outbox/")
        return sorted(n[len(prefix):] for n in self.container.list_blob_names(name_starts_with=prefix))

    # ------------------------------------------------------------------ delete

    def delete_job(self, job_id: str) -> None:
        """job.json goes first, so a half-deleted job is never listed as a job."""
        state_blob = self._blob(job_id, STATE_FILE)
        try:
            self.container.delete_blob(state_blob)
        except ResourceNotFoundError:
            raise JobNotFound(f"No job with id {job_id!r}.") from None
        for name in list(self.container.list_blob_names(name_starts_with=self._blob(job_id, ""))):
            try:
                self.container.delete_blob(name)
            except ResourceNotFoundError:
                continue
        shutil.rmtree(self.cache_root / job_id, ignore_errors=True)

    # ------------------------------------------------------------------ per-user usage ledger

    def read_usage(self, owner: str) -> dict[str, Any]:
        found = self._read_json(f"usage/{usage_key(owner)}.json")
        return found[0] if found and isinstance(found[0], dict) else {"owner": owner}

    def update_usage(self, owner: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """The user's ledger (`usage/<hash>.json`, outside `jobs/`: deleting a job keeps it), changed with a
        conditional write (If-Match on its ETag, If-None-Match: * the first time) and re-applied on 412, so
        two processes admitting the same user's jobs at once cannot both pass a limit."""
        return self._cas(f"usage/{usage_key(owner)}.json", change, lambda: {"owner": owner}, "usage")

    def release_local_copies(self, job_id: str) -> None:
        """Forget downloaded inputs of a finished job (the blobs stay)."""
        shutil.rmtree(self.cache_root / check_job_id(job_id) / "inputs", ignore_errors=True)
