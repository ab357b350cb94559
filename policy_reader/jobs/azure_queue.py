"""The work queue of JOB_STORE=azure: one message per document, one queue ("lane") per owner.

Why lanes: Azure Queue Storage hands out messages roughly in the order they came, so with one queue a
one-document job waited behind every message of another user's two 100-document jobs. Each owner's
documents go to a queue of their own, `<AZURE_STORAGE_QUEUE>-u-<12 hex of sha256(owner)>` (the name says
nothing about who), and a consumer takes turns: every receive starts at the lane after the one it served
last. Two busy users' documents alternate, however many each queued; within a lane the order is the
order queued. Every lane's failures go to the one `<AZURE_STORAGE_QUEUE>-poison`.

Why the queue named AZURE_STORAGE_QUEUE still fills: autoscalers watch one queue (KEDA's `azure-queue`
trigger, App Service's queue rule), so it holds one small token per document waiting or in progress:
a token is added after a document is queued in its lane and taken when the document leaves its lane
(done, poisoned or dropped). A crash between the two leaves the count off by one document, for the
tokens' time to live at most; the count only steers scaling, never which work runs. A work message
found there (queued by a version without lanes) is moved to the lane of "no owner".

What it costs: three transactions per document for its token (sent, taken, deleted), and idle polling: a lane found empty is
not asked again for EMPTY_LANE_RECHECK_S (one mark per process, shared by its threads) unless a token
names it, the backlog's front is peeked at most every BACKLOG_PEEK_S, and the queues are listed every
LANE_REFRESH_S. A message is only ever {"job", "doc", "run"} or a token: never document text or a secret.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from ..config import Settings
from ..errors import JobNotFound
from .azure_clients import storage_error
from .store import WorkItem, check_doc_id, check_job_id

log = logging.getLogger("policy_reader.azure")

LANE_REFRESH_S = 10.0  # how often the queues are listed to find lanes other processes created
EMPTY_LANE_RECHECK_S = 2.0  # a lane that answered "empty" is skipped this long (a send from here clears it)
BACKLOG_PEEK_S = 0.5  # how often the backlog's front is looked at for lanes made elsewhere
TOKEN_TTL_S = 7 * 24 * 3600  # a token a crash left behind stops counting after this
LANE_MARK = "-u-"
LANE_HASH_CHARS = 12


def _token(lane: str) -> str:
    return json.dumps({"token": 1, "lane": lane})


def _token_lane(content: object) -> str | None:
    """The lane a backlog token names ("" for a token without one); None for anything else."""
    try:
        body = json.loads(str(content))
    except ValueError:
        return None
    if not isinstance(body, dict) or "token" not in body:
        return None
    return str(body.get("lane") or "")


def lane_name(base: str, owner: str | None) -> str:
    """The queue that holds `owner`'s documents."""
    return f"{base}{LANE_MARK}{hashlib.sha256((owner or '').encode('utf-8')).hexdigest()[:LANE_HASH_CHARS]}"


@dataclass
class Delivery:
    """One received work message. `pop_receipt` changes at every visibility renewal."""

    item: WorkItem
    run: int
    message_id: str
    pop_receipt: str
    dequeue_count: int
    lane: str  # the queue it came from: renewals, deletes and releases go back there
    raw: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    lost: bool = False  # the message was taken back (visibility expired) — another worker may hold it


