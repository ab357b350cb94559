"""Email delivery through a real SMTP server (aiosmtpd on 127.0.0.1) and the .eml outbox."""
from __future__ import annotations

import csv
import io
import logging
import time
import zipfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import openpyxl
import pytest

from policy_reader.config import load_settings
from policy_reader.emailer import (
    EmailSummary,
    build_message,
    render_summary_text,
    send_job_email,
    validate_recipients,
)
from policy_reader.errors import EmailError
from policy_reader.models import Usage
from tests.fixtures.smtp_server import SMTP_TEST_FROM, SMTP_TEST_PASSWORD, SMTP_TEST_USER

MB = 1024 * 1024
ROWS = [
    ("document", "variable", "value", "page"),
    ("climate-plan.pdf", "year adopted", "2021", "3"),
    ("climate-plan.pdf", "emission target %", "55", "7"),
    ("adaptation.pdf", "covers adaptation?", "yes", "1"),
]


def results_files() -> dict[str, bytes]:
    """The CSV and Excel attachments, made here (the email does not depend on export.py)."""
    text = io.StringIO()
    csv.writer(text).writerows(ROWS)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Results"
    for row in ROWS:
        sheet.append(list(row))
    xlsx = io.BytesIO()
    book.save(xlsx)
    return {"results.csv": text.getvalue().encode("utf-8"), "results.xlsx": xlsx.getvalue()}


def summary(**changes: object) -> EmailSummary:
    values: dict[str, object] = dict(
        job_id="job-20240101-abc123", job_name="Climate laws Q3", status="completed",
        documents_total=3, documents_ok=2, failed=[("scan.pdf", "The PDF is encrypted; give its password.")],
        needs_review=4,
        usage=Usage(calls=6, prompt_tokens=123456, cached_prompt_tokens=1000, completion_tokens=7890, cost_usd=0.0234),
        job_url=None)
    values.update(changes)
    return EmailSummary(**values)  # type: ignore[arg-type]


def parts(msg: EmailMessage) -> tuple[str, str, dict[str, bytes]]:
    """(plain text, html, {attachment name: bytes}) of a parsed message."""
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    return text, html, files


def parse_eml(path: Path) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())  # type: ignore[return-value]


# --------------------------------------------------------------------------- plain SMTP


def test_plain_send_reaches_every_recipient(smtp_server, tmp_path):
    report = send_job_email(smtp_server.settings(), summary(), ["ana@example.org", "Ben@Example.org; cy@localhost"],
                            results_files(), tmp_path / "outbox")

    assert report.mode == "smtp" and report.path is None and report.attempts == 1
    [received] = smtp_server.messages
    assert received.mail_from == SMTP_TEST_FROM
    assert received.rcpt_tos == ["ana@example.org", "Ben@Example.org", "cy@localhost"]
    msg = received.parsed()
    assert msg["Message-ID"] == report.message_id
    assert msg["To"] == "ana@example.org, Ben@Example.org, cy@localhost"
    assert not (tmp_path / "outbox").exists()


def test_message_has_summary_alternatives_and_openable_attachments(smtp_server, tmp_path):
    settings = smtp_server.settings(APP_PUBLIC_URL="https://reader.example.org/")
    files = results_files()
    send_job_email(settings, summary(), ["ana@example.org"], files, tmp_path)

    msg = smtp_server.messages[0].parsed()
    assert "Climate laws Q3" in msg["Subject"] and "completed" in msg["Subject"]
    assert msg["Date"] and msg["Message-ID"]
    assert msg.get_content_type() == "multipart/mixed"
    alternative = next(p for p in msg.iter_parts() if p.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]

    text, html, attached = parts(msg)
    link = "https://reader.example.org/?job=job-20240101-abc123"
    for body in (text, html):
        assert "2 of 3" in body and "scan.pdf" in body and "The PDF is encrypted" in body
        assert "123,456" in body and "7,890" in body and "$0.0234" in body
        assert link in body
    assert "Answers needing review: 4" in text
    assert set(attached) == {"results.csv", "results.xlsx"}
    assert attached["results.csv"] == files["results.csv"]
    book = openpyxl.load_workbook(io.BytesIO(attached["results.xlsx"]))
    assert [tuple(row) for row in book["Results"].iter_rows(values_only=True)] == ROWS
    xlsx_part = next(p for p in msg.iter_attachments() if p.get_filename() == "results.xlsx")
    assert xlsx_part.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_no_link_without_public_url(smtp_server, tmp_path):
    send_job_email(smtp_server.settings(), summary(), ["ana@example.org"], results_files(), tmp_path)
    text, html, _ = parts(smtp_server.messages[0].parsed())
    assert "?job=" not in text and "href" not in html


