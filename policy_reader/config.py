"""One configuration, read once from the environment (and `.env`), validated, never printing a secret.

Streamlit secrets are copied into the environment by `main.py` before `load_settings()` runs,
so this module knows nothing about Streamlit. Every field's `description` is the README's
configuration table (`python -m policy_reader config --markdown` prints it).
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from policy_reader.errors import ConfigError

#: LLM_BACKEND values: `auto` and the registered model providers (policy_reader/llm/providers registers
#: each one with `accept_backend_name`; the built-in names are known before it is imported).
_BUILT_IN_BACKENDS = ("auto", "offline", "openai", "azure")
_BACKEND_NAMES = set(_BUILT_IN_BACKENDS)


def accept_backend_name(name: str, *, accept: bool = True) -> None:
    """LLM_BACKEND may (no longer) name `name`: called by the provider registry, which config does not import."""
    if accept:
        _BACKEND_NAMES.add(name)
    elif name not in _BUILT_IN_BACKENDS:
        _BACKEND_NAMES.discard(name)
log = logging.getLogger("policy_reader.config")

# App Service leaves a setting's value as the literal reference text when it cannot read the secret
# (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references, "Troubleshooting").
KEY_VAULT_REFERENCE_PREFIX = "@microsoft.keyvault("
KEY_VAULT_UNRESOLVED = "Key Vault reference not resolved: check the identity's access"
ACS_SMTP_HOST = "smtp.azurecomm.net"  # Azure Communication Services Email, port 587 + STARTTLS
DEFAULT_SMTP_FROM = "policy-reader@localhost"
# Azure queue names: lowercase letters, digits, single hyphens, at most 63; each user's queue adds 15.
QUEUE_NAME_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
QUEUE_NAME_MAX = 63 - len("-u-") - 12



# --------------------------------------------------------------------------- MODEL_PRICES
# Parsed here (validated with the other settings at start-up); llm/pricing.py looks prices up in it.

MAX_TABLE_CHARS = 100_000


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    cached_input: float
    output: float


@lru_cache(maxsize=8)
def parse_price_table(text: str) -> dict[str, Price]:
    """MODEL_PRICES (JSON) -> {model name (lower case): Price}. Raises ValueError naming the problem.

    Each entry is `{"input": x, "output": y}` with an optional `"cached_input"` (default: input).
    """
    if not text or not text.strip():
        return {}
    if len(text) > MAX_TABLE_CHARS:
        raise ValueError(f"MODEL_PRICES is longer than {MAX_TABLE_CHARS:,} characters")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"MODEL_PRICES is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError('MODEL_PRICES must be a JSON object: {"model": {"input": ..., "output": ...}}')
    table: dict[str, Price] = {}
    for name, entry in data.items():
        if not str(name).strip():
            raise ValueError("MODEL_PRICES has an empty model name")
        table[str(name).strip().lower()] = _price(str(name), entry)
    return table


def _price(name: str, entry: Any) -> Price:
    if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
        raise ValueError(f'MODEL_PRICES["{name}"] needs "input" and "output" (USD per 1M tokens)')
    values = {key: entry.get(key, entry["input"]) for key in ("input", "cached_input", "output")}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f'MODEL_PRICES["{name}"].{key} must be a number >= 0')
    return Price(float(values["input"]), float(values["cached_input"]), float(values["output"]))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=False, populate_by_name=True)

    # --- storage and jobs
    jobs_dir: Path = Field(Path(".jobs"), alias="JOBS_DIR", description="Folder for job files (on Azure: under /home, e.g. /home/policy-reader/jobs).")
    job_store: Literal["file", "azure"] = Field("file", alias="JOB_STORE", description="`file` (one instance, the jobs folder) or `azure` (Blob + Queue Storage, several instances).")
    max_parallel_jobs: int = Field(2, alias="MAX_PARALLEL_JOBS", ge=1, description="Jobs one user runs at once in one process; more of theirs wait in the queue, where users take turns (other users' jobs start meanwhile).")
    docs_per_job: int = Field(16, alias="DOCS_PER_JOB", ge=1, description="Documents of one job processed in parallel. They mostly wait on the model: keep it about twice LLM_MAX_CONCURRENCY so the next documents are read while calls wait.")
    max_parallel_documents: int = Field(32, alias="MAX_PARALLEL_DOCUMENTS", ge=1, description="Global limit of documents in flight across all jobs of a process.")
    job_ttl_hours: float = Field(24.0, alias="JOB_TTL_HOURS", gt=0, description="Finished jobs older than this are deleted by the cleanup schedule.")
    heartbeat_stale_s: float = Field(60.0, alias="HEARTBEAT_STALE_S", gt=0, description="A running job whose heartbeat is older than this is taken as interrupted and resumed.")

    # --- model backend
    backend: str = Field("auto", alias="LLM_BACKEND", description="`auto` (Azure if configured, else OpenAI if a key is set, else offline), `offline`, `openai` or `azure`.")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY", description="OpenAI (or compatible server) API key. Secret.")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL", description="Base URL of an OpenAI-compatible server (Ollama, vLLM, ...). Empty: api.openai.com.")
    openai_model: str = Field("gpt-4o-mini", alias="OPENAI_MODEL", description="Model name for the OpenAI backend.")
    azure_openai_endpoint: str | None = Field(None, alias="AZURE_OPENAI_ENDPOINT", description="Azure OpenAI endpoint, https://NAME.openai.azure.com.")
    azure_openai_api_key: SecretStr | None = Field(None, alias="AZURE_OPENAI_API_KEY", description="Azure OpenAI key. Secret. Empty: Entra ID (managed identity) is used.")
    azure_openai_deployment: str | None = Field(None, alias="AZURE_OPENAI_DEPLOYMENT", description="Azure OpenAI deployment name.")
    azure_openai_batch_deployment: str | None = Field(None, alias="AZURE_OPENAI_BATCH_DEPLOYMENT", description="Azure OpenAI global-batch deployment for batch mode (half price, answers within 24 h). Empty: AZURE_OPENAI_DEPLOYMENT.")
    openai_api_version: str | None = Field(None, alias="OPENAI_API_VERSION", description="Leave empty: Azure OpenAI is called through the GA v1 API (`<endpoint>/openai/v1/`, no api-version). Set a dated version (e.g. `2024-10-21`) only for a resource or gateway that still needs the `/openai/deployments/...?api-version=` path.")
    llm_timeout_s: float = Field(120.0, alias="LLM_TIMEOUT_S", gt=0, description="Timeout of one model call, seconds: the whole call (however slowly the server sends), not each read.")
    llm_max_reply_mb: float = Field(8.0, alias="LLM_MAX_REPLY_MB", gt=0, description="Largest reply one model call may receive, MB; a larger one is cut off unread and the call fails naming the server.")
    llm_max_retries: int = Field(5, alias="LLM_MAX_RETRIES", ge=0, description="Retries of a model call on 429, 5xx and timeouts (exponential backoff with jitter, Retry-After honoured).")
    llm_backoff_base_s: float = Field(1.0, alias="LLM_BACKOFF_BASE_S", ge=0, description="Base delay of the retry backoff, seconds (doubles per retry, full jitter, capped at 60 s).")
    llm_max_concurrency: int = Field(8, alias="LLM_MAX_CONCURRENCY", ge=1, description="Model calls in flight at once in one process, across all documents and jobs.")
    llm_max_output_tokens: int = Field(4096, alias="LLM_MAX_OUTPUT_TOKENS", ge=256, description="Most completion tokens one call may ask for. Each call asks for what its variables need (about 150 tokens a variable), up to this; quotas charge what is asked for.")
    llm_tokens_per_minute: int = Field(0, alias="LLM_TOKENS_PER_MINUTE", ge=0, description="The deployment's tokens-per-minute quota, to pace calls from the first one (0: learnt from the provider's x-ratelimit headers and 429s).")
    llm_quota_max_wait_s: float = Field(3600.0, alias="LLM_QUOTA_MAX_WAIT_S", gt=0, description="Longest one call waits for quota (429s, pacing) before its document fails. Waiting never uses up LLM_MAX_RETRIES.")
    llm_response_format: Literal["auto", "json_schema", "json_object_schema", "json_object", "tools", "text"] = Field("auto", alias="LLM_RESPONSE_FORMAT", description="How answers are asked for as JSON. `auto`: strict json_schema, and on a server that refuses it json_object with a schema, json_object, tools, then plain text (detected once per server).")
    llm_schema_max_properties: int = Field(100, alias="LLM_SCHEMA_MAX_PROPERTIES", ge=6, description="Most object properties in one call's answer schema (Azure OpenAI: 100; 5 per variable + 1), so wide templates are asked in groups of variables.")
    llm_schema_max_enum_values: int = Field(500, alias="LLM_SCHEMA_MAX_ENUM_VALUES", ge=1, description="Most enum values (category/list options) in one call's schema (Azure OpenAI: 500). A variable with more options is asked without the enum and its answer checked against the options.")
    llm_schema_max_chars: int = Field(15000, alias="LLM_SCHEMA_MAX_CHARS", ge=1000, description="Most characters of property names and enum values in one call's schema (Azure OpenAI: 15,000).")
    chunk_tokens: int = Field(32000, alias="CHUNK_TOKENS", ge=500, description="Token budget of document text per model call; longer documents are split by pages. 32k fits any current 128k-context model with room for the answer; fewer, larger chunks repeat the instructions less (cost) and need fewer rounds of calls (time).")
    accept_threshold: float = Field(0.8, alias="ACCEPT_THRESHOLD", ge=0, le=1, description="Answers at or above this confidence (with verified evidence) are auto-accepted.")
    price_input_per_1m: float = Field(0.15, alias="PRICE_INPUT_PER_1M", ge=0, description="USD per 1M prompt tokens (cost estimate).")
    price_cached_input_per_1m: float = Field(0.075, alias="PRICE_CACHED_INPUT_PER_1M", ge=0, description="USD per 1M cached prompt tokens.")
    price_output_per_1m: float = Field(0.60, alias="PRICE_OUTPUT_PER_1M", ge=0, description="USD per 1M completion tokens.")
    model_prices: str = Field("", alias="MODEL_PRICES", description='Prices per model as JSON, USD per 1M tokens: `{"gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10}}`. A call is priced by the model its response names (the longest matching name prefix, so `gpt-4o` also prices `gpt-4o-2024-08-06`); unlisted models use the PRICE_* settings.')
    allowed_models: str = Field("", alias="ALLOWED_MODELS", description="Comma-separated models (OpenAI) or deployments (Azure) users may choose for a job, besides the configured OPENAI_MODEL / AZURE_OPENAI_DEPLOYMENT. Empty: only the configured one.")

    # --- documents
    ocr_enabled: bool = Field(True, alias="OCR_ENABLED", description="OCR pages without a text layer (offline, rapidocr; models ship in the wheel).")
    max_file_mb: float = Field(100.0, alias="MAX_FILE_MB", gt=0, description="Largest PDF accepted, MB (also the Streamlit upload limit).")
    max_pages: int = Field(2000, alias="MAX_PAGES", ge=1, description="Most pages accepted in one PDF.")
    file_timeout_s: float = Field(600.0, alias="FILE_TIMEOUT_S", gt=0, description="Time limit for reading one PDF (text + OCR).")
    ocr_threads: int = Field(1, alias="OCR_THREADS", ge=1, le=16, description="CPU threads of the OCR engine (one page is OCR'd at a time per process). 1 keeps the web app responsive on small plans; 2+ is faster on idle multi-core machines.")
    reader_processes: int = Field(2, alias="READER_PROCESSES", ge=1, le=32, description="Reader processes that parse PDFs, page images and templates, away from the app's process (kept warm and reused).")
    reader_memory_mb: int = Field(2048, alias="READER_MEMORY_MB", ge=256, description="Memory one reader process may use (address space, MB). A file that needs more stops its reader, never the app.")
    reader_max_crashes: int = Field(2, alias="READER_MAX_CRASHES", ge=1, le=5, description="A file whose reading stopped its reader this many times is failed with the reason (the first stop may be the machine's, not the file's).")
    render_timeout_s: float = Field(30.0, alias="RENDER_TIMEOUT_S", gt=0, description="Time limit for drawing one evidence page image.")
    render_max_megapixels: float = Field(16.0, alias="RENDER_MAX_MEGAPIXELS", gt=0, le=200, description="Largest evidence page image drawn, in millions of pixels; bigger pages are drawn smaller (OCR images are capped at 8 MP).")
    template_max_mb: float = Field(2.0, alias="TEMPLATE_MAX_MB", gt=0, description="Largest variables template accepted (CSV, Excel or JSON), MB.")
    template_timeout_s: float = Field(20.0, alias="TEMPLATE_TIMEOUT_S", gt=0, description="Time limit for reading one variables template (or one gold file).")
    gold_max_mb: float = Field(5.0, alias="GOLD_MAX_MB", gt=0, description="Largest gold file (known answers: `file, variable, value[, page]` CSV) accepted to measure accuracy, MB.")
    gold_max_rows: int = Field(50_000, alias="GOLD_MAX_ROWS", ge=1, description="Most rows of one gold file.")
    audit_margin: float = Field(0.05, alias="AUDIT_MARGIN", gt=0, lt=1, description="Default target margin of error of an audit sample (0.05 = ±5 points at 95% confidence); the sample size follows from it and the number of accepted answers.")
    max_variables: int = Field(200, alias="MAX_VARIABLES", ge=1, description="Most variables in one job.")
    max_question_chars: int = Field(2000, alias="MAX_QUESTION_CHARS", ge=50, description="Longest question (and instructions) of one variable, characters.")
    batch_poll_s: float = Field(60.0, alias="BATCH_POLL_S", gt=0, description="How often a batch-mode job asks the provider how its batch is doing, seconds.")
    cache_sharing: bool = Field(False, alias="CACHE_SHARING", description="Let the answer cache answer one user's job from another user's run over the very same document bytes (same variables, model and prompt). Off: each user's cache is their own.")

    # --- email
    smtp_host: str | None = Field(None, alias="SMTP_HOST", description="SMTP server; on Azure `smtp.azurecomm.net` (Azure Communication Services Email). Empty: emails are written to the job's outbox as .eml files.")
    smtp_port: int = Field(587, alias="SMTP_PORT", description="SMTP port (587 STARTTLS, 465 SSL, 25 none).")
    smtp_username: str | None = Field(None, alias="SMTP_USERNAME", description="SMTP user name. Azure Communication Services: its resource name, the Entra app id and the tenant id joined by vertical bars (or an SMTP username made on the resource).")
    smtp_password: SecretStr | None = Field(None, alias="SMTP_PASSWORD", description="SMTP password (Azure Communication Services: the Entra app's client secret). Secret.")
    smtp_from: str = Field(DEFAULT_SMTP_FROM, alias="SMTP_FROM", description="Sender address. Azure Communication Services accepts only a MailFrom address of a domain connected to the resource, e.g. `DoNotReply@<domain>`.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field("starttls", alias="SMTP_SECURITY", description="`starttls`, `ssl` or `none`.")
    smtp_timeout_s: float = Field(30.0, alias="SMTP_TIMEOUT_S", gt=0, description="SMTP connection timeout, seconds.")
    smtp_ca_file: Path | None = Field(None, alias="SMTP_CA_FILE", description="Extra CA certificate (PEM) trusted for SMTP TLS, besides the system ones (a private relay's certificate). Certificates are always verified.")
    smtp_max_attempts: int = Field(4, alias="SMTP_MAX_ATTEMPTS", ge=1, description="Delivery attempts on transient SMTP failures (connection refused, timeouts, 4xx replies).")
    smtp_retry_base_s: float = Field(2.0, alias="SMTP_RETRY_BASE_S", ge=0, description="First wait between SMTP attempts, seconds; doubles after each attempt.")
    email_zip_over_mb: float = Field(5.0, alias="EMAIL_ZIP_OVER_MB", gt=0, description="Attachments larger than this in total are sent as one zip.")
    email_link_over_mb: float = Field(20.0, alias="EMAIL_LINK_OVER_MB", gt=0, description="Past this the email carries a link to the job instead of attachments.")
    email_allowed_domains: str = Field("", alias="EMAIL_ALLOWED_DOMAINS", description="Comma-separated domains results may be emailed to (`example.org` also allows its subdomains). Empty: any domain.")
    public_url: str | None = Field(None, alias="APP_PUBLIC_URL", description="The app's public URL, for links in emails (e.g. https://NAME.azurewebsites.net).")
    email_max_documents: int = Field(20, alias="EMAIL_MAX_DOCUMENTS", ge=0, description="Documents whose answers are shown in the email body; the body says what it left out (the attachments hold everything).")
    email_max_variables: int = Field(12, alias="EMAIL_MAX_VARIABLES", ge=0, description="Variables shown per document in the email body; the rest are only in the attachments.")
    email_max_review_items: int = Field(50, alias="EMAIL_MAX_REVIEW_ITEMS", ge=0, description="Answers listed under \"to review\" in the email body (with reason and quote); the rest are only in the attachments.")
    email_max_recipients: int = Field(20, alias="EMAIL_MAX_RECIPIENTS", ge=1, description="Most recipients one job may have. Each recipient gets a message addressed to them alone (no one sees the other addresses).")
    email_max_resends_per_job: int = Field(3, alias="EMAIL_MAX_RESENDS_PER_JOB", ge=0, description="How many times one job's email may be sent again (\"send again\"; 0: no limit).")
    email_max_resends_per_hour: int = Field(5, alias="EMAIL_MAX_RESENDS_PER_HOUR", ge=0, description="How many \"send again\" one user may use per hour, over all their jobs (0: no limit).")
    user_max_emails_per_day: int = Field(100, alias="USER_MAX_EMAILS_PER_DAY", ge=0, description="Email messages (one per recipient) one user's jobs may send per UTC day, re-sends included (0: no limit). Counted as sent, in the user's usage ledger: deleting a job does not give them back.")

    # --- webhook
    webhook_url: str | None = Field(None, alias="WEBHOOK_URL", description="Optional URL that receives a JSON summary (POST) when a job ends.")
    webhook_secret: SecretStr | None = Field(None, alias="WEBHOOK_SECRET", description="HMAC-SHA256 key for the `X-PolicyReader-Signature` header. Secret.")
    webhook_deadline_s: float = Field(30.0, alias="WEBHOOK_DEADLINE_S", gt=0, le=600, description="Total time for one webhook delivery, retries included; a receiver slower than this (even one answering a byte at a time) gets no more. The job's final state is written before the webhook is called.")

    # --- Azure Storage (JOB_STORE=azure)
    azure_storage_connection_string: SecretStr | None = Field(None, alias="AZURE_STORAGE_CONNECTION_STRING", description="Storage connection string. Secret. Or use AZURE_STORAGE_ACCOUNT_URL with managed identity.")
    azure_storage_account_url: str | None = Field(None, alias="AZURE_STORAGE_ACCOUNT_URL", description="https://ACCOUNT.blob.core.windows.net (DefaultAzureCredential).")
    azure_storage_container: str = Field("policy-reader", alias="AZURE_STORAGE_CONTAINER", description="Blob container for jobs.")
    azure_storage_queue: str = Field("policy-reader-work", alias="AZURE_STORAGE_QUEUE", description="Work queue name, at most 48 characters. Each user's documents wait in NAME-u-<hash>; NAME-backlog counts the documents waiting or in progress (scale workers on it); failures go to NAME-poison.")
    queue_max_attempts: int = Field(3, alias="QUEUE_MAX_ATTEMPTS", ge=1, description="Deliveries of one document before it goes to the poison queue.")
    queue_visibility_timeout_s: int = Field(60, alias="QUEUE_VISIBILITY_TIMEOUT_S", ge=1, le=3600, description="Seconds a taken work message stays hidden; a worker renews it while it works, so a dead worker's document reappears this long after it died.")

    # --- sign-in (Azure App Service Easy Auth)
    website_auth_enabled: bool = Field(False, alias="WEBSITE_AUTH_ENABLED", description="Set to True by App Service when Authentication (Easy Auth) is on: the X-MS-CLIENT-PRINCIPAL-NAME header then names the user, and a request without it is refused. Off: the header is ignored and the one user is `local`.")
    trust_principal_headers: bool | None = Field(None, alias="TRUST_PRINCIPAL_HEADERS", description="Override of WEBSITE_AUTH_ENABLED for another proxy: `true` believes and requires X-MS-CLIENT-PRINCIPAL-NAME (only behind a proxy that sets it and drops it from clients), `false` never believes it. Empty: follow WEBSITE_AUTH_ENABLED.")

    # --- per-user limits (0 = unlimited)
    user_max_concurrent_jobs: int = Field(0, alias="USER_MAX_CONCURRENT_JOBS", ge=0, description="Jobs one user may have pending or running at once (0: no limit).")
    user_max_documents_per_day: int = Field(0, alias="USER_MAX_DOCUMENTS_PER_DAY", ge=0, description="Documents one user may submit per UTC day (0: no limit). Counted in the user's usage ledger as jobs are admitted: deleting a job does not give them back; a resume on a later day counts what it still has to read.")
    user_max_pages_per_day: int = Field(0, alias="USER_MAX_PAGES_PER_DAY", ge=0, description="Pages one user may have read per UTC day (0: no limit).")
    admin_users: str = Field("", alias="ADMIN_USERS", description="Comma-separated signed-in users (Easy Auth names) who see every user's jobs in the Admin view; everyone else, `local` included, sees their own.")
    job_token_budget: int = Field(0, alias="JOB_TOKEN_BUDGET", ge=0, description="Most tokens one job may spend; past it the job stops and keeps what it finished (0: no limit).")

    @field_validator("azure_storage_queue")
    @classmethod
    def _valid_queue_name(cls, value: str) -> str:
        if not (3 <= len(value) <= QUEUE_NAME_MAX and QUEUE_NAME_RE.fullmatch(value)):
            raise ValueError(f"must be 3 to {QUEUE_NAME_MAX} lowercase letters, digits and single "
                             f"hyphens, starting and ending with a letter or digit (each user's queue adds "
                             f"15 characters to it; Azure allows 63)")
        return value

    @field_validator("backend", mode="before")
    @classmethod
    def _known_backend(cls, value: object) -> object:
        name = str(value or "auto").strip().lower()
        if name not in _BACKEND_NAMES:
            raise ValueError(f"Input should be {', '.join(repr(n) for n in sorted(_BACKEND_NAMES))}")
        return name

    @field_validator("trust_principal_headers", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    # Why this process must not start jobs (see `startup_settings`); None when the configuration is good.
    _startup_problem: str | None = PrivateAttr(default=None)

    @field_validator("*", mode="before")
    @classmethod
    def _no_unresolved_key_vault_reference(cls, value: Any) -> Any:
        """A value still reading `@Microsoft.KeyVault(...)` is App Service saying it could not read
        the secret: refuse it (it must never be sent as a key or password) and say where to look."""
        if isinstance(value, str) and value.strip().lower().startswith(KEY_VAULT_REFERENCE_PREFIX):
            raise ValueError(KEY_VAULT_UNRESOLVED)
        return value

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.backend == "openai" and not self.openai_api_key and not self.openai_base_url:
            raise ValueError("LLM_BACKEND=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)")
        if self.backend == "azure" and not (self.azure_openai_endpoint and self.azure_openai_deployment):
            raise ValueError("LLM_BACKEND=azure needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT")
        if self.job_store == "azure" and not (self.azure_storage_connection_string or self.azure_storage_account_url):
            raise ValueError("JOB_STORE=azure needs AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL")
        if (self.smtp_host or "").strip().lower() == ACS_SMTP_HOST and self.smtp_from == DEFAULT_SMTP_FROM:
            raise ValueError("SMTP_FROM must be set for Azure Communication Services: it sends only from a MailFrom "
                             "address of a domain connected to the resource (e.g. DoNotReply@<domain>)")
        if self.email_link_over_mb < self.email_zip_over_mb:
            raise ValueError("EMAIL_LINK_OVER_MB must be at least EMAIL_ZIP_OVER_MB")
        parse_price_table(self.model_prices)  # raises ValueError naming the bad entry
        return self

    @property
    def startup_problem(self) -> str | None:
        """One line saying why job creation is disabled (names the variable, never its value), or None."""
        return self._startup_problem

    def is_admin(self, user: str) -> bool:
        """A name listed in ADMIN_USERS. `local` is the one user of a local install, not an
        administrator of a shared one, so it is an admin only when listed like anyone else."""
        return user.strip().lower() in set(_names(self.admin_users, lower=True))

    @property
    def principal_headers_trusted(self) -> bool:
        """Whether the Easy Auth principal headers name the user (see policy_reader/auth.py)."""
        if self.trust_principal_headers is not None:
            return self.trust_principal_headers
        return self.website_auth_enabled

    @property
    def allowed_model_list(self) -> list[str]:
        """ALLOWED_MODELS as a list (the provider registry puts the configured model first)."""
        return _names(self.allowed_models)

    @property
    def email_allowed_domain_list(self) -> list[str]:
        return [name.lstrip("@.") for name in _names(self.email_allowed_domains, lower=True)]

    @property
    def email_mode(self) -> Literal["smtp", "outbox"]:
        return "smtp" if self.smtp_host else "outbox"

    def secrets(self) -> list[str]:
        """Every secret value, so callers can scrub them from any text (logs, errors, files)."""
        out = []
        for value in (self.openai_api_key, self.azure_openai_api_key, self.smtp_password,
                      self.webhook_secret, self.azure_storage_connection_string):
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        for url in (self.openai_base_url, self.azure_openai_endpoint, self.webhook_url):
            out.extend(url_credentials(url))
        return out

    def summary(self) -> dict[str, str]:
        """A start-up summary safe to print: no secret, only whether one is set. The backend, model and
        endpoint lines come from the provider (policy_reader.llm.providers.summary)."""
        return {
            "api key": "set" if (self.openai_api_key or self.azure_openai_api_key) else "not set",
            "job store": self.job_store,
            "jobs folder": str(self.jobs_dir.resolve()),
            "email": f"smtp {self.smtp_host}:{self.smtp_port} ({self.smtp_security})" if self.smtp_host else "outbox (.eml files in each job)",
            "ocr": "on" if self.ocr_enabled else "off",
        }


def _names(text: str, *, lower: bool = False) -> list[str]:
    """A comma-separated setting as a list of its non-empty, stripped items."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return [item.lower() for item in items] if lower else items


