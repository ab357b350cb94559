"""The work queue of JOB_STORE=azure: one message per document, one queue ("lane") per owner.

Why lanes: Azure Queue Storage hands out messages roughly in the order they came, so with one queue a
one-document job waited behind every message of another user's two 100-document jobs. Each owner's
documents go to a queue of their own, `<AZURE_STORAGE_QUEUE>-u-<12 hex of sha256(owner)>` (the name says
nothing about who), and a consumer takes turns: every receive starts at the lane after the one it served
last. Two busy users' documents alternate, however many each queued; within a lane the order is the
order queued. Every lane's failures go to the one `<AZURE_STORAGE_QUEUE>-poison`. The queue named
AZURE_STORAGE_QUEUE itself is a lane too: work a version without lanes queued there still runs (and a
version without lanes, still running during an upgrade, never sees anything this one queues).

Why `<AZURE_STORAGE_QUEUE>-backlog`: autoscalers watch one queue (KEDA's `azure-queue` trigger, App
Service's queue rule), so it holds one small token per document waiting or in progress, sent after the
document is queued in its lane and taken when it leaves the lane (done, poisoned or dropped). A crash
between the two can leave the count off by one (for the tokens' time to live at most); the count steers
scaling and idle polling, never which work runs. Each token names its lane, which is how an idle process
learns within a second of a lane another process made.

What it costs: three transactions per document for its token; a peek at the backlog's front at most
every BACKLOG_PEEK_S and a listing of the queues every LANE_REFRESH_S; a lane found empty is skipped for
2 s, doubling up to 30 s, unless a token names it; and when the backlog holds no token at all, lanes
are asked only every IDLE_SAFETY_S (in case a crash lost a token). A message is only ever
{"job", "doc", "run", "t"} or a token: never document text or a secret.
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

from policy_reader.config import Settings
from policy_reader.errors import JobNotFound
from policy_reader.jobs.azure_clients import storage_error
from policy_reader.jobs.store import WorkItem, check_doc_id, check_job_id

log = logging.getLogger("policy_reader.azure")

LANE_REFRESH_S = 10.0  # how often the queues are listed to find lanes other processes made
BACKLOG_PEEK_S = 0.5  # how often the backlog's front is looked at (lanes made elsewhere; is anything waiting?)
EMPTY_SKIP_S = (2.0, 30.0)  # a lane found empty is skipped this long, doubling each time up to the second
IDLE_SAFETY_S = 600.0  # with no token anywhere, each lane is still asked this often (a crash lost a token)
TOKEN_TTL_S = 7 * 24 * 3600  # a token a crash left behind stops counting after this
LANE_MARK = "-u-"
LANE_HASH_CHARS = 12
BACKLOG_SUFFIX = "-backlog"
POISON_SUFFIX = "-poison"


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
    return f"{base}{LANE_MARK}{hashlib.sha256((owner or '').encode('utf-8', 'surrogatepass')).hexdigest()[:LANE_HASH_CHARS]}"


@dataclass
class Delivery:
    """One received work message. `pop_receipt` changes at every visibility renewal."""

    item: WorkItem
    run: int
    message_id: str
    pop_receipt: str
    dequeue_count: int
    lane: str  # the queue it came from: renewals, deletes and releases go back there
    tokened: bool = True  # it has a backlog token to take when it leaves (not so for pre-lane messages)
    raw: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    lost: bool = False  # the message was taken back (visibility expired) — another worker may hold it


class AzureWorkQueue:
    """Azure Queue Storage: the owners' lanes, `<queue>-backlog` (the count), `<queue>-poison` (failures)."""

    def __init__(self, settings: Settings, service: QueueServiceClient, *, create: bool = True) -> None:
        self.settings = settings
        self.name = settings.azure_storage_queue
        self._service = service
        self._lane_re = re.compile(re.escape(self.name + LANE_MARK) + f"[0-9a-f]{{{LANE_HASH_CHARS}}}")
        self._lock = threading.Lock()
        self._clients: dict[str, QueueClient] = {}
        self._made: set[str] = set()
        self._lanes: set[str] = {self.name}  # the base queue: work queued before lanes
        self._gone: set[str] = set()  # lanes deleted behind our back: tokens do not bring them back
        self._listed_at = self._peeked_at = float("-inf")
        self._backlog_empty = False  # the last peek saw no token: nothing waiting or in progress anywhere
        self._empty_until: dict[str, float] = {}
        self._empty_streak: dict[str, int] = {}
        self._asked_at: dict[str, float] = {}
        self._last_served = ""
        self.backlog = self._client(self.name + BACKLOG_SUFFIX)  # the tokens: what autoscalers watch
        self.poison = self._client(self.name + POISON_SUFFIX)
        if create:
            for name in (self.name, self.name + BACKLOG_SUFFIX, self.name + POISON_SUFFIX):
                self._create(name)

    @staticmethod
    def encode(item: WorkItem, run: int) -> str:
        return json.dumps({"job": check_job_id(item.job_id), "doc": check_doc_id(item.doc_id), "run": int(run),
                           "t": 1})

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
            pass  # exists (or, on Azure, is still being deleted: the send that follows says so)
        except AzureError as exc:
            raise storage_error(exc, self.settings, "creating the work queue") from None
        with self._lock:
            self._made.add(name)

    def lanes(self) -> list[str]:
        """Every lane known here. Lanes other processes made are learnt from the backlog's tokens (each
        names its lane) and from listing the queues."""
        now = time.monotonic()
        with self._lock:
            list_due = now - self._listed_at >= LANE_REFRESH_S
            peek_due = list_due or now - self._peeked_at >= BACKLOG_PEEK_S
            if list_due:
                self._listed_at = now  # one caller does it; the others use what is known
            if peek_due:
                self._peeked_at = now
        listed: set[str] = set()
        named: set[str] | None = None
        try:
            if list_due:
                listed = {q.name for q in self._service.list_queues(name_starts_with=self.name + LANE_MARK)
                          if self._lane_re.fullmatch(q.name)}
            if peek_due:
                named = {lane for m in self.backlog.peek_messages(max_messages=32)
                         if (lane := _token_lane(m.content)) is not None}
        except AzureError as exc:
            log.warning("looking for work queues failed (%s); using the lanes already known", type(exc).__name__)
        with self._lock:
            self._gone -= listed
            self._lanes |= listed
            if named is not None:
                self._backlog_empty = not named
                for lane in named - self._gone:
                    if self._lane_re.fullmatch(lane):  # a token says work is there (or in progress): ask now
                        self._lanes.add(lane)
                        self._wake(lane)
            return sorted(self._lanes)

    def _wake(self, lane: str) -> None:
        """Ask this lane at the next turn (caller holds the lock)."""
        self._empty_until.pop(lane, None)
        self._empty_streak.pop(lane, None)

    def _in_turn(self) -> list[str]:
        """The lanes to ask, starting after the one served last, without those recently found empty."""
        ordered = self.lanes()
        now = time.monotonic()
        with self._lock:
            start = bisect.bisect_right(ordered, self._last_served)
            turn = ordered[start:] + ordered[:start]
            if self._backlog_empty:  # nothing waiting anywhere: only the base queue and the safety net
                return [lane for lane in turn if (lane == self.name and self._empty_until.get(lane, 0.0) <= now)
                        or now - self._asked_at.get(lane, float("-inf")) >= IDLE_SAFETY_S]
            return [lane for lane in turn if self._empty_until.get(lane, 0.0) <= now]

    def _found_empty(self, lane: str) -> None:
        with self._lock:
            streak = self._empty_streak.get(lane, 0)
            self._empty_streak[lane] = streak + 1
            self._empty_until[lane] = time.monotonic() + min(EMPTY_SKIP_S[1], EMPTY_SKIP_S[0] * 2 ** streak)

    def _forget(self, lane: str) -> None:
        """A lane deleted behind our back (an operator cleaning up): stop asking it until it is listed
        again or this process queues to it."""
        with self._lock:
            self._made.discard(lane)
            if lane != self.name:
                self._lanes.discard(lane)
                self._gone.add(lane)

    # ------------------------------------------------------------------ messages

    def send(self, item: WorkItem, run: int, owner: str | None = None) -> None:
        """Queue one document in its owner's lane, then count it in the backlog."""
        lane, body = lane_name(self.name, owner), self.encode(item, run)
        client = self._client(lane)
        if lane not in self._made:
            self._create(lane)
        try:
            sent = client.send_message(body)
        except ResourceNotFoundError:  # deleted behind our back since this process made it
            self._forget(lane)
            self._create(lane)
            try:
                sent = client.send_message(body)
            except AzureError as exc:
                raise storage_error(exc, self.settings, "queueing a document (its user's work queue was just "
                                    "deleted and cannot be made again yet; try again in a minute)") from None
        with self._lock:
            self._gone.discard(lane)
            self._lanes.add(lane)
            self._wake(lane)
            self._backlog_empty = False
        try:
            self.backlog.send_message(_token(lane), time_to_live=TOKEN_TTL_S)
        except AzureError as exc:  # no document without its token: take the document back out
            try:
                client.delete_message(sent.id, sent.pop_receipt)
            except AzureError:
                pass
            raise storage_error(exc, self.settings, "counting a queued document in the backlog") from None

    def _take_token(self) -> None:
        """One document left its lane: take one token from the backlog (none there: a crash lost it)."""
        for _ in range(8):
            message = next(iter(self.backlog.receive_messages(messages_per_page=1, max_messages=1,
                                                              visibility_timeout=30)), None)
            if message is None:
                return
            try:
                self.backlog.delete_message(message.id, message.pop_receipt)
            except (ResourceNotFoundError, HttpResponseError):
                continue
            if _token_lane(message.content) is not None:
                return  # (anything else there was junk nobody should have written: gone now too)

    def receive(self, visibility_timeout: int) -> Delivery | None:
        """Take one message (hidden for `visibility_timeout` s) from the next lane in turn that has one.
        Malformed messages go straight to poison."""
        for lane in self._in_turn():
            client = self._client(lane)
            with self._lock:
                self._asked_at[lane] = time.monotonic()
            try:
                message = next(iter(client.receive_messages(messages_per_page=1, max_messages=1,
                                                            visibility_timeout=visibility_timeout)), None)
            except ResourceNotFoundError:
                self._forget(lane)
                continue
            if message is None:
                self._found_empty(lane)
                continue
            with self._lock:
                self._last_served = lane
                self._wake(lane)
            try:
                body = json.loads(message.content)
                item = WorkItem(check_job_id(body["job"]), check_doc_id(body["doc"]))
                run = int(body.get("run", 0))
            except (ValueError, KeyError, TypeError, AttributeError, JobNotFound):
                self._poison_raw(client, message, "malformed message")
                continue
            return Delivery(item, run, message.id, message.pop_receipt, int(message.dequeue_count or 1),
                            lane, tokened=bool(body.get("t")), raw=str(message.content))
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
            self._wake(delivery.lane)

    def delete(self, delivery: Delivery) -> bool:
        """The document leaves its lane for good (done, poisoned, or its job ended)."""
        with delivery.lock:
            try:
                self._client(delivery.lane).delete_message(delivery.message_id, delivery.pop_receipt)
            except (ResourceNotFoundError, HttpResponseError):
                delivery.lost = True
                return False
            delivery.lost = True
        if delivery.tokened:
            self._take_token()
        return True

    def to_poison(self, delivery: Delivery, reason: str) -> None:
        """Copy the message to the poison queue (with the reason), then delete it from its lane."""
        body = {"job": delivery.item.job_id, "doc": delivery.item.doc_id, "run": delivery.run,
                "dequeue_count": delivery.dequeue_count, "reason": reason[:500]}
        self.poison.send_message(json.dumps(body))
        self.delete(delivery)

    def _poison_raw(self, client: QueueClient, message: QueueMessage, reason: str) -> None:
        """Nothing this code sends is malformed, so such a message never had a token to take."""
        self.poison.send_message(json.dumps({"raw": str(message.content)[:500], "reason": reason}))
        try:
            client.delete_message(message.id, message.pop_receipt)
        except (ResourceNotFoundError, HttpResponseError):
            pass

    def length(self) -> int:
        """Approximate number of documents waiting or in progress: the backlog's tokens (what an
        autoscaler sees), plus any work queued before lanes."""
        return sum(int(client.get_queue_properties().approximate_message_count or 0)
                   for client in (self.backlog, self._client(self.name)))

    def poison_messages(self, limit: int = 32) -> list[dict[str, Any]]:
        out = []
        for message in self.poison.peek_messages(max_messages=min(32, limit)):
            try:
                out.append(json.loads(message.content))
            except ValueError:
                out.append({"raw": str(message.content)[:500]})
        return out
