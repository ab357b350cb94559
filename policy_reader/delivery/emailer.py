"""Email delivery of a finished job: the answers (HTML + plain text) with the results attached.

Why it looks like this:
- Recipients read results in their mailbox, so the message must stand on its own: the answers,
  what needs review and why, what failed and why, and where to find the job. What the body
  says is `email_body.py`; this module addresses, attaches and delivers it.
- Mail is a copy, never the only home of the results: a failure here raises a typed `EmailError`
  that the job manager records on the job (the UI offers "send again"); nothing is lost.
- Without SMTP configured the message is written as a standard `.eml` file into the job's outbox,
  so the same message can be downloaded and forwarded by hand.
- Untrusted text (job names, file names, error messages) reaches headers and HTML: addresses with
  line breaks are rejected, the subject is sanitised, the HTML is escaped.
- The SMTP password never appears in an error, a log line or the message.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import logging
import re
import smtplib
import socket
import ssl
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from policy_reader.config import Settings, scrub
from policy_reader.delivery.email_body import (  # noqa: F401 - EmailSummary and render_summary_text stay importable from here
    BodyLimits,
    EmailSummary,
    build_subject,
    render_body,
    render_summary_text,
)
from policy_reader.delivery.email_body import one_line as _one_line
from policy_reader.errors import EmailError
from policy_reader.fsio import atomic_write_bytes
from policy_reader.untrusted import strip_invisible

log = logging.getLogger(__name__)

MB = 1024 * 1024

_MIME_TYPES = {
    ".csv": ("text", "csv"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".json": ("application", "json"),
    ".zip": ("application", "zip"),
    ".pdf": ("application", "pdf"),
}
# Control characters plus the Unicode line/paragraph separators some mail clients treat as breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class DeliveryReport:
    """How a message was delivered. `refused` lists recipients the server turned down while
    accepting the others (the message still went out, so "send again" is not needed for them)."""

    mode: Literal["smtp", "outbox"]
    path: str | None
    attempts: int
    message_id: str
    refused: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- addresses


def validate_recipients(addresses: Iterable[str], *, allowed_domains: Iterable[str] = (),
                        max_recipients: int | None = None) -> list[str]:
    """Check and normalise recipient addresses; one entry may hold several separated by ',' or ';'.

    A practical check, not RFC 5322: relays reject exotic forms anyway, and a clear message
    naming the bad address at submission is worth more than accepting everything.
    Raises EmailError(code="header") for line breaks / control characters (header injection),
    EmailError(code="domain") for a domain outside `allowed_domains` (EMAIL_ALLOWED_DOMAINS; a
    domain allows its subdomains; empty allows any) and EmailError(code="address") for anything
    else. Duplicates are dropped (case-insensitive). More than `max_recipients` addresses (EMAIL_MAX_RECIPIENTS)
    is EmailError(code="recipients"): a job's email is a copy of its results for a few people, and a job
    with thousands of recipients would turn the organisation's sender into a relay for whoever signs in.
    """
    domains = [d.strip().lower().lstrip("@.") for d in allowed_domains if d and d.strip()]
    addresses = list(addresses)  # read twice when there are too many (to say how many)
    out: list[str] = []
    seen: set[str] = set()
    for entry in addresses:
        if not isinstance(entry, str):
            raise EmailError(f"Recipient {entry!r} is not a text address.", code="address")
        _reject_control_chars(entry, "Recipient address")
        for part in re.split(r"[,;]", entry):
            address = part.strip()
            if not address:
                continue
            _check_address(address)
            _check_domain(address, domains)
            if address.lower() not in seen:
                seen.add(address.lower())
                out.append(address)
                if max_recipients is not None and len(out) > max_recipients:
                    raise EmailError(_too_many(addresses, max_recipients), code="recipients")
    return out


def _too_many(addresses: Iterable[str], cap: int) -> str:
    count = sum(1 for entry in addresses if isinstance(entry, str)
                for part in re.split(r"[,;]", entry) if part.strip())
    return (f"This job has {count:,} email recipients; at most {cap} are allowed (EMAIL_MAX_RECIPIENTS). "
            f"Send the results to a team address, or share the downloads instead.")


def _check_domain(address: str, domains: list[str]) -> None:
    if not domains:
        return
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if not any(domain == allowed or domain.endswith("." + allowed) for allowed in domains):
        raise EmailError(f"Results cannot be emailed to {address!r}: this site only emails addresses at "
                         f"{', '.join(domains)} (EMAIL_ALLOWED_DOMAINS).", code="domain")


def _reject_control_chars(value: str, what: str) -> None:
    if _CONTROL.search(value):
        raise EmailError(f"{what} {value!r} contains a line break or control character; "
                         "remove it and try again.", code="header")


def _check_address(address: str) -> None:
    """Raise EmailError(code="address") naming `address` and what is wrong with it."""
    problem = _address_problem(address)
    if problem:
        raise EmailError(f"Invalid email address {address!r}: {problem}.", code="address")


def _address_problem(address: str) -> str | None:
    if len(address) > 254:
        return "it is longer than 254 characters"
    if any(ch.isspace() for ch in address):
        return "it contains a space"
    if not address.isascii():
        return "it contains non-ASCII characters (use the ASCII form of the domain)"
    if address.count("@") != 1:
        return "it must contain exactly one @"
    local, domain = address.split("@")
    if not local:
        return "the part before @ is empty"
    if len(local) > 64:
        return "the part before @ is longer than 64 characters"
    if not _LOCAL_PART.match(local):
        return "the part before @ has characters or dots that mail servers do not accept"
    if domain.lower() != "localhost":
        labels = domain.split(".")
        if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
            return f"the domain {domain!r} is not valid (expected something like example.org)"
    if parseaddr(address) != ("", address):
        return "it is not a plain address (remove quotes, brackets and names)"
    return None


def _sender(settings: Settings) -> tuple[str, str]:
    """(From header, envelope sender) from SMTP_FROM, which may be 'Name <addr>'."""
    _reject_control_chars_config(settings.smtp_from)
    name, addr = parseaddr(settings.smtp_from)
    problem = _address_problem(addr) if addr else "it is empty"
    if problem:
        raise EmailError(f"SMTP_FROM {settings.smtp_from!r} is not a valid address: {problem}.",
                         code="config")
    return (formataddr((name, addr)) if name else addr), addr


def _reject_control_chars_config(value: str) -> None:
    if _CONTROL.search(value):
        raise EmailError("SMTP_FROM contains a line break or control character.", code="config")


# --------------------------------------------------------------------------- content


def job_link(settings: Settings, job_id: str) -> str | None:
    """The job page in the app, when APP_PUBLIC_URL is configured."""
    if not settings.public_url:
        return None
    return f"{settings.public_url.rstrip('/')}/?job={quote(job_id, safe='')}"


@dataclass(frozen=True)
class _AttachmentPlan:
    """What goes into the message: the files as given, one zip, or nothing but a link."""

    kind: Literal["attached", "zipped", "link", "none"]
    files: dict[str, bytes]
    original_names: tuple[str, ...]
    total_bytes: int


def _safe_filename(name: str) -> str:
    base = re.split(r"[\\/]", str(name))[-1]
    base = strip_invisible(base).strip().strip(".") or "attachment"
    return base[:120]


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug[:60] or "policy-reader"


def _zip(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _plan_attachments(settings: Settings, summary: EmailSummary,
                      attachments: Mapping[str, bytes]) -> _AttachmentPlan:
    """Attach as is up to EMAIL_ZIP_OVER_MB in total, zip above it, and link instead of
    attaching when what would be attached (after zipping) is over EMAIL_LINK_OVER_MB:
    relays cap message size (often 10-25 MB, base64 adds a third), so big results stay in the app."""
    files = {_safe_filename(name): bytes(data) for name, data in attachments.items()}
    total = sum(len(data) for data in files.values())
    names = tuple(files)
    if not files:
        return _AttachmentPlan("none", {}, names, 0)
    payload = files
    kind: Literal["attached", "zipped"] = "attached"
    if total > settings.email_zip_over_mb * MB:
        payload = {f"{_slug(summary.job_name)}-results.zip": _zip(files)}
        kind = "zipped"
    if sum(len(data) for data in payload.values()) > settings.email_link_over_mb * MB:
        return _AttachmentPlan("link", {}, names, total)
    return _AttachmentPlan(kind, payload, names, total)


def _everything_in(plan: _AttachmentPlan) -> str:
    """Where a reader finds what the body left out."""
    if plan.kind == "attached":
        return "the attached files"
    if plan.kind == "zipped":
        return "the attached zip file"
    return "the results in Policy Reader"


def _attachment_note(settings: Settings, plan: _AttachmentPlan, url: str | None) -> str:
    where = (f"Download them from the job page: {url}" if url
             else "Open this job in Policy Reader to download them.")
    if plan.kind == "attached":
        return "The results are attached: " + ", ".join(plan.files) + "."
    if plan.kind == "zipped":
        zip_name = next(iter(plan.files))
        return (f"The results ({', '.join(plan.original_names)}) are attached as one zip file, "
                f"{zip_name}, because together they are larger than {settings.email_zip_over_mb:g} MB.")
    if plan.kind == "link":
        return (f"The results are too large to attach ({plan.total_bytes / MB:.1f} MB, the limit is "
                f"{settings.email_link_over_mb:g} MB). " + where)
    return "The results are in Policy Reader. " + where


def _summary_with_link(settings: Settings, summary: EmailSummary) -> EmailSummary:
    if summary.job_url:
        return summary
    url = job_link(settings, summary.job_id)
    if not url:
        return summary
    return dataclasses.replace(summary, job_url=url)


def build_message(settings: Settings, summary: EmailSummary, recipients: Iterable[str],
                  attachments: Mapping[str, bytes], *, message_id: str | None = None) -> EmailMessage:
    """The complete message: subject, text + HTML alternative, attachments (or zip, or link),
    Date and Message-ID. Pure: no network, no files."""
    to = validate_recipients(recipients)
    if not to:
        raise EmailError("No recipient address was given.", code="address")
    from_header, from_addr = _sender(settings)
    summary = _summary_with_link(settings, summary)
    plan = _plan_attachments(settings, summary, attachments)
    note = _attachment_note(settings, plan, summary.job_url)

    msg = EmailMessage()
    msg["Subject"] = build_subject(summary)
    msg["From"] = from_header
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain=from_addr.split("@")[1])
    msg["Auto-Submitted"] = "auto-generated"
    # quoted-printable: 7-bit safe through any relay, whether or not it offers 8BITMIME
    body = render_body(summary, BodyLimits.from_settings(settings), attachment_note=note,
                       everything_in=_everything_in(plan))
    msg.set_content(body.text, cte="quoted-printable")
    msg.add_alternative(body.html, subtype="html", cte="quoted-printable")
    for name, data in plan.files.items():
        maintype, subtype = _MIME_TYPES.get(Path(name).suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


# --------------------------------------------------------------------------- delivery


def send_job_email(settings: Settings, summary: EmailSummary, recipients: Iterable[str],
                   attachments: Mapping[str, bytes], outbox_dir: Path, *,
                   message_id: str | None = None) -> DeliveryReport:
    """Deliver the job email by SMTP (with retries), or write it to `outbox_dir` as .eml when
    no SMTP host is configured. Raises EmailError(code="address"|"header"|"config"|"permanent"|
    "transient"); the message never contains the SMTP password."""
    recipients = validate_recipients(recipients)
    msg = build_message(settings, summary, recipients, attachments, message_id=message_id)
    message_id = str(msg["Message-ID"])
    if settings.email_mode == "outbox":
        path = _write_outbox(msg, summary.job_id, Path(outbox_dir))
        log.info("email for job %s written to the outbox: %s", summary.job_id, path)
        return DeliveryReport("outbox", str(path), 1, message_id)
    outcomes = list(deliver_to_each(settings, msg, recipients, {recipients[0]: message_id}))
    sent = [o for o in outcomes if o.status == "sent"]
    if not sent:
        last = outcomes[-1]
        raise EmailError(last.error or "The email could not be sent.", code=last.code or "permanent") from None
    log.info("email for job %s delivered to %d of %d recipient(s) via %s:%s", summary.job_id, len(sent),
             len(outcomes), settings.smtp_host, settings.smtp_port)
    return DeliveryReport("smtp", None, max(o.attempts for o in outcomes), sent[0].message_id,
                          tuple(o.address for o in outcomes if o.status != "sent"))


@dataclass(frozen=True)
class RecipientOutcome:
    """What happened to one recipient's own copy of the message."""

    address: str
    status: Literal["sent", "failed"]
    message_id: str
    attempts: int = 0
    error: str | None = None
    code: str | None = None