_URL_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def mask_url_credentials(url: str) -> str:
    """`https://user:pass@host/v1` -> `https://***@host/v1`: a URL as it may be printed or shown."""
    return _URL_USERINFO.sub(r"\1***@", url or "")


def url_credentials(url: str | None) -> list[str]:
    """The user-info of a URL (and its password, raw and decoded), as secrets to scrub."""
    match = _URL_USERINFO.match(url or "")
    if not match or not match.group(2):
        return []
    userinfo = match.group(2)
    password = userinfo.partition(":")[2]
    found = [userinfo, password, unquote(password)]
    return [item for item in dict.fromkeys(found) if item]


def scrub(text: str, settings: "Settings | None" = None) -> str:
    """Replace every configured secret in `text` by '***'."""
    settings = settings or load_settings()
    for secret in settings.secrets():
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def load_settings(**overrides: object) -> Settings:
    """Read and validate the configuration. Raises ConfigError with a readable, secret-free message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            loc = [str(p) for p in err.get("loc", ())]
            field = Settings.model_fields.get(loc[0]) if loc else None
            where = (field.alias if field and field.alias else ".".join(loc))
            problems.append(f"{where}: {msg}" if where else msg)
        raise ConfigError("Invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached). Tests build their own with load_settings(...)."""
    return load_settings()


