"""Variables: what the analyst wants from every document.

Loaded from the analyst's own spreadsheet (CSV / Excel / JSON), so every problem is reported
with the row number *as the analyst sees it in their spreadsheet* (row 2 is the first data row
under the header). Also turns the raw answers of any extractor into typed values
(`coerce_value`) and typed values back into table text (`format_value`).
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from policy_reader.errors import VariablesError
from policy_reader.models import Variable, VariableType

COLUMNS = ("name", "question", "type", "options", "instructions", "always_review")
VALID_TYPES = tuple(t.value for t in VariableType)
MAX_NAME_LEN = 64
#: Options of a category or list variable go into every model call (the prompt and the answer schema's
#: enum), like the question: bounded in count, per option and in total. 200 options is a long picklist;
#: Azure's strict schemas take 500 enum values in all.
MAX_OPTIONS = 200
MAX_OPTION_CHARS = 200
MAX_OPTIONS_CHARS = 8_000

# Spellings analysts actually type in the "type" column.
_TYPE_ALIASES = {
    "string": "text", "str": "text", "free text": "text",
    "numeric": "number", "int": "number", "integer": "number", "float": "number", "decimal": "number",
    "percent": "number", "percentage": "number",
    "bool": "boolean", "yes/no": "boolean", "yes-no": "boolean", "y/n": "boolean",
    "categorical": "category", "choice": "category", "single choice": "category",
    "multiple choice": "list", "multi": "list",
}
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}
_NAME_RE = re.compile(r"^[^\W\d]\w*$")
_FORMULA_ESCAPED = re.compile(r"^'(?=[=+\-@\t\r])")


# --------------------------------------------------------------------------- parsing

def parse_variables(rows: Iterable[Mapping[str, Any]], *, first_row: int = 2,
                    row_label: str = "Row") -> list[Variable]:
    """Validate rows (header -> cell mappings) into Variables.

    `first_row` is the number the analyst sees for the first row (2 in a spreadsheet under its
    header, 1 for a JSON list), so every error message points at the right line.
    """
    variables: list[Variable] = []
    seen: dict[str, int] = {}
    any_row = False
    for offset, raw in enumerate(rows):
        number = first_row + offset
        where = f"{row_label} {number}"
        if not isinstance(raw, Mapping):
            raise VariablesError(f"{where}: expected an object with name, question and type, got {type(raw).__name__}.")
        row = {_clean_header(k): v for k, v in raw.items() if k is not None}
        if all(_blank(v) for v in row.values()):
            continue  # spreadsheets carry empty trailing rows
        any_row = True
        variable = _parse_row(row, where)
        if variable.name in seen:
            raise VariablesError(f"{where}: duplicate variable name {variable.name!r} "
                                 f"(already used in {row_label.lower()} {seen[variable.name]}). Names must be unique.")
        seen[variable.name] = number
        variables.append(variable)
    if not any_row:
        raise VariablesError("The variables table has no variables: add at least one row with a name and a question.")
    return variables


def _parse_row(row: Mapping[str, Any], where: str) -> Variable:
    name = normalise_name(_text(row.get("name")))
    if not name:
        raise VariablesError(f"{where}: the name is missing. Give each variable a short name such as year_adopted.")
    if len(name) > MAX_NAME_LEN:
        raise VariablesError(f"{where}: the name {name[:20]!r}... is too long (at most {MAX_NAME_LEN} characters).")
    if not _NAME_RE.match(name):
        raise VariablesError(f"{where}: invalid name {name!r}: use letters, digits and underscores, "
                             "starting with a letter (for example emission_target_pct).")
    question = _text(row.get("question"))
    if not question:
        raise VariablesError(f"{where}: the question for {name!r} is missing. Write the question the reader should answer.")
    vtype = _parse_type(row.get("type"), where)
    options = _parse_options(row.get("options"), where)
    _check_options(options, name, where)
    if vtype is VariableType.CATEGORY and not options:
        raise VariablesError(f"{where}: {name!r} is a category but has no options. List them in the options column "
                             "separated by ';' (for example: Ministry of Environment; Ministry of Energy).")
    return Variable(name=name, question=question, type=vtype, options=options,
                    instructions=_text(row.get("instructions")),
                    always_review=_parse_flag(row.get("always_review"), where))


def normalise_name(raw: str) -> str:
    """'Year Adopted ' -> 'year_adopted': names become column headers and JSON keys."""
    name = raw.strip().lower()
    name = re.sub(r"[\s\-.]+", "_", name)
    return re.sub(r"_+", "_", name).strip("_")


def _parse_type(raw: Any, where: str) -> VariableType:
    text = _text(raw).lower()
    if not text:
        return VariableType.TEXT
    text = _TYPE_ALIASES.get(text, text)
    try:
        return VariableType(text)
    except ValueError:
        raise VariablesError(f"{where}: unknown type {_text(raw)!r}. Valid types: {', '.join(VALID_TYPES)}.") from None


def _parse_options(raw: Any, where: str) -> tuple[str, ...]:
    if _blank(raw):
        return ()
    if isinstance(raw, (list, tuple)):
        items = [_text(x) for x in raw]
    elif isinstance(raw, (str, int, float)):
        text = _text(raw)
        sep = ";" if ";" in text else "|"
        items = [part.strip() for part in text.split(sep)]
    else:
        raise VariablesError(f"{where}: options must be text separated by ';' or a list, got {type(raw).__name__}.")
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


def _check_options(options: tuple[str, ...], name: str, where: str) -> None:
    """MAX_OPTIONS, MAX_OPTION_CHARS, MAX_OPTIONS_CHARS: the options are sent with every call."""
    if len(options) > MAX_OPTIONS:
        raise VariablesError(f"{where}: {name!r} has {len(options):,} options; at most {MAX_OPTIONS} are allowed "
                             "(they are sent with every model call). Group them, or use a text variable.",
                             code="too_many")
    longest = max((len(o) for o in options), default=0)
    if longest > MAX_OPTION_CHARS:
        raise VariablesError(f"{where}: an option of {name!r} is {longest:,} characters long; at most "
                             f"{MAX_OPTION_CHARS} characters an option. Shorten it.", code="too_long")
    total = sum(len(o) for o in options)
    if total > MAX_OPTIONS_CHARS:
        raise VariablesError(f"{where}: the options of {name!r} are {total:,} characters in all; at most "
                             f"{MAX_OPTIONS_CHARS:,} (they are sent with every model call). Shorten them.",
                             code="too_long")


def _parse_flag(raw: Any, where: str) -> bool:
    if _blank(raw):
        return False
    if isinstance(raw, bool):
        return raw
    text = _text(raw).lower()
    if text in ("1.0",):
        text = "1"
    if text in ("0.0",):
        text = "0"
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise VariablesError(f"{where}: always_review must be yes or no (or true/false, 1/0, blank), got {_text(raw)!r}.")


def _clean_header(key: Any) -> str:
    return re.sub(r"\s+", "_", str(key).strip().lower())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return _FORMULA_ESCAPED.sub("", text)  # our own CSV templates escape formula-looking cells


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


# --------------------------------------------------------------------------- files

TEMPLATE_MAX_ROWS = 5000  # rows of a spreadsheet template read at most (blank rows included)
TEMPLATE_MAX_COLUMNS = 30


def load_variables(source: Path | bytes, filename: str) -> list[Variable]:
    """Read a variables file (.csv, .xlsx or .json). Raises VariablesError with the row."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if not data.strip():
        raise VariablesError(f"The variables file {filename!r} is empty.")
    suffix = Path(filename).suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _load_csv(data, filename)
    if suffix in (".xlsx", ".xlsm"):
        return _load_xlsx(data, filename)
    if suffix == ".json":
        return _load_json(data, filename)
    raise VariablesError(f"Cannot read {filename!r}: variables files must be .csv, .xlsx or .json.")


