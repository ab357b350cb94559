"""Email delivery through a real SMTP server (aiosmtpd on 127.0.0.1) and the .eml outbox."""
from __future__ import annotations

import csv
import io
import logging
import re
import time
import zipfile
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from job_manager import JobManager, JobStatus
from policy_reader.config import load_settings
from policy_reader.delivery.email_body import review_items
from policy_reader.delivery.emailer import (
    EmailSummary,
    build_message,
    render_summary_text,
    send_job_email,
    validate_recipients,
)
from policy_reader.errors import EmailError, LimitExceeded
from policy_reader.models import Answer, AnswerStatus, DocumentResult, Usage, Variable
from policy_reader.variables import format_value, load_variables
from tests.fixtures.smtp_server import SMTP_TEST_FROM, SMTP_TEST_PASSWORD, SMTP_TEST_USER

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

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
    received = smtp_server.messages
    assert [r.mail_from for r in received] == [SMTP_TEST_FROM] * 3
    # one message per recipient, addressed to them alone: nobody sees the other addresses
    assert [r.rcpt_tos for r in received] == [["ana@example.org"], ["Ben@Example.org"], ["cy@localhost"]]
    assert [r.parsed()["To"] for r in received] == ["ana@example.org", "Ben@Example.org", "cy@localhost"]
    assert received[0].parsed()["Message-ID"] == report.message_id
    assert len({r.parsed()["Message-ID"] for r in received}) == 3
    assert not (tmp_path / "outbox").exists()


def test_message_has_summary_alternatives_and_openable_attachments(smtp_server, tmp_path):
    settings = smtp_server.settings(APP_PUBLIC_URL="https://reader.example.org/")
    files = results_files()
    send_job_email(settings, summary(), ["ana@example.org"], files, tmp_path)

    msg = smtp_server.messages[0].parsed()
    assert msg["Subject"].strip() == ("Policy Reader: Climate laws Q3 - 2 of 3 documents read, 1 failed, "
                                      "4 answers to review")
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
    assert "4 answers to review" in text
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


def test_outbox_names_sort_in_sending_order_even_within_one_second(settings, tmp_path):
    """The app offers the last name as "the email": a resend a moment after the first send must sort last."""
    outbox = tmp_path / "outbox"
    paths = [send_job_email(settings, summary(), ["ana@example.org"], {}, outbox).path for _ in range(5)]
    assert sorted(p.name for p in outbox.iterdir()) == [Path(p).name for p in paths]


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


def test_allowed_domains_limit_recipients_subdomains_included():
    allowed = ["example.org", "Partner.EU"]
    assert validate_recipients(["ana@example.org, bo@dept.example.org", "cy@partner.eu"], allowed_domains=allowed) \
        == ["ana@example.org", "bo@dept.example.org", "cy@partner.eu"]
    for outside in ("eve@evil.com", "eve@example.org.evil.com", "eve@notexample.org"):
        with pytest.raises(EmailError) as caught:
            validate_recipients(["ana@example.org", outside], allowed_domains=allowed)
        assert caught.value.code == "domain" and repr(outside) in caught.value.message
        assert "example.org, partner.eu" in caught.value.message
    assert validate_recipients(["eve@evil.com"], allowed_domains=[]) == ["eve@evil.com"]  # empty: any domain


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



# --------------------------------------------------------------------------- the body answers


