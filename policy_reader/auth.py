"""Who is signed in: Azure App Service Easy Auth's principal, else the single local user."""
from __future__ import annotations

from collections.abc import Mapping

EASY_AUTH_HEADER = "x-ms-client-principal-name"


def current_user(headers: Mapping[str, str] | None) -> str:
    """The signed-in user: Azure App Service Easy Auth's principal name header, else "local"."""
    if not headers:
        return "local"
    for key, value in headers.items():
        if key.lower() == EASY_AUTH_HEADER and value:
            cleaned = "".join(ch for ch in str(value) if ch.isprintable()).strip()[:256]
            if cleaned:
                return cleaned
    return "local"