# --------------------------------------------------------------------------- start-up check

def jobs_dir_problem(settings: Settings) -> str | None:
    """Why the file store's jobs folder cannot be used (created and written), or None."""
    if settings.job_store != "file":
        return None
    folder = settings.jobs_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return (f"JOBS_DIR: the jobs folder is not writable ({exc.strerror or type(exc).__name__}). Set JOBS_DIR "
                "to a writable folder (on Azure App Service: under /home).")
    return None


_jobs_dir_checked: dict[Path, str | None] = {}
_logged_problems: set[str] = set()


def startup_settings() -> Settings:
    """The app's settings, never raising: with a bad or missing setting, an unresolved Key Vault
    reference or an unusable jobs folder, safe stand-in settings whose `startup_problem` says why.

    App Service ignores a start command that exits non-zero and shows its own error page, so a
    configuration error must not stop the app: it starts, shows the one-line reason on the page and
    in the log, and refuses to create or run jobs (`JobManager` checks `startup_problem`). The
    stand-in keeps every valid setting and resets only the broken ones, so no broken value (such as
    a Key Vault reference text) is ever used.
    """
    try:
        settings = get_settings()
    except ConfigError as exc:
        return _with_problem(_stand_in_settings(), exc.message)
    folder = settings.jobs_dir.resolve() if settings.job_store == "file" else None
    if folder is not None:
        if folder not in _jobs_dir_checked:
            _jobs_dir_checked[folder] = jobs_dir_problem(settings)
        problem = _jobs_dir_checked[folder]
        if problem:
            stand_in = settings.model_copy(update={"jobs_dir": Path(tempfile.gettempdir()) / "policy-reader-unavailable"})
            return _with_problem(stand_in, problem)
    return settings


