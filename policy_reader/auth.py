"""Who is signed in: the Easy Auth principal, believed only when Easy Auth is really in front.

Azure App Service Authentication ("Easy Auth") is a proxy in front of the app. It drops any
`X-MS-CLIENT-PRINCIPAL*` header a client sends and adds its own to every request it passes on, the
WebSocket handshake included. The header is only as trustworthy as that proxy: without it, anyone
who can reach the app can send the header and read another user's jobs. So:

- Easy Auth on (App Service sets `WEBSITE_AUTH_ENABLED=True`; `TRUST_PRINCIPAL_HEADERS=true` says the
  same for another proxy that sets and strips these headers): the header names the user, and a
  request without it is refused with `SignInRequired` (Easy Auth set to allow anonymous requests).
- Easy Auth off (local runs, a container, `TRUST_PRINCIPAL_HEADERS=false`): the header is ignored
  and the one user is `local`, who owns the CLI's jobs and sees its own jobs only (admins are the
  names in ADMIN_USERS).
"""
from __future__ import annotations

from collections.abc import Mapping

from policy_reader.config import Settings, get_settings
from policy_reader.errors import SignInRequired

PRINCIPAL_NAME_HEADER = "x-ms-client-principal-name"
LOCAL_USER = "local"
MAX_NAME_CHARS = 256


def current_user(headers: Mapping[str, str] | None, settings: Settings | None = None) -> str:
    """The signed-in user for a request's headers (see the module docstring for when they count).

    Raises SignInRequired when Easy Auth is in front but the request carries no principal.
    """
    settings = settings or get_settings()
    if not settings.principal_headers_trusted:
        return LOCAL_USER
    name = principal_name(headers)
    if not name:
        raise SignInRequired("Sign-in required: this request did not come through the sign-in of this "
                             "site. Open the app's address again to sign in.")
    return name


def principal_name(headers: Mapping[str, str] | None) -> str | None:
    """The X-MS-CLIENT-PRINCIPAL-NAME value, printable characters only, or None."""
    for key, value in (headers or {}).items():
        if str(key).lower() == PRINCIPAL_NAME_HEADER and value:
            cleaned = "".join(ch for ch in str(value) if ch.isprintable()).strip()[:MAX_NAME_CHARS]
            if cleaned:
                return cleaned
    return None
