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

The quote must support the value (`value_support`), checked against the DOCUMENT's text at the span
(a quote edited to carry the value cannot vouch for it):
* number: the number in digits ("45", "45.0", "1,200", "45 %"), scaled words ("1.2 million") or
  written out ("forty-five per cent"); a percentage may also be given as a fraction (0.45);
* year: the four digits as a number of their own ("2019", "2019/20", "FY2019");
* date: the same day in any common format ("14 March 2019", "March 14, 2019", "14/03/2019",
  "2019-03-14", "14.3.2019"), or the month and year / the year when that is all the value says;
* category and list items: the option's words (singular or plural), or a synonym the variable
  states in its instructions as `Synonyms: option = other words, more words; option2 = ...`;
* boolean: the quote names the question's subject (at least half of the question's key words, or
  their stated synonyms); `false` needs a negation in the quote ("not", "no", "without", ...),
  `true` must have none;
* number, year, date: besides the value, the quote names the question's subject (a key word that
  sets the question apart from the job's other questions, or its usual equivalent: "approved" for
  "adopted"), so the right digits for another question are not support;
* text: at least two thirds of the value's words (function words aside) are in the quote.
"""
from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from rapidfuzz.distance import Indel

from policy_reader.models import MatchKind, PageText, SpanPart, Variable, VariableType
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
_MAX_EXACT = 20
_SPAN_ROUNDS = 4  # alignments of one window (each trims the slack the previous one matched by chance)

_ELLIPSIS = re.compile(r"\.\s*\.\s*\.|\u2026|\[\s*\.\.\.\s*\]")
_RUN = re.compile(r"[^\W_]+")
_FOLD = str.maketrans({"\u00ad": None})


def loose(text: str) -> str:
    """Letters and digits only, case-folded and NFKC-normalised: what alignment compares."""
    return _loose_with_offsets(text)[0]


def _loose_with_offsets(text: str) -> tuple[str, list[int]]:
    """loose(text) and, for each of its characters, the offset of the source character in `text`."""
    text = text.translate(_FOLD) if "\u00ad" in text else text
    chars: list[str] = []
    offsets: list[int] = []
    for match in _RUN.finditer(text):
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
        """Exact occurrences of `piece` in text[lo:hi] (up to _MAX_EXACT), else fuzzy ones when allowed."""
        hits: list[tuple[int, int, float]] = []
        at = self.text.find(piece, lo, hi)
        while at != -1 and len(hits) < (_MAX_EXACT if many else 1):
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


# --------------------------------------------------------------------------- value support


@dataclass
class Support:
    """Whether a text supports a value; `missing` lists the list items it does not mention."""

    ok: bool
    reason: str = ""
    missing: list[str] = field(default_factory=list)


_UNITS = {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_TENS = {w: 10 * (i + 2) for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
           "trillion": 1_000_000_000_000}
_SHORT_SCALES = {"k": 1_000, "m": 1_000_000, "mn": 1_000_000, "bn": 1_000_000_000, "b": 1_000_000_000}
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:[,\u00a0\u202f ]\d{3})+|\d+)(?:[.,](\d+))?(?![\d])")
_WORDS = re.compile(r"[a-z]+")
_MONTHS = {m: i + 1 for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"])}
_MONTHS.update({m[:3]: n for m, n in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RE = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), "ymd"),
    (re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?!\d)"), "dmy|mdy"),
    (re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r",?\s+(\d{4})(?!\d)"), "dMy"),
    (re.compile(_MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)"), "Mdy"),
    (re.compile(_MONTH_RE + r",?\s+(?:of\s+)?(\d{4})(?!\d)"), "My"),
    (re.compile(r"(?<!\d)(\d{4})[-/](\d{1,2})(?![-/.\d])"), "ym"),
]
_NEGATION = re.compile(r"\b(not|no|none|never|neither|nor|without|excluded?|excludes|lacks?|absent|"
                       r"\w+n't|cannot)\b", re.IGNORECASE)
_FUNCTION = set("""a an and are as at be been being by can could did do does doing for from had has have how i if
in into is it its may might must of on or our shall should so such than that the their them then there these
they this those to under upon was were what when where which while who whom whose why will with would""".split())
#: Not a question's subject: function words and words every policy question uses.
_STOP = _FUNCTION | set("""policy policies document documents plan strategy country national government cover
covers mention mentions include includes included any state states stated""".split())
_STOP |= {_w.removesuffix("s") for _w in _STOP}  # also as _stem() leaves them
_SYNONYMS = re.compile(r"synonyms?\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)


def numbers_in(text: str) -> set[float]:
    """Every number `text` states: digits (with thousands separators or a decimal comma), scaled
    ("1.2 million", "250m"), percentages also as fractions, and numbers written in words."""
    low = text.casefold()
    out: set[float] = set()
    for match in _NUMBER.finditer(low):
        whole, frac = match.group(1), match.group(2)
        digits = re.sub(r"[,\u00a0\u202f ]", "", whole)
        values = {float(f"{digits}.{frac}") if frac else float(digits)}
        if frac and len(frac) == 3 and "," in match.group(0) and "." not in match.group(0):
            values.add(float(digits + frac))  # "1,200": a thousands separator, not a decimal comma
        after = low[match.end():match.end() + 14]
        scale = re.match(r"\s*(hundred|thousand|million|billion|trillion|bn|mn|m|k|b)\b", after)
        for value in list(values):
            if scale:
                values.add(value * _SCALES.get(scale.group(1), _SHORT_SCALES.get(scale.group(1), 1)))
            if re.match(r"\s*(%|per\s*cent|percent|pct)", after):
                values.add(value / 100)
        out |= values
    out |= _word_numbers(low)
    out |= {value for _s, _e, value in fractions_in(low)}
    return out


_VULGAR = "".join(chr(c) for c in range(0x00BC, 0x00BF)) + "".join(chr(c) for c in range(0x2150, 0x215F))
_VULGAR_RE = re.compile(r"(?<![\d.,])(?:(\d+)[\s-]?)?([" + _VULGAR + r"])")
_SLASH_RE = re.compile(r"(?<![\d/.,])(?:(\d+)[\s-]+)?(\d{1,2})\s*[/\u2044]\s*(\d{1,2})(?![\d/])")
_FRACTION_WORDS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
                   "fourths": 4, "fifth": 5, "fifths": 5, "eighth": 8, "eighths": 8, "tenth": 10, "tenths": 10}
_SMALL = "|".join(sorted(_UNITS, key=len, reverse=True))
_WORD_FRACTION_RE = re.compile(r"\b(?:(" + _SMALL + r")\s+and\s+)?(a|an|one|two|three|four|five|seven|nine)[\s-]+("
                               + "|".join(_FRACTION_WORDS) + r")\b")


def fractions_in(low: str) -> list[tuple[int, int, float]]:
    """(start, end, value) of every fraction the (case-folded) text prints: vulgar fractions ("1¼",
    "½"), slashes ("1 1/4", "1-1/2", "3/4"; small denominators only, so dates are not read as
    fractions) and words ("one and one-quarter", "one and a half", "three-quarters").

    Why: ordinances print multiples of a turbine's height this way; without them a right answer
    (1.25) can never be supported."""
    out: list[tuple[int, int, float]] = []
    for m in _VULGAR_RE.finditer(low):
        out.append((m.start(), m.end(), float(m.group(1) or 0) + unicodedata.numeric(m.group(2))))
    for m in _SLASH_RE.finditer(low):
        num, den = int(m.group(2)), int(m.group(3))
        if 0 < num < den <= 16:
            out.append((m.start(), m.end(), float(m.group(1) or 0) + num / den))
    for m in _WORD_FRACTION_RE.finditer(low):
        num = 1 if m.group(2) in ("a", "an") else _UNITS[m.group(2)]
        den = _FRACTION_WORDS[m.group(3)]
        if num < den:
            out.append((m.start(), m.end(), float(_UNITS[m.group(1)] if m.group(1) else 0) + num / den))
    return out


def _word_numbers(low: str) -> set[float]:
    """Numbers written in words: "forty-five", "two hundred and fifty", "3 million" is handled by digits."""
    out: set[float] = set()
    total = current = 0
    active = scaled = False
    for word in _WORDS.findall(low.replace("-", " ")):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred" and active:
            current = max(1, current) * 100
        elif word in _SCALES and active:
            total += max(1, current) * _SCALES[word]
            current = 0
        elif word == "and" and active and scaled:  # "two hundred and fifty", not "one and one-half"
            continue
        else:
            if active:
                out.add(float(total + current))
            total = current = 0
            active = scaled = False
            continue
        active = True
        scaled = word in _SCALES
    if active:
        out.add(float(total + current))
    out |= {v / 100 for v in out}  # "forty-five per cent" read as a fraction too
    return out


def years_in(text: str) -> set[int]:
    return {int(y) for y in re.findall(r"(?<!\d)(\d{4})(?!\d)", text)}


def dates_in(text: str) -> set[tuple[int, int | None, int | None]]:
    """(year, month, day) of every date `text` states (month/day None when it does not say)."""
    low = text.casefold()
    out: set[tuple[int, int | None, int | None]] = set()
    for pattern, kind in _DATE_PATTERNS:
        for m in pattern.finditer(low):
            g = m.groups()
            if kind == "ymd":
                out.add((int(g[0]), int(g[1]), int(g[2])))
            elif kind == "dmy|mdy":
                year = int(g[2]) + (2000 if len(g[2]) == 2 and int(g[2]) < 70 else 1900 if len(g[2]) == 2 else 0)
                out.add((year, int(g[1]), int(g[0])))
                out.add((year, int(g[0]), int(g[1])))
            elif kind == "dMy":
                out.add((int(g[2]), _MONTHS[g[1]], int(g[0])))
            elif kind == "Mdy":
                out.add((int(g[2]), _MONTHS[g[0]], int(g[1])))
            elif kind == "My":
                out.add((int(g[1]), _MONTHS[g[0]], None))
            elif kind == "ym":
                out.add((int(g[0]), int(g[1]), None))
    out |= {(y, None, None) for y in years_in(low)}
    return out


def _stem(word: str) -> str:
    word = word.casefold()
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


def _words(text: str) -> list[str]:
    return [_stem(w) for w in _RUN.findall(text.casefold())]


def _phrase_in(phrase: str, text_words: list[str], text_loose: str) -> bool:
    """The phrase's words appear in order in the text (plural-insensitive), or its letters do."""
    words = _words(phrase)
    if not words:
        return False
    joined = " " + " ".join(text_words) + " "
    if " " + " ".join(words) + " " in joined:
        return True
    key = [w for w in words if w not in _STOP]
    if key and len(key) < len(words) and all(f" {w} " in joined for w in key):
        return True  # "Environment Ministry" for "Ministry of Environment"
    return len(loose(phrase)) >= 6 and loose(phrase) in text_loose