def _with_problem(settings: Settings, problem: str) -> Settings:
    settings._startup_problem = problem
    if problem not in _logged_problems:  # once per process: the log stream shows it at start-up
        _logged_problems.add(problem)
        log.error("Policy Reader cannot start jobs: %s", problem)
    return settings


def _stand_in_settings() -> Settings:
    """Settings from the environment with every invalid setting reset to its default (and, for a
    rule across settings, the backend to offline and the store to file)."""
    names = {(field.alias or name).lower(): name for name, field in Settings.model_fields.items()}
    names.update({name: name for name in Settings.model_fields})
    reset: dict[str, Any] = {}
    for _ in range(3):
        try:
            return Settings(**reset)
        except ValidationError as exc:
            for err in exc.errors():
                loc = err.get("loc") or ()
                name = names.get(str(loc[0]).lower(), "") if loc else ""  # errors name the env variable
                if name:
                    reset[name] = Settings.model_fields[name].get_default(call_default_factory=True)
                else:  # a rule across settings (`_check`): fall back on the defaults it involves
                    reset.update({name: Settings.model_fields[name].get_default() for name in
                                  ("backend", "job_store", "smtp_host", "email_zip_over_mb", "email_link_over_mb")},
                                 backend="offline")
    return Settings.model_construct()


def settings_markdown_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is None:
            shown = ""
        elif isinstance(default, Path):
            shown = f"`{default}`"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{field.alias or name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}
