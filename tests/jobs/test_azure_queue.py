"""The Azure work queue against Azurite (the real Azure Storage emulator): visibility and poison, the
owners' lanes taking turns, the backlog count autoscalers watch, and work queued before lanes existed.
Each test gets its own queue names, so several `AzureWorkQueue`s stand for several processes."""
from __future__ import annotations

import collections
import json
import time

import pytest
from azure.storage.queue import QueueClient, QueueServiceClient

from policy_reader.jobs.azure_queue import (BACKLOG_PEEK_S, EMPTY_SKIP_S, LANE_REFRESH_S, AzureWorkQueue,
                                            lane_name)
from policy_reader.jobs.azure_store import AzureJobStore
from policy_reader.jobs.store import WorkItem
from tests.fixtures.common import wait_until
from tests.fixtures.stores import new_job


@pytest.fixture
def store(azurite, tmp_path):
    return AzureJobStore(azurite.settings(JOBS_DIR=str(tmp_path / "jobs")))


def _raw_client(azurite, name: str) -> QueueClient:
    """A queue client of our own, to put in what this code would never send."""
    client = QueueClient.from_connection_string(azurite.connection_string, name)
    try:
        client.create_queue()
    except Exception:  # noqa: BLE001 - it exists already
        pass
    return client


def _drain(queue: AzureWorkQueue, limit: int = 100) -> list[WorkItem]:
    taken = []
    for _ in range(limit):
        delivery = queue.receive(visibility_timeout=30)
        if delivery is None:
            break
        taken.append(delivery.item)
        assert queue.delete(delivery)
    return taken


def test_queue_visibility_renewal_and_poison(store):
    queue = store.work_queue()
    job_id = new_job(store)
    queue.send(WorkItem(job_id, "d0001"), run=1, owner="alice")
    first = queue.receive(visibility_timeout=1)
    assert first is not None and first.item == WorkItem(job_id, "d0001") and first.run == 1
    assert first.dequeue_count == 1 and first.lane == lane_name(queue.name, "alice")
    assert queue.renew(first, 30)  # heartbeat: hidden for 30 s more
    time.sleep(1.3)
    assert queue.receive(visibility_timeout=1) is None  # still held by the renewal
    queue.release(first, 0)
    again = queue.receive(visibility_timeout=5)
    assert again is not None and again.dequeue_count == 2
    queue.to_poison(again, "failed 2 times")
    assert queue.receive(visibility_timeout=1) is None
    poisoned = queue.poison_messages()
    assert poisoned == [{"job": job_id, "doc": "d0001", "run": 1, "dequeue_count": 2, "reason": "failed 2 times"}]
    assert queue.length() == 0  # the poisoned document left the backlog too


def test_malformed_message_goes_to_poison(azurite, store):
    queue = store.work_queue()
    _raw_client(azurite, lane_name(queue.name, "mallory")).send_message('{"job": "../etc", "doc": "d0001"}')
    assert queue.receive(visibility_timeout=1) is None  # another process's lane, found by listing
    assert queue.poison_messages()[0]["reason"] == "malformed message"


def test_owners_take_turns_however_many_each_queued(store):
    """Before: one queue in the order sent, so bob's one document came after all 30 of alice's."""
    sender, consumer = store.work_queue(), store.work_queue()  # two processes: the app and a worker
    alice_jobs = [new_job(store), new_job(store)]
    for job_id in alice_jobs:
        for n in range(15):
            sender.send(WorkItem(job_id, f"d{n + 1:04d}"), run=1, owner="alice")
    bob_job = new_job(store)
    sender.send(WorkItem(bob_job, "d0001"), run=1, owner="bob")
    carol_job = new_job(store)
    for n in range(2):
        sender.send(WorkItem(carol_job, f"d{n + 1:04d}"), run=1, owner="carol")

    owners = {alice_jobs[0]: "alice", alice_jobs[1]: "alice", bob_job: "bob", carol_job: "carol"}
    order = [owners[item.job_id] for item in _drain(consumer)]
    assert len(order) == 33
    first_six = order[:6]
    assert sorted(first_six[:3]) == ["alice", "bob", "carol"], order  # one each, then round again
    assert first_six.count("alice") == 3 and first_six.count("carol") == 2, order
    assert order[6:] == ["alice"] * 27
    assert consumer.length() == 0


def test_an_idle_worker_finds_a_new_users_lane_within_seconds(store):
    """A worker that started before the lane existed learns of it from the backlog's tokens, long
    before its next listing of the queues."""
    worker, app = store.work_queue(), store.work_queue()
    assert worker.receive(visibility_timeout=30) is None  # the worker has listed the queues: none yet
    job_id = new_job(store)
    app.send(WorkItem(job_id, "d0001"), run=1, owner="dora")
    started = time.monotonic()
    taken: list = []
    wait_until(lambda: taken.append(worker.receive(visibility_timeout=30)) or taken[-1] is not None,
               timeout=LANE_REFRESH_S - 2)
    assert taken[-1].item == WorkItem(job_id, "d0001")
    assert time.monotonic() - started < BACKLOG_PEEK_S + EMPTY_SKIP_S[0] + 1


