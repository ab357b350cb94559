"""Who owns a job, and is that owner still alive?

A process that queues or runs a job writes its `Owner` token into job.json (`runner`) with a
heartbeat. Another process decides the owner is gone when its pid no longer exists on this machine
(same host and boot), or when its heartbeat is older than HEARTBEAT_STALE_S (other machines, or a
process that froze). A frozen owner that wakes up later finds that its lease was taken
(jobs/transitions.py: every runner write checks `run` and `runner`) and stops without writing.
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from policy_reader.jobs.state import now, parse_time


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


HOST = socket.gethostname()
BOOT = _boot_id()
_LIVE: set[str] = set()  # ids of the owners alive in this process


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a killed but unreaped child is a zombie: dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Owner:
    """This process's identity as the owner of queued or running jobs (one per executor)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        _LIVE.add(self.id)

    def token(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": HOST, "boot": BOOT, "manager": self.id}

    def owns(self, state: dict[str, Any]) -> bool:
        return (state.get("runner") or {}).get("manager") == self.id

    def retire(self) -> None:
        """This owner stops: from now on its jobs count as orphaned in this process too."""
        _LIVE.discard(self.id)

    @property
    def alive(self) -> bool:
        return self.id in _LIVE


def process_gone(token: dict[str, Any]) -> bool:
    """True when the process a token names is certainly dead: on this machine (same host and boot) and
    its pid is gone. A process elsewhere is never known to be gone: callers fall back to a time limit."""
    if token.get("host") != HOST or token.get("boot") != BOOT or not token.get("pid"):
        return False
    pid = int(token["pid"])
    if pid == os.getpid():
        return token.get("manager") is not None and token.get("manager") not in _LIVE
    return not pid_alive(pid)


def owner_alive(state: dict[str, Any], stale_s: float, at: datetime | None = None) -> bool:
    """Is the process that owns this job (queued or running it) still alive?"""
    runner = state.get("runner") or {}
    if not runner:
        return False
    if runner.get("host") == HOST and runner.get("boot") == BOOT:
        pid = int(runner.get("pid") or 0)
        if pid == os.getpid():  # an owner in this very process: alive exactly while it has not retired
            return runner.get("manager") in _LIVE
        if not pid_alive(pid):
            return False
    beat = parse_time(state.get("heartbeat_at"))
    if beat is None:
        return False
    return ((at or now()) - beat).total_seconds() < stale_s
