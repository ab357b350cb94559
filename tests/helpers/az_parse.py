"""Parse `az` command lines with the real Azure CLI, without a login and without running them.

Run by the Azure CLI's own interpreter (.tools/azure-cli-venv/bin/python, installed by
scripts/test-tools.sh), never by the project's: the CLI and its ~150 packages stay out of the app's
environment. Reads a JSON list of argv lists (without the leading "az") on stdin and writes one JSON
verdict per command on stdout:

    {"argv": [...], "verdict": "ok" | "needs-login" | "error", "command": "group create", "message": "..."}

Every command goes through the CLI's real invoker in this one process: the command table (core modules
and whatever extensions AZURE_EXTENSION_DIR holds), argparse with the CLI's parser (unknown commands,
unknown or missing arguments, values outside an enum), the confirmation check and the argument
validators. The command itself never runs: the invoker's `_run_job`, the step that calls the command's
function, is replaced by a stop that records the command's name. A validator that needs Azure stops at the
missing login ("Please run 'az login'") before any request: that is "needs-login", i.e. the command line was
accepted. The caller points HTTPS_PROXY at a closed port on 127.0.0.1, so nothing leaves the machine.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import sys

from azure.cli.core import get_default_cli
from azure.cli.core.commands import AzCliCommandInvoker

REACHED: list[str] = []


class _Parsed(Exception):
    """Raised where the command would have run."""


def _stop(self: AzCliCommandInvoker, expanded_arg: object, cmd_copy: object) -> None:
    REACHED.append(getattr(cmd_copy, "name", "?"))
    raise _Parsed()


AzCliCommandInvoker._run_job = _stop  # the command line is checked; the command never runs

LOGIN_WORDS = ("az login", "Please run 'az login'", "Please run \"az login\"")


class _Collect(logging.Handler):
    """The CLI reports most errors through its loggers, whose handlers keep the stderr of the first run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


def check(argv: list[str]) -> dict[str, object]:
    REACHED.clear()
    err = io.StringIO()
    code: object = None
    collect = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("cli")]
    for logger in loggers:
        logger.addHandler(collect)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = get_default_cli().invoke(argv, out_file=io.StringIO())
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # noqa: BLE001 - anything else is reported, not raised
            code = repr(exc)
        finally:
            for logger in loggers:
                logger.removeHandler(collect)
    text = "\n".join(dict.fromkeys(collect.lines)) + "\n" + err.getvalue()
    if REACHED:
        return {"argv": argv, "verdict": "ok", "command": REACHED[0], "message": ""}
    if code == 0 and "--help" in argv:
        return {"argv": argv, "verdict": "ok", "command": " ".join(a for a in argv if a != "--help"), "message": "help"}
    lines = [line for line in text.splitlines() if line.strip()]
    message = next((line for line in lines if line.startswith("ERROR") or "error:" in line), "\n".join(lines[:3]))
    if any(word in text for word in LOGIN_WORDS):
        return {"argv": argv, "verdict": "needs-login", "command": "", "message": message}
    return {"argv": argv, "verdict": "error", "command": "", "message": f"exit {code}: {message}"}


def main() -> int:
    commands = json.load(sys.stdin)
    json.dump([check(argv) for argv in commands], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
