"""The offline extractor: answers variables with lexical search, no network, no model.

Why it exists: the app must work (and be demoable and testable) without any API key. It is
honest rather than clever: it finds the sentences that best match each question (BM25 with a
crude stemmer, plus boosts for sentences holding the kind of value the variable wants), pulls a
typed value out of them, and quotes the sentence verbatim.

Numbers know their unit: when the variable asks for one (feet, metres, miles, dBA, hours, acres, %,
a multiple "times the height"; values.variable_unit), a candidate must be printed with it (a
percentage converts to a multiple: "110%" -> 1.1), so section numbers ("Section 3", "Chapter 5.35")
and other units ("one mile (5,280 feet)" for a dBA limit) are never answers. Numbers without an asked
unit still skip headings and section numbers. No candidate in a passage near the question's terms:
not found.

Acceptance: a lexical guess is capped below the usual threshold (MAX_CONFIDENCE) and says so in its
note, so it goes to review. A number, year or date is CHECKED when placement.locate (the checks an
LLM answer passes) finds its quote in the document stating the value, in the asked unit, about the
question and about no sibling question more, and no other checked value competes: it gets
CHECKED_CONFIDENCE and no note, so the pipeline may accept it.
"""
from __future__ import annotations

import math
from functools import lru_cache
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from policy_reader.extraction.relevance import RULE_EQUIVALENTS, TermStats, document_stats
from policy_reader.extraction.grounding import DocumentIndex
from policy_reader.extraction.placement import locate
from policy_reader.extraction.values import number_spans, unit_after, variable_unit
from policy_reader.models import Answer, AnswerStatus, PageText, Usage, Variable, VariableType
from policy_reader.variables import YEAR_RE, coerce_value, parse_date, parse_numbers

#: Cap of a lexical guess: below the usual acceptance threshold, so an analyst reviews it.
MAX_CONFIDENCE = 0.75
#: A number, year or date whose quote states it exactly, in the asked unit, in a passage that
#: grounding finds about the question (and about no sibling question more), with no rival value
#: that passes the same checks: the same evidence an LLM answer is accepted on.
CHECKED_CONFIDENCE = 0.9
_K1, _B = 1.2, 0.75

_STOP = set("""a an and are as at be been being but by can could did do does done for from had has have how if in
into is it its itself may might must no nor not of on or our shall should so such than that the their them then
there these they this those to under until upon was we were what when where which while who whom whose why will
with within would you your any all also each per other please document policy plan strategy paper text
""".split())
# Words of the question that ask *about* the value rather than name the topic.
_QUESTION_WORDS = set("""what which when who whom how does do did is are was were the a an of in on for by to policy
document plan strategy this that mention mentions mentioned cover covers covered include includes included address
addresses addressed contain contains state states stated say says value name number percent percentage year date
list any there""".split())
_NEGATIONS = re.compile(
    r"\b(not|no|never|neither|nor|without|excludes?|excluded|excluding|lacks?|none)\b|n't\b|outside the scope",
    re.I)
_ADOPT_CUES = ("adopt", "approv", "enact", "passed", "publish", "signed", "launch", "promulg", "gazett", "issued",
               "entered into force", "came into force", "ratif", "endors")
