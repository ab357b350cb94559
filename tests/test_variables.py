"""Variables: loading from CSV / Excel / JSON, every validation error (naming the row), typed values."""
from __future__ import annotations

import io
import json

import pytest
from openpyxl import Workbook, load_workbook

from policy_reader.errors import VariablesError
from policy_reader.models import Variable, VariableType
from policy_reader.variables import (
    coerce_value,
    format_value,
    load_variables,
    parse_variables,
    variables_to_csv,
    variables_to_xlsx,
)

HEADER = ["name", "question", "type", "options", "instructions", "always_review"]
GOOD_ROWS = [
    ["Year Adopted", "In which year was the policy adopted?", "year", "", "", ""],
    ["target_pct", "What is the emission reduction target?", "Number", "", "percent only", "no"],
    ["covers_adaptation", "Does the policy cover adaptation?", "boolean", "", "", "yes"],
    ["ministry", "Which ministry is responsible?", "category", "Environment | Energy | Finance", "", "0"],
    ["sectors", "Which sectors are covered?", "list", "energy; transport;agriculture", "", "1"],
    ["adoption_date", "When was it adopted?", "date", "", "", "TRUE"],
    ["title", "What is the title?", "", "", "", ""],
]


def _csv(rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",") -> bytes:
    buf = io.StringIO()
    import csv

    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _xlsx(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _check_good(variables: list[Variable]) -> None:
    by_name = {v.name: v for v in variables}
    assert [v.name for v in variables] == ["year_adopted", "target_pct", "covers_adaptation", "ministry", "sectors",
                                           "adoption_date", "title"]
    assert by_name["year_adopted"].type is VariableType.YEAR
    assert by_name["target_pct"].type is VariableType.NUMBER
    assert by_name["target_pct"].instructions == "percent only"
    assert by_name["covers_adaptation"].always_review is True
    assert by_name["ministry"].options == ("Environment", "Energy", "Finance")
    assert by_name["ministry"].always_review is False
    assert by_name["sectors"].options == ("energy", "transport", "agriculture")
    assert by_name["sectors"].always_review is True
    assert by_name["adoption_date"].type is VariableType.DATE
    assert by_name["title"].type is VariableType.TEXT


def test_load_csv(tmp_path):
    path = tmp_path / "vars.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(GOOD_ROWS))
    _check_good(load_variables(path, "vars.csv"))


def test_load_csv_semicolon_delimited_and_messy_headers():
    header = [" Name ", "QUESTION", "Type", "Options", "Instructions", "Always Review"]
    data = _csv([[c.replace(";", "|") for c in row] for row in GOOD_ROWS], header=header, delimiter=";")
    _check_good(load_variables(data, "vars.csv"))


def test_load_xlsx():
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][5] = False  # real booleans and numbers from Excel cells
    rows[3][5] = 0
    rows[4][5] = 1
    _check_good(load_variables(_xlsx(rows), "vars.xlsx"))


def test_load_json_list_and_object_forms():
    items = [dict(zip(HEADER, row)) for row in GOOD_ROWS]
    items[4]["options"] = ["energy", "transport", "agriculture"]
    items[2]["always_review"] = True
    _check_good(load_variables(json.dumps(items).encode(), "vars.json"))
    _check_good(load_variables(json.dumps({"variables": items}).encode(), "vars.json"))


def test_blank_rows_are_skipped_but_numbering_kept():
    rows = [GOOD_ROWS[0], ["", "", "", "", "", ""], ["x", "", "text", "", "", ""]]
    with pytest.raises(VariablesError, match=r"Row 4: the question for 'x' is missing"):
        load_variables(_csv(rows), "v.csv")


@pytest.mark.parametrize("row, pattern", [
    (["", "Which year?", "year", "", "", ""], r"Row 3: the name is missing"),
    (["year2", "", "year", "", "", ""], r"Row 3: the question for 'year2' is missing"),
    (["x", "Q?", "money", "", "", ""], r"Row 3: unknown type 'money'\. Valid types: text, number, year, date, "
                                        r"boolean, category, list"),
    (["x", "Q?", "category", "", "", ""], r"Row 3: 'x' is a category but has no options"),
    (["YEAR ADOPTED", "Again?", "year", "", "", ""], r"Row 3: duplicate variable name 'year_adopted' \(already "
                                                      r"used in row 2\)"),
    (["2nd year", "Q?", "year", "", "", ""], r"Row 3: invalid name '2nd_year'"),
    (["cost ($)", "Q?", "number", "", "", ""], r"Row 3: invalid name 'cost_\(\$\)'"),
    (["x", "Q?", "text", "", "", "maybe"], r"Row 3: always_review must be yes or no"),
])
def test_row_errors_name_the_row_in_every_format(row, pattern):
    rows = [GOOD_ROWS[0], row]
    with pytest.raises(VariablesError, match=pattern):
        load_variables(_csv(rows), "v.csv")
    with pytest.raises(VariablesError, match=pattern):
        load_variables(_xlsx(rows), "v.xlsx")
    items = [dict(zip(HEADER, r)) for r in rows]
    json_pattern = pattern.replace("Row 3", "Item 2").replace("row 2", "item 1")
    with pytest.raises(VariablesError, match=json_pattern):
        load_variables(json.dumps(items).encode(), "v.json")