def deliver_to_each(settings: Settings, msg: EmailMessage, recipients: Sequence[str],
                    message_ids: Mapping[str, str] | None = None,
                    before: Callable[[str, str], None] | None = None) -> Iterator[RecipientOutcome]:
    """Send `msg` to each recipient on its own: a message whose To is that one address (and its own
    Message-ID, from `message_ids` or new), so no recipient ever sees another's address.

    Yields each outcome as it is known, so the caller records it before the next one goes out; `before(address,
    message_id)` runs just before each send (the caller records the intent: a sender that dies mid-way then
    knows who has theirs). A failure of the connection itself (config, transient after retries) is not tried
    again for every remaining recipient: they fail with the same error."""
    _, from_addr = _sender(settings)
    domain = from_addr.split("@")[1]
    stop: EmailError | None = None
    for address in recipients:
        message_id = (message_ids or {}).get(address) or make_msgid(domain=domain)
        if stop is not None:
            yield RecipientOutcome(address, "failed", message_id, 0, stop.message, stop.code)
            continue
        del msg["To"], msg["Message-ID"]
        msg["To"] = address
        msg["Message-ID"] = message_id
        if before is not None:
            before(address, message_id)
        try:
            refused, attempts = _send_with_retries(settings, msg, [address])
        except EmailError as exc:
            if exc.code in ("config", "transient"):
                stop = exc
            yield RecipientOutcome(address, "failed", message_id, settings.smtp_max_attempts, exc.message, exc.code)
            continue
        if refused:
            yield RecipientOutcome(address, "failed", message_id, attempts,
                                   f"The mail server refused {address}.", "permanent")
        else:
            yield RecipientOutcome(address, "sent", message_id, attempts)


