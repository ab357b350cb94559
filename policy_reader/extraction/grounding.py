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
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from rapidfuzz.distance import Indel

from policy_reader.models import MatchKind, PageText, SpanPart, Variable, VariableType
from policy_reader.reading.quotes import clean_quote

#: Part of the answer cache key: answers checked by other rules are not reused.
GROUNDING_VERSION = "1"
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
    return out


def _word_numbers(low: str) -> set[float]:
    """Numbers written in words: "forty-five", "two hundred and fifty", "3 million" is handled by digits."""
    out: set[float] = set()
    total = current = 0
    active = False
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
        elif word == "and" and active:
            continue
        else:
            if active:
                out.add(float(total + current))
            total = current = 0
            active = False
            continue
        active = True
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


def value_support(variable: Variable, value: Any, text: str, others: Sequence[Variable] = ()) -> Support:
    """Whether `text` (the document at the quote) states `value` for `variable`, and if not, why.

    Beyond the value itself, a number, year, date or boolean needs a text about the question
    (`relevant`): a real quote with the right digits for another question is not support."""
    if value is None:
        return Support(True)
    stated = value_stated(variable, value, text)
    if variable.type in (VariableType.TEXT, VariableType.CATEGORY, VariableType.LIST):
        return stated  # the option's (or value's) own words are specific enough
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