# --------------------------------------------------------------------------- TLS and login


def test_starttls_with_login(smtp_server_starttls, tmp_path):
    report = send_job_email(smtp_server_starttls.settings(), summary(), ["ana@example.org"], results_files(), tmp_path)

    [received] = smtp_server_starttls.messages
    assert received.tls and received.auth_user == SMTP_TEST_USER
    assert received.parsed()["Message-ID"] == report.message_id


def test_implicit_tls_with_login(smtp_server_ssl, tmp_path):
    send_job_email(smtp_server_ssl.settings(), summary(), ["ana@example.org"], results_files(), tmp_path)
    [received] = smtp_server_ssl.messages
    assert received.tls and received.auth_user == SMTP_TEST_USER


def test_untrusted_certificate_is_a_config_error_not_retried(smtp_server_starttls, tmp_path):
    settings = smtp_server_starttls.settings(SMTP_CA_FILE=None)
    with pytest.raises(EmailError) as caught:
        send_job_email(settings, summary(), ["ana@example.org"], results_files(), tmp_path)
    assert caught.value.code == "config"
    assert "certificate" in caught.value.message and "SMTP_CA_FILE" in caught.value.message
    assert smtp_server_starttls.messages == [] and smtp_server_starttls.handler.auth_attempts == 0


def test_starttls_required_but_not_offered(smtp_server, tmp_path):
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server.settings(SMTP_SECURITY="starttls"), summary(), ["ana@example.org"], {}, tmp_path)
    assert caught.value.code == "config" and "STARTTLS" in caught.value.message
    assert smtp_server.messages == []


def test_wrong_password_is_permanent_and_never_shows_the_password(smtp_server_starttls, tmp_path, caplog, capsys):
    wrong = "n0t-the-Right-passw0rd"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server_starttls.settings(SMTP_PASSWORD=wrong), summary(), ["ana@example.org"],
                       results_files(), tmp_path)

    error = caught.value
    assert error.code == "permanent"
    assert "535" in error.message and "SMTP_PASSWORD" in error.message
    # one session only (smtplib tries PLAIN then LOGIN in it); retrying would triple this
    assert 1 <= smtp_server_starttls.handler.auth_attempts <= 2
    out = capsys.readouterr()
    for secret in (wrong, SMTP_TEST_PASSWORD):
        assert secret not in error.message and secret not in repr(error.args)
        assert secret not in caplog.text and secret not in out.out + out.err
    assert error.__cause__ is None and error.__suppress_context__
    assert smtp_server_starttls.messages == []


def test_login_refused_on_plain_connection_is_config_error(make_smtp_server, tmp_path):
    server = make_smtp_server(tls="none", auth=True)  # AUTH is offered only after TLS
    with pytest.raises(EmailError) as caught:
        send_job_email(server.settings(), summary(), ["ana@example.org"], {}, tmp_path)
    assert caught.value.code == "config" and "AUTH" in caught.value.message
    assert SMTP_TEST_PASSWORD not in caught.value.message


# --------------------------------------------------------------------------- failures and retries


def test_temporary_refusal_is_retried_then_delivered(smtp_server, tmp_path):
    smtp_server.handler.fail_next(2, "451 4.3.0 Try again later")
    report = send_job_email(smtp_server.settings(SMTP_MAX_ATTEMPTS=3), summary(), ["ana@example.org"],
                            results_files(), tmp_path)
    assert report.attempts == 3
    assert smtp_server.handler.data_attempts == 3
    [received] = smtp_server.messages
    assert received.parsed()["Message-ID"] == report.message_id


def test_temporary_refusals_exhaust_attempts_as_transient(smtp_server, tmp_path):
    smtp_server.handler.fail_always("451 4.3.0 Mailbox busy")
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server.settings(SMTP_MAX_ATTEMPTS=2), summary(), ["ana@example.org"], {}, tmp_path)
    assert caught.value.code == "transient"
    assert "after 2 attempts" in caught.value.message and "451" in caught.value.message
    assert smtp_server.handler.data_attempts == 2


def test_rejection_is_permanent_and_not_retried(smtp_server, tmp_path):
    smtp_server.handler.fail_always("550 5.7.1 Message rejected as spam")
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server.settings(), summary(), ["ana@example.org"], results_files(), tmp_path)
    assert caught.value.code == "permanent"
    assert "550" in caught.value.message and "rejected as spam" in caught.value.message
    assert smtp_server.handler.data_attempts == 1