_ASKS_ADOPTION = re.compile(r"\b(" + "|".join(_ADOPT_CUES) + r"|in force|enter into force)", re.I)
# Small domain thesaurus (stem -> related stems): policy texts say "approved", questions say "adopted".
_THESAURUS = {
    "adopted": "approved enacted passed published signed launched promulgated gazetted endorsed",
    "target": "goal aim commits pledge",
    "goal": "target aim",
    "reduction": "reduce cut lower decrease abate",
    "cover": "include address scope",
    "responsible": "leads implementing charge coordinates",
    "ministry": "department agency",
    "sectors": "covers",
}
_SYNONYMS: dict[str, tuple[str, ...]] = {}
_TYPE_WORDS = {"year", "date", "numbe", "perce", "pct", "list", "name", "valu", "count", "amoun"}  # stems
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_PERCENT_RE = re.compile(r"(\d[\d,.]*)\s*(%|per\s*cent|percent)", re.I)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately crude stemmer: strip common suffixes, keep 5 letters ("adoption" ~ "adopted")."""
    w = word.lower()
    if w.isdigit():
        return w
    for suffix in ("ational", "ations", "ation", "itions", "ition", "ings", "ing", "ions", "ion", "ies", "ied",
                   "ment", "ed", "es", "ly", "s", "e"):
        if len(w) - len(suffix) >= 4 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w[:5]


for _word, _related in _THESAURUS.items():
    _SYNONYMS[stem(_word)] = tuple(stem(w) for w in _related.split())


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and (len(w) > 1 or w.isdigit())]


@dataclass
class Sentence:
    page: int
    text: str  # whitespace-normalised, a substring of the page's normalised text
    terms: Counter[str] = field(default_factory=Counter)
    length: int = 0


@dataclass
class _Index:
    sentences: list[Sentence]
    postings: dict[str, list[int]]
    df: dict[str, int]
    avg_len: float
    first_lines: list[Sentence]

    def idf(self, term: str) -> float:
        n, d = len(self.sentences), self.df.get(term, 0)
        return math.log(1 + (n - d + 0.5) / (d + 0.5))


# --------------------------------------------------------------------------- sentences

_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'(\u201c]?[A-Z0-9\u2022])|(?<=;)\s+|\s+(?=\u2022)|"
                         r"(?<=[.!?])\s+(?=\([a-z0-9]{1,3}\)\s)")  # "... dwelling. (c) Public roads"
_BULLET_LINE = re.compile(r"^\s*(?:[\u2022\-*\u2013]|\d+[.)])\s+")


def split_sentences(page: PageText) -> list[Sentence]:
    """Sentences of a page. Headings and bullet lines become their own "sentences"."""
    out: list[Sentence] = []
    for block in _blocks(page.text):
        for piece in _SENT_SPLIT.split(block):
            text = " ".join(piece.split())
            for part in _cap_length(text):
                if len(part) >= 3:
                    out.append(Sentence(page=page.number, text=part))
    return out


def _blocks(text: str) -> list[str]:
    """Paragraphs, with short unpunctuated lines (headings) and bullets split off."""
    blocks: list[str] = []
    current: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            if current:
                blocks.append(" ".join(current))
                current = []
            continue
        if _BULLET_LINE.match(line) and current:
            blocks.append(" ".join(current))
            current = []
        current.append(stripped)
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        heading = len(stripped) < 70 and not stripped.endswith((".", ",", ";", ":", "-")) and nxt[:1].isupper()
        if heading:
            blocks.append(" ".join(current))
            current = []
    if current:
        blocks.append(" ".join(current))
    return blocks


def _cap_length(text: str, limit: int = 450) -> list[str]:
    """Table dumps have no full stops: cut them at spaces so one quote is never a page."""
    if len(text) <= limit:
        return [text]
    parts, rest = [], text
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def build_index(pages: list[PageText]) -> _Index:
    sentences: list[Sentence] = []
    first_lines: list[Sentence] = []
    for page in pages:
        page_sentences = split_sentences(page)
        if page_sentences and not first_lines:
            first_lines = page_sentences[:3]
        sentences.extend(page_sentences)
    postings: dict[str, list[int]] = defaultdict(list)
    total = 0
    for i, s in enumerate(sentences):
        s.terms = Counter(tokens(s.text))
        s.length = sum(s.terms.values())
        total += s.length
        for term in s.terms:
            postings[term].append(i)
    df = {t: len(ids) for t, ids in postings.items()}
    return _Index(sentences, dict(postings), df, total / max(1, len(sentences)), first_lines)


# --------------------------------------------------------------------------- scoring

@dataclass
class _Query:
    variable: Variable
    weights: dict[str, float]  # term -> weight (question terms 1.0, options/name lower)
    topic: list[str]  # the question's topic terms (for booleans and coverage)
    core: list[str]  # topic terms of the variable's name ("covers_adaptation" -> adapt), else `topic`
    question: str
    asks_adoption: bool
    asks_target: bool
    asks_percent: bool


def _make_query(v: Variable) -> _Query:
    weights: dict[str, float] = {}
    q_words = [w for w in _WORD.findall(v.question.lower())]
    for w in q_words:
        if w in _STOP:
            continue
        weights[stem(w)] = max(weights.get(stem(w), 0), 0.4 if w in _QUESTION_WORDS else 1.0)
    for t in tokens(v.name.replace("_", " ")):
        weights[t] = max(weights.get(t, 0), 0.4 if t in _TYPE_WORDS else 0.8)
    for t, w in list(weights.items()):
        if t in _TYPE_WORDS:
            weights[t] = min(w, 0.4)  # "year" names the answer's type, not the topic
        for syn in _SYNONYMS.get(t, ()):
            weights.setdefault(syn, 0.8 * w)
    for t, w in list(weights.items()):  # the rules' usual equivalents (grounding): "sound" for "noise"
        for alt in RULE_EQUIVALENTS.get(t, ()):
            if alt.isalpha():
                weights.setdefault(stem(alt), 0.8 * w)
    for t in tokens(v.instructions):
        weights.setdefault(t, 0.3)
    if v.type in (VariableType.CATEGORY, VariableType.LIST):
        for opt in v.options:
            for t in tokens(opt):
                weights.setdefault(t, 0.5)
    topic = [stem(w) for w in q_words + v.name.lower().split("_") if w not in _STOP and w not in _QUESTION_WORDS
             and len(w) > 2]
    core = [stem(w) for w in v.name.lower().split("_") if w not in _STOP and w not in _QUESTION_WORDS and len(w) > 2]
    q = (v.question + " " + v.name.replace("_", " ")).lower()  # not instructions: "not the target year"
    return _Query(
        variable=v,
        weights=weights,
        topic=list(dict.fromkeys(topic)),
        core=list(dict.fromkeys(core)) or list(dict.fromkeys(topic)),
        question=q,
        asks_adoption=bool(_ASKS_ADOPTION.search(q)),
        asks_target=any(c in q for c in ("target", "goal", "by which", "deadline", "achiev", "reach")),
        asks_percent=any(c in q for c in ("%", "percent", "pct", "share", "rate", "proportion")),
    )


def _bm25(index: _Index, query: _Query) -> dict[int, float]:
    scores: dict[int, float] = defaultdict(float)
    for term, weight in query.weights.items():
        ids = index.postings.get(term)
        if not ids:
            continue
        idf = index.idf(term)
        norm = _K1 * (1 - _B)
        slope = _K1 * _B / index.avg_len
        sentences = index.sentences
        for i in ids:
            s = sentences[i]
            tf = s.terms[term]
            scores[i] += weight * idf * tf * (_K1 + 1) / (tf + norm + slope * s.length)
    return scores


def _options_in(text: str, options: tuple[str, ...]) -> list[tuple[int, str]]:
    """(position, option) of every option named in `text` (all its content words present)."""
    found: list[tuple[int, str]] = []
    lower = text.lower()
    text_terms = set(tokens(text))
    for opt in options:
        pos = lower.find(opt.lower())
        if pos < 0:
            opt_terms = tokens(opt)
            if opt_terms and all(t in text_terms for t in opt_terms):
                first = _WORD.findall(opt.lower())
                first = [w for w in first if w not in _STOP] or first
                m = re.search(r"\b" + re.escape(first[-1][:5]), lower)
                pos = m.start() if m else len(text)
            else:
                continue
        found.append((pos, opt))
    return sorted(found)


def _type_boost(s: Sentence, query: _Query) -> float:
    v, text = query.variable, s.text
    t = v.type
    if t is VariableType.YEAR:
        return 0.8 if YEAR_RE.search(text) else -1.0
    if t is VariableType.DATE:
        iso = parse_date(text)
        return (0.8 if iso and len(iso) > 4 else 0.3) if iso else -1.0
    if t is VariableType.NUMBER:
        if query.asks_percent:
            return 1.0 if _PERCENT_RE.search(text) else (-0.3 if _non_year_numbers(text) else -1.0)
        return 0.6 if _non_year_numbers(text) or number_spans(text) else -1.0  # "two times the height" too
    if t in (VariableType.CATEGORY, VariableType.LIST) and v.options:
        n = len(_options_in(text, v.options))
        return min(1.0, 0.6 * n) if n else -1.0
    return 0.0


def _non_year_numbers(text: str) -> list[float]:
    stripped = YEAR_RE.sub(" ", text)
    return parse_numbers(stripped)


@dataclass
class _Hit:
    sentence: Sentence
    score: float
    coverage: float  # share of the question's term weight the sentence matches


def _ranked(index: _Index, query: _Query, limit: int = 8, pool: int = 120) -> list[_Hit]:
    """The best sentences: BM25, then type boosts on the top `pool` (boosts are the costly part).

    A sentence must match at least one key term of the question (not only a generic word or an
    option), so a document that never talks about the topic gives no hits (honest not_found).
    """
    base = _bm25(index, query)
    if not base:
        return []
    key_terms = {t for t, w in query.weights.items() if w >= 0.8}
    top = sorted(base.items(), key=lambda kv: -kv[1])[:pool]
    total_weight = sum(w * index.idf(t) for t, w in query.weights.items() if t in index.df) or 1.0
    hits: list[_Hit] = []
    for i, score in top:
        s = index.sentences[i]
        if key_terms and not any(t in s.terms for t in key_terms):
            continue
        boost = _type_boost(s, query)
        if boost <= -1.0:
            continue
        covered = sum(w * index.idf(t) for t, w in query.weights.items() if t in s.terms)
        hits.append(_Hit(s, score * (1.0 + boost), covered / total_weight))
    hits.sort(key=lambda h: (-h.score, h.sentence.page))
    return hits[:limit]


# --------------------------------------------------------------------------- values

@dataclass
class _Candidate:
    value: object
    hit: _Hit
    score: float


def _year_candidates(query: _Query, hits: list[_Hit]) -> list[_Candidate]:
    out = []
    for h in hits:
        text = h.sentence.text
        lower = text.lower()
        for m in YEAR_RE.finditer(text):
            bonus = 0.0
            before = lower[max(0, m.start() - 40):m.start()]
            after = lower[m.end():m.end() + 25]
            if query.asks_adoption:
                bonus += 0.6 * _near(lower, m.start(), _ADOPT_CUES, window=80)
                if re.search(r"\b(by|until|to|before)\s+$", before):
                    bonus -= 0.4  # "by 2030" is a deadline, not an adoption date
            if query.asks_target:
                if re.search(r"\b(by|until|to|before|in)\s+(the\s+year\s+)?$", before):
                    bonus += 0.6
                bonus += 0.3 * _near(lower, m.start(), ("target", "goal", "reduc", "achiev", "reach"))
                if re.search(r"^\s*(levels?|baseline)", after) or re.search(r"(below|from|compared (to|with)|relative to|since)\s+(the\s+)?$", before):
                    bonus -= 0.6  # baseline year
            out.append(_Candidate(int(m.group(1)), h, h.score * (1.0 + bonus)))
    return out


def _near(lower: str, pos: int, cues: tuple[str, ...], window: int = 60) -> float:
    """1.0 when a cue word is right next to `pos`, falling to 0 at `window` characters."""
    best = 0.0
    for cue in cues:
        for m in re.finditer(r"\b" + re.escape(cue), lower):
            d = abs(m.start() - pos)
            if d < window:
                best = max(best, 1.0 - d / window)
    return best


_SECTION_BEFORE = re.compile(r"(?:section|sections|chapter|article|title|part|table|figure|no\.?|number|§|"
                             r"ordinance|appendix|page|item)\s*$", re.I)


def _section_number(text: str, start: int, end: int) -> bool:
    """A number that names a section, not a quantity: "Section 3", "Chapter 5.35", "9.40.050", a
    numbered item at the start of a sentence ("4.2 Turbines shall ...")."""
    if _SECTION_BEFORE.search(text[max(0, start - 14):start]):
        return True
    if re.match(r"\.\d", text[end:end + 2]) or re.match(r"\d+\.\d+\.", text[start:end + 2]):
        return True
    return not text[:start].strip() and bool(re.match(r"[.)]?\s+[A-Z(]", text[end:end + 3]))


def _unit_candidates(query: _Query, hits: list[_Hit], unit: str) -> list[_Candidate]:
    """Numbers printed with the variable's unit (a percentage taken as a multiple when that is asked)."""
    out = []
    key_terms = tuple(t for t, w in query.weights.items() if w >= 0.8)
    for h in hits:
        text = h.sentence.text
        lower = text.lower()
        for start, end, value in number_spans(text):
            if _section_number(text, start, end):
                continue
            given = unit_after(text, end)
            if given == unit:
                pass
            elif unit == "times" and given == "percent":
                value = value / 100
            else:
                continue
            closeness = _near(lower, start, key_terms, window=80) if key_terms else 0.0
            out.append(_Candidate(_tidy(round(value, 6)), h, h.score * (1.0 + 0.5 * closeness)))
    return out


