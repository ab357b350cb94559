"""How the pages tell the analyst something: alerts, messages that survive a rerun, the error boundary.

Every text here goes through `ui.plain`: messages quote file names, job names, values and errors,
and those are shown as text, never as markdown.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any, Literal

import streamlit as st

from policy_reader.app import view as ui
from policy_reader.config import scrub, startup_settings
from policy_reader.errors import PolicyReaderError

Kind = Literal["success", "info", "warning", "error"]
log = logging.getLogger("policy_reader.app")


def say(kind: Kind, text: str) -> None:
    """An alert whose whole text is shown literally."""
    getattr(st, kind, st.info)(ui.plain(text))


def flash(kind: Kind, text: str) -> None:
    """Queue a message that must survive the rerun that follows an action."""
    st.session_state.setdefault("flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("flash", []):
        say(kind, text)


def show_error(exc: BaseException) -> None:
    """Every failure reaches the analyst as one clear sentence, never a traceback."""
    if isinstance(exc, PolicyReaderError):
        say("error", exc.message)
        return
    try:
        log.error("unexpected error in the app: %s", scrub(traceback.format_exc(), startup_settings()))
    except PolicyReaderError:
        pass
    say("error", f"Something went wrong ({type(exc).__name__}). The details are in the server log.")


def guarded(render: Callable[..., None], *args: Any) -> None:
    """Render one page section so that an unexpected error is a message, not a crashed page.
    (st.rerun / st.stop raise BaseException subclasses and pass through.)"""
    try:
        render(*args)
    except Exception as exc:  # noqa: BLE001 - the boundary that reports everything to the user
        show_error(exc)
