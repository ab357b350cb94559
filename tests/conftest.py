"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, loaded here."""
from __future__ import annotations


pytest_plugins = [
    "tests.fixtures.common",
    "tests.fixtures.openai_server",
    "tests.fixtures.smtp_server",
    "tests.fixtures.browser",
    "tests.fixtures.azurite",
    "tests.fixtures.webhook",
    "tests.fixtures.disk",
    "tests.fixtures.oslimits",
    "tests.fixtures.accuracy",
    "tests.fixtures.stores",
]
