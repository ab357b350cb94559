"""What every page run needs first: settings, the process-wide JobManager and the signed-in user."""
from __future__ import annotations

import gc
import os
import threading

import streamlit as st

from policy_reader.jobs.manager import JobManager, get_job_manager
from policy_reader.app import view as ui
from policy_reader.auth import current_user
from policy_reader.config import Settings, startup_settings
from policy_reader.errors import SignInRequired


def copy_secrets_to_env() -> None:
    """Streamlit secrets -> os.environ (keys not already set), so config.py needs no Streamlit.

    Must run before the settings are first read. A missing secrets.toml is normal (local
    runs, App Service settings) and is ignored.
    """
    try:
        items = {key: st.secrets[key] for key in st.secrets.keys()}
    except Exception:  # no secrets file, or an unreadable one: the environment alone is used
        return
    for key, value in items.items():
        if isinstance(value, (str, int, float, bool)) and key not in os.environ:
            os.environ[key] = str(value)


def app_settings() -> Settings:
    """Never stops the page: App Service ignores a start command that fails, so with a bad or missing
    setting the app still comes up, names the setting (never its value) and creates no job."""
    copy_secrets_to_env()
    settings = startup_settings()
    if settings.startup_problem:
        st.error("Policy Reader cannot start jobs: " + ui.plain(settings.startup_problem))
    return settings


def _release_manager(manager: JobManager) -> None:
    manager.shutdown(wait=False)


@st.cache_resource(show_spinner=False, on_release=_release_manager)
def job_manager_for(jobs_dir: str) -> JobManager:
    """The process-wide JobManager (the one `job_manager.get_job_manager()` returns to scripts too).
    It starts its workers and resumes interrupted jobs as it starts."""
    return get_job_manager(startup_settings())


def get_manager() -> JobManager:
    return job_manager_for(str(startup_settings().jobs_dir.resolve()))


def signed_in_user(settings: Settings) -> str:
    """The Easy Auth user when Easy Auth is in front (policy_reader/auth.py), else `local`.

    Behind Easy Auth a session without a principal gets a sign-in message and nothing else: the
    run stops here, before the sidebar or any job is read.
    """
    try:
        headers = {str(k): str(v) for k, v in dict(st.context.headers).items()}
    except Exception:  # no browser session (scripts): no headers, which Easy Auth mode refuses
        headers = {}
    try:
        return current_user(headers, settings)
    except SignInRequired as exc:
        st.title("📑 Policy Reader")
        st.error(ui.plain(exc.message))
        st.stop()
        raise  # unreachable: st.stop() ends the run


_FROZEN = threading.Event()


def freeze_long_lived_objects() -> None:
    """Once per process, after the first page run: move what the process holds by then (Streamlit, pandas,
    pydantic, the app's modules and settings) out of the garbage collector's reach (`gc.freeze()`, as
    CPython's docs suggest for long-running servers).

    Why: a full (generation 2) collection walks every tracked object and holds the GIL while it does; with
    the libraries the page imports that pause, 150-250 ms, landed on whichever review step triggered it.
    Measured by bench/review.py (the page's rerun after "Right" on a 1,000-answer job): p95 344 ms before,
    211-221 ms after (two runs). Objects created later are collected as usual."""
    if _FROZEN.is_set():
        return
    _FROZEN.set()
    gc.collect()
    gc.freeze()

