"""End to end in a real headless Chromium against a real `streamlit run main.py` server that talks
to the fake OpenAI server over HTTP: upload, load variables, run, watch progress, results,
evidence page image, Excel download. Screenshots go to tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path
from urllib.parse import quote

from openpyxl import load_workbook

from tests.fixtures.browser import BOBS_JOB_NAME, create_bobs_job
from tests.fixtures.openai_server import TEST_KEY
from tests.pdf_factory import make_text_pdf

FILLER = ("The ministry will publish annual reports on implementation, consult stakeholders in every region, "
          "and review the measures of this chapter with the statistics office. ") * 14


def _policy_pdf(path: Path, title: str, facts: list[str]) -> Path:
    """Five pages of ~500 tokens each: with CHUNK_TOKENS=500 every page is its own model call,
    so a document takes several (slow) calls and the progress bars visibly move."""
    pages = [f"{title}\n\n{facts[0] if facts else ''}\n\n{FILLER}"]
    pages += [f"Chapter {n}\n\n{facts[n] if n < len(facts) else ''}\n\n{FILLER}" for n in range(1, 5)]
    return make_text_pdf(path, pages)


def _server_log(tmp_path: Path) -> str:
    return "".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("streamlit-*.log"))


def _progress_texts(page) -> list[str]:
    return [t.strip() for t in page.locator('[data-testid="stProgress"]').all_inner_texts()]


def test_upload_run_progress_results_and_excel(tmp_path: Path, fake_openai, streamlit_server, browser_page,
                                               artifacts_dir: Path) -> None:
    page = browser_page
    fake_openai.facts = {
        "year_adopted": (2019, "adopted by Cabinet in 2019"),
        "emission_target_pct": (55, "cut greenhouse gas emissions by 55 percent"),
    }
    fake_openai.latency = 1.0
    url = streamlit_server({
        **fake_openai.env(), "LLM_MAX_RETRIES": "1", "CHUNK_TOKENS": "500", "DOCS_PER_JOB": "1",
        "OCR_ENABLED": "false",
    })
    alpha = _policy_pdf(tmp_path / "alpha_policy.pdf", "Alpha Climate Act",
                        ["The Act was adopted by Cabinet in 2019.", "",
                         "The country will cut greenhouse gas emissions by 55 percent by 2030."])
    beta = _policy_pdf(tmp_path / "beta_strategy.pdf", "Beta Strategy",
                       ["", "The strategy was adopted by Cabinet in 2019 after consultation."])
    template = tmp_path / "variables.csv"
    template.write_text("name,question,type\n"
                        "year_adopted,In which year was the policy adopted?,year\n"
                        "emission_target_pct,What emission reduction (%) does it target?,number\n")

    page.goto(url)
    page.get_by_text("Try it with the samples").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "OpenAI · gpt-fake" in sidebar.inner_text()
    assert TEST_KEY not in page.content()

    # variables from a template file, then the PDFs (drag-and-drop input)
    page.locator('[data-testid="stFileUploader"]').filter(has_text="Load a template") \
        .locator('input[type="file"]').set_input_files(str(template))
    page.get_by_text("Loaded 2 variables").wait_for()
    pdf_uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Policy PDFs")
    pdf_uploader.locator('input[type="file"]').set_input_files([str(alpha), str(beta)])
    pdf_uploader.get_by_text("beta_strategy.pdf").wait_for()
    page.screenshot(path=str(artifacts_dir / "01-start.png"), full_page=True)

    run = page.locator('[data-testid="stButton"] button').filter(has_text="Run").filter(has_not_text="samples")
    run.click()
    page.wait_for_url(re.compile(r"[?&]job=[0-9a-f]+"))

    # live progress: the bars change while the job runs (fragment refresh every 2 s)
    page.locator('[data-testid="stProgress"]').first.wait_for()
    page.screenshot(path=str(artifacts_dir / "02-running.png"), full_page=True)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    results = page.get_by_role("heading", name="Results")
    while time.monotonic() < deadline and not results.is_visible():
        texts = " | ".join(_progress_texts(page))
        if texts and (not seen or seen[-1] != texts):
            seen.append(texts)
        if len(seen) == 2:
            page.screenshot(path=str(artifacts_dir / "03-progress-advanced.png"), full_page=True)
        time.sleep(0.25)
    assert any("/ 2 documents" in s for s in seen), seen
    assert fake_openai.calls >= 6, fake_openai.calls  # really went through the model server
    assert len(seen) >= 2, f"the progress display never changed: {seen}; server log: {_server_log(tmp_path)}"

    # results table and the evidence page image
    results.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert page.get_by_text("Finished: all 2 documents read.").is_visible()
    page.screenshot(path=str(artifacts_dir / "04-results.png"), full_page=True)
    image = page.locator('[data-testid="stImage"] img').first
    image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 200", arg=image.element_handle())
    page.screenshot(path=str(artifacts_dir / "05-evidence.png"))

    # the Excel download holds the answers
    with page.expect_download() as download_info:
        page.locator('[data-testid="stDownloadButton"] button').filter(has_text="Excel").click()
    data = Path(download_info.value.path()).read_bytes()
    sheet = load_workbook(io.BytesIO(data))["Results"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:2] == ["file", "status"]
    by_file = {row[0]: dict(zip(header, row)) for row in rows[1:]}
    assert set(by_file) == {"alpha_policy.pdf", "beta_strategy.pdf"}
    assert by_file["alpha_policy.pdf"]["year_adopted"] == 2019
    assert by_file["alpha_policy.pdf"]["emission_target_pct"] == 55
    assert by_file["beta_strategy.pdf"]["year_adopted"] == 2019
    assert by_file["beta_strategy.pdf"]["emission_target_pct"] == "– not stated"  # a finding, never a blank
    assert TEST_KEY not in page.content()


def visible_text(page) -> str:
    """The page's text as read: without the invisible word joiners that keep addresses and URLs from
    becoming links (policy_reader/app/view.py `plain`)."""
    return page.inner_text("body").replace("\u2060", "")


def test_easy_auth_user_sees_only_their_own_jobs(tmp_path: Path, streamlit_server, easy_auth_proxy, browser_page,
                                                 artifacts_dir: Path) -> None:
    """Behind Easy Auth (a real header-adding proxy, as on App Service) the page says who is signed in,
    a request without a principal is refused, another user's job link opens nothing, and a principal
    header sent by the browser itself is dropped by the proxy."""
    bobs_job = create_bobs_job(tmp_path)
    proxy = easy_auth_proxy(streamlit_server({"WEBSITE_AUTH_ENABLED": "True"}))
    page = browser_page

    page.goto(proxy.url)  # Easy Auth allowing anonymous requests: no principal reaches the app
    page.get_by_text("Sign-in required").first.wait_for()
    assert "Signed in as" not in page.content()

    proxy.principal = "alice@contoso.com"
    page.goto(proxy.url)
    page.get_by_text("Signed in as").first.wait_for()
    assert "Signed in as alice@contoso.com" in visible_text(page)
    assert proxy.handshakes(), "the page's WebSocket went through the proxy"
    assert not any("x-ms-client-principal-name" in h.headers for h in proxy.handshakes())  # the proxy signed it in

    page.goto(f"{proxy.url}/?job={bobs_job}")
    page.get_by_text("No job with id").first.wait_for()
    assert BOBS_JOB_NAME not in page.content()
    page.screenshot(path=str(artifacts_dir / "06-easy-auth-other-users-job.png"), full_page=True)

    page.set_extra_http_headers({"X-MS-CLIENT-PRINCIPAL-NAME": "bob@contoso.com"})  # forged by the client
    page.goto(f"{proxy.url}/?job={bobs_job}")
    page.get_by_text("No job with id").first.wait_for()
    assert BOBS_JOB_NAME not in page.content()
    page.set_extra_http_headers({})

    proxy.principal = "bob@contoso.com"
    page.goto(f"{proxy.url}/?job={bobs_job}")
    page.get_by_text(BOBS_JOB_NAME).first.wait_for()

    # the statistics page: a signed-in user who is not in ADMIN_USERS sees "Usage" of their own jobs only
    proxy.principal = "alice@contoso.com"
    page.goto(proxy.url)
    page.get_by_text("Usage").first.click()
    page.get_by_text("Your jobs.").first.wait_for()


def assert_no_link_or_image_to(page, beacon) -> None:
    marker = f"127.0.0.1:{beacon.port}"
    found = page.locator(f'img[src*="{marker}"], a[href*="{marker}"]')
    assert found.count() == 0, [found.nth(i).evaluate("e => e.parentElement.outerHTML") for i in range(found.count())]


def test_markup_from_documents_names_and_links_is_shown_as_text(tmp_path: Path, fake_openai, streamlit_server,
                                                                 browser_page, beacon, artifacts_dir: Path) -> None:
    """A PDF's `![](url)` and `[text](url)`, a job name, a template question and a crafted `?job=` link
    are shown as text: the browser fetches nothing from the beacon and no link points to it."""
    image, link = f"![]({beacon.url('evidence.png')})", f"[Session expired - sign in again]({beacon.url('login')})"
    evidence = f"Official title {image} and {link}"
    fake_openai.facts = {"policy_name": (f"![]({beacon.url('value.png')}) Alpha Act", evidence)}
    url = streamlit_server(fake_openai.env(LLM_MAX_RETRIES=1, OCR_ENABLED="false"))
    pdf = make_text_pdf(tmp_path / "hostile.pdf", [f"Alpha Act\n\n{evidence}\n\nIt was adopted in 2019."])
    template = tmp_path / "variables.csv"
    template.write_text("name,question,type\n"
                        f"policy_name,\"What is the policy called? ![]({beacon.url('question.png')})\",text\n")
    page = browser_page
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))

    page.goto(url)
    page.locator('[data-testid="stFileUploader"]').filter(has_text="Load a template") \
        .locator('input[type="file"]').set_input_files(str(template))
    page.get_by_text("Loaded 1 variables").wait_for()
    page.locator('[data-testid="stFileUploader"]').filter(has_text="Policy PDFs") \
        .locator('input[type="file"]').set_input_files(str(pdf))
    page.get_by_label("Job name").fill(f"![]({beacon.url('job-name.png')}) Q3")
    page.get_by_label("Job name").press("Enter")
    page.locator('[data-testid="stButton"] button').filter(has_text="Run").filter(has_not_text="samples").click()
    page.locator(".st-key-evidence_panel").get_by_text("What is the policy called?").first.wait_for(timeout=60_000)
    page.get_by_text("Session expired - sign in again", exact=False).first.wait_for()
    body = visible_text(page)
    for shown in (image, link, f"![]({beacon.url('value.png')}) Alpha Act", f"![]({beacon.url('job-name.png')}) Q3",
                  f"![]({beacon.url('question.png')})"):
        assert shown in body, shown  # literally, as text
    page.screenshot(path=str(artifacts_dir / "07-markup-as-text.png"), full_page=True)
    assert_no_link_or_image_to(page, beacon)

    crafted = f"![]({beacon.url('job.png')})[x]({beacon.url('j')})"  # the message quotes its first 40 characters
    page.goto(f"{url}/?job={quote(crafted)}")
    page.get_by_text("No job with id").first.wait_for()
    assert crafted[:40] in visible_text(page)

    assert_no_link_or_image_to(page, beacon)
    assert [u for u in fetched if f":{beacon.port}/" in u] == [] and beacon.hits == []


def test_samples_run_to_the_end_in_the_app_where_the_os_refuses_hard_links(tmp_path: Path, streamlit_server,
                                                                           browser_page, link_refused,
                                                                           artifacts_dir: Path) -> None:
    """The real app with link() refused by the OS for the whole `streamlit run` process, as on App
    Service's /home (SMB): the sample job finishes with every document's result kept."""
    import os

    url = streamlit_server({"LLM_BACKEND": "offline", "OCR_ENABLED": "false", **link_refused.env})
    page = browser_page
    page.goto(url)
    page.get_by_text("Try it with the samples").click()
    page.wait_for_url(re.compile(r"[?&]job=[0-9a-f]+"))
    page.get_by_text(re.compile(r"Finished: ")).first.wait_for(timeout=90_000)
    page.screenshot(path=str(artifacts_dir / "08-no-hard-links-samples.png"), full_page=True)
    assert page.get_by_text("Finished: all 3 documents read.").is_visible(), _server_log(tmp_path)
    job_id = re.search(r"job=([0-9a-f]{20})", page.url).group(1)
    results = Path(os.environ["JOBS_DIR"]) / job_id / "results"
    assert sorted(p.name for p in results.glob("d*.json")) == ["d0001.json", "d0002.json", "d0003.json"]


def test_an_audit_in_the_browser_puts_the_estimate_in_the_summary_sheet_and_the_email(
        tmp_path: Path, fake_openai, streamlit_server, browser_page, artifacts_dir: Path) -> None:
    """A finished job (three policies, two facts each, answered by the fake model and accepted); in the app a
    reviewer draws a sample for ±20 points, marks each answer next to its highlighted page (one wrong), downloads
    the Excel file and sends the email again: both carry the estimate, 4 of 5 right with its Wilson interval."""
    import email
    from email import policy as email_policy

    from job_manager import JobManager
    from policy_reader.accuracy.gold import wilson
    from policy_reader.models import Variable

    page = browser_page
    fake_openai.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019"),
                         "emission_target_pct": (55, "cut greenhouse gas emissions by 55 percent")}
    env = fake_openai.env(OCR_ENABLED="false")
    manager = JobManager(fake_openai.settings(OCR_ENABLED="false"), start=False)
    try:
        files = [(f"policy_{n}.pdf", make_text_pdf(tmp_path / f"policy_{n}.pdf", [
            f"Policy {n}\n\nThe Act was adopted by Cabinet in 2019.",
            "Targets\n\nThe country will cut greenhouse gas emissions by 55 percent by 2030."])) for n in (1, 2, 3)]
        variables = [Variable(name="year_adopted", question="In which year was the policy adopted?", type="year"),
                     Variable(name="emission_target_pct", question="What emission reduction (%) does it target?",
                              type="number")]
        job_id = manager.submit(name="Audit me", files=files, variables=variables, recipients=["analyst@example.org"])
        assert manager.wait(job_id, timeout=60).status.value == "completed"
        accepted = sum(a.status.value == "accepted" for d in manager.get_results(job_id) for a in d.variables)
        assert accepted == 6, manager.get_results(job_id)
        sent_before = len(manager.outbox_files(job_id))

        page.goto(streamlit_server(env) + f"/?job={job_id}")
        page.get_by_role("heading", name="Accuracy").wait_for()
        combo = page.get_by_role("combobox", name="Target margin of error (95% confidence)")
        # at the top of the viewport, so the list opens below it on screen (the workbench above made the page
        # long: near the bottom edge the option could sit outside the viewport and never take the click)
        combo.evaluate("el => el.scrollIntoView({block: 'start'})")
        combo.click()
        combo.press("ArrowDown")  # opens the list (this Streamlit's react-aria combo box ignores a click)
        page.get_by_role("option", name="± 20 points").click()
        page.get_by_role("button", name="Draw the audit sample").click()
        page.get_by_text("0 of 5 sampled answers marked").first.wait_for()
        image = page.locator('[data-testid="stImage"] img').last
        page.wait_for_function("img => img.complete && img.naturalWidth > 200", arg=image.element_handle())
        page.screenshot(path=str(artifacts_dir / "audit-01-first-answer.png"), full_page=True)

        from playwright.sync_api import expect

        for k in range(5):  # the first answer is wrong, the other four right
            button = page.get_by_role("button", name="✘ Wrong" if k == 0 else "✔️ Right", exact=True)
            expect(button).to_have_count(1)  # the previous answer's buttons are gone once the rerun ended
            button.click()
            page.get_by_text(f"{k + 1} of 5 sampled answers marked").first.wait_for()
        page.get_by_text("Audit complete").wait_for()
        low, high = wilson(4, 5)
        assert f"{100 * low:.1f}% – {100 * high:.1f}%" in visible_text(page)
        page.screenshot(path=str(artifacts_dir / "audit-02-complete.png"), full_page=True)

        with page.expect_download() as download_info:
            page.locator('[data-testid="stDownloadButton"] button').filter(has_text="Excel").click()
        summary = load_workbook(io.BytesIO(Path(download_info.value.path()).read_bytes()))["Summary"]
        rows = {row[0].value: row[1].value for row in summary.iter_rows(min_row=2) if row[0].value}
        assert rows["accuracy of accepted answers (audit)"] == 0.8
        assert rows["95% interval (Wilson)"] == f"{100 * low:.1f}% – {100 * high:.1f}% (4 of 5 marked right)"
        assert rows["audit sample"].startswith("5 of 6 accepted answers drawn at random")
        assert rows["audited model and prompt"].startswith("openai · gpt-fake; prompt version")

        page.get_by_role("button", name="Re-send email").click()
        page.get_by_text("A new email was written to the outbox.").wait_for()
        outbox = manager.outbox_files(job_id)
        assert len(outbox) == sent_before + 1
        message = email.message_from_bytes(outbox[-1].read_bytes(), policy=email_policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        headline = f"80.0% (95% CI {100 * low:.1f}%–{100 * high:.1f}%, 4 of 5 right)"
        assert headline in text and headline in html
        assert "5 of 6 accepted answers drawn at random" in text

        # the same job against a gold set uploaded in the app: the table the CLI and the API compute
        from policy_reader.app import view as ui
        from tests.fixtures.accuracy import gold_csv

        gold = tmp_path / "gold.csv"
        gold.write_bytes(gold_csv([(f"policy_{n}.pdf", "year_adopted", "2019", 1) for n in (1, 2, 3)]
                                  + [("policy_1.pdf", "emission_target_pct", "50", 2),
                                     ("policy_2.pdf", "emission_target_pct", "55%", 3)]))
        expected = manager.evaluate(job_id, gold.read_bytes())
        gold_tab = page.get_by_role("tab", name="Compare with a gold set")
        gold_tab.click()
        expect(gold_tab).to_have_attribute("aria-selected", "true")
        page.locator('[data-testid="stFileUploader"]').filter(has_text="Gold set") \
            .locator('input[type="file"]').set_input_files(str(gold))
        page.get_by_text("Misses (2)").wait_for()
        shown = page.locator('[data-testid="stTable"]').last.evaluate(
            "t => [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))")
        frame = ui.accuracy_frame(expected.variables, expected.overall)
        assert shown == [[str(c) for c in row] for row in frame.itertuples(index=False)]
        assert (expected.overall.n, expected.overall.correct, expected.overall.page_correct) == (5, 4, 3)
        page.screenshot(path=str(artifacts_dir / "audit-03-gold.png"), full_page=True)
    finally:
        manager.shutdown()