def _load_csv(data: bytes, filename: str) -> list[Variable]:
    text = decode_text(data)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        table = [row for row in reader]
    except csv.Error as exc:
        # the reader's own limit (131,072 characters a field) or a broken quote: say which, and where
        limit = csv.field_size_limit()
        if "field limit" in str(exc):
            raise VariablesError(f"{filename!r} row {reader.line_num}: a cell is longer than the {limit:,} "
                                 "characters a CSV field may hold. Shorten it (questions and options are far "
                                 "shorter), or check for an unclosed quote.", code="too_long") from None
        raise VariablesError(f"{filename!r} row {reader.line_num} could not be read as CSV ({exc}).") from None
    return _from_table(table, filename)


def decode_text(data: bytes) -> str:
    """Text of an uploaded CSV or JSON file, as spreadsheets save it: UTF-8 (with or without BOM), else
    Windows-1252, else Latin-1 (which never fails)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _load_xlsx(data: bytes, filename: str) -> list[Variable]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise VariablesError(f"Cannot open {filename!r} as an Excel workbook ({type(exc).__name__}). "
                             "Save it as .xlsx and try again.") from None
    try:
        sheet = next((ws for ws in wb.worksheets if ws.title.strip().lower() == "variables"), wb.worksheets[0])
        # A template is a short table: reading stops at its bounds whatever size the sheet claims.
        table = [list(row) for row in sheet.iter_rows(max_row=TEMPLATE_MAX_ROWS, max_col=TEMPLATE_MAX_COLUMNS,
                                                       values_only=True)]
    finally:
        wb.close()
    return _from_table(table, filename)


def check_variable_limits(variables: Sequence[Variable], *, max_variables: int, max_question_chars: int) -> None:
    """MAX_VARIABLES and MAX_QUESTION_CHARS: a job's questions go into every model call, so a template
    of thousands of variables or a novel-length question is refused with the reason, not attempted."""
    if len(variables) > max_variables:
        raise VariablesError(f"{len(variables):,} variables is more than the {max_variables:,} one job may have "
                             f"(MAX_VARIABLES). Split them over several jobs.", code="too_many")
    for variable in variables:
        longest = max(len(variable.question), len(variable.instructions))
        if longest > max_question_chars:
            raise VariablesError(f"{variable.name}: the question or instructions are {longest:,} characters long; "
                                 f"the limit is {max_question_chars:,} (MAX_QUESTION_CHARS).", code="too_long")


def _from_table(table: list[list[Any]], filename: str) -> list[Variable]:
    skipped = 0
    while skipped < len(table) and all(_blank(c) for c in table[skipped]):
        skipped += 1  # blank lines above the header: row numbers still match the spreadsheet
    if skipped == len(table):
        raise VariablesError(f"The variables file {filename!r} is empty.")
    header = [_clean_header(c) if c is not None else "" for c in table[skipped]]
    _check_header(header, filename, skipped + 1)
    rows = []
    for r in table[skipped + 1:]:
        cells = list(r) + [None] * (len(header) - len(r))
        rows.append({k: v for k, v in zip(header, cells) if k})
    return parse_variables(rows, first_row=skipped + 2)


def _check_header(header: list[str], filename: str, row: int) -> None:
    missing = [c for c in ("name", "question") if c not in header]
    if missing:
        found = ", ".join(h for h in header if h) or "nothing"
        raise VariablesError(f"{filename!r} row {row} (header) must have the columns name and question "
                             f"(optional: type, options, instructions, always_review); missing {', '.join(missing)}, "
                             f"found {found}.")


def _load_json(data: bytes, filename: str) -> list[Variable]:
    try:
        obj = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise VariablesError(f"{filename!r} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    if isinstance(obj, Mapping) and "variables" in obj:
        obj = obj["variables"]
    if not isinstance(obj, list):
        raise VariablesError(f"{filename!r} must hold a list of variables, or an object with a \"variables\" list.")
    if not obj:
        raise VariablesError(f"The variables file {filename!r} has no variables.")
    return parse_variables(obj, first_row=1, row_label="Item")


# --------------------------------------------------------------------------- templates

def _template_rows(variables: Iterable[Variable]) -> list[list[str]]:
    rows = [list(COLUMNS)]
    for v in variables:
        rows.append([v.name, v.question, v.type.value, "; ".join(v.options), v.instructions,
                     "yes" if v.always_review else "no"])
    return rows


def variables_to_csv(variables: Iterable[Variable]) -> bytes:
    """A CSV template (UTF-8 with BOM so Excel shows accents) that `load_variables` reads back."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in _template_rows(variables):
        writer.writerow([_escape_csv_cell(c) for c in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def variables_to_xlsx(variables: Iterable[Variable]) -> bytes:
    """An Excel template with one sheet "variables"; cells are text, never formulas."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "variables"
    for r, row in enumerate(_template_rows(variables), start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c)
            cell.value = value
            cell.data_type = "s"  # a question starting with "=" stays text
            if r == 1:
                cell.font = Font(bold=True)
    for letter, width in zip("ABCDEF", (22, 60, 12, 40, 40, 14)):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _escape_csv_cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --------------------------------------------------------------------------- values

_NOT_FOUND_WORDS = {"", "none", "null", "n/a", "na", "not found", "not stated", "not mentioned", "unknown",
                    "not specified", "not available", "-", "--"}
_NUMBER_RE = re.compile(r"(?<![\w.])([-+\u2212]?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)")
_SCALE_RE = re.compile(r"^\s*(thousand|k|million|mn|mio|m|billion|bn|b|trillion|tn)\b", re.I)
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "mio": 1e6, "m": 1e6, "billion": 1e9,
           "bn": 1e9, "b": 1e9, "trillion": 1e12, "tn": 1e12}
YEAR_RE = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d|21\d\d)(?!\d)")
MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], start=1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
MONTHS["sept"] = 9
_MONTH_RX = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DATE_PATTERNS = [
    ("ymd", re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")),
    ("dmy_text", re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RX + r",?\s+(\d{4})(?!\d)", re.I)),
    ("mdy_text", re.compile(_MONTH_RX + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)", re.I)),
    ("dmy_num", re.compile(r"(?<!\d)(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?!\d)")),
    ("my_text", re.compile(r"\b" + _MONTH_RX + r",?\s+(\d{4})(?!\d)", re.I)),
    ("ym", re.compile(r"(?<!\d)(\d{4})-(\d{1,2})(?![\d-])")),
    ("y", re.compile(r"(?<!\d)(1[89]\d\d|20\d\d|21\d\d)(?!\d)")),
]


def coerce_value(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    """Turn a raw answer into the variable's type: (typed value or None, problem or None).

    A problem means the value could not be read cleanly and the answer needs a human look.
    None with no problem means "the document does not say".
    """
    if _is_missing(raw):
        return None, None
    handler = _COERCERS[variable.type]
    return handler(variable, raw)


def _is_missing(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip().lower().rstrip(".") in _NOT_FOUND_WORDS
    return False


def _coerce_text(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, (list, tuple)):
        return "; ".join(str(x).strip() for x in raw if str(x).strip()), None
    if isinstance(raw, bool):
        return ("yes" if raw else "no"), None
    return format_value(raw).strip(), None


def parse_numbers(text: str) -> list[float]:
    """Every number in `text`, with thousands separators and scale words ("3.5 million") applied."""
    out: list[float] = []
    for m in _NUMBER_RE.finditer(text):
        sign, digits = m.group(1), m.group(2)
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
            value = float(digits.replace(",", ""))
        else:
            value = float(digits.replace(",", "."))
        value *= _scale_after(text[m.end():])
        if sign in ("-", "\u2212"):
            value = -value
        out.append(value)
    return out


def _scale_after(rest: str) -> float:
    """1e6 for "3.5 million" / "3.5mn"; one-letter units only when glued ("3.5m"), never "45 m"."""
    scale = _SCALE_RE.match(rest)
    if not scale:
        return 1.0
    word = scale.group(1).lower()
    if len(word) == 1 and rest[:1].isspace():
        return 1.0
    return _SCALES[word]


def _tidy_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else round(value, 10)


def _coerce_number(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, bool):
        return None, f"expected a number, got {raw!r}"
    if isinstance(raw, (int, float)):
        return _tidy_number(float(raw)), None
    text = _text_of(raw)
    numbers = parse_numbers(text)
    if not numbers:
        return None, f"no number in {text[:80]!r}"
    distinct = list(dict.fromkeys(numbers))
    problem = None if len(distinct) == 1 else f"several numbers in {text[:80]!r}; used the first"
    return _tidy_number(numbers[0]), problem


def _coerce_year(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, bool):
        return None, f"expected a year, got {raw!r}"
    if isinstance(raw, (_dt.date, _dt.datetime)):
        return raw.year, None
    if isinstance(raw, (int, float)) and float(raw).is_integer() and 1800 <= raw <= 2199:
        return int(raw), None
    text = _text_of(raw)
    years = [int(y) for y in YEAR_RE.findall(text)]
    if not years:
        return None, f"no year in {text[:80]!r}"
    distinct = list(dict.fromkeys(years))
    problem = None if len(distinct) == 1 else f"several years in {text[:80]!r}; used the first"
    return years[0], problem


def parse_date(text: str) -> str | None:
    """The first date in `text` as ISO yyyy-mm-dd (or yyyy-mm / yyyy when that is all it says)."""
    best: tuple[int, int, str] | None = None  # (start, -len(iso), iso): earliest, then most precise
    for kind, rx in _DATE_PATTERNS:
        for m in rx.finditer(text):
            iso = _iso_from_match(kind, m)
            if iso:
                key = (m.start(), -len(iso), iso)
                best = key if best is None or key < best else best
                break
    return best[2] if best else None


def _month(word: str) -> int:
    return MONTHS[word.lower().rstrip(".")[:3]]


def _iso_from_match(kind: str, m: re.Match[str]) -> str | None:
    g = m.groups()
    try:
        if kind == "ymd":
            return _dt.date(int(g[0]), int(g[1]), int(g[2])).isoformat()
        if kind == "dmy_text":
            return _dt.date(int(g[2]), _month(g[1]), int(g[0])).isoformat()
        if kind == "mdy_text":
            return _dt.date(int(g[2]), _month(g[0]), int(g[1])).isoformat()
        if kind == "dmy_num":
            day, month = int(g[0]), int(g[1])
            if month > 12 and day <= 12:
                day, month = month, day  # US order when day-first is impossible
            return _dt.date(int(g[2]), month, day).isoformat()
        if kind == "my_text":
            return f"{int(g[1]):04d}-{_month(g[0]):02d}"
        if kind == "ym":
            return f"{int(g[0]):04d}-{int(g[1]):02d}" if 1 <= int(g[1]) <= 12 else None
        if kind == "y":
            return f"{int(g[0]):04d}"
    except (ValueError, KeyError):
        return None
    return None


def _coerce_date(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, _dt.datetime):
        return raw.date().isoformat(), None
    if isinstance(raw, _dt.date):
        return raw.isoformat(), None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw).is_integer() and 1800 <= raw <= 2199:
        return f"{int(raw):04d}", None
    text = _text_of(raw)
    iso = parse_date(text)
    if iso is None:
        return None, f"no date in {text[:80]!r}"
    return iso, None


def _coerce_boolean(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw), None
    text = _text_of(raw).lower().strip(" .!")
    first = re.split(r"[\s,;:(]+", text, maxsplit=1)[0] if text else ""
    if text in _TRUE or first in ("yes", "true"):
        return True, None
    if text in _FALSE or first in ("no", "false"):
        return False, None
    return None, f"expected yes or no, got {_text_of(raw)[:80]!r}"


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def match_option(options: Iterable[str], raw: str) -> tuple[str | None, bool]:
    """(option, exact): the option `raw` names, compared case- and punctuation-insensitively."""
    options = list(options)
    key = _fold(raw)
    for opt in options:
        if _fold(opt) == key:
            return opt, True
    if key:
        contained = [o for o in options if _fold(o) and re.search(rf"\b{re.escape(_fold(o))}\b", key)]
        if len(contained) == 1:
            return contained[0], False
        within = [o for o in options if re.search(rf"\b{re.escape(key)}\b", _fold(o))]
        if len(within) == 1:
            return within[0], False
    return None, False


def _coerce_category(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, (list, tuple)):
        items = [str(x) for x in raw if str(x).strip()]
        if len(items) != 1:
            return "; ".join(items), f"expected one option, got {len(items)}"
        raw = items[0]
    text = _text_of(raw)
    if not variable.options:
        return text, None
    option, exact = match_option(variable.options, text)
    if option is None:
        return text, f"{text[:80]!r} is not one of the options: {', '.join(variable.options)}"
    return option, None if exact else f"read {text[:80]!r} as the option {option!r}"


def _coerce_list(variable: Variable, raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, (list, tuple)):
        items = [_text_of(x) for x in raw]
    else:
        text = _text_of(raw)
        sep = ";" if ";" in text else ("|" if "|" in text else ",")
        items = [part.strip() for part in text.split(sep)]
        if len(items) == 1 and "\n" in text:
            items = [part.strip() for part in text.splitlines()]
    items = [i for i in items if i]
    problems: list[str] = []
    out: list[str] = []
    for item in items:
        value = item
        if variable.options:
            option, _ = match_option(variable.options, item)
            if option is None:
                problems.append(item)
            else:
                value = option
        if value not in out:
            out.append(value)
    problem = None
    if problems:
        problem = f"not among the options: {', '.join(problems)[:120]}"
    return out, problem


def _text_of(raw: Any) -> str:
    if isinstance(raw, (list, tuple)):
        return "; ".join(str(x) for x in raw)
    return str(raw).strip()


_COERCERS = {
    VariableType.TEXT: _coerce_text,
    VariableType.NUMBER: _coerce_number,
    VariableType.YEAR: _coerce_year,
    VariableType.DATE: _coerce_date,
    VariableType.BOOLEAN: _coerce_boolean,
    VariableType.CATEGORY: _coerce_category,
    VariableType.LIST: _coerce_list,
}


def format_value(value: Any) -> str:
    """A typed value as the text shown in tables and exports (None -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "; ".join(format_value(v) for v in value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