def test_all_recipients_refused_names_them(smtp_server, tmp_path):
    smtp_server.handler.refuse_recipient("gone@example.org")
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server.settings(), summary(), ["gone@example.org"], {}, tmp_path)
    assert caught.value.code == "permanent" and "gone@example.org" in caught.value.message


def test_some_recipients_refused_are_reported_and_others_get_the_mail(smtp_server, tmp_path):
    smtp_server.handler.refuse_recipient("gone@example.org")
    report = send_job_email(smtp_server.settings(), summary(), ["ana@example.org", "gone@example.org"], {}, tmp_path)
    assert report.refused == ("gone@example.org",)
    assert smtp_server.messages[0].rcpt_tos == ["ana@example.org"]


def test_server_down_is_transient_after_retries(closed_smtp_port, tmp_path):
    settings = load_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=closed_smtp_port, SMTP_SECURITY="none",
                             SMTP_MAX_ATTEMPTS=3, SMTP_RETRY_BASE_S=0.05)
    started = time.monotonic()
    with pytest.raises(EmailError) as caught:
        send_job_email(settings, summary(), ["ana@example.org"], results_files(), tmp_path / "outbox")
    waited = time.monotonic() - started
    error = caught.value
    assert error.code == "transient"
    assert f"127.0.0.1:{closed_smtp_port}" in error.message
    assert "after 3 attempts" in error.message and "refused" in error.message
    assert waited >= 0.05 + 0.1  # backoff 0.05 then 0.1 between the three attempts
    assert not (tmp_path / "outbox").exists()


def test_silent_server_times_out_as_transient(silent_smtp_port, tmp_path):
    settings = load_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=silent_smtp_port, SMTP_SECURITY="none",
                             SMTP_TIMEOUT_S=0.3, SMTP_MAX_ATTEMPTS=2, SMTP_RETRY_BASE_S=0.01)
    with pytest.raises(EmailError) as caught:
        send_job_email(settings, summary(), ["ana@example.org"], {}, tmp_path)
    assert caught.value.code == "transient" and "did not answer within 0.3 s" in caught.value.message


# --------------------------------------------------------------------------- size limits


def test_attachments_over_first_limit_are_zipped(smtp_server, tmp_path):
    files = results_files()
    total = sum(len(b) for b in files.values())
    settings = smtp_server.settings(EMAIL_ZIP_OVER_MB=(total - 1) / MB, EMAIL_LINK_OVER_MB=10)
    send_job_email(settings, summary(), ["ana@example.org"], files, tmp_path)

    text, html, attached = parts(smtp_server.messages[0].parsed())
    [(zip_name, zip_bytes)] = attached.items()
    assert zip_name.endswith(".zip") and zip_name in text
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        assert sorted(zf.namelist()) == ["results.csv", "results.xlsx"]
        assert zf.read("results.csv") == files["results.csv"]
        assert zf.read("results.xlsx") == files["results.xlsx"]


def test_attachments_under_first_limit_are_not_zipped(smtp_server, tmp_path):
    files = results_files()
    total = sum(len(b) for b in files.values())
    send_job_email(smtp_server.settings(EMAIL_ZIP_OVER_MB=total / MB), summary(), ["ana@example.org"], files, tmp_path)
    assert set(parts(smtp_server.messages[0].parsed())[2]) == {"results.csv", "results.xlsx"}


def test_past_second_limit_a_link_replaces_attachments(smtp_server, tmp_path):
    settings = smtp_server.settings(EMAIL_ZIP_OVER_MB=0.0001, EMAIL_LINK_OVER_MB=0.0002,
                                    APP_PUBLIC_URL="https://reader.example.org")
    send_job_email(settings, summary(job_id="j/1"), ["ana@example.org"], results_files(), tmp_path)

    msg = smtp_server.messages[0].parsed()
    text, html, attached = parts(msg)
    assert attached == {}
    assert "too large to attach" in text
    assert "https://reader.example.org/?job=j%2F1" in text
    assert 'href="https://reader.example.org/?job=j%2F1"' in html


def test_past_second_limit_without_public_url_points_to_the_app(smtp_server, tmp_path):
    settings = smtp_server.settings(EMAIL_ZIP_OVER_MB=0.0001, EMAIL_LINK_OVER_MB=0.0002)
    send_job_email(settings, summary(), ["ana@example.org"], results_files(), tmp_path)
    text, html, attached = parts(smtp_server.messages[0].parsed())
    assert attached == {}
    assert "Open this job in Policy Reader to download them" in text
    assert "Open this job in Policy Reader to download them" in html


