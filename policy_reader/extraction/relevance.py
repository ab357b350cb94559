"""Relevance weighed by the document: is a quote's text (and its surroundings) about THIS question?

Why weigh by the document: a job's questions are often near-identical (a setback template), so a rule
of "words no other question shares" leaves nothing to check; rarity in the document does not.
"""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence


from policy_reader.models import PageText, Variable, VariableType
from policy_reader.extraction.grounding import WORD_RUN, loose
from policy_reader.extraction.values import (STOP_WORDS, SYNONYMS_LINE, Support, phrase_in, stated_synonyms, unit_conflict,
                                               value_stated, variable_unit, word_stem, words_of)

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
    for word in WORD_RUN.findall(variable.question.casefold()):
        stem = word_stem(word)
        if word in STOP_WORDS or stem in STOP_WORDS or word in _GENERIC or stem in _GENERIC or len(word) < 3 or word.isdigit():
            continue
        head = _prefix(stem)
        alts = [a for key, more in EQUIVALENTS.items() if head.startswith(key[:5]) for a in more]
        groups.setdefault(head, (head, *alts))
    synonyms = stated_synonyms(variable)
    for key, alts in synonyms.items():
        head = _prefix(word_stem(key)) if " " not in key else key
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
    words = set(WORD_RUN.findall(text.casefold()))
    text_words, text_loose = words_of(text), loose(text)

    def present(term: str) -> bool:
        if " " in term.strip():
            return phrase_in(term, text_words, text_loose)
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
CONTEXT_END = re.compile(r"(?<=[.;!?])(?<!\b[A-Za-z0-9]\.)\s+(?=\S)|\n\s*\n|\s+(?=\([a-z0-9]{1,3}\)\s)")


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
            words = {_term(w) for w in WORD_RUN.findall(unit.casefold())}
            if words:
                count += 1
                df.update(words)
    return TermStats(max(1, count), dict(df))


@functools.lru_cache(maxsize=65536)
def _term(word: str) -> str:
    """A word as the document statistics count it (5-letter prefix of its stem); cached: a document
    repeats its words."""
    return _prefix(word_stem(word))


def _units(text: str) -> list[str]:
    """Sentences, and short lines on their own (headings and table rows end without a full stop)."""
    out: list[str] = []
    for block in CONTEXT_END.split(text):
        current: list[str] = []
        for line in block.splitlines():
            current.append(line)
            if row_like(line):
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return [u for u in out if u.strip()]


def row_like(line: str) -> bool:
    """A heading or table row: short, not the wrapped end of a sentence ("of any public road.")."""
    stripped = line.strip()
    return " | " in stripped or (0 < len(stripped) < 60 and not stripped.endswith((",", "-", "(", ".")))


@functools.lru_cache(maxsize=4096)  # asked for every sibling of every candidate: a variable is frozen
def weighted_groups(variable: Variable) -> list[tuple[tuple[str, ...], float]]:
    """The variable's subject words as (forms, source weight): question and name 1, instructions and
    options 0.5. Units and number words count; function and generic words do not."""
    sources = {"question": variable.question, "name": variable.name.replace("_", " "),
               "instructions": _NOT_THIS.sub(" ", SYNONYMS_LINE.sub("", variable.instructions or "")),
               "options": " ".join(variable.options)}
    groups: dict[str, tuple[tuple[str, ...], float]] = {}
    for source, weight in _SOURCE_WEIGHTS:
        for word in WORD_RUN.findall(sources[source].casefold()):
            stem = word_stem(word)
            if word in STOP_WORDS or stem in STOP_WORDS or word in _GENERIC or stem in _GENERIC or word.isdigit():
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
        head = _prefix(word_stem(key)) if " " not in key else key
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
    words = set(WORD_RUN.findall(text.casefold())) | ({"%"} if "%" in text else set())
    prepared: list[tuple[list[str], str]] = []

    def present(term: str) -> bool:
        if " " in term.strip() or "-" in term:
            if not prepared:
                prepared.append((words_of(text), loose(text)))
            return phrase_in(term, *prepared[0])
        return any(w.startswith(term) or (len(w) >= 5 and term.startswith(w)) for w in words)
    return present