def stated_synonyms(variable: Variable) -> dict[str, list[str]]:
    """`Synonyms: option = a, b; option2 = c` from the variable's instructions (lower-case keys)."""
    match = _SYNONYMS.search(variable.instructions or "")
    out: dict[str, list[str]] = {}
    if not match:
        return out
    for clause in match.group(1).split(";"):
        if "=" in clause:
            key, alts = clause.split("=", 1)
            out.setdefault(" ".join(key.casefold().split()), []).extend(
                a.strip() for a in alts.split(",") if a.strip())
    return out


def _option_in(option: str, variable: Variable, text_words: list[str], text_loose: str) -> bool:
    names = [option, *stated_synonyms(variable).get(" ".join(option.casefold().split()), [])]
    return any(_phrase_in(name, text_words, text_loose) for name in names)


#: Words a question's subject is often stated with in policy texts (prefixes, like the matching).
EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "adopt": ("approv", "enact", "passed", "endors", "signed", "ratif", "launch", "issued"),
    "approv": ("adopt", "enact", "endors", "signed"),
    "implem": ("respon", "lead", "charge", "execut", "oversee", "coordin"),
    "respon": ("implem", "lead", "charge"),
    "cover": ("appli", "apply", "includ", "addres", "concer", "sector", "scope"),
    "target": ("goal", "aim", "reduc", "cut", "objec", "reach"),
    "reduc": ("target", "cut", "lower", "decrea"),
    "review": ("revis", "updat", "evalu", "assess"),
    "budget": ("fund", "financ", "alloca", "cost", "dollar", "shilli", "euro"),
    "alloca": ("budget", "fund", "financ"),
    "baseli": ("base", "refer", "against"),
}
_GENERIC = {"year", "date", "number", "percentage", "percent", "amount", "many", "much", "value", "name",
            "kind", "type", "which", "what", "when", "whether", "every", "each", "come", "give", "given"}


