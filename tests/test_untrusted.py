"""Untrusted text loses its invisible characters in one place (policy_reader/untrusted.py), and every
path that shows it (emails, attachment and stored file names, page text, CLI output) goes through it."""
from __future__ import annotations

import sys
import unicodedata

from policy_reader.app.view import plain
from policy_reader.cli import safe
from policy_reader.delivery.email_body import one_line, sanitize_subject_text
from policy_reader.reading.pdf_text import sanitize_filename
from policy_reader.untrusted import strip_invisible

SPOOF = "Invoice\u202efdp.exe"  # reads "Invoiceexe.pdf" where the override is honoured
EVERY_FORMAT_CHAR = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
HIDDEN = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"


def test_every_format_character_is_removed_and_visible_text_kept() -> None:
    assert len(EVERY_FORMAT_CHAR) > 150 and set(HIDDEN) <= set(EVERY_FORMAT_CHAR)
    assert strip_invisible("a" + EVERY_FORMAT_CHAR + "b") == "ab"
    assert strip_invisible(SPOOF) == "Invoicefdp.exe"
    assert strip_invisible("Klimaschutz – Überblick 2024 気候 é") == "Klimaschutz – Überblick 2024 気候 é"


def test_controls_go_and_line_breaks_become_spaces_or_stay() -> None:
    text = "a\r\nb\tc\x00d\x1be\x85f\u2028g\u2029h\x7f"
    assert strip_invisible(text) == "a  b cde f g h"
    assert strip_invisible(text, keep_lines=True) == "a\r\nb\tcde\nf\ng\nh"


def test_every_display_path_uses_it() -> None:
    for shown in (one_line(SPOOF), sanitize_subject_text(SPOOF), safe(SPOOF), plain(SPOOF).replace("\\", ""),
                  sanitize_filename(SPOOF + ".pdf")):
        assert not set(shown) & set(HIDDEN), repr(shown)
        assert "Invoice" in shown and "fdp" in shown
    for cleaner in (one_line, sanitize_subject_text, safe):
        assert not set(cleaner("x" + EVERY_FORMAT_CHAR + "y")) & set(EVERY_FORMAT_CHAR), cleaner
