"""Value support: does the document's text at a quote's span state the answer's value?

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

Also the units a number is printed in (`variable_unit`, `unit_after`, `unit_conflict`).
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any


from policy_reader.models import Variable, VariableType
from policy_reader.extraction.grounding import WORD_RUN, loose

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
STOP_WORDS = _FUNCTION | set("""policy policies document documents plan strategy country national government cover
covers mention mentions include includes included any state states stated""".split())
STOP_WORDS |= {_w.removesuffix("s") for _w in STOP_WORDS}  # also as word_stem() leaves them
SYNONYMS_LINE = re.compile(r"synonyms?\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)


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


def word_stem(word: str) -> str:
    word = word.casefold()
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


def words_of(text: str) -> list[str]:
    return [word_stem(w) for w in WORD_RUN.findall(text.casefold())]


def phrase_in(phrase: str, text_words: list[str], text_loose: str) -> bool:
    """The phrase's words appear in order in the text (plural-insensitive), or its letters do."""
    words = words_of(phrase)
    if not words:
        return False
    joined = " " + " ".join(text_words) + " "
    if " " + " ".join(words) + " " in joined:
        return True
    key = [w for w in words if w not in STOP_WORDS]
    if key and len(key) < len(words) and all(f" {w} " in joined for w in key):
        return True  # "Environment Ministry" for "Ministry of Environment"
    return len(loose(phrase)) >= 6 and loose(phrase) in text_loose


def stated_synonyms(variable: Variable) -> dict[str, list[str]]:
    """`Synonyms: option = a, b; option2 = c` from the variable's instructions (lower-case keys)."""
    match = SYNONYMS_LINE.search(variable.instructions or "")
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
    return any(phrase_in(name, text_words, text_loose) for name in names)



def value_stated(variable: Variable, value: Any, text: str) -> Support:
    """The value itself is in `text` (see the module docstring for each type)."""
    words, flat = words_of(text), loose(text)
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
    key = [w for w in words_of(str(value)) if w not in _FUNCTION] or words_of(str(value))
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