def _prefix(word: str) -> str:
    return word[:5] if len(word) > 5 else word


def key_terms(variable: Variable, others: Sequence[Variable] = ()) -> list[tuple[str, ...]]:
    """The question's subject words, each with its usual equivalents (5-letter prefixes; no stop or
    generic words), plus the synonyms the variable states. With `others` (the job's other
    variables), only the words that set this question apart from them, when it has any."""
    groups = _groups(variable)
    if others:
        shared = {g[0] for other in others if other.name != variable.name for g in _groups(other)}
        distinct = [g for g in groups if g[0] not in shared]
        if distinct:
            return distinct
    return groups


def _groups(variable: Variable) -> list[tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    for word in _RUN.findall(variable.question.casefold()):
        stem = _stem(word)
        if word in _STOP or stem in _STOP or word in _GENERIC or stem in _GENERIC or len(word) < 3 or word.isdigit():
            continue
        head = _prefix(stem)
        alts = [a for key, more in EQUIVALENTS.items() if head.startswith(key[:5]) for a in more]
        groups.setdefault(head, (head, *alts))
    synonyms = stated_synonyms(variable)
    for key, alts in synonyms.items():
        head = _prefix(_stem(key)) if " " not in key else key
        groups[head] = (*groups.get(head, (head,)), *alts)
    return list(groups.values())


def relevant(variable: Variable, text: str, others: Sequence[Variable] = (), *,
             majority: bool = False) -> tuple[bool, list[str]]:
    """Whether `text` speaks about the question's subject: a word of the text starts with one of a
    key term's forms (with `majority`, for at least half of the key terms). A question without key
    terms cannot be judged: True. Also returns the terms, for the note."""
    groups = key_terms(variable, others)
    if not groups:
        return True, []
    words = set(_RUN.findall(text.casefold()))
    text_words, text_loose = _words(text), loose(text)

    def present(term: str) -> bool:
        if " " in term.strip():
            return _phrase_in(term, text_words, text_loose)
        return any(w.startswith(term) or (len(w) >= 5 and term.startswith(w)) for w in words)

    hits = sum(1 for group in groups if any(present(t) for t in group))
    needed = (len(groups) + 1) // 2 if majority else 1
    return hits >= needed, [g[0] for g in groups]


def value_support(variable: Variable, value: Any, text: str, others: Sequence[Variable] = (), *,
                  stats: TermStats | None = None, context: str | None = None) -> Support:
    """Whether `text` (the document at the quote) states `value` for `variable`, and if not, why.

    Beyond the value itself, a number, year, date or boolean needs a text about the question: with
    the document's `stats`, a number, year or date needs its `context` (the quote's sentence or row and
    heading; the quote itself when not given) to name at least RELEVANCE_MIN of the question's weight
    (`relevance`) and the number to be in the variable's unit (`unit_conflict`); without them, the
    older rule (`relevant`: a key word that sets the question apart from `others`). A real quote with
    the right digits for another question is not support."""
    if value is None:
        return Support(True)
    stated = value_stated(variable, value, text)
    if variable.type in (VariableType.TEXT, VariableType.CATEGORY, VariableType.LIST):
        return stated  # the option's (or value's) own words are specific enough
    if stats is not None and variable.type is not VariableType.BOOLEAN:
        return _weighed_support(variable, value, text, stated, stats, context, others)
    about, terms = relevant(variable, text, others, majority=variable.type is VariableType.BOOLEAN)
    if about:
        return stated
    off_topic = "the quote is not about the question (its key words: " + ", ".join(terms[:6]) + ")"
    missing = stated.missing or ([str(v) for v in value] if isinstance(value, list) else [])
    return Support(False, "; ".join(r for r in (stated.reason, off_topic) if r), missing)


def value_stated(variable: Variable, value: Any, text: str) -> Support:
    """The value itself is in `text` (see the module docstring for each type)."""
    words, flat = _words(text), loose(text)
    vtype = variable.type
    if vtype is VariableType.NUMBER and isinstance(value, (int, float)) and not isinstance(value, bool):
        target = float(value)
        if any(abs(n - target) <= 1e-9 * max(1.0, abs(target)) for n in numbers_in(text)):
            return Support(True)
        return Support(False, f"the quote does not state the number {_show(value)}")
    if vtype is VariableType.YEAR and isinstance(value, (int, float)) and not isinstance(value, bool):
        if int(value) in years_in(text):
            return Support(True)
        return Support(False, f"the quote does not state the year {int(value)}")
    if vtype is VariableType.DATE and isinstance(value, str):
        wanted = _parse_iso(value)
        if wanted is None:
            return Support(False, f"{value!r} is not a date")
        found = dates_in(text)
        if any(all(w is None or w == f for w, f in zip(wanted, d)) and
               (wanted[1] is None or d[1] is not None) and (wanted[2] is None or d[2] is not None) for d in found):
            return Support(True)
        return Support(False, f"the quote does not state the date {value}")
    if vtype is VariableType.BOOLEAN and isinstance(value, bool):
        negated = bool(_NEGATION.search(text))
        if value and negated:
            return Support(False, "the quote is negative but the answer is yes")
        if not value and not negated:
            return Support(False, "the quote does not say no")
        return Support(True)
    if vtype is VariableType.CATEGORY:
        if _option_in(str(value), variable, words, flat):
            return Support(True)
        return Support(False, f"the quote does not mention {value!r}")
    if vtype is VariableType.LIST and isinstance(value, list):
        missing = [str(item) for item in value if not _option_in(str(item), variable, words, flat)]
        if not missing:
            return Support(True)
        return Support(False, "the quote does not mention " + ", ".join(repr(m) for m in missing), missing)
    # text (and any value whose type did not match the variable's: checked as text)
    key = [w for w in _words(str(value)) if w not in _FUNCTION] or _words(str(value))
    if not key:
        return Support(True)
    present = sum(1 for w in key if w in set(words))
    if present * 3 >= len(key) * 2 or (len(loose(str(value))) >= 4 and loose(str(value)) in flat):
        return Support(True)
    return Support(False, f"the quote does not contain {str(value)[:60]!r}")


def _parse_iso(value: str) -> tuple[int, int | None, int | None] | None:
    m = re.fullmatch(r"\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?\s*", value)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None, int(m.group(3)) if m.group(3) else None


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- relevance weighed by the document
#
# Why: a job's questions are often near-identical (a setback template: property line / dwellings / roads,
# in feet and as a multiple of height). Keeping only the words no other question shares leaves a question
# with one odd word, or none, so a right quote is flagged and a quote about another rule passes. Instead
# each of the question's words (and its name's, options' and instructions') counts by how rare it is in
# THIS document's sentences: "turbine" in a wind ordinance says little, "roads" or "flicker" a lot.

#: Share of the question's weight (words present in the document) its quote's surroundings must name.
RELEVANCE_MIN = 0.34
#: Usual equivalents in rules (5-letter prefixes, or phrases): a stated maximum is about a maximum
#: whatever its verb; units and their abbreviations; a multiple of the height is "times" or a percentage.
RULE_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "maxim": ("max", "exceed", "no more than", "not more than", "up to", "at most", "limit", "no greater than",
              "not greater than"),
    "max": ("maxim", "exceed", "no more than", "not more than", "up to", "at most", "limit"),
    "minim": ("min", "at least", "not less than", "no less than", "no closer", "closer than", "setba", "set back"),
    "multi": ("times", "percent", "%"),
    "feet": ("foot", "ft"), "foot": ("feet", "ft"),
    "dwell": ("resid", "house", "home", "habit"), "resid": ("dwell", "house", "home"),
    "road": ("right-of-way", "highw", "street"),
    "prope": ("lot line", "parcel"),
    "noise": ("sound", "dba", "db", "decib", "audib"), "dba": ("noise", "sound", "decib", "db"),
    "sound": ("noise", "dba", "db"),
    "heigh": ("tall",),
    "setba": ("set back", "distan", "closer", "separa"),
    "flick": ("shado",), "shado": ("flick",),
    "metre": ("meter",), "meter": ("metre",),
}
#: "not the target year", "except roads": what an instruction excludes is not the question's subject.
_NOT_THIS = re.compile(r"\b(?:not|never|except|excluding|other than|rather than)\b[^.;,:]*", re.IGNORECASE)
_SOURCE_WEIGHTS = (("question", 1.0), ("name", 1.0), ("instructions", 0.5), ("options", 0.5))
#: Where a sentence ends: after . ; ! ? (not "C." or "4."), at a blank line, before an item "(c) ".
_CONTEXT_END = re.compile(r"(?<=[.;!?])(?<!\b[A-Za-z0-9]\.)\s+(?=\S)|\n\s*\n|\s+(?=\([a-z0-9]{1,3}\)\s)")


