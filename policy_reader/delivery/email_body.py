"""The body of the job email: what a recipient reads, as HTML and as plain text.

Why it looks like this:
- Recipients often read on a phone, in a preview pane, or only skim: the body must answer on its
  own. It shows the answers per document, then the answers to review with why and the quote, then
  the failed documents with their reasons, and a link to the job. The attachments are the full copy.
- One plan (`_plan`), two renderings: the HTML and the text body always say the same thing.
- Mail clients are hostile to CSS: Gmail drops most `<style>`, Outlook renders with Word. So the
  HTML is tables with inline styles only, one column that fits a phone (no wide document x variable
  grid), a fixed 640 px frame for Outlook (conditional comment) and `max-width` for the others.
- Everything that came from a document or a user (values, quotes, reasons, file names, variable
  names, the job name) is untrusted: it is escaped in the HTML and put on one line in the text.
- The body is bounded (EMAIL_MAX_DOCUMENTS / EMAIL_MAX_VARIABLES / EMAIL_MAX_REVIEW_ITEMS, long
  values and quotes shortened); past a limit it says what it left out and where the rest is.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from policy_reader.config import Settings
from policy_reader.models import (Answer, AnswerStatus, DocumentResult, SkippedFile, Usage, Variable, page_reference,
                                  status_label)
from policy_reader.untrusted import strip_invisible
from policy_reader.variables import format_value

if TYPE_CHECKING:
    from policy_reader.accuracy.audit import AuditEstimate

MAX_FAILED_LISTED = 50  # longer lists are cut in the email; the Excel "Errors" sheet has them all
MAX_SUBJECT_NAME = 120
MAX_VALUE_CHARS = 300  # a value longer than this is shortened in the body (never in the attachments)
MAX_QUOTE_CHARS = 400
MAX_LEFT_OUT_NAMES = 10  # variables left out of the body are named up to this many
MAX_HTML_BYTES = 90_000  # Gmail clips HTML bodies past ~102 KB; stay well under it

_SPACES = re.compile(r"\s+")

# Colours shared with the workbook (export.py): amber = to review, red = error / failed.
_REVIEW_BG = "#FFF2CC"
_ERROR_BG = "#F8CBAD"
_FONT = "font-family:'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_WRAP = "word-break:break-word;overflow-wrap:anywhere"


@dataclass
class EmailSummary:
    """What the email tells the recipients about one job (built by the job manager).

    `documents` and `variables` are optional so a caller that has only the counts still gets a
    (shorter) email; `from_results` fills the counts from the documents so they always agree.
    """

    job_id: str
    job_name: str
    status: str
    documents_total: int
    documents_ok: int
    failed: list[tuple[str, str]]  # (file name, user-facing reason)
    needs_review: int  # answers to review (needs_review and not yet reviewed, plus error answers)
    usage: Usage
    job_url: str | None = None  # None: derived from APP_PUBLIC_URL when that is set
    documents: list[DocumentResult] = field(default_factory=list)  # results, reviews applied
    variables: list[Variable] = field(default_factory=list)  # the job's variables, in order
    accuracy: AuditEstimate | None = None  # the audit's estimate of the accepted answers, once drawn
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason): uploads not read

    @classmethod
    def from_results(cls, *, job_id: str, job_name: str, status: str, documents_total: int,
                     documents: Sequence[DocumentResult], variables: Sequence[Variable], usage: Usage,
                     job_url: str | None = None, accuracy: AuditEstimate | None = None,
                     skipped: Sequence[SkippedFile] = ()) -> EmailSummary:
        """The summary of a job from its finished documents: counts derived, never passed twice."""
        docs = list(documents)
        return cls(job_id=job_id, job_name=job_name, status=str(getattr(status, "value", status)),
                   documents_total=documents_total,
                   documents_ok=sum(1 for d in docs if d.status == "ok"),
                   failed=[(d.file, d.error or "failed") for d in docs if d.status != "ok"],
                   needs_review=len(review_items(docs)), usage=usage, job_url=job_url,
                   documents=docs, variables=list(variables), accuracy=accuracy,
                   skipped=[(f.name, f.reason) for f in skipped])


@dataclass(frozen=True)
class BodyLimits:
    """How much of the results the body shows (the attachments always hold everything)."""

    max_documents: int = 20
    max_variables: int = 12
    max_review_items: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(settings.email_max_documents, settings.email_max_variables, settings.email_max_review_items)


@dataclass(frozen=True)
class ReviewItem:
    """One answer a person should look at: which, what was found, why, and the quote."""

    file: str
    variable: str
    value: str
    page: int | None
    reason: str
    quote: str
    error: bool  # the engine could not answer (status error), rather than unsure
    page_label: str | None = None  # the printed number of `page` (issue 28)


@dataclass(frozen=True)
class EmailBody:
    text: str
    html: str


def needs_attention(answer: Answer) -> bool:
    """Answers a recipient should look at: unsure ones not yet reviewed, and errors."""
    if answer.status == AnswerStatus.ERROR:
        return True
    return answer.status == AnswerStatus.NEEDS_REVIEW and not answer.reviewed


def review_items(documents: Sequence[DocumentResult]) -> list[ReviewItem]:
    """Every answer to review, in document then variable order."""
    return [ReviewItem(file=doc.file, variable=a.name, value=format_value(a.value), page=a.page,
                       reason=a.note or ("the engine could not answer" if a.status == AnswerStatus.ERROR
                                         else "flagged for review"),
                       quote=a.evidence, error=a.status == AnswerStatus.ERROR, page_label=a.page_label)
            for doc in documents if doc.status == "ok" for a in doc.variables if needs_attention(a)]


# --------------------------------------------------------------------------- text helpers


def one_line(text: object) -> str:
    """Untrusted text on one line: line breaks become spaces, controls and invisible format characters
    (bidi overrides and isolates, zero-width characters: policy_reader/untrusted.py) are removed."""
    return _SPACES.sub(" ", strip_invisible(text)).strip()


def _shorten(text: str, limit: int) -> tuple[str, bool]:
    text = one_line(text)
    if len(text) <= limit:
        return text, False
    return text[: limit - 1].rstrip() + "…", True


def sanitize_subject_text(text: str, limit: int = MAX_SUBJECT_NAME) -> str:
    """One clean line for a header: control characters become spaces, runs of space collapse.

    Job names are free text typed by users; a name with a line break must not fail the job
    (nor inject headers), so it is cleaned rather than rejected.
    """
    clean, _ = _shorten(text, limit)
    return clean or "(unnamed job)"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _read_label(summary: EmailSummary) -> str:
    """"3 of 5 documents read, 2 skipped": skipped uploads count among the files the analyst gave."""
    failed, skipped = len(summary.failed), len(summary.skipped)
    text = f"{summary.documents_ok:,} of {_plural(summary.documents_total + skipped, 'document')} read"
    return text + (f", {failed:,} failed" if failed else "") + (f", {skipped:,} skipped" if skipped else "")


def _review_label(n: int) -> str:
    return "no answers to review" if n == 0 else f"{_plural(n, 'answer')} to review"


def build_subject(summary: EmailSummary) -> str:
    """What a recipient needs to triage from the inbox list: which job, did it work, what to check."""
    status = one_line(summary.status)
    state = "" if status == "completed" else f"{status}, "
    return (f"Policy Reader: {sanitize_subject_text(summary.job_name)} - {state}"
            f"{_read_label(summary)}, {_review_label(summary.needs_review)}")


def _usage_text(usage: Usage) -> str:
    return (f"{usage.prompt_tokens:,} prompt ({usage.cached_prompt_tokens:,} cached), "
            f"{usage.completion_tokens:,} completion, {usage.calls:,} model calls")


def _accuracy_headline(estimate: AuditEstimate) -> str:
    """'92.0% (95% CI 75.0%–97.8%, 23 of 25 right)' or that no sampled answer is marked yet."""
    return estimate.overall.text() if estimate.overall.n else "audit sample drawn, no answer marked yet"


def _accuracy_lines(estimate: AuditEstimate) -> list[tuple[str, str]]:
    """(label, text) lines of the audit: the estimate, the sample, the model and prompt, per variable."""
    lines = [("Accepted answers", _accuracy_headline(estimate)), ("Sample", estimate.sample_text()),
             ("Model", estimate.model_text())]
    for name, score in estimate.variables.items():
        lines.append((name, f"{score.text()}; {score.population:,} accepted" if score.n
                      else f"not in the sample ({score.population:,} accepted)"))
    return lines


def _facts(summary: EmailSummary) -> list[tuple[str, str]]:
    failed = len(summary.failed)
    return [
        ("Job", one_line(summary.job_name) or "(unnamed job)"),
        ("Status", one_line(summary.status)),
        ("Documents processed", f"{summary.documents_ok} of {summary.documents_total + len(summary.skipped)}"
                                + (f" ({failed} failed)" if failed else "")
                                + (f" ({len(summary.skipped)} skipped, not read)" if summary.skipped else "")),
        ("Answers needing review", f"{summary.needs_review:,}"),
        *([("Accuracy of accepted answers (audit)", _accuracy_headline(summary.accuracy))] if summary.accuracy else []),
        ("Tokens", _usage_text(summary.usage)),
        ("Estimated cost", f"${summary.usage.cost_usd:,.4f}"),
    ]


def render_summary_text(summary: EmailSummary) -> str:
    """The job facts and failures as plain text (also usable by the CLI or a webhook)."""
    lines = [f"{label}: {value}" for label, value in _facts(summary)]
    if summary.failed:
        lines.append("Failed documents:")
        for name, reason in summary.failed[:MAX_FAILED_LISTED]:
            lines.append(f"  - {one_line(name)}: {one_line(reason)}")
        if len(summary.failed) > MAX_FAILED_LISTED:
            lines.append(f"  ... and {len(summary.failed) - MAX_FAILED_LISTED} more "
                         "(see the Errors sheet of the Excel file)")
    if summary.skipped:
        lines.append("Skipped files (not read):")
        lines += [f"  - {one_line(name)}: {one_line(reason)}" for name, reason in summary.skipped[:MAX_FAILED_LISTED]]
    if summary.job_url:
        lines.append(f"Job page: {summary.job_url}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Row:
    variable: str
    value: str  # shortened, one line; "" when not found
    kind: str  # "accepted" | "review" | "reviewed" | "not_found" | "error" | "corrected"
    page: int | None
    note: str  # the error message for kind "error"
    page_label: str | None = None


@dataclass(frozen=True)
class _Doc:
    file: str
    pages: int
    rows: list[_Row]
    to_review: int


@dataclass(frozen=True)
class _Plan:
    docs: list[_Doc]
    docs_ok: int  # documents read (the body may show fewer)
    review: list[ReviewItem]  # shortened
    review_total: int
    failed: list[tuple[str, str]]
    left_out: list[str]  # sentences, each ending with "."
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _kind(answer: Answer) -> str:
    if answer.status == AnswerStatus.ERROR:
        return "error"
    if answer.status == AnswerStatus.CORRECTED:
        return "corrected"
    if answer.status == AnswerStatus.NOT_FOUND and answer.value is None:
        return "not_found"
    if answer.reviewed:
        return "reviewed"
    return "review" if answer.status == AnswerStatus.NEEDS_REVIEW else "accepted"


def _variable_names(summary: EmailSummary) -> list[str]:
    names = [v.name for v in summary.variables]
    for doc in summary.documents:
        names += [a.name for a in doc.variables if a.name not in names]
    return names


def _plan(summary: EmailSummary, limits: BodyLimits) -> _Plan:
    ok_docs = [d for d in summary.documents if d.status == "ok"]
    names = _variable_names(summary)
    shown_names = names[: limits.max_variables]
    shortened = False
    docs: list[_Doc] = []
    for doc in ok_docs[: limits.max_documents]:
        answers = {a.name: a for a in doc.variables}
        rows = []
        for name in shown_names:
            a = answers.get(name)
            if a is None:
                continue
            value, cut = _shorten(format_value(a.value), MAX_VALUE_CHARS)
            shortened |= cut
            rows.append(_Row(name, value, _kind(a), a.page, one_line(a.note), a.page_label))
        docs.append(_Doc(doc.file, doc.pages, rows, sum(1 for a in doc.variables if needs_attention(a))))

    all_review = review_items(summary.documents)
    review = []
    for item in all_review[: limits.max_review_items]:
        value, cut_value = _shorten(item.value, MAX_VALUE_CHARS)
        quote, cut_quote = _shorten(item.quote, MAX_QUOTE_CHARS)
        shortened |= cut_value or cut_quote
        review.append(ReviewItem(item.file, item.variable, value, item.page, one_line(item.reason), quote,
                                 item.error, item.page_label))

    left_out: list[str] = []
    if len(ok_docs) > len(docs):
        more = len(ok_docs) - len(docs)
        left_out.append(f"The answers of {_plural(more, 'more document')} are not shown here "
                        f"(this email shows {len(docs):,} of {len(ok_docs):,}).")
    if len(names) > len(shown_names) and docs:
        hidden = names[len(shown_names):]
        listed = ", ".join(hidden[:MAX_LEFT_OUT_NAMES]) + (", ..." if len(hidden) > MAX_LEFT_OUT_NAMES else "")
        left_out.append(f"{_plural(len(hidden), 'variable')} of {len(names):,} "
                        f"{'is' if len(hidden) == 1 else 'are'} not shown per document: {listed}.")
    if len(all_review) > len(review):
        more = len(all_review) - len(review)
        left_out.append(f"{_plural(more, 'more answer')} to review {'is' if more == 1 else 'are'} not listed here.")
    if len(summary.failed) > MAX_FAILED_LISTED:
        more = len(summary.failed) - MAX_FAILED_LISTED
        left_out.append(f"{_plural(more, 'more failed document')} {'is' if more == 1 else 'are'} not listed here "
                        "(see the Errors sheet of the Excel file).")
    if shortened:
        left_out.append(f"Values longer than {MAX_VALUE_CHARS} and quotes longer than {MAX_QUOTE_CHARS} "
                        "characters are shortened (…).")
    failed = [(one_line(n), one_line(r)) for n, r in summary.failed[:MAX_FAILED_LISTED]]
    skipped = [(one_line(n), one_line(r)) for n, r in summary.skipped[:MAX_FAILED_LISTED]]
    if len(summary.skipped) > MAX_FAILED_LISTED:
        left_out.append(f"{_plural(len(summary.skipped) - MAX_FAILED_LISTED, 'more skipped file')} not listed here "
                        "(see the Errors sheet of the Excel file).")
    return _Plan(docs, len(ok_docs), review, len(all_review), failed, left_out, skipped)


def _docs_heading(plan: _Plan) -> str:
    if len(plan.docs) < plan.docs_ok:
        return f"{len(plan.docs):,} of {plan.docs_ok:,} documents"
    return _plural(len(plan.docs), "document")


# The words of the one status vocabulary (models.ANSWER_STATUS_LABELS): "not stated", "corrected", "error".
_KIND_LABEL = {"accepted": "", "review": "to review", "reviewed": "reviewed",
               "not_found": status_label(AnswerStatus.NOT_FOUND).label, "error": status_label(AnswerStatus.ERROR).label,
               "corrected": status_label(AnswerStatus.CORRECTED).label}
_MARKED = ("review", "reviewed", "corrected")  # kinds whose label follows the value


def _page(page: int | None, label: str | None = None) -> str:
    return page_reference(page, label, word="p.")


def _where(item: ReviewItem) -> str:
    """' (page 105, printed 98)' after a review item; '' without a page."""
    if item.page is None:
        return ""
    printed = f", printed {item.page_label}" if item.page_label and item.page_label != str(item.page) else ""
    return f" (page {item.page}{printed})"


# --------------------------------------------------------------------------- text


def _render_text(summary: EmailSummary, plan: _Plan, attachment_note: str, everything_in: str) -> str:
    name = one_line(summary.job_name) or "(unnamed job)"
    out = [f'Policy Reader has finished the job "{name}" ({one_line(summary.status)}): '
           f"{_read_label(summary)}, {_review_label(summary.needs_review)}.", ""]
    if summary.job_url:
        out += [f"Open the job: {summary.job_url}", ""]
    if plan.docs:
        out += [f"ANSWERS ({_docs_heading(plan)})", ""]
        for doc in plan.docs:
            head = f"{one_line(doc.file)} ({_plural(doc.pages, 'page')}"
            head += f", {doc.to_review:,} to review)" if doc.to_review else ")"
            out.append(head)
            for row in doc.rows:
                value = row.value if row.kind not in ("not_found", "error") else f"({_KIND_LABEL[row.kind]})"
                if row.kind == "corrected" and not row.value:
                    value = f"({_KIND_LABEL['not_found']})"
                marks = [m for m in (_page(row.page, row.page_label), _KIND_LABEL[row.kind] if row.kind in _MARKED
                                     else "") if m]
                line = f"  - {row.variable}: {value}" + (f"  [{', '.join(marks)}]" if marks else "")
                if row.kind == "error" and row.note:
                    line += f" {row.note}"
                out.append(line)
            out.append("")
    if plan.review:
        out += [f"ANSWERS TO REVIEW ({plan.review_total:,})", ""]
        for i, item in enumerate(plan.review, start=1):
            where = _where(item)
            value = item.value if item.value else "(no value)"
            out.append(f"{i}. {one_line(item.file)} / {item.variable}: {value}{where}")
            out.append(f"   {'Error' if item.error else 'Why'}: {item.reason}")
            if item.quote:
                out.append(f'   Quote: "{item.quote}"')
        out.append("")
    if summary.accuracy:
        out += ["ACCURACY OF ACCEPTED ANSWERS (AUDIT)", ""]
        out += [f"  - {one_line(label)}: {one_line(text)}" for label, text in _accuracy_lines(summary.accuracy)]
        out.append("")
    if plan.failed:
        out += [f"FAILED DOCUMENTS ({len(summary.failed):,})", ""]
        out += [f"  - {file}: {reason}" for file, reason in plan.failed]
        out.append("")
    if plan.skipped:
        out += [f"SKIPPED FILES, NOT READ ({len(summary.skipped):,})", ""]
        out += [f"  - {file}: {reason}" for file, reason in plan.skipped]
        out.append("")
    if plan.left_out:
        out += [*plan.left_out, f"{_cap(everything_in)} hold every answer, quote and error.", ""]
    out += [attachment_note, "",
            f"Model use: {_usage_text(summary.usage)}; estimated cost ${summary.usage.cost_usd:,.4f}.", "",
            "-- ", "Sent by Policy Reader. The results stay available in the app."]
    return "\n".join(out) + "\n"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- HTML

_esc = html.escape


def _p(content: str, style: str = "") -> str:
    return f'<p style="margin:0 0 12px 0;{style}">{content}</p>'


def _h(text: str) -> str:
    return f'<h2 style="margin:24px 0 8px 0;font-size:17px;line-height:1.3">{_esc(text)}</h2>'


_GREY = "color:#6A737D"
_CELL = "padding:6px 8px;border-top:1px solid #E1E4E8"
_TABLE = ('<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
          'style="border-collapse:collapse;table-layout:fixed;border-bottom:1px solid #E1E4E8">')


def _doc_table(doc: _Doc) -> str:
    """One document: a caption and a two-column table (variable | answer). Two columns, not a
    document x variable grid, so it fits a phone; the markup per row is small (Gmail clips long mails)."""
    rows = []
    for row in doc.rows:
        bg = {"review": f";background:{_REVIEW_BG}", "error": f";background:{_ERROR_BG}"}.get(row.kind, "")
        if row.kind == "not_found" or (row.kind == "corrected" and not row.value):
            value = f'<span style="{_GREY}">{_KIND_LABEL["not_found"]}</span>'
        elif row.kind == "error":
            value = "error" + (f": {_esc(row.note)}" if row.note else "")
        else:
            value = _esc(row.value) or f'<span style="{_GREY}">(empty)</span>'
        marks = [m for m in (_page(row.page, row.page_label) if row.kind not in ("not_found", "error") else "",
                             _KIND_LABEL[row.kind] if row.kind in _MARKED else "") if m]
        small = f' <span style="font-size:12px;{_GREY}">{_esc(", ".join(marks))}</span>' if marks else ""
        rows.append(f'<tr><td width="38%" valign="top" style="{_CELL};font-size:13px;color:#57606A">'
                    f'{_esc(row.variable)}</td><td valign="top" style="{_CELL}{bg}">{value}{small}</td></tr>')
    review = f", {doc.to_review:,} to review" if doc.to_review else ""
    caption = (f'<p style="margin:16px 0 4px 0;font-weight:bold;font-size:15px">{_esc(doc.file)} '
               f'<span style="font-weight:normal;font-size:13px;{_GREY}">'
               f"({_esc(_plural(doc.pages, 'page'))}{_esc(review)})</span></p>")
    return caption + _TABLE + "".join(rows) + "</table>"


def _review_html(items: list[ReviewItem]) -> str:
    out = []
    for i, item in enumerate(items, start=1):
        where = _where(item)
        value = _esc(item.value) if item.value else f'<span style="{_GREY}">(no value)</span>'
        quote = (f'<div style="margin-top:4px;padding-left:10px;border-left:3px solid #D0D7DE;color:#444D56;'
                 f'font-style:italic">&ldquo;{_esc(item.quote)}&rdquo;</div>' if item.quote else "")
        out.append(
            f'<tr><td style="{_CELL}"><div style="font-size:13px;color:#57606A">{i}. {_esc(item.file)}</div>'
            f'<b>{_esc(item.variable)}</b>: <span style="background:{_ERROR_BG if item.error else _REVIEW_BG}">'
            f'{value}</span>{_esc(where)}<div style="margin-top:4px;font-size:13px">'
            f'{"Error" if item.error else "Why"}: {_esc(item.reason)}</div>{quote}</td></tr>')
    return _TABLE + "".join(out) + "</table>"


def _accuracy_html(estimate: AuditEstimate) -> str:
    rows = "".join(f'<tr><td width="38%" valign="top" style="{_CELL};font-size:13px;color:#57606A">{_esc(label)}</td>'
                   f'<td valign="top" style="{_CELL}">{_esc(one_line(text))}</td></tr>'
                   for label, text in _accuracy_lines(estimate))
    note = _p("A reviewer checked a random sample of the answers accepted without review; the interval says "
              "how far the true share may lie from the sample's.", f"margin-top:6px;font-size:12px;{_GREY}")
    return _TABLE + rows + "</table>" + note


def _link_html(url: str | None) -> str:
    if not url:
        return ""
    if re.match(r"^https?://", url, re.IGNORECASE):
        return ('<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 12px 0">'
                '<tr><td style="background:#0B5CAD;border-radius:4px">'
                f'<a href="{_esc(url, quote=True)}" style="display:inline-block;padding:10px 16px;color:#FFFFFF;'
                'text-decoration:none;font-weight:bold;font-size:14px">Open the job in Policy Reader</a>'
                "</td></tr></table>")
    return _p(f"Job page: {_esc(url)}")


def _render_html(summary: EmailSummary, plan: _Plan, attachment_note: str, everything_in: str) -> str:
    """Inline styles only, one phone-width column, everything escaped."""
    name = _esc(one_line(summary.job_name) or "(unnamed job)")
    parts = [
        f'<h1 style="margin:0 0 8px 0;font-size:20px;line-height:1.3">{name}</h1>',
        _p(f"Policy Reader has finished this job ({_esc(one_line(summary.status))}): "
           f"<b>{_esc(_read_label(summary))}</b>, <b>{_esc(_review_label(summary.needs_review))}</b>."),
        _link_html(summary.job_url),
    ]
    if plan.docs:
        parts.append(_h(f"Answers ({_docs_heading(plan)})"))
        parts += [_doc_table(doc) for doc in plan.docs]
    if plan.review:
        parts.append(_h(f"Answers to review ({plan.review_total:,})"))
        parts.append(_review_html(plan.review))
    if summary.accuracy:
        parts.append(_h("Accuracy of accepted answers (audit)"))
        parts.append(_accuracy_html(summary.accuracy))
    if plan.failed:
        parts.append(_h(f"Failed documents ({len(summary.failed):,})"))
        items = "".join(f'<li style="margin:0 0 6px 0"><b>{_esc(file)}</b>: {_esc(reason)}</li>'
                        for file, reason in plan.failed)
        parts.append(f'<ul style="margin:0 0 12px 0;padding:0 0 0 20px">{items}</ul>')
    if plan.skipped:
        parts.append(_h(f"Skipped files, not read ({len(summary.skipped):,})"))
        items = "".join(f'<li style="margin:0 0 6px 0"><b>{_esc(file)}</b>: {_esc(reason)}</li>'
                        for file, reason in plan.skipped)
        parts.append(f'<ul style="margin:0 0 12px 0;padding:0 0 0 20px">{items}</ul>')
    if plan.left_out:
        sentences = " ".join(_esc(s) for s in plan.left_out)
        parts.append(_p(f"{sentences} <b>{_esc(_cap(everything_in))} hold every answer, quote and error.</b>",
                        "margin-top:16px;padding:8px 10px;background:#F6F8FA;border:1px solid #E1E4E8"))
    parts.append(_p(_esc(attachment_note), "margin-top:16px"))
    parts.append(_p(f"Model use: {_esc(_usage_text(summary.usage))}; estimated cost "
                    f"${summary.usage.cost_usd:,.4f}.", f"font-size:12px;{_GREY}"))
    parts.append(_p("Sent by Policy Reader. The results stay available in the app.", f"font-size:12px;{_GREY}"))
    content = "".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="x-apple-disable-message-reformatting"><title>Policy Reader</title></head>'
        f'<body style="margin:0;padding:0;background:#F3F4F6;{_FONT}">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#F3F4F6"><tr><td align="center" style="padding:12px 6px">'
        '<!--[if mso]><table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0">'
        "<tr><td><![endif]-->"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:640px;background:#FFFFFF;border:1px solid #E1E4E8;border-collapse:collapse">'
        # the wrapping rules are inherited: long file names and URLs wrap instead of widening the mail
        f'<tr><td style="padding:16px;{_FONT};font-size:14px;line-height:1.45;color:#1f2328;text-align:left;'
        f'{_WRAP}">'
        f"{content}</td></tr></table>"
        "<!--[if mso]></td></tr></table><![endif]-->"
        "</td></tr></table></body></html>")


def render_body(summary: EmailSummary, limits: BodyLimits, *, attachment_note: str,
                everything_in: str) -> EmailBody:
    """The text and HTML bodies, from one plan so they say the same thing.

    `attachment_note` says what is attached (or where the files are); `everything_in` names where the
    complete results are ("the attached files", "the results in Policy Reader"), for what the body left out.
    Gmail clips an HTML body past ~102 KB behind "[Message clipped]": when the configured limits would
    make a longer one, fewer documents and review items are shown (and the body says so).
    """
    while True:
        plan = _plan(summary, limits)
        page = _render_html(summary, plan, attachment_note, everything_in)
        size = len(page.encode("utf-8"))
        if size <= MAX_HTML_BYTES or (len(plan.docs) <= 1 and len(plan.review) <= 1):
            break
        shrink = MAX_HTML_BYTES / size * 0.95
        limits = replace(limits, max_documents=max(1, int(len(plan.docs) * shrink)),
                         max_review_items=max(1, int(len(plan.review) * shrink)))
    # every untrusted piece went through one_line already; the whole body goes through the same cleaner
    # again, so a quote or value rendered another way can never carry a bidi override to the reader
    return EmailBody(text=strip_invisible(_render_text(summary, plan, attachment_note, everything_in), keep_lines=True),
                     html=strip_invisible(page, keep_lines=True))