# --------------------------------------------------------------------------- outbox


def test_outbox_mode_writes_a_parseable_eml_per_send(settings, tmp_path):
    assert settings.email_mode == "outbox"
    outbox = tmp_path / "jobs" / "job-1" / "outbox"
    files = results_files()
    first = send_job_email(settings, summary(), ["ana@example.org", "ben@example.org"], files, outbox)
    second = send_job_email(settings, summary(), ["ana@example.org"], files, outbox)

    assert first.mode == "outbox" and first.attempts == 1
    assert first.path != second.path
    assert sorted(p.name for p in outbox.iterdir()) == sorted(Path(r.path).name for r in (first, second))
    msg = parse_eml(Path(first.path))
    assert msg["Message-ID"] == first.message_id
    assert msg["To"] == "ana@example.org, ben@example.org"
    assert "Climate laws Q3" in msg["Subject"]
    text, html, attached = parts(msg)
    assert "scan.pdf" in text and "scan.pdf" in html
    assert attached["results.csv"] == files["results.csv"]
    assert openpyxl.load_workbook(io.BytesIO(attached["results.xlsx"]))["Results"]["A2"].value == "climate-plan.pdf"
    assert b"\r\n" in Path(first.path).read_bytes()  # standard CRLF line endings


# --------------------------------------------------------------------------- addresses and injection


def test_address_with_line_break_is_rejected_and_nothing_sent(smtp_server, tmp_path):
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server.settings(), summary(), ["ana@example.org\r\nBcc: evil@example.net"], {}, tmp_path)
    assert caught.value.code == "header" and "line break" in caught.value.message
    assert smtp_server.messages == []


def test_job_name_with_line_breaks_is_sanitised_in_the_subject(smtp_server, tmp_path):
    name = "Q3 laws\r\nBcc: evil@example.net\u2028X-Evil: 1"
    send_job_email(smtp_server.settings(), summary(job_name=name), ["ana@example.org"], {}, tmp_path)

    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ana@example.org"]
    msg = received.parsed()
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["Subject"].startswith("Policy Reader: Q3 laws Bcc: evil@example.net X-Evil: 1")
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]


def test_non_ascii_job_name_round_trips(smtp_server, tmp_path):
    name = "Klimaschutz – Überblick 2024 気候"
    send_job_email(smtp_server.settings(SMTP_FROM="Policy Reader Ü <reader@example.org>"), summary(job_name=name),
                   ["ana@example.org"], {}, tmp_path)
    received = smtp_server.messages[0]
    assert received.data.isascii()  # 7-bit clean for any relay
    msg = received.parsed()
    assert name in msg["Subject"] and msg["From"].addresses[0].display_name == "Policy Reader Ü"
    text, html, _ = parts(msg)
    assert name in text and name in html


def test_sender_with_line_break_is_a_config_error(settings):
    bad = settings.model_copy(update={"smtp_from": "reader@example.org\nBcc: evil@example.net"})
    with pytest.raises(EmailError) as caught:
        build_message(bad, summary(), ["ana@example.org"], {})
    assert caught.value.code == "config" and "SMTP_FROM" in caught.value.message


@pytest.mark.parametrize("address", [
    "no-at-sign.example.org", "two@@example.org", "a@b@example.org", "@example.org", "ana@nodot",
    "ana @example.org", "ana@exa mple.org", "ana@.example.org", "ana@example..org",
    "Ana <ana@example.org>", '"ana"@example.org', "ana.@example.org", "a..b@example.org", "ana@-example.org", "änä@example.org",
])
def test_invalid_address_is_rejected_with_a_message_naming_it(address):
    with pytest.raises(EmailError) as caught:
        validate_recipients(["ok@example.org", address])
    assert caught.value.code == "address"
    assert repr(address) in caught.value.message


def test_valid_addresses_are_split_trimmed_and_deduplicated():
    got = validate_recipients([" ana@example.org ", "first.last+tag@sub.example.co.uk, ANA@example.org;",
                               "ops@localhost", ""])
    assert got == ["ana@example.org", "first.last+tag@sub.example.co.uk", "ops@localhost"]


def test_no_recipient_is_an_address_error(settings, tmp_path):
    with pytest.raises(EmailError) as caught:
        send_job_email(settings, summary(), [" ", ""], {}, tmp_path)
    assert caught.value.code == "address" and "No recipient" in caught.value.message


# --------------------------------------------------------------------------- content