@dataclass(frozen=True)
class TermStats:
    """In how many of the document's sentences each word (5-letter prefix of its stem) occurs."""

    sentences: int
    df: dict[str, int]

    def idf(self, forms: Sequence[str]) -> float:
        """Rarity of a word group: the most frequent of its one-word forms decides (0: never in the document)."""
        counts = [self.df.get(f[:5], 0) for f in forms if " " not in f and f != "%"]
        seen = max(counts, default=0)
        return math.log(1 + self.sentences / seen) if seen else 0.0


def document_stats(pages: Sequence[PageText]) -> TermStats:
    """TermStats over every sentence (and short line: headings, table rows) of the document."""
    df: Counter[str] = Counter()
    count = 0
    for page in pages:
        for unit in _units(page.text):
            words = {_term(w) for w in _RUN.findall(unit.casefold())}
            if words:
                count += 1
                df.update(words)
    return TermStats(max(1, count), dict(df))


@functools.lru_cache(maxsize=65536)
def _term(word: str) -> str:
    """A word as the document statistics count it (5-letter prefix of its stem); cached: a document
    repeats its words."""
    return _prefix(_stem(word))


def _units(text: str) -> list[str]:
    """Sentences, and short lines on their own (headings and table rows end without a full stop)."""
    out: list[str] = []
    for block in _CONTEXT_END.split(text):
        current: list[str] = []
        for line in block.splitlines():
            current.append(line)
            if _row_like(line):
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return [u for u in out if u.strip()]