class _VisibleText(HTMLParser):
    """The text a reader sees, one line per block (paragraph, table row, list item, heading)."""

    BLOCKS = {"p", "div", "tr", "li", "h1", "h2", "h3", "table", "ul"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.parts.append("\n" if tag in self.BLOCKS else " " if tag == "td" else "")

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    lines = (re.sub(r"\s+", " ", line).strip() for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def sections(body: str, headings: list[str]) -> dict[str, str]:
    """The body cut at each heading (first match, any case): {heading: text up to the next heading}."""
    starts = sorted((body.lower().index(h.lower()), h) for h in headings)
    ends = [start for start, _ in starts[1:]] + [len(body)]
    return {h: body[start:end] for (start, h), end in zip(starts, ends)}


def shown(answer: Answer) -> str:
    return format_value(answer.value) if answer.value is not None else "not stated"


@pytest.fixture
def samples_run(smtp_server, tmp_path):
    """The three bundled samples with samples/variables.csv through the job manager (offline
    extractor), mailed through a real SMTP server: (received message, results with reviews)."""
    settings = smtp_server.settings(JOBS_DIR=str(tmp_path / "jobs"), APP_PUBLIC_URL="https://reader.example.org")
    manager = JobManager(settings)
    try:
        files = [(path.name, path) for path in sorted(SAMPLES.glob("*.pdf"))]
        variables = load_variables(SAMPLES / "variables.csv", "variables.csv")
        job_id = manager.submit(name="Sample policies", files=files, variables=variables,
                                recipients=["analyst@example.org"])
        view = manager.wait(job_id, timeout=120)
        results = manager.get_results(job_id)
    finally:
        manager.shutdown(wait=False)
    assert view.status == JobStatus.COMPLETED and view.email.status == "sent", view.email
    [received] = smtp_server.messages
    return job_id, received.parsed(), results, variables


def test_email_of_a_samples_run_shows_every_answer_and_the_review_list(samples_run):
    job_id, msg, results, variables = samples_run
    assert len(results) == 3 and all(doc.status == "ok" for doc in results)
    review = review_items(results)
    assert review, "the offline extractor flags its answers for review"
    # .strip(): Python folds a long ASCII subject onto the next line ("Subject:\r\n Policy ..."); RFC 5322
    # unfolding makes that the usual single space after the colon, which mail clients do not show
    assert msg["Subject"].strip() == (f"Policy Reader: Sample policies - 3 of 3 documents read, "
                                      f"{len(review)} answers to review")
    text, html, attached = parts(msg)
    assert set(attached) == {"results.csv", "results.xlsx"}
    page = f"https://reader.example.org/?job={job_id}"
    assert page in text and f'href="{page}"' in html

    for body in (text, visible_text(html)):
        files = [doc.file for doc in results]
        cut = sections(body, [*files, "answers to review ("])
        for doc in results:
            assert len(doc.variables) == len(variables)
            for a in doc.variables:  # every answer of every sample, under its document
                assert re.search(rf"{a.name}:? \(?{re.escape(shown(a))}\b", cut[doc.file]), (doc.file, a.name)
        listed = cut["answers to review ("]
        assert f"answers to review ({len(review)})" in body.lower()
        for item in review:  # the review list: which answer, why, and the quote
            assert item.file in listed and item.reason in listed and item.quote in listed, item
        assert listed.count("Why: ") == len(review)
    assert "not shown" not in text  # nothing left out at the default limits
    # the answers the samples plant (samples/make_samples.py EXPECTED) are all readable in the mail
    planted = {doc.file: {a.name: shown(a) for a in doc.variables} for doc in results}
    assert planted["nordavia_climate_policy_2019.pdf"]["adoption_date"] == "2019-06-04"
    assert planted["kestria_energy_transition_strategy.pdf"]["emission_target_pct"] == "30"

    # the attached workbook opens on a Summary of this job; its dates are date cells
    book = openpyxl.load_workbook(io.BytesIO(attached["results.xlsx"]))
    assert book.sheetnames[0] == "Summary"
    facts = {row[0].value: row[1].value for row in book["Summary"].iter_rows() if row[0].value}
    assert facts["job name"] == "Sample policies" and facts["job id"] == job_id and facts["status"] == "completed"
    assert facts["backend"] == "offline" and facts["documents read"] == 3 and facts["answers"] == 27
    column = [c.value for c in book["Results"][1]].index("adoption_date")
    dates = [row[column].value for row in book["Results"].iter_rows(min_row=2)]
    assert len(dates) == 3 and all(isinstance(value, datetime) for value in dates), dates


def _doc(doc_id: str, file: str, answers: list[Answer], **kw) -> DocumentResult:
    return DocumentResult(doc_id=doc_id, file=file, pages=2, variables=answers, **kw)


def _answers(names: list[str], value: str = "v", status: AnswerStatus = AnswerStatus.NEEDS_REVIEW) -> list[Answer]:
    return [Answer(name=n, value=f"{value}-{n}", evidence=f"quote for {n}", page=1, confidence=0.5, status=status,
                   note=f"reason for {n}") for n in names]


def test_past_the_limits_the_body_says_what_it_left_out(smtp_server, tmp_path):
    names = [f"var_{i}" for i in range(5)]
    variables = [Variable(name=n, question=f"{n}?") for n in names]
    docs = [_doc(f"d000{i}", f"doc{i}.pdf", _answers(names, value=f"doc{i}")) for i in range(1, 4)]
    settings = smtp_server.settings(EMAIL_MAX_DOCUMENTS="2", EMAIL_MAX_VARIABLES="3", EMAIL_MAX_REVIEW_ITEMS="4")
    message = EmailSummary.from_results(job_id="j1", job_name="Limits", status="completed", documents_total=3,
                                        documents=docs, variables=variables, usage=Usage())
    send_job_email(settings, message, ["ana@example.org"], results_files(), tmp_path)
    msg = smtp_server.messages[0].parsed()
    assert msg["Subject"].strip() == "Policy Reader: Limits - 3 of 3 documents read, 15 answers to review"
    text, html, _ = parts(msg)
    for body in (text, visible_text(html)):
        table = sections(body, ["answers (", "answers to review ("])["answers ("]
        assert "doc1-var_2" in table and "doc2-var_0" in table
        assert "doc1-var_3" not in table  # the 4th variable is left out of the table
        assert "doc3.pdf" not in table  # so is the 3rd document
        assert "The answers of 1 more document are not shown here (this email shows 2 of 3)." in body
        assert "2 variables of 5 are not shown per document: var_3, var_4." in body
        assert "11 more answers to review are not listed here." in body
        assert "The attached files hold every answer, quote and error." in body
        assert body.count("Why: ") == 4


def test_everything_from_a_document_is_escaped_in_the_html(smtp_server, tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    docs = [_doc("d0001", f"{evil}.pdf", [
        Answer(name="title", value=f"Act {evil} & <b>bold</b>", evidence=f'"{evil}" said the PDF', page=1,
               confidence=0.4, status=AnswerStatus.NEEDS_REVIEW, note=f"low <i>confidence</i> {evil}"),
        Answer(name="year", status=AnswerStatus.ERROR, note=f"model said {evil}"),
    ]), _doc("d0002", "bad.pdf", [], status="failed", error=f"broken <script>x</script> {evil}")]
    message = EmailSummary.from_results(job_id="j1", job_name=f"Job {evil}", status="completed", documents_total=2,
                                        documents=docs, variables=[], usage=Usage())
    send_job_email(smtp_server.settings(), message, ["ana@example.org"], {}, tmp_path)
    text, html, _ = parts(smtp_server.messages[0].parsed())
    assert "<img" not in html and "<script" not in html and "<b>bold" not in html and "<i>conf" not in html
    seen = visible_text(html)
    assert seen.count(evil) == html.count("&lt;img src=x onerror=alert(1)&gt;") >= 8  # every one shown as text
    for body in (text, seen):
        assert f"Act {evil} & <b>bold</b>" in body and f"{evil}.pdf" in body
        assert f"low <i>confidence</i> {evil}" in body and f"model said {evil}" in body
        assert f"broken <script>x</script> {evil}" in body


def test_subject_says_what_to_triage_on_one_line(smtp_server, tmp_path):
    docs = [_doc("d0001", "a.pdf", _answers(["x"], status=AnswerStatus.ACCEPTED)),
            _doc("d0002", "b.pdf", [], status="failed", error="not a PDF")]
    message = EmailSummary.from_results(job_id="j1", job_name="Q3\r\nBcc: evil@example.net", status="cancelled",
                                        documents_total=4, documents=docs, variables=[], usage=Usage())
    assert message.documents_ok == 1 and message.failed == [("b.pdf", "not a PDF")] and message.needs_review == 0
    send_job_email(smtp_server.settings(), message, ["ana@example.org"], {}, tmp_path)
    msg = smtp_server.messages[0].parsed()
    assert msg["Subject"].strip() == ("Policy Reader: Q3 Bcc: evil@example.net - cancelled, 1 of 4 documents "
                                      "read, 1 failed, no answers to review")
    assert msg["Bcc"] is None


def test_reviewed_answers_leave_the_review_list(settings):
    reviewed = Answer(name="x", value="fixed", evidence="q", page=1, status=AnswerStatus.NEEDS_REVIEW,
                      reviewed=True, note="low confidence")
    message = EmailSummary.from_results(job_id="j1", job_name="R", status="completed", documents_total=1,
                                        documents=[_doc("d0001", "a.pdf", [reviewed])], variables=[], usage=Usage())
    text, html, _ = parts(build_message(settings, message, ["ana@example.org"], {}))
    assert message.needs_review == 0 and "Why: " not in text
    assert "x: fixed  [p. 1, reviewed]" in text and "reviewed" in visible_text(html)


# --------------------------------------------------------------------------- look at it


def _phone_then_desktop(page, html: str, artifacts_dir: Path, name: str) -> None:
    """Render the body at phone and desktop widths; no sideways scrolling on the phone."""
    page.set_viewport_size({"width": 375, "height": 812})
    page.set_content(html)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(artifacts_dir / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1024, "height": 900})
    page.set_content(html)
    page.screenshot(path=str(artifacts_dir / f"{name}-desktop.png"), full_page=True)


def test_samples_email_in_chromium_reads_on_a_phone(samples_run, browser_page, artifacts_dir):
    _, msg, results, _ = samples_run
    _, html, _ = parts(msg)
    _phone_then_desktop(browser_page, html, artifacts_dir, "email-samples")
    body = browser_page.inner_text("body")
    assert all(doc.file in body for doc in results) and "Open the job in Policy Reader" in body
    assert (artifacts_dir / "email-samples-phone.png").stat().st_size > 10_000


def test_hostile_email_in_chromium_shows_text_not_markup(settings, browser_page, artifacts_dir):
    long_name = "Rapport_" + "x" * 150 + ".pdf"  # one unbreakable word wider than a phone
    evil = "<img src=x onerror=document.title='pwned'>"
    docs = [_doc("d0001", long_name, [Answer(name="title", value=evil + " https://" + "y" * 120, evidence=evil,
                                             page=1, confidence=0.3, status=AnswerStatus.NEEDS_REVIEW, note=evil)])]
    message = EmailSummary.from_results(job_id="j1", job_name=evil, status="completed", documents_total=1,
                                        documents=docs, variables=[], usage=Usage())
    _, html, _ = parts(build_message(settings, message, ["ana@example.org"], {}))
    _phone_then_desktop(browser_page, html, artifacts_dir, "email-hostile")
    assert browser_page.evaluate("document.querySelectorAll('img, script').length") == 0
    assert browser_page.title() != "pwned" and evil in browser_page.inner_text("body")


def test_a_big_job_stays_under_the_size_gmail_clips(settings):
    """Gmail hides an HTML body past ~102 KB behind "[Message clipped]": the body shows less and says so."""
    names = [f"variable_{i}" for i in range(12)]
    long_quote = "The Ministry of Environment is responsible for implementing the policy each year. " * 4
    docs = [_doc(f"d{i:04d}", f"policy_document_{i}.pdf",
                 [Answer(name=n, value="Ministry of Environment and Climate Change", evidence=long_quote, page=3,
                         confidence=0.5, status=AnswerStatus.NEEDS_REVIEW, note="confidence 0.50 is below 0.80")
                  for n in names]) for i in range(20)]
    message = EmailSummary.from_results(job_id="j1", job_name="Big", status="completed", documents_total=20,
                                        documents=docs, variables=[], usage=Usage())
    text, html, _ = parts(build_message(settings, message, ["ana@example.org"], {"results.csv": b"a"}))
    assert len(html.encode()) <= 90_000
    shown_docs = sum(f"policy_document_{i}.pdf (" in text for i in range(20))
    assert 1 <= shown_docs < 20  # the default limits (20 documents, 50 review items) were cut to fit
    assert f"(this email shows {shown_docs} of 20)" in text and f"ANSWERS ({shown_docs} of 20 documents)" in text
    assert "more answers to review are not listed here." in text and "ANSWERS TO REVIEW (240)" in text
    assert "The attached files hold every answer, quote and error." in visible_text(html)


def test_failed_documents_are_listed_with_reasons_up_to_fifty(settings):
    docs = [_doc(f"d{i:04d}", f"broken{i}.pdf", [], status="failed", error=f"reason {i}") for i in range(53)]
    message = EmailSummary.from_results(job_id="j1", job_name="F", status="failed", documents_total=53,
                                        documents=docs, variables=[], usage=Usage())
    text, html, _ = parts(build_message(settings, message, ["ana@example.org"], {"results.xlsx": b"x"}))
    for body in (text, visible_text(html)):
        assert "FAILED DOCUMENTS (53)" in body.upper() and "broken0.pdf: reason 0" in body
        assert "broken49.pdf: reason 49" in body and "broken50.pdf" not in body
        assert "3 more failed documents are not listed here (see the Errors sheet of the Excel file)." in body
    assert message.documents_ok == 0 and "failed, 0 of 53 documents read, 53 failed" in build_message(
        settings, message, ["ana@example.org"], {})["Subject"]


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


def test_bidi_and_invisible_characters_never_reach_the_email(smtp_server, tmp_path):
    """A job named "Invoice<RLO>fdp.exe" must not read "Invoiceexe.pdf" in the subject or either body."""
    hidden = "\u202e\u2066\u2067\u2068\u2069\u200b\u200d\u2060\ufeff"
    doc = DocumentResult(doc_id="d0001", file="scan\u2067gpj.pdf", status="failed",
                         error="bad \u202epage\u200b", variables=[])
    send_job_email(smtp_server.settings(), summary(job_name="Invoice\u202efdp.exe", documents=[doc],
                                                   failed=[("scan\u2067gpj.pdf", "bad \u202epage\u200b")]),
                   ["ana@example.org"], {"re\u202esults.csv": b"a,b\n"}, tmp_path)
    msg = smtp_server.messages[0].parsed()
    text, html, files = parts(msg)
    for shown in (msg["Subject"], text, html, *files):
        assert not set(shown) & set(hidden), repr(shown)[:200]
    assert "Invoicefdp.exe" in msg["Subject"] and "Invoicefdp.exe" in text and "Invoicefdp.exe" in html
    assert "scangpj.pdf" in text and list(files) == ["results.csv"]


# --------------------------------------------------------------------------- not a mail relay


@pytest.fixture
def mail_manager(smtp_server, tmp_path, make_pdf):
    """mail_manager(**env) -> (JobManager against the real SMTP server, run(recipients) -> finished view)."""
    made: list[JobManager] = []

    def _make(**env: object):
        manager = JobManager(smtp_server.settings(JOBS_DIR=str(tmp_path / "jobs"), **env))
        made.append(manager)
        pdf = make_pdf("p.pdf", ["Policy. The policy was adopted in 2019."])

        def run(recipients: list[str], owner: str = "mallory"):
            job_id = manager.submit(name="Your account is suspended - act now", files=[("p.pdf", pdf)],
                                    variables=[Variable(name="year", question="Year adopted?")],
                                    recipients=recipients, owner=owner)
            return manager.wait(job_id, timeout=60)
        return manager, run
    yield _make
    for manager in made:
        manager.shutdown(wait=False)


def test_a_job_with_ten_thousand_recipients_is_refused(mail_manager, smtp_server):
    manager, run = mail_manager()
    crowd = [f"victim{i}@example.net" for i in range(10_000)]
    with pytest.raises(EmailError, match="EMAIL_MAX_RECIPIENTS") as refused:
        run(crowd)
    assert refused.value.code == "recipients" and "10,000" in refused.value.message
    assert manager.list_jobs() == [] and smtp_server.messages == []


def test_each_recipient_gets_a_message_addressed_to_them_alone(mail_manager, smtp_server):
    _manager, run = mail_manager(EMAIL_MAX_RECIPIENTS=30)  # the operator widened the default
    crowd = [f"r{i}@example.org" for i in range(25)]
    view = run(crowd)
    assert view.email["status"] == "sent", view.email
    received = smtp_server.messages
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(crowd)
    for message in received:
        [address] = message.rcpt_tos
        msg = message.parsed()
        assert msg["To"] == address and msg["Cc"] is None and msg["Bcc"] is None
        assert not any(other in message.data.decode() for other in crowd if other != address)
    assert len({m.parsed()["Message-ID"] for m in received}) == 25


def test_send_again_is_limited_per_job_and_per_user_per_hour(mail_manager, smtp_server):
    manager, run = mail_manager(EMAIL_MAX_RESENDS_PER_JOB=2, EMAIL_MAX_RESENDS_PER_HOUR=3)
    first, second = run(["a@example.org"]), run(["b@example.org"])
    manager.resend_email(first.id, owner="mallory")
    manager.resend_email(first.id, owner="mallory")
    with pytest.raises(LimitExceeded, match="EMAIL_MAX_RESENDS_PER_JOB"):
        manager.resend_email(first.id, owner="mallory")
    manager.resend_email(second.id, owner="mallory")
    with pytest.raises(LimitExceeded, match=r"EMAIL_MAX_RESENDS_PER_HOUR=3\); you can send again in \d+ min"):
        manager.resend_email(second.id, owner="mallory")
    assert len(smtp_server.messages) == 2 + 3
    assert manager.get_job_status(first.id).email["status"] == "sent"  # a refused resend changes nothing


def test_a_users_daily_messages_are_capped_and_deleting_jobs_gives_none_back(mail_manager, smtp_server):
    manager, run = mail_manager(USER_MAX_EMAILS_PER_DAY=3)
    first = run(["a@example.org", "b@example.org"])
    assert first.email["status"] == "sent"
    manager.delete_job(first.id, owner="mallory")
    second = run(["c@example.org", "d@example.org"])
    assert second.status == JobStatus.COMPLETED and second.email["status"] == "failed"
    assert "USER_MAX_EMAILS_PER_DAY" in second.email["error"] and "resets at 00:00 UTC" in second.email["error"]
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == ["a@example.org", "b@example.org"]
    assert run(["e@example.org"], owner="someone-else").email["status"] == "sent"


def test_the_email_shows_the_printed_page_next_to_the_pdf_page():
    """Issue 28: 'page 105 (printed 98)' in the answers and in the review list, text and HTML."""
    from policy_reader.delivery.email_body import BodyLimits, render_body

    answers = [Answer(name="setback_residences", value="1000", evidence="Residences (irrigation) | 1,000 feet",
                      page=105, page_label="98", confidence=0.5, status=AnswerStatus.NEEDS_REVIEW,
                      note="the quote occurs twice"),
               Answer(name="max_height", value="500", evidence="500 feet", page=4, page_label="4", confidence=1.0,
                      status=AnswerStatus.ACCEPTED)]
    message = EmailSummary.from_results(job_id="j1", job_name="Labels", status="completed", documents_total=1,
                                        documents=[_doc("d0001", "ordinance.pdf", answers)],
                                        variables=[Variable(name=a.name, question="?") for a in answers],
                                        usage=Usage())
    body = render_body(message, BodyLimits(), attachment_note="", everything_in="")
    for text in (body.text, visible_text(body.html)):
        assert "p. 105 (printed 98)" in text  # the answers table
        assert "(page 105, printed 98)" in text  # the review list
        assert "p. 4" in text and "printed 4" not in text  # a label equal to the PDF page says nothing new


def test_the_email_keeps_skipped_files_and_says_not_stated_and_corrected(smtp_server, tmp_path, make_pdf):
    """Before: skipped uploads vanished from the email ("1 of 1 documents read" for 3 files), a not-found
    answer read "not found" like a missing row, and a corrected one looked machine-accepted."""
    from policy_reader.jobs.intake import screen_files

    good = make_pdf("ordinance.pdf", ["Wind Ordinance. This ordinance was adopted in 2012."]).read_bytes()
    accepted, skipped = screen_files([("ordinance.pdf", good), ("notes.pdf", b"meeting notes, not a pdf"),
                                      ("empty.pdf", b"")], max_file_mb=5)
    variables = [Variable(name="year_adopted", question="In which year was the ordinance adopted?", type="year"),
                 Variable(name="budget_usd", question="What is the annual budget in US dollars?", type="number")]
    with JobManager(smtp_server.settings(JOBS_DIR=str(tmp_path / "jobs"))) as manager:
        job_id = manager.submit(name="Skips", files=accepted, variables=variables, skipped=skipped,
                                recipients=["ana@example.org"], owner="ana")
        assert manager.wait(job_id, timeout=60).status == JobStatus.COMPLETED
        manager.save_review(job_id, "d0001", "year_adopted", value=2013, note="amended", owner="ana")
        manager.resend_email(job_id, owner="ana")
    first, second = (m.parsed() for m in smtp_server.messages[:2])
    assert "1 of 3 documents read, 2 skipped" in first["Subject"]
    text, html, attached = parts(second)
    assert "SKIPPED FILES, NOT READ (2)" in text
    assert "notes.pdf: this is not a PDF file" in text and "empty.pdf: the file is empty" in text
    assert "Skipped files, not read (2)" in visible_text(html) and "notes.pdf" in visible_text(html)
    assert "budget_usd: (not stated)" in text and "not found" not in text
    assert "year_adopted: 2013  [p. 1, corrected]" in text and "corrected" in visible_text(html)
    book = openpyxl.load_workbook(io.BytesIO(attached["results.xlsx"]))
    errors = [[c.value for c in row] for row in book["Errors"].iter_rows(min_row=2)]
    assert ["notes.pdf", None, "skipped (not_pdf)", "not read: this is not a PDF file"] in errors