class AzureWorkQueue:
    """Azure Queue Storage: the owners' lanes, the token count in `<queue>`, `<queue>-poison` for failures."""

    def __init__(self, settings: Settings, service: QueueServiceClient, *, create: bool = True) -> None:
        self.settings = settings
        self.name = settings.azure_storage_queue
        self._service = service
        self._lane_re = re.compile(re.escape(self.name + LANE_MARK) + f"[0-9a-f]{{{LANE_HASH_CHARS}}}")
        self._lock = threading.Lock()
        self._clients: dict[str, QueueClient] = {}
        self._made: set[str] = set()
        self._lanes: set[str] = set()
        self._listed_at = self._peeked_at = float("-inf")
        self._empty_until: dict[str, float] = {}
        self._last_served = ""
        self.backlog = self._client(self.name)  # the tokens: what autoscalers watch
        self.poison = self._client(f"{self.name}-poison")
        if create:
            for name in (self.name, f"{self.name}-poison"):
                self._create(name)

    @staticmethod
    def encode(item: WorkItem, run: int) -> str:
        return json.dumps({"job": check_job_id(item.job_id), "doc": check_doc_id(item.doc_id), "run": int(run)})

    # ------------------------------------------------------------------ lanes

    def _client(self, name: str) -> QueueClient:
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = self._service.get_queue_client(name)
            return client

    def _create(self, name: str) -> None:
        try:
            self._client(name).create_queue()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise storage_error(exc, self.settings, "creating the work queue") from None
        with self._lock:
            self._made.add(name)

    def lanes(self) -> list[str]:
        """Every lane known here. Lanes other processes made are learnt from the backlog's tokens (each
        names its lane; a peek every BACKLOG_PEEK_S at most) and from listing the queues (every LANE_REFRESH_S)."""
        now = time.monotonic()
        with self._lock:
            list_due = now - self._listed_at >= LANE_REFRESH_S
            peek_due = list_due or now - self._peeked_at >= BACKLOG_PEEK_S
            if list_due:
                self._listed_at = now  # one caller does it; the others use what is known
            if peek_due:
                self._peeked_at = now
        listed: set[str] = set()
        named: set[str] = set()
        try:
            if list_due:
                listed = {q.name for q in self._service.list_queues(name_starts_with=self.name + LANE_MARK)
                          if self._lane_re.fullmatch(q.name)}
            if peek_due:
                named = self._look_at_backlog()
        except AzureError as exc:
            log.warning("looking for work queues failed (%s); using the lanes already known", type(exc).__name__)
        with self._lock:
            self._lanes |= listed | named
            for lane in named:  # a token says work is there (or in progress): ask again now
                self._empty_until.pop(lane, None)
            return sorted(self._lanes)

    def _look_at_backlog(self) -> set[str]:
        """The lanes the tokens at the front of the backlog name. A work message there was queued by a
        version without lanes: it is moved into a lane."""
        lanes, strays = set(), False
        for message in self.backlog.peek_messages(max_messages=32):
            lane = _token_lane(message.content)
            if lane is None:
                strays = True
            elif self._lane_re.fullmatch(lane):
                lanes.add(lane)
        if strays:
            for message in self.backlog.receive_messages(messages_per_page=32, max_messages=32,
                                                         visibility_timeout=30):
                if _token_lane(message.content) is None:
                    self._adopt(message)
                else:
                    self.backlog.update_message(message.id, message.pop_receipt, visibility_timeout=0)
        return lanes

    def _in_turn(self) -> list[str]:
        """The lanes to ask, starting after the one served last, without those recently found empty."""
        ordered = self.lanes()
        now = time.monotonic()
        with self._lock:
            start = bisect.bisect_right(ordered, self._last_served)
            return [lane for lane in ordered[start:] + ordered[:start] if self._empty_until.get(lane, 0.0) <= now]

    def _forget(self, lane: str) -> None:
        """A lane deleted behind our back (an operator cleaning up): stop asking it until it is listed again."""
        with self._lock:
            self._made.discard(lane)
            self._lanes.discard(lane)

    # ------------------------------------------------------------------ messages

    def send(self, item: WorkItem, run: int, owner: str | None = None) -> None:
        """Queue one document in its owner's lane, then count it in the backlog."""
        self._send_raw(lane_name(self.name, owner), self.encode(item, run))

    def _send_raw(self, lane: str, body: str) -> None:
        if lane not in self._made:
            self._create(lane)
        try:
            self._client(lane).send_message(body)
        except ResourceNotFoundError:
            self._forget(lane)
            self._create(lane)
            self._client(lane).send_message(body)
        with self._lock:
            self._lanes.add(lane)
            self._empty_until.pop(lane, None)
        self.backlog.send_message(_token(lane), time_to_live=TOKEN_TTL_S)

    def _take_token(self) -> None:
        """One document left its lane: take one token from the backlog (moving any pre-lane work message
        found there into the lane of "no owner")."""
        for _ in range(8):
            message = next(iter(self.backlog.receive_messages(messages_per_page=1, max_messages=1,
                                                              visibility_timeout=30)), None)
            if message is None:
                return  # a token lost to a crash: nothing to take
            if _token_lane(message.content) is None:
                self._adopt(message)
                continue
            try:
                self.backlog.delete_message(message.id, message.pop_receipt)
            except (ResourceNotFoundError, HttpResponseError):
                continue
            return

    def _adopt(self, message: QueueMessage) -> None:
        """A work message in the backlog queue (queued before lanes): move it to a lane, or to poison."""
        try:
            body = json.loads(message.content)
            item = WorkItem(check_job_id(body["job"]), check_doc_id(body["doc"]))
            self._send_raw(lane_name(self.name, None), self.encode(item, int(body.get("run", 0))))
        except (ValueError, KeyError, TypeError, JobNotFound):
            self.poison.send_message(json.dumps({"raw": str(message.content)[:500], "reason": "malformed message"}))
        try:
            self.backlog.delete_message(message.id, message.pop_receipt)
        except (ResourceNotFoundError, HttpResponseError):
            pass

    def receive(self, visibility_timeout: int) -> Delivery | None:
        """Take one message (hidden for `visibility_timeout` s) from the next lane in turn that has one.
        Malformed messages go straight to poison."""
        for lane in self._in_turn():
            client = self._client(lane)
            try:
                message = next(iter(client.receive_messages(messages_per_page=1, max_messages=1,
                                                            visibility_timeout=visibility_timeout)), None)
            except ResourceNotFoundError:
                self._forget(lane)
                continue
            if message is None:
                with self._lock:
                    self._empty_until[lane] = time.monotonic() + EMPTY_LANE_RECHECK_S
                continue
            with self._lock:
                self._last_served = lane
            try:
                body = json.loads(message.content)
                item = WorkItem(check_job_id(body["job"]), check_doc_id(body["doc"]))
                run = int(body.get("run", 0))
            except (ValueError, KeyError, TypeError, JobNotFound):
                self._poison_raw(client, message, "malformed message")
                self._take_token()
                continue
            return Delivery(item, run, message.id, message.pop_receipt, int(message.dequeue_count or 1),
                            lane, raw=str(message.content))
        return None

    def renew(self, delivery: Delivery, visibility_timeout: int) -> bool:
        """Extend the invisibility (the worker's heartbeat). False when the message was lost."""
        with delivery.lock:
            if delivery.lost:
                return False
            try:
                updated = self._client(delivery.lane).update_message(
                    delivery.message_id, delivery.pop_receipt, visibility_timeout=visibility_timeout)
            except (ResourceNotFoundError, HttpResponseError):
                delivery.lost = True
                return False
            delivery.pop_receipt = updated.pop_receipt
            return True

    def release(self, delivery: Delivery, delay_s: int = 0) -> None:
        """Give the message back (visible again after `delay_s`), e.g. on shutdown or a storage error."""
        self.renew(delivery, max(0, int(delay_s)))
        with delivery.lock:
            delivery.lost = True
        with self._lock:
            self._empty_until.pop(delivery.lane, None)

    def delete(self, delivery: Delivery) -> bool:
        """The document leaves its lane for good (done, poisoned, or its job ended)."""
        with delivery.lock:
            try:
                self._client(delivery.lane).delete_message(delivery.message_id, delivery.pop_receipt)
            except (ResourceNotFoundError, HttpResponseError):
                delivery.lost = True
                return False
            delivery.lost = True
        self._take_token()
        return True

    def to_poison(self, delivery: Delivery, reason: str) -> None:
        """Copy the message to the poison queue (with the reason), then delete it from its lane."""
        body = {"job": delivery.item.job_id, "doc": delivery.item.doc_id, "run": delivery.run,
                "dequeue_count": delivery.dequeue_count, "reason": reason[:500]}
        self.poison.send_message(json.dumps(body))
        self.delete(delivery)

    def _poison_raw(self, client: QueueClient, message: QueueMessage, reason: str) -> None:
        self.poison.send_message(json.dumps({"raw": str(message.content)[:500], "reason": reason}))
        try:
            client.delete_message(message.id, message.pop_receipt)
        except (ResourceNotFoundError, HttpResponseError):
            pass

    def length(self) -> int:
        """Approximate number of documents waiting or in progress: the backlog's tokens, what an
        autoscaler sees (one call, however many lanes)."""
        return int(self.backlog.get_queue_properties().approximate_message_count or 0)

    def poison_messages(self, limit: int = 32) -> list[dict[str, Any]]:
        out = []
        for message in self.poison.peek_messages(max_messages=min(32, limit)):
            try:
                out.append(json.loads(message.content))
            except ValueError:
                out.append({"raw": str(message.content)[:500]})
        return out