def test_the_backlog_counts_documents_waiting_or_in_progress(store):
    """Autoscalers watch the queue named AZURE_STORAGE_QUEUE: it must count every lane's documents."""
    app, worker = store.work_queue(), store.work_queue()
    job_id = new_job(store)
    for n, owner in enumerate(["alice", "alice", "bob"]):
        app.send(WorkItem(job_id, f"d{n + 1:04d}"), run=1, owner=owner)
    backlog = app.backlog.get_queue_properties().approximate_message_count
    assert backlog == 3 and worker.length() == 3
    held = worker.receive(visibility_timeout=30)
    assert held is not None and worker.length() == 3  # in progress still counts (a worker is needed)
    worker.release(held, 0)
    assert worker.length() == 3
    assert len(_drain(worker)) == 3
    assert worker.length() == 0 and app.length() == 0


def test_work_queued_before_lanes_is_still_run(azurite, store):
    """A message a version without lanes put on AZURE_STORAGE_QUEUE (no token) still runs, and the
    backlog count stays right."""
    queue = store.work_queue()
    job_id = new_job(store)
    _raw_client(azurite, queue.name).send_message(json.dumps({"job": job_id, "doc": "d0007", "run": 3}))
    queue.send(WorkItem(job_id, "d0001"), run=3, owner="alice")
    assert queue.length() == 2
    taken = _drain(store.work_queue())
    assert sorted(item.doc_id for item in taken) == ["d0001", "d0007"]
    assert queue.length() == 0 and queue.poison_messages() == []


def test_a_consumer_without_lanes_never_sees_this_versions_work(azurite, store):
    """During a rolling upgrade the old version still reads AZURE_STORAGE_QUEUE: neither documents nor
    backlog tokens go there, so it can neither run them twice nor throw the count away as malformed."""
    queue = store.work_queue()
    job_id = new_job(store)
    for n in range(3):
        queue.send(WorkItem(job_id, f"d{n + 1:04d}"), run=1, owner="alice")
    old_consumer = _raw_client(azurite, queue.name)
    assert list(old_consumer.receive_messages(max_messages=32)) == []
    assert queue.length() == 3 and len(_drain(queue)) == 3 and queue.length() == 0


def _counting_queue(azurite, settings) -> tuple[AzureWorkQueue, collections.Counter]:
    """An AzureWorkQueue whose every storage request is counted (azure-core's raw_request_hook), by
    method and by queue."""
    calls: collections.Counter = collections.Counter()

    def count(request) -> None:
        calls[request.http_request.method] += 1
        calls[request.http_request.url.split("?")[0].rstrip("/").split("/")[-2]] += 1

    service = QueueServiceClient.from_connection_string(azurite.connection_string, raw_request_hook=count)
    return AzureWorkQueue(settings, service), calls


def test_an_idle_consumer_does_not_poll_every_users_queue(azurite, tmp_path):
    """Before: every lane was asked every 2 s, so 100 users who once used the service cost an idle
    process 50 requests a second, forever. Now, with nothing waiting anywhere, it only looks at the backlog."""
    settings = azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))
    store = AzureJobStore(settings)
    sender = store.work_queue()
    job_id = new_job(store)
    for user in range(100):  # every user queued a document once; all of them are done now
        sender.send(WorkItem(job_id, "d0001"), run=1, owner=f"user{user}")
    assert len(_drain(sender, limit=200)) == 100 and sender.length() == 0
    consumer, calls = _counting_queue(azurite, settings)
    assert consumer.receive(visibility_timeout=30) is None  # the first pass asks every lane once
    calls.clear()
    started = time.monotonic()
    while time.monotonic() - started < 4:  # two threads' worth of an idle loop
        assert consumer.receive(visibility_timeout=30) is None
        time.sleep(0.25)
    per_second = (calls["GET"] + calls["PUT"] + calls["POST"] + calls["DELETE"]) / (time.monotonic() - started)
    print(f"idle consumer with 100 users' queues: {per_second:.1f} storage requests a second")
    assert per_second < 5, f"{per_second:.0f} storage requests a second while idle ({dict(calls)})"
    job2 = new_job(store)
    sender.send(WorkItem(job2, "d0001"), run=1, owner="user42")  # work again: found within a second
    wait_until(lambda: (d := consumer.receive(visibility_timeout=30)) is not None and consumer.delete(d),
               timeout=BACKLOG_PEEK_S + EMPTY_SKIP_S[0] + 2)
    assert consumer.length() == 0


def test_a_lane_deleted_by_hand_is_not_asked_again_because_of_its_tokens(azurite, tmp_path):
    settings = azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))
    store = AzureJobStore(settings)
    sender = store.work_queue()
    job_id = new_job(store)
    sender.send(WorkItem(job_id, "d0001"), run=1, owner="alice")
    lane = lane_name(sender.name, "alice")
    _raw_client(azurite, lane).delete_queue()  # its token stays in the backlog (for its time to live)
    consumer, calls = _counting_queue(azurite, settings)
    assert consumer.receive(visibility_timeout=30) is None  # asks the lane once: 404, forgotten
    asked = calls[lane]
    assert asked >= 1
    for _ in range(8):
        time.sleep(BACKLOG_PEEK_S)
        assert consumer.receive(visibility_timeout=30) is None
    assert calls[lane] == asked and lane not in consumer.lanes()


def test_lane_names_are_valid_azure_names_and_say_nothing_about_the_owner():
    name = lane_name("policy-reader-work", "alice@example.org")
    assert name.startswith("policy-reader-work-u-") and len(name) <= 63 and "alice" not in name
    assert name == lane_name("policy-reader-work", "alice@example.org")
    assert name != lane_name("policy-reader-work", "bob@example.org")
    assert lane_name("q", None) == lane_name("q", "")
