"""The operator's guide (AZURE_DEPLOYMENT.md) and the scripts, checked against the real Azure CLI.

Every `az` command an operator would paste is pulled out (shell blocks, inline `az ...` in the prose, and
the scripts) and handed to the Azure CLI's own parser in one process (tests/fixtures/azure_cli.py): an
unknown command, an unknown option, a missing argument or a value outside the allowed ones fails the test,
exactly as the CLI refuses them before it asks for a login. Then the order rules that the CLI cannot see:
the authV2 extension before the sign-in commands, the operator's Key Vault data role before the first
secret, object ids for identities that were just created, the GitHub OIDC subject read from GitHub.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.fixtures.azure_cli import (GUIDE, AzCommand, authv2_installed, check_authv2, guide_commands,
                                      guide_files, is_authv2_command, parse_with_cli, script_commands)

TEXT = GUIDE.read_text()


@pytest.fixture(scope="module")
def commands() -> list[AzCommand]:
    found = guide_commands() + script_commands()
    assert len(found) >= 50, f"only {len(found)} az commands found: the extraction broke"
    return found


def _first(commands: list[AzCommand], predicate) -> int:
    return next((i for i, c in enumerate(commands) if predicate(c)), -1)


def _section(number: int) -> str:
    start = TEXT.index(f"\n## {number}. ")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start:end if end > 0 else None]


def test_every_az_command_parses_with_the_azure_cli(commands, tmp_path):
    started = time.monotonic()
    real = [c for c in commands if not (is_authv2_command(c.argv) and not authv2_installed())]
    work = tmp_path / "operator"  # the files the guide has the operator write (cat > FILE <<EOF) are there
    work.mkdir()
    for name, content in guide_files().items():
        (work / name).write_text(content)
    # controls in the same run: the checker must refuse what the CLI refuses
    controls = [AzCommand("control", "bad value", ["webapp", "update", "-g", "rg", "-n", "app", "--https-only", "maybe"]),
                AzCommand("control", "bad option", ["keyvault", "secret", "set", "--vault-name", "kv", "-n", "s",
                                                    "--value", "v", "--no-such-option", "1"]),
                AzCommand("control", "bad command", ["webapp", "deployment", "slot", "exchange", "-g", "rg", "-n", "a"])]
    results = parse_with_cli(real + controls, tmp_path / "azure-config", cwd=work)
    assert [r["verdict"] for r in results[len(real):]] == ["error"] * len(controls), results[len(real):]
    verdicts = dict(zip(map(id, real), results))
    failures = []
    for command in commands:
        verdict = verdicts.get(id(command)) or check_authv2(command.argv)
        if verdict["verdict"] not in ("ok", "needs-login"):
            failures.append(f"{command.source}: az {command.text[3:][:100]}\n    -> {verdict['message']}")
    print(f"\n{len(commands)} az commands checked ({len(real)} by the Azure CLI, {len(commands) - len(real)} "
          f"against the recorded authV2 surface) in {time.monotonic() - started:.1f} s; {len(failures)} refused; "
          f"{sum(v['verdict'] == 'needs-login' for v in verdicts.values())} stopped at a validator's login check")
    assert not failures, f"{len(failures)} of {len(commands)} commands refused:\n" + "\n".join(failures)


def test_the_sign_in_commands_come_after_the_authv2_extension(commands):
    add = _first(commands, lambda c: c.argv[:2] == ["extension", "add"] and "authV2" in c.argv)
    auth = _first(commands, lambda c: c.argv[:2] == ["webapp", "auth"])
    assert auth >= 0, "the guide has no sign-in commands"
    assert 0 <= add < auth, "`az extension add --name authV2` must come before the first `az webapp auth` command"
    assert "az extension add --name authV2" in _section(6), "section 6 must add the extension itself"
    assert TEXT.index("az extension add --name authV2") < TEXT.index("\n## 2. "), "and so must the prerequisites"


def test_the_operator_may_write_secrets_before_the_first_secret(commands):
    secret = _first(commands, lambda c: c.argv[:3] == ["keyvault", "secret", "set"])
    officer = _first(commands, lambda c: c.argv[:3] == ["role", "assignment", "create"]
                     and "Key Vault Secrets Officer" in c.argv)
    vault = _first(commands, lambda c: c.argv[:2] == ["keyvault", "create"])
    assert secret >= 0
    assert 0 <= vault < officer < secret, "Key Vault Secrets Officer for the operator, after the vault, before a secret"
    between = TEXT[TEXT.index("Key Vault Secrets Officer"):TEXT.index("az keyvault secret set")]
    assert re.search(r"\buntil\b.*\bdo\b|\bsleep\b", between), "the role takes minutes to apply: the guide must wait"


def test_role_assignments_name_principals_by_object_id(commands):
    """`--assignee` makes the CLI look the principal up in Microsoft Graph, which lags behind a new identity
    ("principal not found"); `--assignee-object-id` with its type does not."""
    roles = [c for c in commands if c.argv[:3] == ["role", "assignment", "create"] and "--help" not in c.argv]
    assert len(roles) >= 6
    bad = [f"{c.source}: {c.text[:90]}" for c in roles
           if "--assignee" in c.argv or "--assignee-object-id" not in c.argv
           or "--assignee-principal-type" not in c.argv]
    assert not bad, "role assignments by name:\n" + "\n".join(bad)


def test_azure_openai_resource_deployment_and_role_are_commands(commands):
    def has(*words: str) -> bool:
        return any(all(w in c.argv for w in words) for c in commands)
    assert has("cognitiveservices", "account", "create", "OpenAI")
    assert has("cognitiveservices", "account", "deployment", "create")
    assert has("role", "assignment", "create", "Cognitive Services OpenAI User")


def test_the_github_oidc_subject_is_read_from_github(commands):
    section = _section(8)
    assert "gh api repos/" in section and "owner.id" in section and ".id" in section
    assert "repo:OWNER/REPO:environment:production" not in section.replace("`repo:OWNER/REPO:environment:production`", "")
    assert re.search(r"repo:\$\{?OWNER\}?@\$\{?OWNER_ID\}?/\$\{?REPO\}?@\$\{?REPO_ID\}?:environment:production", section)
    creds = [c for c in commands if c.argv[:4] == ["ad", "app", "federated-credential", "create"]]
    assert creds and '"subject": "$SUBJECT"' in section


def test_the_worker_runs_where_its_packages_are(commands):
    section = _section(15)
    assert "cd /home/site/wwwroot && python -m policy_reader worker" not in section
    workers = [" ".join(c.argv) for c in commands if c.argv[:2] == ["containerapp", "create"]]
    assert any("--command bash worker.sh" in w and "--scale-rule-type azure-queue" in w
               and "queueName=policy-reader-work-backlog" in w for w in workers), workers


def test_the_checks_after_sign_in_upload_a_file():
    six = _section(6)
    assert "upload" in six.lower() and "STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION" in six


def test_slots_are_created_before_they_are_swapped(commands):
    create = _first(commands, lambda c: c.argv[:4] == ["webapp", "deployment", "slot", "create"])
    swap = _first(commands, lambda c: c.argv[:4] == ["webapp", "deployment", "slot", "swap"])
    assert 0 <= create < swap


def test_readme_links_point_at_existing_sections():
    from tests.fixtures.azure_cli import ROOT

    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", TEXT, flags=re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    links = re.findall(r"AZURE_DEPLOYMENT\.md#([\w\-]+)", (ROOT / "README.md").read_text())
    assert links and all(link in anchors for link in links), set(links) - anchors