def test_html_escapes_names_and_errors_text_keeps_them(smtp_server, tmp_path):
    evil = summary(job_name="<script>alert('job')</script>",
                   failed=[("<img src=x onerror=alert(1)>.pdf", "bad <b>xref</b> & \"quotes\"")])
    send_job_email(smtp_server.settings(APP_PUBLIC_URL='https://r.example.org/"><script>'), evil,
                   ["ana@example.org"], {"../<b>results.csv": b"a,b\n"}, tmp_path)

    msg = smtp_server.messages[0].parsed()
    text, html, attached = parts(msg)
    assert "<script>" not in html and "<img" not in html and "<b>xref" not in html
    assert "&lt;script&gt;alert(&#x27;job&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in html
    assert "bad &lt;b&gt;xref&lt;/b&gt; &amp; &quot;quotes&quot;" in html
    assert "<script>alert('job')</script>" in text and "<img src=x onerror=alert(1)>.pdf" in text
    assert list(attached) == ["<b>results.csv"]  # no path part; the name is escaped in the HTML note
    assert "&lt;b&gt;results.csv" in html
    assert 'href="https://r.example.org/&quot;&gt;&lt;script&gt;/?job=' in html


def test_render_summary_text_lists_failures_and_usage():
    text = render_summary_text(summary(failed=[(f"doc{i}.pdf", "Not a PDF") for i in range(53)],
                                       documents_total=60, documents_ok=7))
    assert "Documents processed: 7 of 60 (53 failed)" in text
    assert "doc0.pdf: Not a PDF" in text and "doc49.pdf" in text and "doc50.pdf" not in text
    assert "and 3 more" in text
    assert "Estimated cost: $0.0234" in text and "123,456 prompt (1,000 cached)" in text


def test_build_message_sets_ids_and_is_pure(settings, tmp_path):
    msg = build_message(settings, summary(), ["ana@example.org"], results_files())
    again = build_message(settings, summary(), ["ana@example.org"], results_files())
    assert msg["Message-ID"] != again["Message-ID"]
    assert msg["Message-ID"].endswith("@localhost>")  # domain of the default SMTP_FROM
    assert msg["Auto-Submitted"] == "auto-generated"
    assert list(tmp_path.rglob("*.eml")) == []


def test_non_ascii_password_is_a_config_error_without_the_password(smtp_server_starttls, tmp_path):
    secret = "pässwörd-Ω-123"
    with pytest.raises(EmailError) as caught:
        send_job_email(smtp_server_starttls.settings(SMTP_PASSWORD=secret), summary(), ["ana@example.org"], {}, tmp_path)
    assert caught.value.code == "config" and "non-ASCII" in caught.value.message
    assert secret not in caught.value.message and caught.value.__cause__ is None


# Azure Communication Services SMTP: smtp.azurecomm.net:587, STARTTLS, user name
# "<ACS resource name>|<Entra application id>|<Entra tenant id>", password = the application's secret.
ACS_USER = "policy-reader-acs|7d3f0a52-9b1e-4c8a-a1f2-3e4d5c6b7a80|0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
ACS_SECRET = "Qx8~entra.client-secret_Value|with~odd chars"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_azure_communication_services_login_keeps_the_pipes(make_smtp_server, tmp_path, mechanism):
    """The ACS user name is three parts joined by '|': it must reach the server unchanged through
    AUTH PLAIN and AUTH LOGIN (base64 of the exact bytes), over STARTTLS on the submission port."""
    server = make_smtp_server(tls="starttls", auth=True, username=ACS_USER, password=ACS_SECRET,
                              mechanisms=(mechanism,))
    settings = server.settings(SMTP_FROM="DoNotReply@0f1e2d3c.azurecomm.net")
    assert settings.smtp_security == "starttls" and settings.smtp_username == ACS_USER
    report = send_job_email(settings, summary(), ["ana@example.org"], results_files(), tmp_path)
    [received] = server.messages
    assert received.tls and received.auth_user == ACS_USER
    assert server.handler.auth_mechanisms == [mechanism]
    assert received.parsed()["Message-ID"] == report.message_id
    assert received.mail_from == "DoNotReply@0f1e2d3c.azurecomm.net"


def test_azure_communication_services_wrong_secret_never_shows_it(make_smtp_server, tmp_path):
    server = make_smtp_server(tls="starttls", auth=True, username=ACS_USER, password=ACS_SECRET)
    settings = server.settings(SMTP_PASSWORD="expired-entra-secret-9")
    with pytest.raises(EmailError) as info:
        send_job_email(settings, summary(), ["ana@example.org"], results_files(), tmp_path)
    assert "expired-entra-secret-9" not in str(info.value) and not server.messages
