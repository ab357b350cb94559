"""What only the Azure store does, against Azurite (the real Azure Storage emulator), never a mock: ETag
conflicts, the outbox mirror, its settings. The protocol every store keeps is tested for both stores in
tests/jobs/test_store.py; the work queue in tests/jobs/test_azure_queue.py."""
from __future__ import annotations

import threading

import pytest

from policy_reader.jobs.azure_store import AzureJobStore
from policy_reader.errors import ConfigError
from policy_reader.config import load_settings
from tests.fixtures.stores import new_job


@pytest.fixture
def store(azurite, tmp_path):
    return AzureJobStore(azurite.settings(JOBS_DIR=str(tmp_path / "jobs")))


def test_etag_conflict_is_retried_and_no_update_is_lost(azurite, tmp_path):
    settings = azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))
    writer_a, writer_b = AzureJobStore(settings), AzureJobStore(settings)  # two "instances"
    job_id = new_job(writer_a, a=0, b=0)
    calls = {"a": 0}

    def change_a(state):
        calls["a"] += 1
        if calls["a"] == 1:  # B writes between A's read and A's write: A's write must get 412
            writer_b.update_state(job_id, lambda s: s.update(b=s["b"] + 1))
        state["a"] += 1

    final = writer_a.update_state(job_id, change_a)
    assert calls["a"] == 2 and writer_a.conflicts == 1 and writer_b.conflicts == 0
    assert final["a"] == 1 and final["b"] == 1
    assert writer_a.read_state(job_id) == final


def test_concurrent_writers_lose_nothing(azurite, tmp_path):
    settings = azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))
    stores = [AzureJobStore(settings), AzureJobStore(settings)]
    job_id = new_job(stores[0])

    def bump(store: AzureJobStore) -> None:
        for _ in range(8):
            store.update_state(job_id, lambda s: s.update(n=s["n"] + 1))

    threads = [threading.Thread(target=bump, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].read_state(job_id)["n"] == 32
    assert stores[0].conflicts + stores[1].conflicts > 0  # they did collide, and retried


def test_outbox_is_mirrored_in_blobs(azurite, tmp_path):
    settings = azurite.settings(JOBS_DIR=str(tmp_path / "one"))
    one = AzureJobStore(settings)
    job_id = new_job(one)
    folder = one.outbox_dir(job_id)
    (folder / "20260101T000000Z-x.eml").write_bytes(b"Subject: hi\r\n\r\nbody")
    assert one.publish_outbox(job_id) == ["20260101T000000Z-x.eml"]
    assert one.publish_outbox(job_id) == []  # never uploaded twice
    other = AzureJobStore(settings.model_copy(update={"jobs_dir": tmp_path / "two"}))  # another instance
    files = sorted(other.outbox_dir(job_id).glob("*.eml"))
    assert [f.name for f in files] == ["20260101T000000Z-x.eml"] and files[0].read_bytes().endswith(b"body")


def test_azure_store_needs_storage_settings(monkeypatch):
    with pytest.raises(ConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        load_settings(JOB_STORE="azure")


def test_bad_connection_string_is_a_clear_error_without_the_secret():
    settings = load_settings(JOB_STORE="azure", AZURE_STORAGE_CONNECTION_STRING="not-a-connection-string-secretvalue")
    with pytest.raises(ConfigError) as info:
        AzureJobStore(settings)
    assert "secretvalue" not in str(info.value)
