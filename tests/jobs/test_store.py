"""The JobStore contract, run against both stores: FileJobStore (a folder) and AzureJobStore (Azurite).

Whatever the executor or the facade relies on from storage is asserted here once, for both: ids
validated before any path or blob name, conditional updates that lose nothing, results written once,
reviews, exports, events, the outbox, deletion.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from policy_reader.errors import JobError, JobNotFound
from policy_reader.jobs.store import FileJobStore, JobStore
from tests.fixtures.stores import new_job  # the `store` fixture (both stores) is in tests/fixtures/stores.py


def test_round_trip(store: JobStore, tmp_path: Path) -> None:
    assert isinstance(store, JobStore)
    job_id = new_job(store)
    assert store.exists(job_id) and job_id in store.list_job_ids()
    assert store.read_manifest(job_id)["documents"][0]["doc_id"] == "d0001"

    big = tmp_path / "big.pdf"  # > one 4 MB block: the Azure store uploads it from the file in blocks
    big.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * (5 * 4096))
    store.write_input(job_id, "d0001-a.pdf", big)
    local = store.input_path(job_id, "d0001-a.pdf")
    assert local.read_bytes() == big.read_bytes() and local != big
    store.write_input(job_id, "d0002-b.pdf", b"%PDF-1.4 small")
    assert store.input_path(job_id, "d0002-b.pdf").read_bytes() == b"%PDF-1.4 small"

    store.write_export(job_id, "results.csv", b"a,b\n")
    assert store.read_export(job_id, "results.csv") == b"a,b\n"
    assert store.read_export(job_id, "results.json") is None
    with pytest.raises(JobError):
        store.write_export(job_id, "../x.csv", b"")

    for n in range(3):
        store.append_event(job_id, {"type": "e", "n": n})
    assert [e["n"] for e in store.read_events(job_id, 2)] == [1, 2]

    assert store.read_reviews(job_id)["items"] == {}
    store.update_reviews(job_id, lambda r: r["items"].setdefault("d0001", {}).update(x={"value": 1}))
    reviews = store.read_reviews(job_id)
    assert reviews["items"]["d0001"]["x"]["value"] == 1 and reviews["version"] == 1

    assert store.read_work(job_id, "batch.json") is None
    store.write_work(job_id, "batch.json", b'{"batch_id": "b1"}')
    store.write_work(job_id, "text.d0001.json", b"{}")
    assert store.read_work(job_id, "batch.json") == b'{"batch_id": "b1"}'
    for bad in ("../x.json", "batch", "a/b.json", ".hidden.json"):
        with pytest.raises(JobError):
            store.write_work(job_id, bad, b"")
    assert store.outbox_dir(job_id).name == "outbox"
    store.release_local_copies(job_id)  # never loses what the store holds
    assert store.read_manifest(job_id)["documents"][0]["file"] == "a.pdf"

    store.delete_job(job_id)
    assert not store.exists(job_id) and job_id not in store.list_job_ids()
    with pytest.raises(JobNotFound):
        store.read_state(job_id)
    with pytest.raises(JobNotFound):
        store.delete_job(job_id)


def test_ids_are_validated_before_any_path(store: JobStore) -> None:
    for bad in ("../x", "", "0" * 19, "A" * 20, "/etc/passwd", "0" * 20 + "/.."):
        with pytest.raises(JobNotFound):
            store.read_state(bad)
        assert not store.exists(bad)
    job_id = new_job(store)
    for bad_name in ("../escape.pdf", "a/b.pdf", ".hidden.pdf", ""):
        with pytest.raises(JobError):
            store.write_input(job_id, bad_name, b"x")
    with pytest.raises(JobNotFound):
        store.write_result(job_id, "../d1", {})
    with pytest.raises(JobNotFound):
        store.read_result(job_id, "d1/../../x")


def test_result_is_written_once(store: JobStore) -> None:
    job_id = new_job(store)
    assert store.write_result(job_id, "d0001", {"status": "ok", "who": "first"}) is True
    assert store.write_result(job_id, "d0001", {"status": "ok", "who": "second"}) is False
    assert store.read_result(job_id, "d0001")["who"] == "first"
    assert store.list_results(job_id) == ["d0001"]
    assert store.read_result(job_id, "d0002") is None


def test_update_state_no_change_writes_nothing(store: JobStore) -> None:
    job_id = new_job(store)
    before = store.read_state(job_id)
    assert store.update_state(job_id, lambda s: False) == before
    assert store.read_state(job_id).get("version") == before.get("version")
    after = store.update_state(job_id, lambda s: s.update(n=1))
    assert after["n"] == 1 and after["version"] == int(before.get("version") or 0) + 1


def test_concurrent_updates_lose_nothing(store: JobStore) -> None:
    job_id = new_job(store)

    def bump() -> None:
        for _ in range(10):
            store.update_state(job_id, lambda s: s.update(n=s["n"] + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read_state(job_id)["n"] == 40


def test_unknown_job_is_not_found(store: JobStore) -> None:
    ghost = "0123456789abcdef0123"
    for call in (store.read_state, store.read_manifest):
        with pytest.raises(JobNotFound):
            call(ghost)
    with pytest.raises(JobNotFound):
        store.update_state(ghost, lambda s: None)


def test_damaged_files_are_reported_as_damaged_not_as_crashes(store: JobStore) -> None:
    """A torn or edited job.json / documents.json is a clear JobDamaged, whichever store holds it."""
    from policy_reader.errors import JobDamaged

    job_id = new_job(store)
    _overwrite(store, job_id, "documents.json", b'{"documents": [{"doc_id": "d0001"')
    with pytest.raises(JobDamaged, match="documents.json"):
        store.read_manifest(job_id)
    _overwrite(store, job_id, "job.json", b"\x00\x00 not json")
    with pytest.raises(JobDamaged, match="job.json"):
        store.read_state(job_id)
    store.delete_job(job_id)  # a damaged job can always be deleted
    assert not store.exists(job_id)


def _overwrite(store: JobStore, job_id: str, name: str, data: bytes) -> None:
    """Damage one of the job's files the way a torn copy or a hand edit would."""
    if isinstance(store, FileJobStore):
        (store.job_dir(job_id) / name).write_bytes(data)
    else:
        store.container.upload_blob(f"jobs/{job_id}/{name}", data, overwrite=True)