def _number_candidates(query: _Query, hits: list[_Hit]) -> list[_Candidate]:
    unit = variable_unit(query.variable)
    if unit is not None and not (unit == "percent" and query.asks_percent):
        return _unit_candidates(query, hits, unit)
    out = []
    key_terms = [t for t, w in query.weights.items() if w >= 0.8]
    for h in hits:
        text = h.sentence.text
        if query.asks_percent:
            matches = [(m.start(), m.group(0)) for m in _PERCENT_RE.finditer(text)]
        else:
            matches = [(m.start(), m.group(0)) for m in re.finditer(
                r"[-+]?\d[\d,.]*(?:\s*(?:%|percent|per cent|thousand|million|billion|trillion|bn|mn))?", text)
                if not YEAR_RE.fullmatch(m.group(0).strip())]
        lower = text.lower()
        for pos, raw in matches:
            numbers = parse_numbers(raw)
            if not numbers or _section_number(text, pos, pos + len(raw.rstrip())):
                continue
            closeness = _near(lower, pos, tuple(key_terms), window=80) if key_terms else 0.0
            out.append(_Candidate(_tidy(numbers[0]), h, h.score * (1.0 + 0.5 * closeness)))
    return out


def _tidy(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _date_candidates(query: _Query, hits: list[_Hit]) -> list[_Candidate]:
    out = []
    for h in hits:
        iso = parse_date(h.sentence.text)
        if iso:
            precision = 0.3 * (len(iso) > 4) + 0.2 * (len(iso) > 7)
            out.append(_Candidate(iso, h, h.score * (1.0 + precision)))
    return out


def _category_candidates(query: _Query, hits: list[_Hit]) -> list[_Candidate]:
    out = []
    for h in hits:
        found = _options_in(h.sentence.text, query.variable.options)
        for rank, (pos, opt) in enumerate(found):
            if _negated_before(h.sentence.text, pos):
                continue
            out.append(_Candidate(opt, h, h.score / (1 + 0.3 * rank)))
    return out


def _negated_before(text: str, pos: int, window: int = 40) -> bool:
    return bool(_NEGATIONS.search(text[max(0, pos - window):pos]))


def _boolean_value(query: _Query, hit: _Hit) -> bool:
    """False when the topic is negated in its clause ("does not cover adaptation"), else True."""
    text = hit.sentence.text
    lower = text.lower()
    positions = [m.start() for t in query.topic for m in re.finditer(r"\b" + re.escape(t), lower)]
    if not positions:
        return not _NEGATIONS.search(text)
    for pos in positions:
        clause_start = max(lower.rfind(sep, 0, pos) for sep in (",", ";", ":", " but ", " while ", " whereas "))
        clause = lower[clause_start + 1: pos]
        if _NEGATIONS.search(clause) and len(clause) < 80:
            return False
    return True


# --------------------------------------------------------------------------- extractor

class OfflineExtractor:
    """Extractor protocol implementation that runs locally in milliseconds."""

    cache_id = "offline:v1"
    progress_stage = "matching"  # the progress says what happens: no model is asked
    chunk_tokens = 2_000_000  # local: the whole document in one call

    def answer(self, pages: list[PageText], variables: list[Variable]) -> tuple[list[Answer], Usage]:
        index = build_index(pages)
        check = _Checker(DocumentIndex(pages), document_stats(pages), variables)
        return [self._answer_one(index, v, check) for v in variables], Usage()

    def _answer_one(self, index: _Index, v: Variable, check: "_Checker | None" = None) -> Answer:
        query = _make_query(v)
        if _asks_title(v) and index.first_lines:
            return _title_answer(index, v)
        hits = _ranked(index, query)
        hits = [h for h in hits if h.coverage >= 0.2]
        if not hits:
            return _not_found(v)
        if v.type is VariableType.BOOLEAN:
            return _boolean_answer(query, hits)
        if v.type is VariableType.LIST:
            return _list_answer(query, hits)
        if v.type is VariableType.TEXT:
            return _text_answer(query, hits)
        candidates = {
            VariableType.YEAR: _year_candidates,
            VariableType.NUMBER: _number_candidates,
            VariableType.DATE: _date_candidates,
            VariableType.CATEGORY: _category_candidates,
        }[v.type](query, hits)
        if not candidates:
            return _not_found(v)
        if check is not None:
            return _checked_answer(query, candidates, check)
        return _best_candidate_answer(query, candidates)


def _asks_title(v: Variable) -> bool:
    q = (v.name + " " + v.question).lower()
    return v.type is VariableType.TEXT and ("title" in q or "name of the policy" in q or "policy_name" in q)


def _title_answer(index: _Index, v: Variable) -> Answer:
    first = index.first_lines[0]
    return _found(v, first.text, first.text, first.page, [first.page], 0.5,
                  "offline: the first line of the document taken as its title")


def _confidence(top: float, second: float | None, coverage: float, base: float = 0.35) -> float:
    """Real but capped: how far the winner is ahead of the runner-up, and how much of the question
    it matches. With no runner-up at all the margin counts as half (one weak hit is not certainty)."""
    margin = 0.5 if not second else max(0.0, (top - second) / top) if top > 0 else 0.0
    return round(min(MAX_CONFIDENCE, base + 0.15 * margin + 0.25 * min(1.0, coverage)), 3)


def _best_candidate_answer(query: _Query, candidates: list[_Candidate]) -> Answer:
    by_value: dict[object, _Candidate] = {}
    for c in candidates:
        if c.value not in by_value or c.score > by_value[c.value].score:
            by_value[c.value] = c
    ranked = sorted(by_value.values(), key=lambda c: (-c.score, c.hit.sentence.page))
    best = ranked[0]
    second = ranked[1].score if len(ranked) > 1 else None
    value, problem = coerce_value(query.variable, best.value)
    conf = _confidence(best.score, second, best.hit.coverage, base=0.35)
    note = "offline: lexical match, please check" + (f"; {problem}" if problem else "")
    return _found(query.variable, value, best.hit.sentence.text, best.hit.sentence.page,
                  sorted({c.hit.sentence.page for c in ranked if c.value == best.value}), conf, note)


@dataclass
class _Checker:
    """The document as grounding sees it: an offline answer passes the checks an LLM answer passes."""

    index: DocumentIndex
    stats: TermStats
    variables: list[Variable]

    def supports(self, v: Variable, value: object, quote: str) -> bool:
        located = locate(self.index, v, value, quote, others=self.variables, stats=self.stats)
        return located is not None and located.support.ok


def _checked_answer(query: _Query, candidates: list[_Candidate], check: _Checker) -> Answer:
    """The best candidate whose quote grounding accepts for the question; alone: CHECKED_CONFIDENCE.

    Candidates that fail the checks are dropped (a number about another rule is no answer), and none
    left is "not found". Two checked values compete: the best is given, capped, for review."""
    v = query.variable
    if v.type not in (VariableType.NUMBER, VariableType.YEAR, VariableType.DATE):
        return _best_candidate_answer(query, candidates)
    passed: list[_Candidate] = []
    for c in sorted(candidates, key=lambda c: (-c.score, c.hit.sentence.page))[:12]:
        value, problem = coerce_value(v, c.value)
        if problem or value is None:
            continue
        if check.supports(v, value, c.hit.sentence.text):
            passed.append(c)
    if not passed:
        return _not_found(v)
    answer = _best_candidate_answer(query, passed)
    values = {c.value for c in passed}
    if len(values) == 1:
        pages = sorted({c.hit.sentence.page for c in passed})
        return answer.model_copy(update={"confidence": CHECKED_CONFIDENCE, "pages": pages, "note": ""})
    return answer


def _boolean_answer(query: _Query, hits: list[_Hit]) -> Answer:
    topic_hits = [h for h in hits if any(t in h.sentence.terms for t in query.core)]
    if not topic_hits:
        return _not_found(query.variable)  # the subject itself is never mentioned
    best = topic_hits[0]
    value = _boolean_value(query, best)
    second = next((h.score for h in topic_hits[1:] if _boolean_value(query, h) != value), None)
    conf = _confidence(best.score, second, best.coverage, base=0.3)
    return _found(query.variable, value, best.sentence.text, best.sentence.page, [best.sentence.page], conf,
                  "offline: yes/no read from the wording, please check")


def _list_answer(query: _Query, hits: list[_Hit]) -> Answer:
    v = query.variable
    if not v.options:
        return _text_answer(query, hits)
    with_options = [h for h in hits if _options_in(h.sentence.text, v.options)]
    if not with_options:
        return _not_found(v)
    best = with_options[0]
    chosen: list[str] = []
    used = [best]
    for h in with_options:
        if h is not best and h.score < 0.8 * best.score:
            continue
        if h is not best:
            used.append(h)
        for pos, opt in _options_in(h.sentence.text, v.options):
            if not _negated_before(h.sentence.text, pos, window=25) and opt not in chosen:
                chosen.append(opt)
    if not chosen:
        return _not_found(v)
    ordered = [o for o in v.options if o in chosen]
    second = with_options[len(used)].score if len(with_options) > len(used) else None
    conf = _confidence(best.score, second, best.coverage, base=0.3)
    return _found(v, ordered, best.sentence.text, best.sentence.page,
                  sorted({h.sentence.page for h in used}), conf, "offline: options named in the best passages")


def _text_answer(query: _Query, hits: list[_Hit]) -> Answer:
    best = hits[0]
    text = best.sentence.text
    value = text
    m = re.search(r":\s+(.{3,})$", text)
    if m and len(text) - len(m.group(1)) < 60:
        value = m.group(1)  # "Responsible ministry: Ministry of Environment"
    second = hits[1].score if len(hits) > 1 else None
    conf = _confidence(best.score, second, best.coverage, base=0.2)
    if query.variable.type is VariableType.LIST:
        value = [value]
    return _found(query.variable, value, text, best.sentence.page, [best.sentence.page], conf,
                  "offline: best matching sentence, please check")


def _found(v: Variable, value: object, evidence: str, page: int, pages: list[int], conf: float,
           note: str) -> Answer:
    return Answer(name=v.name, value=value, evidence=evidence, page=page, pages=pages or [page],
                  confidence=min(MAX_CONFIDENCE, conf), status=AnswerStatus.NEEDS_REVIEW, note=note)


def _not_found(v: Variable) -> Answer:
    return Answer(name=v.name, value=None, evidence="", page=None, confidence=0.0, status=AnswerStatus.NOT_FOUND,
                  note="offline: no passage of the document matches this question")