def _write_outbox(msg: EmailMessage, job_id: str, outbox_dir: Path) -> Path:
    """A new file per send (never overwrite an earlier one: "send again" keeps both). Names sort in sending
    order (microseconds in the stamp): the app offers the last one as "the email", even after a quick resend."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = outbox_dir / f"{stamp}-{_slug(job_id)}-{uuid.uuid4().hex[:8]}.eml"
    atomic_write_bytes(path, msg.as_bytes(policy=SMTP_POLICY))
    return path


def _send_with_retries(settings: Settings, msg: EmailMessage,
                       recipients: list[str]) -> tuple[list[str], int]:
    """Try up to SMTP_MAX_ATTEMPTS times, backing off exponentially on transient failures only."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    last: EmailError | None = None
    for attempt in range(1, settings.smtp_max_attempts + 1):
        try:
            refused = _deliver_once(settings, msg, recipients)
            return refused, attempt
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed EmailError
            error = _classify(exc, settings)
        if error.code != "transient":
            raise error from None
        last = error
        log.warning("email attempt %d/%d to %s failed: %s", attempt, settings.smtp_max_attempts,
                    where, error.message)
        if attempt < settings.smtp_max_attempts:
            time.sleep(min(settings.smtp_retry_base_s * 2 ** (attempt - 1), 300.0))
    assert last is not None
    raise EmailError(f"Could not deliver the email via {where} after "
                     f"{settings.smtp_max_attempts} attempts: {last.message} "
                     "The results are safe in the app; use \"send again\" later.",
                     code="transient") from None


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """System CAs plus SMTP_CA_FILE. Verification is never switched off."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file:
        try:
            context.load_verify_locations(cafile=str(settings.smtp_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise EmailError(f"SMTP_CA_FILE {str(settings.smtp_ca_file)!r} could not be read as a "
                             f"PEM certificate ({type(exc).__name__}).", code="config") from None
    return context


def _deliver_once(settings: Settings, msg: EmailMessage, recipients: list[str]) -> list[str]:
    """One connection: connect, secure, log in, send. Returns the refused recipients."""
    host, port, timeout = settings.smtp_host or "", settings.smtp_port, settings.smtp_timeout_s
    if settings.smtp_username and not settings.smtp_password:
        raise EmailError("SMTP_USERNAME is set but SMTP_PASSWORD is empty.", code="config")
    if settings.smtp_security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                 context=_tls_context(settings))
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        client.set_debuglevel(0)  # debug output would print the AUTH exchange
        client.ehlo()
        if settings.smtp_security == "starttls":
            if not client.has_extn("starttls"):
                raise EmailError(f"The SMTP server {host}:{port} does not offer STARTTLS; refusing to "
                                 "send in clear text. Check SMTP_PORT / SMTP_SECURITY "
                                 "(587 starttls, 465 ssl).", code="config")
            client.starttls(context=_tls_context(settings))
            client.ehlo()
        if settings.smtp_username:
            if settings.smtp_security == "none":
                log.warning("SMTP login over an unencrypted connection (SMTP_SECURITY=none)")
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            client.login(settings.smtp_username, password)
        _, from_addr = _sender(settings)
        refused = client.send_message(msg, from_addr=from_addr, to_addrs=recipients)
        return sorted(refused)
    finally:
        _close(client)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        client.close()


def _reply_text(exc: smtplib.SMTPResponseException, settings: Settings) -> str:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{exc.smtp_code} {_redact(_one_line(text), settings)[:200]}".strip()


def _redact(text: str, settings: Settings) -> str:
    """Remove the password, also in the base64 forms an AUTH exchange could echo back."""
    text = scrub(text, settings)
    if settings.smtp_password:
        password = settings.smtp_password.get_secret_value()
        user = settings.smtp_username or ""
        for form in (password, f"\0{user}\0{password}"):
            encoded = base64.b64encode(form.encode()).decode()
            if len(encoded) >= 4:
                text = text.replace(encoded, "***")
    return text


def _kind(code: int) -> Literal["transient", "permanent"]:
    return "transient" if 400 <= code < 500 else "permanent"


def _classify(exc: BaseException, settings: Settings) -> EmailError:
    """Map a delivery exception to an EmailError; only code "transient" is retried."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if isinstance(exc, EmailError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        code = _kind(exc.smtp_code)
        return EmailError(f"SMTP login to {where} failed ({exc.smtp_code}): the server rejected the "
                          "user name or password. Check SMTP_USERNAME and SMTP_PASSWORD.", code=code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return EmailError(f"The SMTP server {where} does not support login (AUTH) on this connection. "
                          "Most relays need SMTP_SECURITY=starttls (port 587) or ssl (465).",
                          code="config")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        items = sorted(exc.recipients.items())
        codes = [code for _, (code, _) in items]
        detail = "; ".join(f"{addr}: {code} {_redact(_one_line(_decode(resp)), settings)[:120]}"
                           for addr, (code, resp) in items)
        kind = "transient" if codes and all(400 <= c < 500 for c in codes) else "permanent"
        return EmailError(f"The SMTP server {where} refused the recipients: {detail}", code=kind)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return EmailError(f"The SMTP server {where} refused the sender {exc.sender!r}: "
                          f"{_reply_text(exc, settings)}. Check SMTP_FROM (relays accept only "
                          "verified senders).", code=_kind(exc.smtp_code))
    if isinstance(exc, smtplib.SMTPResponseException):
        return EmailError(f"The SMTP server {where} replied {_reply_text(exc, settings)}",
                          code=_kind(exc.smtp_code))
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        return EmailError(f"The SMTP server {where} did not answer within "
                          f"{settings.smtp_timeout_s:g} s.", code="transient")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return EmailError(f"The SMTP server {where} closed the connection unexpectedly.",
                          code="transient")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return EmailError(f"The TLS certificate of {where} could not be verified "
                          f"({_one_line(exc.verify_message or 'verification failed')}). "
                          "Use the server's real host name, or set SMTP_CA_FILE for a private CA.",
                          code="config")
    if isinstance(exc, ssl.SSLError):
        return EmailError(f"TLS with {where} failed ({_one_line(exc.reason or type(exc).__name__)}). "
                          "Check that SMTP_SECURITY matches SMTP_PORT (465 ssl, 587 starttls).",
                          code="config")
    if isinstance(exc, socket.gaierror):
        return EmailError(f"The SMTP host {settings.smtp_host!r} could not be resolved.",
                          code="transient")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return EmailError(f"The SMTP server {where} did not answer within "
                          f"{settings.smtp_timeout_s:g} s.", code="transient")
    if isinstance(exc, ConnectionRefusedError):
        return EmailError(f"Connection to the SMTP server {where} was refused (is it running?).",
                          code="transient")
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        return EmailError(f"Connection to the SMTP server {where} failed: "
                          f"{_redact(_one_line(str(exc)), settings)[:200]}", code="transient")
    if isinstance(exc, UnicodeEncodeError):
        # smtplib sends login data as ASCII; the exception object would hold the password
        return EmailError("SMTP_USERNAME or SMTP_PASSWORD contains non-ASCII characters, which "
                          "SMTP login cannot send.", code="config")
    return EmailError(f"Sending the email via {where} failed unexpectedly ({type(exc).__name__}).",
                      code="permanent")


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