@pytest.mark.parametrize("data, filename, pattern", [
    (b"", "v.csv", r"'v\.csv' is empty"),
    (b"  \n\n", "v.csv", r"'v\.csv' is empty"),
    (b"", "v.xlsx", r"'v\.xlsx' is empty"),
    (b"name,question,type\n", "v.csv", r"no variables"),
    (b"label,text\nx,y\n", "v.csv", r"row 1 \(header\) must have the columns name and question.*missing name, "
                                   r"question, found label, text"),
    (b"[]", "v.json", r"has no variables"),
    (b"{\"vars\": 1}", "v.json", r"must hold a list of variables"),
    (b"[{\"name\": 1,", "v.json", r"not valid JSON \(line 1"),
    (b"[\"year\"]", "v.json", r"Item 1: expected an object"),
    (b"PK\x03\x04 not really a zip", "v.xlsx", r"Cannot open 'v\.xlsx' as an Excel workbook"),
    (b"name,question\nx,y\n", "v.docx", r"must be \.csv, \.xlsx or \.json"),
])
def test_file_level_errors(data, filename, pattern):
    with pytest.raises(VariablesError, match=pattern):
        load_variables(data, filename)


def test_parse_variables_from_ui_table_rows():
    rows = [{"name": "a", "question": "A?", "type": "text"}, {}, {"name": "b", "question": "", "type": "text"}]
    with pytest.raises(VariablesError, match=r"Row 3: the question for 'b' is missing"):
        parse_variables(rows, first_row=1)


def test_type_aliases_analysts_use():
    rows = [{"name": "a", "question": "A?", "type": "Yes/No"}, {"name": "b", "question": "B?", "type": "integer"}]
    assert [v.type for v in parse_variables(rows)] == [VariableType.BOOLEAN, VariableType.NUMBER]


def test_templates_round_trip_and_never_hold_formulas():
    variables = load_variables(_csv(GOOD_ROWS), "v.csv") + [
        Variable(name="tricky", question="=HYPERLINK(\"http://x\")", type="text", instructions="-not a formula"),
        Variable(name="unicode", question="¿Año de adopción?", type="year"),
    ]
    csv_bytes = variables_to_csv(variables)
    assert csv_bytes.startswith(b"\xef\xbb\xbf")
    import csv

    cells = {row[0]: row for row in csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig")))}
    assert cells["tricky"][1] == "'=HYPERLINK(\"http://x\")" and cells["tricky"][4] == "'-not a formula"
    assert load_variables(csv_bytes, "t.csv") == variables
    xlsx_bytes = variables_to_xlsx(variables)
    wb = load_workbook(io.BytesIO(xlsx_bytes))
    assert all(cell.data_type != "f" for row in wb.active.iter_rows() for cell in row)
    assert load_variables(xlsx_bytes, "t.xlsx") == variables


def C(t: str, **kw) -> Variable:
    return Variable(name="v", question="q?", type=t, **kw)


CATEGORY = C("category", options=("Ministry of Environment", "Ministry of Energy", "Ministry of Finance"))
LIST = C("list", options=("energy", "transport", "agriculture"))


@pytest.mark.parametrize("variable, raw, value, has_problem", [
    (C("number"), "45%", 45, False),
    (C("number"), "1,200", 1200, False),
    (C("number"), "USD 3.5 million", 3_500_000, False),
    (C("number"), "3.5bn", 3_500_000_000, False),
    (C("number"), "45 m", 45, False),
    (C("number"), "-2.5", -2.5, False),
    (C("number"), 0.3, 0.3, False),
    (C("number"), "40-45%", 40, True),
    (C("number"), "about half", None, True),
    (C("number"), True, None, True),
    (C("year"), "2019", 2019, False),
    (C("year"), "in 2019", 2019, False),
    (C("year"), 2019.0, 2019, False),
    (C("year"), "2019-2030", 2019, True),
    (C("year"), "recently", None, True),
    (C("date"), "12 March 2021", "2021-03-12", False),
    (C("date"), "2021-03-12", "2021-03-12", False),
    (C("date"), "March 2021", "2021-03", False),
    (C("date"), "March 12, 2021", "2021-03-12", False),
    (C("date"), "4th of Sept. 2020", "2020-09-04", False),
    (C("date"), "12/03/2021", "2021-03-12", False),
    (C("date"), "in 2019", "2019", False),
    (C("date"), "31 February 2021", "2021-02", False),
    (C("date"), "soon", None, True),
    (C("boolean"), "Yes", True, False),
    (C("boolean"), "yes, it does", True, False),
    (C("boolean"), "FALSE", False, False),
    (C("boolean"), "no.", False, False),
    (C("boolean"), 1, True, False),
    (C("boolean"), "partly", None, True),
    (CATEGORY, "ministry of energy", "Ministry of Energy", False),
    (CATEGORY, "Ministry of  Energy.", "Ministry of Energy", False),
    (CATEGORY, "Finance", "Ministry of Finance", True),
    (CATEGORY, "Ministry of Health", "Ministry of Health", True),
    (LIST, ["Energy", "TRANSPORT"], ["energy", "transport"], False),
    (LIST, "energy; agriculture", ["energy", "agriculture"], False),
    (LIST, "energy, transport, energy", ["energy", "transport"], False),
    (LIST, "energy, fishing", ["energy", "fishing"], True),
    (C("list"), "a; b", ["a", "b"], False),
    (LIST, [], [], False),
    (C("text"), "  Climate Act  ", "Climate Act", False),
    (C("text"), ["a", "b"], "a; b", False),
    (C("number"), None, None, False),
    (C("year"), "not found", None, False),
    (C("text"), "N/A", None, False),
])
def test_coerce_value(variable, raw, value, has_problem):
    got, problem = coerce_value(variable, raw)
    assert got == value
    assert type(got) is type(value)
    assert (problem is not None) is has_problem, problem


@pytest.mark.parametrize("value, text", [
    (None, ""), (True, "yes"), (False, "no"), (45, "45"), (45.0, "45"), (3.25, "3.25"), (-2.5, "-2.5"),
    (["energy", "transport"], "energy; transport"), ("Año", "Año"), (2019, "2019"),
])
def test_format_value(value, text):
    assert format_value(value) == text