def _row_like(line: str) -> bool:
    """A heading or table row: short, not the wrapped end of a sentence ("of any public road.")."""
    stripped = line.strip()
    return " | " in stripped or (0 < len(stripped) < 60 and not stripped.endswith((",", "-", "(", ".")))


@functools.lru_cache(maxsize=4096)  # asked for every sibling of every candidate: a variable is frozen
def weighted_groups(variable: Variable) -> list[tuple[tuple[str, ...], float]]:
    """The variable's subject words as (forms, source weight): question and name 1, instructions and
    options 0.5. Units and number words count; function and generic words do not."""
    sources = {"question": variable.question, "name": variable.name.replace("_", " "),
               "instructions": _NOT_THIS.sub(" ", _SYNONYMS.sub("", variable.instructions or "")),
               "options": " ".join(variable.options)}
    groups: dict[str, tuple[tuple[str, ...], float]] = {}
    for source, weight in _SOURCE_WEIGHTS:
        for word in _RUN.findall(sources[source].casefold()):
            stem = _stem(word)
            if word in _STOP or stem in _STOP or word in _GENERIC or stem in _GENERIC or word.isdigit():
                continue
            if len(word) < 3 and word not in ("ft", "m"):
                continue
            head = _prefix(stem)
            alts = [a for key, more in EQUIVALENTS.items() if head.startswith(key[:5]) for a in more]
            alts += list(RULE_EQUIVALENTS.get(head, ()))
            forms = tuple(dict.fromkeys((head, *alts)))
            if head not in groups or groups[head][1] < weight:
                groups[head] = (forms, weight)
    for key, alts in stated_synonyms(variable).items():
        head = _prefix(_stem(key)) if " " not in key else key
        forms, weight = groups.get(head, ((head,), 0.5))
        groups[head] = ((*forms, *alts), weight)
    return list(groups.values())


def relevance(variable: Variable, text: str, stats: TermStats) -> tuple[float, list[str]]:
    """Share (0..1) of the question's weight that `text` names, each word weighed by its rarity in the
    document (words the document never uses are left out: a quote cannot be expected to hold them).
    Also the question's words, rarest first, for the note. 1.0 when nothing can be weighed."""
    weighed = [(forms, weight * stats.idf(forms)) for forms, weight in weighted_groups(variable)]
    weighed = [(forms, w) for forms, w in weighed if w > 0]
    if not weighed:
        return 1.0, []
    present = _presence(text)
    total = sum(w for _f, w in weighed)
    hit = sum(w for forms, w in weighed if any(present(t) for t in forms))
    return hit / total, [f[0] for f, _w in sorted(weighed, key=lambda fw: -fw[1])]


# -- units

#: Unit -> words that name it (prefixes of the case-folded word that follows a number).
UNITS: dict[str, tuple[str, ...]] = {
    "feet": ("feet", "foot", "ft", "'"), "metres": ("metre", "meter", "m"), "miles": ("mile", "mi"),
    "dba": ("dba", "db", "decibel"), "hours": ("hour", "hr", "hrs"), "acres": ("acre",),
    "percent": ("%", "percent", "per cent", "pct"), "times": ("times", "x"), "kw": ("kw", "kilowatt"),
    "mw": ("mw", "megawatt"), "days": ("day",), "months": ("month",), "years": ("year",),
}
#: Units that state the same kind of quantity: a multiple of the height is also given as a percentage.
_COMPATIBLE = {"times": {"times", "percent"}, "percent": {"percent", "times"}}
_UNIT_AFTER = re.compile(r"\s*\)?\s*(%|per\s+cent|[a-z']+)")


