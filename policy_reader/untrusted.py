"""Untrusted text (job and file names, PDF text, errors quoting them) made safe to show, in ONE place.

Why one function: a job named `Invoice<U+202E>fdp.exe` reads "Invoiceexe.pdf" wherever the right-to-left
override is honoured (mail clients, browsers, terminals). Each display path used to keep its own list of
characters to drop, and every list missed some. `strip_invisible` is the only list: every character of
Unicode category Cf (format: the bidi embeddings, overrides and isolates U+202A-202E and U+2066-2069, the
marks U+200E/U+200F, zero-width spaces and joiners, the word joiner, the BOM, soft hyphens, ...) and
every control character (Cc: C0, DEL, C1) is removed; line breaks, tabs and the Unicode line/paragraph
separators become a space (one line), or a line break (`keep_lines`, for whole email bodies).

The email bodies and subject, attachment and stored file names, the page's text (`app.view.plain`) and
the CLI's output (`cli.safe`) all call it; a job's name and display file names are cleaned at intake too.
"""
from __future__ import annotations

import re
import unicodedata

# ASCII needs no Unicode lookup: controls other than the line breaks and tab, and DEL.
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_ASCII_BREAKS = re.compile(r"[\t\n\r\x0b\x0c]")
_BREAKS = frozenset("\t\n\r\x0b\x0c\x85\u2028\u2029")
# Invisible although not Cf: the Hangul fillers render as nothing and are used to fake blank names.
_ALSO_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0")


def is_invisible(ch: str) -> bool:
    """True for a character that `strip_invisible` removes (a line break is not one: it is replaced)."""
    return ch in _ALSO_INVISIBLE or (ch not in _BREAKS and unicodedata.category(ch) in ("Cf", "Cc"))


def strip_invisible(text: object, *, keep_lines: bool = False) -> str:
    """`text` without format (Cf) and control (Cc) characters. Line breaks and tabs become spaces, or
    with `keep_lines` stay as they are (U+0085, U+2028, U+2029 become "\\n")."""
    s = "" if text is None else str(text)
    if s.isascii():
        s = _ASCII_CONTROL.sub("", s)
        return s if keep_lines else _ASCII_BREAKS.sub(" ", s)
    out = []
    for ch in s:
        if ch in _BREAKS:
            out.append((ch if ch in "\t\n\r" else "\n") if keep_lines else " ")
        elif ch.isascii() and ch.isprintable() or not is_invisible(ch):
            out.append(ch)
    return "".join(out)
