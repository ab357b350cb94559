"""policy_reader/auth.py: the Easy Auth principal is believed only behind Easy Auth, and then required.

The unit tests pin the rule; the WebSocket tests forge headers against a real `streamlit run main.py`
the way a script would (tests/fixtures/streamlit_client.py), not through a browser.
"""
from __future__ import annotations

import pytest

from job_manager import current_user as reexported_current_user
from policy_reader.auth import current_user
from policy_reader.config import load_settings
from policy_reader.errors import SignInRequired
from tests.fixtures.browser import BOBS_FILE, BOBS_JOB_NAME, create_bobs_job
from tests.fixtures.streamlit_client import run_page

BOB = {"X-MS-CLIENT-PRINCIPAL-NAME": "bob@contoso.com"}


def test_without_easy_auth_the_header_is_ignored_and_the_user_is_local() -> None:
    settings = load_settings()
    assert current_user(BOB, settings) == "local"
    assert current_user({}, settings) == current_user(None, settings) == "local"
    assert reexported_current_user is current_user  # `from job_manager import current_user` still works


def test_behind_easy_auth_the_header_names_the_user_and_is_required() -> None:
    settings = load_settings(WEBSITE_AUTH_ENABLED="True")
    assert current_user(BOB, settings) == "bob@contoso.com"
    assert current_user({"x-ms-client-principal-name": " dan@example.org\x07 "}, settings) == "dan@example.org"
    for headers in (None, {}, {"X-MS-CLIENT-PRINCIPAL-NAME": ""}, {"X-MS-CLIENT-PRINCIPAL-NAME": "\x00\x1b"}):
        with pytest.raises(SignInRequired, match="Sign-in required"):
            current_user(headers, settings)


def test_trust_principal_headers_overrides_website_auth_enabled() -> None:
    assert current_user(BOB, load_settings(TRUST_PRINCIPAL_HEADERS="true")) == "bob@contoso.com"
    assert current_user(BOB, load_settings(WEBSITE_AUTH_ENABLED="True", TRUST_PRINCIPAL_HEADERS="false")) == "local"
    assert current_user(BOB, load_settings(TRUST_PRINCIPAL_HEADERS="")) == "local"  # empty: follow App Service


def test_local_is_not_an_admin_unless_listed() -> None:
    assert not load_settings().is_admin("local")
    assert load_settings(ADMIN_USERS="local").is_admin("local")


def _leaks(page, job_id: str) -> list[str]:
    return [needle for needle in (BOBS_JOB_NAME, BOBS_FILE, "bob@contoso.com")
            if needle.encode() in page.raw]


def test_forged_header_gets_nothing_without_easy_auth(tmp_path, streamlit_server) -> None:
    victim = create_bobs_job(tmp_path)
    url = streamlit_server()
    page = run_page(url, query=f"job={victim}", headers=BOB)
    assert "No job with id" in page.text
    assert _leaks(page, victim) == []
    assert "local" in page.text  # "Signed in as local": the forged name was ignored


def test_behind_easy_auth_no_principal_is_refused_and_users_see_only_their_jobs(tmp_path, streamlit_server) -> None:
    victim = create_bobs_job(tmp_path)
    url = streamlit_server({"WEBSITE_AUTH_ENABLED": "True"})

    anonymous = run_page(url, query=f"job={victim}")
    assert "Sign-in required" in anonymous.text
    assert _leaks(anonymous, victim) == []
    assert "Signed in as" not in anonymous.text and "Backend" not in anonymous.text  # no page at all

    alice = run_page(url, query=f"job={victim}", headers={"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"})
    assert "No job with id" in alice.text and _leaks(alice, victim) == []

    bob = run_page(url, query=f"job={victim}", headers=BOB)  # the owner does see it: the checks above can fail
    assert BOBS_JOB_NAME in bob.text