@functools.lru_cache(maxsize=4096)
def variable_unit(variable: Variable) -> str | None:
    """The unit the variable asks for, from its name first ("_feet", "_multiplier"), then its question."""
    for source in (variable.name.replace("_", " "), variable.question, variable.instructions or ""):
        low = source.casefold()
        if re.search(r"\b(multiplier|multiple|times)\b", low):
            return "times"
        for unit, words in UNITS.items():
            if unit in ("times", "percent"):
                continue
            if any(re.search(r"(?<![a-z])" + re.escape(w) + r"s?(?![a-z])", low) for w in words if len(w) > 2):
                return unit
        if re.search(r"%|\bpercent", low):
            return "percent"
    return None


def unit_after(text: str, end: int) -> str | None:
    """The unit named right after a number ending at `end` ("500 feet", "fifty (50) dBA", "110%")."""
    m = _UNIT_AFTER.match(text.casefold(), end)
    if not m:
        return None
    word = m.group(1)
    for unit, words in UNITS.items():
        if word in words or (len(word) > 2 and any(word.startswith(w) for w in words if len(w) > 2)):
            return unit
    return None


_SMALL_WORD = re.compile(r"\b(?:(" + "|".join(_TENS) + r")(?:[- ](" + "|".join(list(_UNITS)[1:10]) + r"))?|("
                         + "|".join(sorted(list(_UNITS)[1:], key=len, reverse=True)) + r"))\b(?![- ]?(?:hundred|thousand|"
                         r"million|and\b|half|halves|thirds?|quarters?|fourths?|fifths?|eighths?|tenths?))")


def number_spans(text: str) -> list[tuple[int, int, float]]:
    """(start, end, value) of the numbers printed in digits, fractions or small number words ("two
    times"), in order of position."""
    low = text.casefold()
    spans: list[tuple[int, int, float]] = list(fractions_in(low))
    taken = [(s, e) for s, e, _v in spans]
    for m in _SMALL_WORD.finditer(low):  # "two times the height", "ten acres"; not "five (5) feet" twice
        if any(s <= m.start() < e for s, e in taken) or re.match(r"\s*\(\s*\d", low[m.end():m.end() + 6]):
            continue
        tens, unit = m.group(1), m.group(2) or m.group(3)
        spans.append((m.start(), m.end(), float(_TENS.get(tens or "", 0) + _UNITS.get(unit or "", 0))))
        taken.append((m.start(), m.end()))
    for m in _NUMBER.finditer(low):
        if any(s <= m.start() < e for s, e in taken):
            continue
        digits = re.sub(r"[,\u00a0\u202f ]", "", m.group(1))
        value = float(f"{digits}.{m.group(2)}") if m.group(2) else float(digits)
        if m.group(2) and len(m.group(2)) == 3 and "," in m.group(0) and "." not in m.group(0):
            value = float(digits + m.group(2))
        spans.append((m.start(), m.end(), value))
    return sorted(spans)


def unit_conflict(variable: Variable, value: Any, text: str) -> str:
    """Why the value in `text` is in another unit than the variable asks for ("" when it is not):
    "1¼ times the height" is no answer in feet, "one mile (5,280 feet)" none in dBA."""
    wanted = variable_unit(variable)
    if wanted is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    ok = _COMPATIBLE.get(wanted, {wanted})
    target = float(value)
    units = []
    for start, end, number in number_spans(text):
        if abs(number - target) <= 1e-9 * max(1.0, abs(target)) or abs(number / 100 - target) <= 1e-9:
            unit = unit_after(text, end)
            if unit in ok:
                return ""
            units.append(unit)
    given = [u for u in units if u is not None]
    if given and not any(u is None for u in units):
        return f"the quote gives {_show(value)} in {given[0]}, the question asks for {wanted}"
    return ""


# -- where a quote is: its surroundings

def quote_context(index: DocumentIndex, alignment: Alignment, value: Any = None) -> str:
    """The quote's surroundings on its page: its sentence or table row, narrowed to the part nearer the
    value than to any other number of the same unit ("500 feet from residences and 400 feet from roads"),
    with the section heading above it. What relevance is judged on when the quote is short."""
    if not alignment.parts:
        return ""
    part = max(alignment.parts, key=lambda p: p.end - p.start)
    text = index.page_texts.get(part.page, "")
    start, end = _value_anchor(text, part.start, part.end, value)
    lo = max([m.end() for m in _CONTEXT_END.finditer(text, 0, min(len(text), start + 1)) if m.end() <= start] + [0])
    nxt = _CONTEXT_END.search(text, end)
    hi = nxt.start() if nxt else len(text)
    lo, hi = _row_bounds(text, lo, hi, start, end)
    lo, hi = _narrow_to_value(text, lo, hi, start, end, value)
    own = text[lo:hi].strip()
    lead = text[text.rfind("\n", 0, lo) + 1:lo].strip()
    if len(lead) < 60 and len(re.findall(r"[^\W\d_]", lead)) >= 4 and _ITEM.match(lead):  # "Section 5. Height." or "(c) Public roads." before the sentence on its line
        return f"{lead}\n{own}"
    if re.match(r"(?:(?:section|article|chapter)\b\.?|§)\s*[\w.-]+", own, re.IGNORECASE):
        return own  # the unit opens its own section: a heading above belongs to another
    row = _row_like(own)
    intro = _table_intro(text, lo) if row else ""
    return "\n".join(t for t in (_heading_above(text, lo, tables=row), intro, own) if t).strip()


