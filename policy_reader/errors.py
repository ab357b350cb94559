"""Error types. Each is caught at the boundary that can report it to the user.

Every message is written for the analyst or operator who will read it: it says what
went wrong and, where possible, what to do. No message ever contains a secret.
"""
from __future__ import annotations


class PolicyReaderError(Exception):
    """Base class: anything the product reports to a user as a clear, specific message."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(PolicyReaderError):
    """The configuration (environment, .env, secrets) is wrong. Fatal at start-up."""

    code = "config"


class PdfError(PolicyReaderError):
    """One document could not be read. `code` is one of: empty, not_pdf, corrupt, encrypted,
    wrong_password, too_large, too_many_pages, no_text, ocr_unavailable, timeout, unreadable."""

    code = "unreadable"


class VariablesError(PolicyReaderError):
    """The variables file or table is invalid. The message names the row."""

    code = "variables"


class ReviewRefused(VariablesError):
    """An analyst's correction does not fit the variable's type (several numbers for a number, a word
    that is not one of the options...). Nothing was saved; the message says why and what to type."""

    code = "review_refused"


class LlmError(PolicyReaderError):
    """A model call failed after its retries (or cannot be retried). Codes: auth, rate_limit,
    server, timeout, bad_response, truncated, config, connection."""

    code = "llm"


class EmailError(PolicyReaderError):
    """Email could not be built or delivered. Codes: address, domain, header, transient, permanent, config."""

    code = "email"


class JobError(PolicyReaderError):
    """A job operation is invalid (unknown id, not the owner, wrong state)."""

    code = "job"


class JobNotFound(JobError):
    code = "not_found"


class JobDamaged(JobError):
    """A job's own files cannot be read (a torn or edited state or manifest): the job cannot run, and
    says so; it can still be deleted."""

    code = "damaged"


class StorageError(JobError):
    """The jobs folder refused a write (disk full, read-only, quota). Nothing half-written is kept."""

    code = "storage"


def storage_error(exc: OSError, doing: str) -> StorageError:
    """One sentence an analyst or operator can act on, e.g. for ENOSPC "the disk is full"."""
    import errno

    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the storage quota is used up",
               errno.EROFS: "the storage is read-only", errno.EACCES: "the app may not write there",
               errno.EPERM: "the app may not write there"}
    reason = reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return StorageError(f"Could not {doing}: {reason}. Free space or fix the jobs folder (JOBS_DIR), then try "
                        f"again; nothing already finished is lost.")


class LimitExceeded(JobError):
    """A per-user limit was hit; the message says which and when it resets."""

    code = "limit"


class SignInRequired(PolicyReaderError):
    """Behind Easy Auth, a request arrived without a signed-in user: it is refused, never `local`."""

    code = "sign_in"


class GoldError(PolicyReaderError):
    """A gold-set file (known answers to measure accuracy against) cannot be used. The message names the
    row. Codes: gold, empty, too_large, no_match."""

    code = "gold"
