"""Configuration: validated once, clear errors, secrets never shown, README table in step with the code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from policy_reader.config import Settings, load_settings, scrub, settings_markdown_table
from policy_reader.llm import providers
from policy_reader.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_run_offline_with_no_key(tmp_path):
    settings = load_settings(JOBS_DIR=str(tmp_path))
    assert providers.resolve(settings).name == "offline"
    assert settings.email_mode == "outbox"


@pytest.mark.parametrize("env, backend", [
    ({"OPENAI_API_KEY": "sk-live-123456"}, "openai"),
    ({"OPENAI_API_KEY": "sk-live-123456", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
      "AZURE_OPENAI_DEPLOYMENT": "gpt"}, "azure"),
    ({"OPENAI_API_KEY": "sk-live-123456", "LLM_BACKEND": "offline"}, "offline"),
])
def test_auto_backend_choice(env, backend):
    assert providers.resolve(load_settings(**env)).name == backend


@pytest.mark.parametrize("env, words", [
    ({"LLM_BACKEND": "azure"}, "AZURE_OPENAI_ENDPOINT"),
    ({"LLM_BACKEND": "openai"}, "OPENAI_API_KEY"),
    ({"MAX_PAGES": "many"}, "MAX_PAGES"),
    ({"SMTP_SECURITY": "tls1"}, "SMTP_SECURITY"),
    ({"JOB_STORE": "azure"}, "AZURE_STORAGE_CONNECTION_STRING"),
    ({"ACCEPT_THRESHOLD": "1.5"}, "ACCEPT_THRESHOLD"),
    ({"AZURE_STORAGE_QUEUE": "Work_Queue"}, "AZURE_STORAGE_QUEUE: must be 3 to 48 lowercase letters"),
    ({"AZURE_STORAGE_QUEUE": "w" * 49}, "each user's queue adds 15 characters"),
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
    assert providers.summary(settings)["llm endpoint"] == "http://***@127.0.0.1:9/v1"
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


# --------------------------------------------------------------------------- App Service start-up

KEY_VAULT_REF = "@Microsoft.KeyVault(VaultName=pr-vault;SecretName=pr-secret)"


@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "SMTP_PASSWORD",
                                      "AZURE_STORAGE_CONNECTION_STRING", "WEBHOOK_SECRET", "SMTP_HOST",
                                      "MAX_FILE_MB"])
def test_an_unresolved_key_vault_reference_is_refused_and_named(variable):
    """App Service leaves the literal `@Microsoft.KeyVault(...)` text when its identity cannot read the
    secret: that text must never be used as a key or password, and the error names the variable."""
    with pytest.raises(ConfigError) as info:
        load_settings(**{variable: KEY_VAULT_REF})
    assert f"{variable}: Key Vault reference not resolved: check the identity's access" in info.value.message
    assert "pr-vault" not in info.value.message and "pr-secret" not in info.value.message
    with pytest.raises(ConfigError):  # however it is spelt
        load_settings(**{variable: "  @microsoft.keyvault(SecretUri=https://pr-vault.vault.azure.net/secrets/x/)"})


def test_startup_settings_keep_the_good_settings_and_refuse_jobs(monkeypatch, tmp_path, make_pdf):
    from job_manager import JobManager
    from policy_reader.config import get_settings, startup_settings
    from policy_reader.models import Variable

    monkeypatch.setenv("OPENAI_API_KEY", KEY_VAULT_REF)
    monkeypatch.setenv("SMTP_PASSWORD", "real-smtp-pass-77")
    monkeypatch.setenv("SMTP_HOST", "smtp.azurecomm.net")
    monkeypatch.setenv("SMTP_FROM", "DoNotReply@contoso.azurecomm.net")
    get_settings.cache_clear()
    try:
        settings = startup_settings()
    finally:
        get_settings.cache_clear()
    reason = "OPENAI_API_KEY: Key Vault reference not resolved: check the identity's access"
    assert reason in settings.startup_problem
    assert settings.openai_api_key is None and providers.resolve(settings).name == "offline"  # never the reference
    assert settings.smtp_host == "smtp.azurecomm.net" and "real-smtp-pass-77" in settings.secrets()
    manager = JobManager(settings)  # start=True, yet nothing starts or resumes
    try:
        assert manager.executor.started is False
        with pytest.raises(ConfigError) as info:
            manager.create_job(name="x", files=[("a.pdf", make_pdf("a.pdf", ["adopted in 2019"]))],
                               variables=[Variable(name="year", question="Year adopted?", type="year")])
        assert reason in info.value.message and "pr-vault" not in info.value.message
        with pytest.raises(ConfigError):
            manager.resume_job("0" * 20)
    finally:
        manager.shutdown()


def test_startup_settings_without_a_problem_are_the_settings(monkeypatch):
    from policy_reader.config import get_settings, startup_settings

    get_settings.cache_clear()
    try:
        assert startup_settings() is get_settings() and get_settings().startup_problem is None
    finally:
        get_settings.cache_clear()


def test_azure_communication_services_needs_a_real_sender():
    with pytest.raises(ConfigError) as info:
        load_settings(SMTP_HOST="smtp.azurecomm.net", SMTP_USERNAME="res|app|tenant", SMTP_PASSWORD="s3cret-value")
    assert "SMTP_FROM must be set for Azure Communication Services" in info.value.message
    settings = load_settings(SMTP_HOST="smtp.azurecomm.net", SMTP_FROM="DoNotReply@contoso.azurecomm.net")
    assert (settings.smtp_port, settings.smtp_security) == (587, "starttls")  # the defaults are ACS's