def _value_anchor(text: str, start: int, end: int, value: Any) -> tuple[int, int]:
    """Where the value is printed inside the quote (the whole quote when it cannot be told): a long
    quote running over two rules is judged by the rule that holds the value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        target = float(value)
        for s, e, number in number_spans(text[start:end]):
            if abs(number - target) <= 1e-9 * max(1.0, abs(target)) or abs(number / 100 - target) <= 1e-9:
                return start + s, start + e
    return start, end


def _row_bounds(text: str, lo: int, hi: int, start: int, end: int) -> tuple[int, int]:
    """Within a sentence, short lines (headings, table rows) are units of their own (as in _units):
    the lines of the unit(s) the quote overlaps."""
    bounds: list[tuple[int, int]] = []
    unit_start = lo
    for m in re.finditer(r"[^\n]*(?:\n|$)", text[lo:hi]):
        if not m.group():
            break
        line_end = lo + m.end()
        if _row_like(m.group()):
            bounds.append((unit_start, line_end))
            unit_start = line_end
    if unit_start < hi:
        bounds.append((unit_start, hi))
    touched = [(a, b) for a, b in bounds if a < end and b > start] or [(lo, hi)]
    return min(touched[0][0], start), max(touched[-1][1], end)


def _narrow_to_value(text: str, lo: int, hi: int, start: int, end: int, value: Any) -> tuple[int, int]:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return lo, hi
    spans = [(lo + s, lo + e, v) for s, e, v in number_spans(text[lo:hi])]
    target = float(value)
    own = [sp for sp in spans if start <= sp[0] < end and (abs(sp[2] - target) <= 1e-9 * max(1.0, abs(target))
                                                         or abs(sp[2] / 100 - target) <= 1e-9)]
    if not own:
        return lo, hi
    s0, e0, _v = own[0]
    unit = unit_after(text, e0)
    if unit is None:
        return lo, hi
    same = [sp for sp in spans if sp is not own[0] and unit_after(text, sp[1]) == unit]
    before = [sp for sp in same if sp[1] <= s0]
    after = [sp for sp in same if sp[0] >= e0]
    new_lo = (before[-1][1] + s0) // 2 if before else lo
    new_hi = (e0 + after[0][0]) // 2 if after else hi
    # a word cut by the midpoint belongs to the side where it starts
    while new_lo > lo and text[new_lo - 1].isalnum():
        new_lo += 1
        if new_lo >= s0:
            break
    while new_hi < hi and text[new_hi - 1].isalnum() and text[new_hi].isalnum():
        new_hi += 1
    return min(new_lo, start), max(new_hi, end)


_ITEM = re.compile(r"(?:(?:(?:section|article|chapter|part)\b\.?|§)\s*[\w.-]+|\(?[A-Za-z0-9]{1,3}(?:\.\d+)*[.)])\s+\S",
                   re.IGNORECASE)
_HEADING = re.compile(r"^\s*(?:(?:(?:section|article|chapter|title|part|table)\b\.?|§)\s*[\w.-]+|\d+(?:\.\d+)*\.?|[A-Z]\.)\s+[^\n]{0,70}$",
                      re.IGNORECASE)


def _table_intro(text: str, pos: int, limit: int = 300) -> str:
    """For a table row: the sentence just above the table's rows ("... the minimum distances in the
    table below"), which says what the rows are about when no numbered heading does."""
    start = pos
    while start > 0:  # back over the rows (short lines) above this one
        line_start = text.rfind("\n", 0, max(0, start - 1)) + 1
        if not _row_like(text[line_start:start]) or start - line_start == 0:
            break
        start = line_start
    before = text[max(0, start - limit):start]
    ends = [m.end() for m in _CONTEXT_END.finditer(before[:-1] if before.endswith("\n") else before)]
    sentence = before[ends[-1] if ends else 0:].strip()
    return sentence if not _row_like(sentence) else ""


def _heading_above(text: str, pos: int, *, tables: bool) -> str:
    """The nearest heading line (numbered, short) above `pos` on the page; a table's title only for a
    table row (`tables`), since prose after a table is not under its title."""
    lines = text[:pos].splitlines()
    for line in reversed(lines[:-1] if lines and not text[:pos].endswith("\n") else lines):
        stripped = line.strip()
        if _HEADING.match(stripped) and len(stripped) < 60 and not stripped.endswith((",", ";")):
            if stripped.casefold().startswith("table") and not tables:
                continue
            return stripped
    return ""


def _weighed_support(variable: Variable, value: Any, text: str, stated: Support, stats: TermStats,
                     context: str | None, others: Sequence[Variable]) -> Support:
    reasons = [stated.reason] if not stated.ok else []
    if stated.ok and variable.type is VariableType.NUMBER:
        conflict = unit_conflict(variable, value, text)
        if conflict:
            reasons.append(conflict)
    about = text if context is None else f"{context}\n{text}"  # the quote may name its subject before a page break
    share, terms = relevance(variable, about, stats)
    if share < RELEVANCE_MIN:
        reasons.append("the quote is not about the question (its key words: " + ", ".join(terms[:6]) + ")")
    else:
        rival = closer_sibling(variable, about, others, stats)
        if rival is not None:
            reasons.append(f"the quote is about another question ({rival.name})")
    return Support(not reasons, "; ".join(reasons), stated.missing)


