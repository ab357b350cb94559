"""Clients for the one storage account JOB_STORE=azure uses, and the error every Azure module reports.

Why a module of its own: the blob store (azure_store.py) and the work queue (azure_queue.py) share one
account and one credential, and both must turn a storage failure into a readable error without the
connection string in it.
"""
from __future__ import annotations

from typing import Any

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from policy_reader.config import Settings, scrub
from policy_reader.errors import ConfigError, JobError

BLOCK_SIZE = 4 * 1024 * 1024  # uploads and downloads move in 4 MB pieces


def storage_clients(settings: Settings) -> tuple[BlobServiceClient, QueueServiceClient]:
    """Blob and queue service clients, from a connection string or managed identity."""
    blob_opts: dict[str, Any] = {"max_single_put_size": BLOCK_SIZE, "max_block_size": BLOCK_SIZE,
                                 "max_single_get_size": BLOCK_SIZE, "max_chunk_get_size": BLOCK_SIZE}
    if settings.azure_storage_connection_string:
        conn = settings.azure_storage_connection_string.get_secret_value()
        try:
            return (BlobServiceClient.from_connection_string(conn, **blob_opts),
                    QueueServiceClient.from_connection_string(conn))
        except ValueError:
            raise ConfigError("AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string.") from None
    url = (settings.azure_storage_account_url or "").rstrip("/")
    if not url:
        raise ConfigError("JOB_STORE=azure needs AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL.")
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise ConfigError("AZURE_STORAGE_ACCOUNT_URL needs the azure-identity package.") from None
    credential = DefaultAzureCredential()  # managed identity on App Service, `az login` on a laptop
    queue_url = url.replace(".blob.", ".queue.", 1)
    return (BlobServiceClient(url, credential=credential, **blob_opts),
            QueueServiceClient(queue_url, credential=credential))


def storage_error(exc: Exception, settings: Settings, what: str) -> JobError:
    """A readable, secret-free error for a storage failure (the connection string never shows)."""
    detail = getattr(exc, "reason", None) or type(exc).__name__
    return JobError(scrub(f"Azure Storage error while {what}: {detail}.", settings), code="storage")
