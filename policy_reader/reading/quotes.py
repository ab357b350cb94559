"""Quotes as the model writes them, cleaned before they are looked for in a page.

Why in the reader's wing: the evidence image (page_image) and the answer checks (extraction.grounding)
both locate a model's quote in a page's text; the reader side must not import answer checking, so the
one cleaning rule they share lives here, below both.
"""
from __future__ import annotations

import re

#: The prompt's page/document markers (`</page> <page number="5">`, `<document>`) a model may echo.
PROMPT_MARKUP = re.compile(r"(?:<|&lt;)\s*/?\s*(?:page|document)\b[^<>]{0,40}?(?:>|&gt;)", re.IGNORECASE)


def clean_quote(quote: str) -> str:
    """The quote without the prompt's page/document markers and surrounding quote marks."""
    text = PROMPT_MARKUP.sub(" ", quote or "")
    return " ".join(text.split()).strip("\"'\u201c\u201d\u2018\u2019 ")