def closer_sibling(variable: Variable, text: str, others: Sequence[Variable], stats: TermStats) -> Variable | None:
    """A question of the job asking for the same kind of value (type and unit) that `text` is more about.

    Each pair is compared on the words that set the two apart, weighed by their rarity in the document:
    "no closer than 500 feet to any residence" names the dwellings question's own words and none of the
    roads question's, so it is about dwellings; a text naming none of the words that set this question
    apart from a sibling (a church setback for the property-line question) is not about it either.
    Twins that differ only by their unit tie (the unit decides).
    Why pairwise: against all questions at once, a template of near-identical questions leaves nothing."""
    unit = variable_unit(variable)
    # a word the document never uses still sets two questions apart (dwellings in an ordinance without
    # dwellings): it weighs as little as any word can, but a text without it cannot be about it
    floor = math.log(1 + 1 / stats.sentences)
    mine = {f[0]: (f, w * max(floor, stats.idf(f))) for f, w in weighted_groups(variable)}
    present = _presence(text)
    best: tuple[float, Variable] | None = None
    for other in others:
        if other.name == variable.name or other.type is not variable.type or variable_unit(other) != unit:
            continue
        theirs = {f[0]: (f, w * max(floor, stats.idf(f))) for f, w in weighted_groups(other)}
        distinct = [(f, w) for head, (f, w) in mine.items() if head not in theirs and w > 0]
        own = sum(w for f, w in distinct if any(present(t) for t in f))
        rival = sum(w for head, (f, w) in theirs.items() if head not in mine and any(present(t) for t in f))
        if distinct and own == 0:  # names nothing that sets this question apart from that one
            rival = max(rival, 1e-6)
        if rival > own + 1e-9 and (best is None or rival - own > best[0]):
            best = (rival - own, other)
    return best[1] if best else None


def _presence(text: str) -> Any:
    """present(term): whether `text` names a term (a word prefix, or a phrase); phrase forms are
    prepared on first use only (most terms are single words)."""
    words = set(_RUN.findall(text.casefold())) | ({"%"} if "%" in text else set())
    prepared: list[tuple[list[str], str]] = []

    def present(term: str) -> bool:
        if " " in term.strip() or "-" in term:
            if not prepared:
                prepared.append((_words(text), loose(text)))
            return _phrase_in(term, *prepared[0])
        return any(w.startswith(term) or (len(w) >= 5 and term.startswith(w)) for w in words)
    return present


# -- which occurrence

@dataclass(frozen=True)
class Located:
    """The chosen place of a quote, why it supports the value (or not), and how many places it has."""

    alignment: Alignment
    support: Support
    text: str  # the document's text at the span
    occurrences: int  # places the quote aligned at
    context: str = ""


def locate(index: DocumentIndex, variable: Variable, value: Any, quote: str, *, others: Sequence[Variable] = (),
           stats: TermStats | None = None, prefer: set[int] | frozenset[int] = frozenset(),
           limit: int = _MAX_EXACT) -> Located | None:
    """Where a quote is for this question: among the places it aligns at, the one whose surroundings
    (sentence or table row, heading) support the value and are most about the question; ties keep the
    alignment order (exact first, then `prefer`red pages). When several places are about the question
    as much, the choice is a guess: the support fails saying the quote occurs N times (review), and the
    highlight shows the chosen one. None when the quote is not in the document.

    Why: a short quote ("500 feet") often prints twice on a page; the first occurrence may belong to
    another rule, and tying it there accepted a wrong value or highlighted the wrong rule."""
    alignments = index.align(quote, prefer_pages=prefer)
    if not alignments:
        return None
    scored: list[tuple[Alignment, Support, str, str, float]] = []
    for alignment in alignments[:limit]:
        text = index.aligned_text(alignment)
        context = quote_context(index, alignment, value) if stats is not None else ""
        support = value_support(variable, value, text, others, stats=stats, context=context or None)
        share = relevance(variable, f"{context}\n{text}", stats)[0] if stats is not None else 0.0
        scored.append((alignment, support, text, context, share))
    good = [s for s in scored if s[1].ok]
    n = len(alignments)
    if not good:
        alignment, support, text, context, _share = scored[0]
        if n > 1 and support.reason:
            support = Support(False, f"{support.reason} (the quote occurs {n} times in the document)", support.missing)
        return Located(alignment, support, text, n, context)
    best = max(good, key=lambda s: s[4])
    rivals = [s for s in good if s is not best and s[4] >= best[4] - 0.05 and s[0].kind is best[0].kind
              and s[3] != best[3]]
    if rivals and prefer:  # the pages the model read (its chunk, its claimed page) may single one out
        preferred = [s for s in [best, *rivals] if set(s[0].pages) & set(prefer)]
        if len(preferred) == 1:
            best, rivals = preferred[0], []
    alignment, support, text, context, _share = best
    if rivals and stats is not None:
        support = Support(False, f"the quote occurs {n} times in the document and {len(rivals) + 1} places are "
                                 "about the question: check the highlighted one", support.missing)
    return Located(alignment, support, text, n, context)
