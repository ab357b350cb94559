"""Configuration: validated once, clear errors, secrets never shown, README table in step with the code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from policy_reader.config import Settings, load_settings, scrub, settings_markdown_table
from policy_reader.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_run_offline_with_no_key(tmp_path):
    settings = load_settings(JOBS_DIR=str(tmp_path))
    assert settings.resolved_backend == "offline"
    assert settings.email_mode == "outbox"


@pytest.mark.parametrize("env, backend", [
    ({"OPENAI_API_KEY": "sk-live-123456"}, "openai"),
    ({"OPENAI_API_KEY": "sk-live-123456", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
      "AZURE_OPENAI_DEPLOYMENT": "gpt"}, "azure"),
    ({"OPENAI_API_KEY": "sk-live-123456", "LLM_BACKEND": "offline"}, "offline"),
])
def test_auto_backend_choice(env, backend):
    assert load_settings(**env).resolved_backend == backend


@pytest.mark.parametrize("env, words", [
    ({"LLM_BACKEND": "azure"}, "AZURE_OPENAI_ENDPOINT"),
    ({"LLM_BACKEND": "openai"}, "OPENAI_API_KEY"),
    ({"MAX_PAGES": "many"}, "MAX_PAGES"),
    ({"SMTP_SECURITY": "tls1"}, "SMTP_SECURITY"),
    ({"JOB_STORE": "azure"}, "AZURE_STORAGE_CONNECTION_STRING"),
    ({"ACCEPT_THRESHOLD": "1.5"}, "ACCEPT_THRESHOLD"),
])
def test_bad_configuration_names_the_setting(env, words):
    with pytest.raises(ConfigError) as info:
        load_settings(**env)
    assert words in str(info.value)


def test_secrets_never_in_summary_or_errors():
    secret = "sk-very-secret-value-42"
    settings = load_settings(OPENAI_API_KEY=secret, SMTP_PASSWORD="hunter2-smtp", SMTP_HOST="mail.example.org")
    assert secret not in repr(settings) and "hunter2-smtp" not in repr(settings)
    assert secret not in str(settings.summary()) and settings.summary()["api key"] == "set"
    assert scrub(f"failed with key {secret} and hunter2-smtp", settings) == "failed with key *** and ***"
    with pytest.raises(ConfigError) as info:
        load_settings(OPENAI_API_KEY=secret, MAX_FILE_MB="-1")
    assert secret not in str(info.value)


def test_readme_configuration_table_is_current():
    """The README's table is generated from the code (scripts/update-readme-config.py)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_markdown_table() in readme
    for field in Settings.model_fields.values():
        assert f"`{field.alias}`" in readme


def test_cli_config_check_prints_summary_without_secrets(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "JOBS_DIR": str(tmp_path / "jobs"), "OPENAI_API_KEY": "sk-cli-secret-999"}
    out = subprocess.run([sys.executable, "-m", "policy_reader", "config", "--check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "backend: openai" in out.stdout and "sk-cli-secret-999" not in out.stdout + out.stderr


def test_credentials_in_openai_base_url_are_masked_at_start_up(tmp_path):
    """`config --check` is what startup.sh prints; the sidebar shows the same summary (tests/test_app.py)."""
    url = "https://proxy-user:Pa55-w0rd%21@127.0.0.1:9/v1"
    env = {"PATH": "/usr/bin:/bin", "JOBS_DIR": str(tmp_path / "jobs"), "LLM_BACKEND": "openai",
           "OPENAI_BASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "policy_reader", "config", "--check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "https://***@127.0.0.1:9/v1" in out.stdout
    assert "Pa55" not in out.stdout + out.stderr and "proxy-user" not in out.stdout


def test_url_credentials_are_secrets():
    settings = load_settings(LLM_BACKEND="openai", OPENAI_BASE_URL="http://u:p%40ss-word@127.0.0.1:9/v1")
    assert settings.summary()["llm endpoint"] == "http://***@127.0.0.1:9/v1"
    assert {"u:p%40ss-word", "p%40ss-word", "p@ss-word"} <= set(settings.secrets())
    assert scrub("connect to http://u:p%40ss-word@127.0.0.1:9 failed (p@ss-word)", settings) == \
        "connect to http://***@127.0.0.1:9 failed (***)"
    assert load_settings(LLM_BACKEND="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1").secrets() == []


def test_cli_config_check_fails_fast_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "JOBS_DIR": str(tmp_path / "jobs"), "LLM_BACKEND": "azure"}
    out = subprocess.run([sys.executable, "-m", "policy_reader", "config", "--check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "AZURE_OPENAI_DEPLOYMENT" in out.stderr


def test_admin_users():
    settings = load_settings(ADMIN_USERS="Ops@Contoso.com, lead@contoso.com")
    assert not settings.is_admin("local")  # the local user is not an administrator of a shared install
    assert settings.is_admin("ops@contoso.com") and settings.is_admin("lead@contoso.com")
    assert not settings.is_admin("alice@contoso.com")
    assert not load_settings().is_admin("alice@contoso.com")
