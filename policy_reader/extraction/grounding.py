"""Grounding: where a quote really is in the document, and whether it says what the answer says.

Alignment, not trust (as LangExtract aligns its extractions):
* The quote is cleaned of prompt markup the model may echo (`</page> <page number="5">`,
  `<document>`), then compared with the WHOLE document as one text, so a quote that runs over a page
  break is found, and the page comes from where the quote is, never from the model's claim.
* Comparison is over letters and digits only (case, accents' compatibility forms, spacing,
  punctuation, quote marks, dashes and line-end hyphenation do not matter), exact first.
* Then fuzzy: windows of the document that share enough 5-letter seeds with the quote are compared
  with difflib; similarity = difflib's ratio between the quote's letters and the aligned span's
  (2 x matching / total). FUZZY_MIN (0.80) is the least that counts as found (OCR noise, a changed
  word); only FUZZY_ACCEPT (0.90) and above may be accepted; below it the answer needs review.
  Quotes shorter than MIN_FUZZY_CHARS letters must match exactly (a short string matches anywhere).
* "..." in a quote splits it into pieces that must appear in order, each within MAX_GAP_CHARS of the
  previous one.
* The result is a match kind (exact / fuzzy / none), the span as [start, end) character offsets of
  each page's text, and the pages.

Whether the text at the span states the answer's value is `values.py`; whether it is about the question,
`relevance.py`; which of several places a quote aligns at is meant, `placement.py`.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from policy_reader.models import MatchKind, PageText, SpanPart
from policy_reader.reading.quotes import clean_quote

#: Part of the answer cache key: answers checked by other rules are not reused.
GROUNDING_VERSION = "2"
#: Least similarity for a fuzzy match to count as found (below: match kind none).
FUZZY_MIN = 0.80
#: Least similarity for a fuzzy match to be accepted without review.
FUZZY_ACCEPT = 0.90
#: Quotes (pieces) with fewer letters and digits than this must match exactly.
MIN_FUZZY_CHARS = 16
#: Largest gap, in letters and digits, between two pieces of a quote elided with "...".
MAX_GAP_CHARS = 4000
#: Longest quote aligned, in letters and digits (about 3,500 characters of text: a long paragraph). A
#: longer one is not evidence a reader can check at a glance, and a model steered to "quote the whole
#: page" must not buy minutes of CPU per answer: it is not aligned and the answer goes to review, saying
#: why (`quote_problem`).
MAX_QUOTE_CHARS = 3000
_SEED = 5
_MAX_SEED_HITS = 400  # a seed found more often than this says nothing about where the quote is
MAX_EXACT = 20
_SPAN_ROUNDS = 4  # alignments of one window (each trims the slack the previous one matched by chance)

_ELLIPSIS = re.compile(r"\.\s*\.\s*\.|\u2026|\[\s*\.\.\.\s*\]")
WORD_RUN = re.compile(r"[^\W_]+")
_FOLD = str.maketrans({"\u00ad": None})


def loose(text: str) -> str:
    """Letters and digits only, case-folded and NFKC-normalised: what alignment compares."""
    return _loose_with_offsets(text)[0]


def _loose_with_offsets(text: str) -> tuple[str, list[int]]:
    """loose(text) and, for each of its characters, the offset of the source character in `text`."""
    text = text.translate(_FOLD) if "\u00ad" in text else text
    chars: list[str] = []
    offsets: list[int] = []
    for match in WORD_RUN.finditer(text):
        run, start = match.group(), match.start()
        if run.isascii():
            chars.append(run.lower())
            offsets.extend(range(start, match.end()))
            continue
        for i, ch in enumerate(run):
            folded = "".join(c for c in unicodedata.normalize("NFKC", ch).casefold() if c.isalnum())
            chars.append(folded)
            offsets.extend([start + i] * len(folded))
    return "".join(chars), offsets


@dataclass(frozen=True)
class Alignment:
    """Where a quote is: its kind, similarity and span (one part per page or per elided piece)."""

    kind: MatchKind
    similarity: float
    parts: tuple[SpanPart, ...] = ()

    @property
    def pages(self) -> list[int]:
        return sorted({p.page for p in self.parts})

    @property
    def found(self) -> bool:
        return self.kind is not MatchKind.NONE

    @property
    def acceptable(self) -> bool:
        """Exact, or fuzzy at or above FUZZY_ACCEPT."""
        return self.kind is MatchKind.EXACT or (self.kind is MatchKind.FUZZY and self.similarity >= FUZZY_ACCEPT)


NOT_FOUND = Alignment(MatchKind.NONE, 0.0)


def quote_problem(quote: str) -> str:
    """Why a quote is not aligned at all ("" when it is): too long to be checked (MAX_QUOTE_CHARS)."""
    letters = len(loose(clean_quote(quote)))
    if letters > MAX_QUOTE_CHARS:
        return (f"the quote is too long to check ({letters:,} letters and digits; at most {MAX_QUOTE_CHARS:,} "
                "are compared with the document)")
    return ""


class DocumentIndex:
    """The document's pages as one comparable text (built once per document), for aligning quotes."""

    def __init__(self, pages: list[PageText]) -> None:
        texts: dict[int, str] = {}
        for page in pages:  # a page given in parts is joined back
            texts[page.number] = texts.get(page.number, "") + page.text
        self.page_texts = texts
        self.page_numbers = sorted(texts)
        parts: list[str] = []
        self._offsets: list[int] = []
        self._starts: list[int] = []  # where each page begins in the loose text
        pos = 0
        for number in self.page_numbers:
            text, offsets = _loose_with_offsets(texts[number])
            self._starts.append(pos)
            parts.append(text)
            self._offsets.extend(offsets)
            pos += len(text)
        self.text = "".join(parts)

    # -- alignment

    def align(self, quote: str, *, prefer_pages: set[int] | frozenset[int] = frozenset()) -> list[Alignment]:
        """Every place the quote may be, best first (exact before fuzzy, then `prefer_pages`, then order).

        Empty when it is not in the document."""
        pieces = [loose(p) for p in _ELLIPSIS.split(clean_quote(quote))]
        pieces = [p for p in pieces if p]
        if not pieces or not self.text or sum(len(p) for p in pieces) > MAX_QUOTE_CHARS:
            return []
        found = self._align_pieces(pieces, fuzzy=False)
        if not found and sum(len(p) for p in pieces) >= MIN_FUZZY_CHARS:
            found = self._align_pieces(pieces, fuzzy=True)
        alignments = [self._alignment(spans, sim) for spans, sim in found]
        alignments.sort(key=lambda a: (a.kind is not MatchKind.EXACT, -round(a.similarity, 3),
                                       not (set(a.pages) & set(prefer_pages)), a.parts[0].page))
        return alignments

    def _align_pieces(self, pieces: list[str], *, fuzzy: bool) -> list[tuple[list[tuple[int, int]], float]]:
        """[(loose spans, similarity)] for the pieces in order; the first piece anchors each candidate."""
        out = []
        for start, end, sim in self._find(pieces[0], 0, len(self.text), fuzzy, many=True):
            spans, weighted, total = [(start, end)], sim * len(pieces[0]), len(pieces[0])
            for piece in pieces[1:]:
                hits = self._find(piece, spans[-1][1], min(len(self.text), spans[-1][1] + MAX_GAP_CHARS + len(piece)),
                                  fuzzy, many=False)
                if not hits:
                    break
                spans.append(hits[0][:2])
                weighted += hits[0][2] * len(piece)
                total += len(piece)
            else:
                out.append((spans, weighted / total))
        return out

    def _find(self, piece: str, lo: int, hi: int, fuzzy: bool, *, many: bool) -> list[tuple[int, int, float]]:
        """Exact occurrences of `piece` in text[lo:hi] (up to MAX_EXACT), else fuzzy ones when allowed."""
        hits: list[tuple[int, int, float]] = []
        at = self.text.find(piece, lo, hi)
        while at != -1 and len(hits) < (MAX_EXACT if many else 1):
            hits.append((at, at + len(piece), 1.0))
            at = self.text.find(piece, at + 1, hi)
        if hits or not fuzzy or len(piece) < MIN_FUZZY_CHARS:
            return hits
        return self._fuzzy(piece, lo, hi)[: 3 if many else 1]

    def _fuzzy(self, piece: str, lo: int, hi: int) -> list[tuple[int, int, float]]:
        """Windows voted for by the piece's seeds, scored by difflib; best first, >= FUZZY_MIN only."""
        n = len(piece)
        step = max(1, (n - _SEED) // 32)
        votes: Counter[int] = Counter()
        bucket = max(8, n // 4)
        seeds = 0
        for j in range(0, n - _SEED + 1, step):
            seed = piece[j:j + _SEED]
            positions = []
            at = self.text.find(seed, lo, hi)
            while at != -1 and len(positions) <= _MAX_SEED_HITS:
                positions.append(at)
                at = self.text.find(seed, at + 1, hi)
            if len(positions) > _MAX_SEED_HITS:
                continue
            seeds += 1
            for pos in set((p - j) // bucket for p in positions):
                votes[pos] += 1
        if not seeds:
            return []
        results: dict[int, tuple[int, int, float]] = {}
        for slot, count in votes.most_common(6):
            if count < max(2, seeds // 5):
                break
            w_lo = max(lo, slot * bucket - n // 4)
            w_hi = min(hi, slot * bucket + bucket + n + n // 4)
            scored = _best_span(piece, self.text, w_lo, w_hi)
            if scored and scored[2] >= FUZZY_MIN:
                results[scored[0]] = scored
        return sorted(results.values(), key=lambda r: -r[2])

    def _alignment(self, spans: list[tuple[int, int]], similarity: float) -> Alignment:
        parts: list[SpanPart] = []
        for start, end in spans:
            parts.extend(self._page_parts(start, end))
        kind = MatchKind.EXACT if similarity >= 1.0 else MatchKind.FUZZY
        return Alignment(kind, round(similarity, 4), tuple(parts))

    def _page_parts(self, start: int, end: int) -> list[SpanPart]:
        """Loose [start, end) -> one SpanPart per page, in each page's own character offsets."""
        parts = []
        first = bisect.bisect_right(self._starts, start) - 1
        for k in range(first, len(self.page_numbers)):
            p_start = self._starts[k]
            p_end = self._starts[k + 1] if k + 1 < len(self._starts) else len(self.text)
            if p_start >= end:
                break
            a, b = max(start, p_start), min(end, p_end)
            if a < b:
                parts.append(SpanPart(page=self.page_numbers[k], start=self._offsets[a],
                                      end=self._offsets[b - 1] + 1))
        return parts

    def span_text(self, part: SpanPart) -> str:
        return self.page_texts.get(part.page, "")[part.start:part.end]

    def aligned_text(self, alignment: Alignment, page: int | None = None) -> str:
        """The document's own text at the span (one page's parts when `page` is given)."""
        return " ".join(self.span_text(p) for p in alignment.parts if page is None or p.page == page)


def _best_span(piece: str, text: str, lo: int, hi: int) -> tuple[int, int, float] | None:
    """The part of text[lo:hi] that best matches `piece`: (start, end, similarity).

    Matching blocks are those of a longest common subsequence (rapidfuzz's Indel opcodes, bit-parallel:
    about len(piece) x len(window) / 64 steps — milliseconds for the longest quote aligned, where
    difflib's SequenceMatcher took 1.2 s at 2,000 characters and 22 s at 8,000, growing with the
    square). A common subsequence pays nothing for gaps, so in the window's slack around the quote
    common words match by chance: the span is trimmed at either end while that raises the similarity,
    then aligned again within it and a small margin, until it holds still (a few rounds).
    Similarity = 2 x matching / total: difflib's ratio, over the LCS."""
    span = _trimmed_span(piece, text, lo, hi)
    if span is None:
        return None
    margin = len(piece) // 20 + 16  # the next rounds: the trimmed span and a little room either side
    for _round in range(_SPAN_ROUNDS):
        again = _trimmed_span(piece, text, max(lo, span[0] - margin), min(hi, span[1] + margin))
        if again is None or again == span:
            break
        span = again
    return span[0], span[1], Indel.normalized_similarity(piece, text[span[0]:span[1]])


def _trimmed_span(piece: str, text: str, lo: int, hi: int) -> tuple[int, int] | None:
    blocks = [(b1, b2 - b1) for tag, _a1, _a2, b1, b2 in Indel.opcodes(piece, text[lo:hi]).as_list()
              if tag == "equal" and b2 > b1]
    if not blocks:
        return None
    solid = [k for k, (_b, size) in enumerate(blocks) if size >= 3] or list(range(len(blocks)))
    matched = [0]
    for _b, size in blocks:
        matched.append(matched[-1] + size)

    def score(i: int, j: int) -> float:  # blocks[i] .. blocks[j]
        return 2 * (matched[j + 1] - matched[i]) / (len(piece) + blocks[j][0] + blocks[j][1] - blocks[i][0])

    first, last = 0, len(solid) - 1
    best = score(solid[first], solid[last])
    while first < last:
        ahead, back = score(solid[first + 1], solid[last]), score(solid[first], solid[last - 1])
        if max(ahead, back) <= best:
            break
        if ahead >= back:
            first, best = first + 1, ahead
        else:
            last, best = last - 1, back
    return lo + blocks[solid[first]][0], lo + blocks[solid[last]][0] + blocks[solid[last]][1]
