"""Reader processes: hostile PDFs and templates are parsed away from the app, with memory and time limits.

Real hostile files (tests/fixtures/hostile.py), real child processes, real RLIMIT_AS on a real CLI run.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from policy_reader.reading import sandbox
from policy_reader.config import load_settings
from policy_reader.errors import PdfError, VariablesError
from tests.fixtures.hostile import make_form_bomb_pdf, make_giant_page_pdf, make_stream_bomb_pdf

ROOT = Path(__file__).resolve().parents[2]


def test_pdf_bombs_fail_alone_and_the_job_completes_under_a_memory_limit(tmp_path, make_pdf):
    """The app's process is limited to 3 GB of address space, like a small App Service plan. Before the
    reader processes, PDFium aborted the whole process on the form bomb (exit 134) and the job was lost."""
    bombs = [make_form_bomb_pdf(tmp_path / "annual_report.pdf"), make_stream_bomb_pdf(tmp_path / "annex.pdf")]
    good = [make_pdf(f"policy{i}.pdf", [f"National policy {i}. The policy was adopted in {2010 + i}."])
            for i in range(2)]
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JOBS_DIR": str(tmp_path / "jobs"), "READER_MEMORY_MB": "1500",
           "FILE_TIMEOUT_S": "120"}
    limit = 3 * 1024 ** 3

    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "policy_reader", "extract", *map(str, bombs + good),
                           "--variables", str(variables), "--out", str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    documents = {d["file"]: d for d in json.loads(out.read_text())["documents"]}
    for bomb in bombs:
        doc = documents[bomb.name]
        assert doc["status"] == "failed" and doc["error_code"] == "reader_crashed"
        assert "READER_MEMORY_MB" in doc["error"] and "nothing else is affected" in doc["error"]
    for policy in good:
        assert documents[policy.name]["status"] == "ok"
    assert [v["value"] for p in good for v in documents[p.name]["variables"]] == [2010, 2011]
    assert elapsed < 120, "the bombs were stopped well within the file time limit"


@pytest.fixture
def reader_settings(tmp_path):
    return load_settings(JOBS_DIR=str(tmp_path / "jobs"), READER_PROCESSES="1", FILE_TIMEOUT_S="3",
                         READER_MEMORY_MB="8000", OPENAI_API_KEY="sk-secret-in-the-app-only", LLM_BACKEND="offline")


def test_a_reader_past_its_deadline_is_killed_and_replaced(reader_settings, tmp_path, make_pdf):
    """A bomb that stays under the memory limit is stopped at FILE_TIMEOUT_S, whatever C call it is in."""
    slow = make_form_bomb_pdf(tmp_path / "slow.pdf", depth=10, fanout=8)  # ~25 s and 4 GB in PDFium
    started = time.monotonic()
    with pytest.raises(PdfError) as info:
        sandbox.read_pdf(slow, reader_settings, ocr=False)
    assert info.value.code == "timeout" and "limit of 3 s" in info.value.message
    assert time.monotonic() - started < 20
    good = make_pdf("after.pdf", ["The reader that replaced the killed one reads this."])
    doc = sandbox.read_pdf(good, reader_settings, ocr=False)
    assert "replaced the killed one" in doc.pages[0].text


def test_progress_comes_back_and_a_stop_request_kills_the_reader(reader_settings, make_pdf):
    pdf = make_pdf("pages.pdf", [f"Page {n} of the national climate policy." for n in range(1, 6)])
    seen: list[tuple[str, int, int]] = []
    doc = sandbox.read_pdf(pdf, reader_settings, ocr=False, on_progress=lambda *p: seen.append(p))
    assert doc.page_count == 5 and ("reading", 5, 5) in seen

    box = sandbox.get_sandbox(reader_settings)
    slow = make_form_bomb_pdf(Path(pdf).parent / "slow.pdf", depth=10, fanout=8)
    started = time.monotonic()
    with pytest.raises(PdfError) as info:
        sandbox.read_pdf(slow, reader_settings, ocr=False, should_stop=lambda: time.monotonic() - started > 0.5)
    assert info.value.code == "cancelled" and time.monotonic() - started < 3
    assert box.limits.processes == 1 and sandbox.read_pdf(pdf, reader_settings, ocr=False).page_count == 5


def test_the_reader_process_gets_no_secrets(reader_settings, make_pdf, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-in-the-app-only")
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-secret")
    sandbox.read_pdf(make_pdf("p.pdf", ["The national climate policy text."]), reader_settings, ocr=False)
    children = sandbox.get_sandbox(reader_settings)._idle  # noqa: SLF001 - the test looks inside on purpose
    assert children, "the reader is kept warm for the next file"
    environ = Path(f"/proc/{children[0].proc.pid}/environ").read_bytes()
    assert b"sk-secret" not in environ and b"smtp-secret" not in environ and b"OPENAI" not in environ
    assert Path(f"/proc/{children[0].proc.pid}/cwd").resolve() == Path("/")


def test_giant_pages_are_drawn_within_the_pixel_caps(tmp_path):
    """A 30,000-point scanned page made OCR allocate 5 GB; a 14,400-point page made the evidence image
    take 5 GB. Within a 1 GB reader both now work, at a capped size."""
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), READER_MEMORY_MB="1024", FILE_TIMEOUT_S="120",
                             RENDER_MAX_MEGAPIXELS="4")
    with pytest.raises(PdfError) as info:  # read, OCR'd, found blank: not a crash of the reader
        sandbox.read_pdf(make_giant_page_pdf(tmp_path / "scan.pdf", points=30000), settings, ocr=True)
    assert info.value.code == "no_text"
    png = sandbox.render_page_png(make_giant_page_pdf(tmp_path / "poster.pdf", points=14400, text="Poster"), 1,
                                  settings, highlight="Poster")
    import io

    width, height = Image.open(io.BytesIO(png)).size
    assert width * height <= 4_000_000 and width > 1000


def test_category_options_are_bounded_with_the_reason(tmp_path):
    """190,000 options went into every model call (a 2-million-character prompt): options are bounded in
    count, per option and in total, and the refusal says which row and why."""
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"))
    many = ";".join(f"o{i}" for i in range(150_000))  # 1 MB, within TEMPLATE_MAX_MB
    template = json.dumps([{"name": "sector", "question": "Which sector?", "type": "category", "options": many}])
    with pytest.raises(VariablesError, match=r"Item 1: 'sector' has 150,000 options; at most 200"):
        sandbox.load_variables(template.encode(), "many.json", settings)
    long_option = "a" * 500
    with pytest.raises(VariablesError, match=r"Row 2: an option of 'sector' is 500 characters long; at most 200"):
        sandbox.load_variables(f"name,question,type,options\nsector,Which?,category,{long_option};b\n".encode(),
                               "long.csv", settings)
    wide = ";".join(f"{i:03d} " + "w" * 150 for i in range(60))
    with pytest.raises(VariablesError, match=r"Row 2: the options of 'sector' are 9,\d{3} characters in all; at most"):
        sandbox.load_variables(f"name,question,type,options\nsector,Which?,category,{wide}\n".encode(), "wide.csv",
                               settings)


def test_a_csv_field_over_the_reader_limit_says_so(tmp_path):
    """Python's csv reader refuses a field over 131,072 characters: the message says so, with the row
    (it was "The file could not be read (Error)")."""
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"))
    data = b"name,question\nv1,short\nv2," + b"q" * 200_000 + b"\n"
    with pytest.raises(VariablesError, match=r"row 3: a cell is longer than the 131,072 characters"):
        sandbox.load_variables(data, "big-field.csv", settings)


def test_template_limits_are_checked_in_a_reader(tmp_path):
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), TEMPLATE_MAX_MB="1", MAX_VARIABLES="50",
                             MAX_QUESTION_CHARS="300")
    with pytest.raises(VariablesError, match="TEMPLATE_MAX_MB"):
        sandbox.load_variables(b"name,question\n" + b"x" * (1024 * 1024 + 1), "big.csv", settings)
    many = "name,question\n" + "".join(f"v{i},Question {i}?\n" for i in range(51))
    with pytest.raises(VariablesError, match="51 variables .* 50 one job may have"):
        sandbox.load_variables(many.encode(), "many.csv", settings)
    with pytest.raises(VariablesError, match="v1: the question .* 400 characters .* limit is 300"):
        sandbox.load_variables(("name,question\nv1," + "q" * 400 + "\n").encode(), "long.csv", settings)

    # a spreadsheet that claims a million rows is read only to its template bounds
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("variables")
    sheet.append(["name", "question"])
    for i in range(100_000):
        sheet.append([f"v{i}", f"Question {i}?"])
    path = tmp_path / "huge.xlsx"
    book.save(path)
    assert 1 < path.stat().st_size / 1048576 < 2  # like the 1.4 MB template that took 89 s of CPU
    with pytest.raises(VariablesError, match="MAX_VARIABLES"):
        sandbox.load_variables(path.read_bytes(), "huge.xlsx", settings.model_copy(update={"template_max_mb": 2}))
    good = sandbox.load_variables(b"name,question,type\nyear,Year adopted?,year\n", "ok.csv", settings)
    assert [(v.name, v.type.value) for v in good] == [("year", "year")]


def test_gold_files_are_read_in_a_reader_with_their_limits(tmp_path):
    from policy_reader.accuracy.gold import load_gold
    from policy_reader.errors import GoldError

    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), GOLD_MAX_MB="1", GOLD_MAX_ROWS="100")
    with pytest.raises(GoldError, match="GOLD_MAX_MB"):
        load_gold(b"file,variable,value\n" + b"x" * (1024 * 1024 + 1), "big.csv", settings)
    many = "file,variable,value\n" + "".join(f"a.pdf,v{i},1\n" for i in range(101))
    with pytest.raises(GoldError, match="more than 100 rows .GOLD_MAX_ROWS"):
        load_gold(many.encode(), "many.csv", settings)
    with pytest.raises(GoldError, match="gold.csv row 3: the variable cell is empty") as err:
        load_gold(b"file,variable,value\na.pdf,year,2019\nb.pdf,,2019\n", "gold.csv", settings)
    assert err.value.code == "gold"  # the reader's error comes back typed, with its code
    rows = load_gold(b"file,variable,value,page\na.pdf,year,2019,2\n", "gold.csv", settings)
    assert [(r.row, r.file, r.variable, r.value, r.page) for r in rows] == [(2, "a.pdf", "year", "2019", 2)]


def test_another_users_job_finishes_while_a_bomb_holds_a_reader(tmp_path, make_pdf):
    """The bomb occupies one reader process until it dies; the other reader (and the fair queue) serve
    another user's job meanwhile, so it is not held up by the hostile file."""
    from job_manager import JobManager, JobStatus
    from policy_reader.models import Variable, VariableType

    year = Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), READER_MEMORY_MB="1500", READER_PROCESSES="2",
                             FILE_TIMEOUT_S="120")
    with JobManager(settings) as manager:
        bomb = manager.submit(name="annual reports", owner="alice", variables=[year],
                              files=[("annual_report.pdf", make_form_bomb_pdf(tmp_path / "bomb.pdf"))])
        time.sleep(0.5)  # the bomb is in a reader now
        policy = make_pdf("other.pdf", ["National Water Policy. The policy was adopted in 2016."])
        other = manager.submit(name="water", owner="bob", variables=[year], files=[("water.pdf", policy)])
        view = manager.wait(other, timeout=60)
        assert view.status == JobStatus.COMPLETED and manager.get_results(other)[0].variables[0].value == 2016
        assert not manager.get_job_status(bomb).finished, "bob's job did not wait for the bomb"
        bombed = manager.wait(bomb, timeout=120)
        assert bombed.status == JobStatus.FAILED and "reader process" in bombed.error


def test_tables_and_page_labels_are_read_in_the_reader_process(reader_settings, tmp_path):
    """Issue 28: the row grouping and the printed page numbers happen where untrusted PDFs are parsed,
    under the reader's limits, and come back over the JSON protocol."""
    from tests.pdf_factory import make_labelled_pdf, make_table_pdf

    table = sandbox.read_pdf(make_table_pdf(tmp_path / "table.pdf"), reader_settings, ocr=False)
    assert "Residences (irrigation) | 1,000 feet" in table.pages[0].text.splitlines()
    labelled = sandbox.read_pdf(make_labelled_pdf(tmp_path / "labels.pdf", [f"Page body number {n} of the ordinance." for n in (1, 2, 3)],
                                                  first_label=98, from_page=2), reader_settings, ocr=False)
    assert [p.label for p in labelled.pages] == ["i", "98", "99"]
