"""Who a request belongs to, decided in one place (DESIGN §10).

A local single-user install keeps one shared History: every job is "local"'s and every view shows
them all. A deployment others can reach is shared (a Hugging Face Space, `share=True`, a server
listening beyond loopback; LTX_AIO_SHARED=1 or 0 forces either): every job has an owner, and each
read or delete asks History for "this owner's job with this id", so a forged id or a replayed
private event finds nothing.

The owner of a request, first found wins:
  hf:<user>        the Hugging Face user signed in through the Space's login button
  key:<hash>       an API key: header `X-AIO-Key`, or the token a script sends as
                   `Authorization: Bearer ...` (gradio_client's `token=`); only its hash is kept
  browser:<hash>   the page's per-browser secret, kept in the browser (gr.BrowserState)
  session:<hash>   none of these (a script without a key, a page still starting): the jobs of
                   that one connection
Nothing here trusts a value it cannot check: a secret or key that someone else holds cannot be
guessed, and a made-up one only ever reaches the jobs it made itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import time

SHARED_ENV = "LTX_AIO_SHARED"
LOCAL = "local"
KEY_HEADER = "x-aio-key"
STORAGE_KEY = "ltx-aio-owner"
MIN_SECRET_CHARS = 32


def shared() -> bool:
    """Whether this deployment serves more than one person (so jobs have owners)."""
    forced = os.environ.get(SHARED_ENV, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    if os.environ.get("SPACE_ID") or os.environ.get("GRADIO_SHARE", "").lower() == "true":
        return True
    return not _loopback(os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hash(kind: str, secret: str) -> str:
    return f"{kind}:{hashlib.sha256(secret.encode()).hexdigest()[:32]}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def valid_secret(value) -> bool:
    return isinstance(value, str) and len(value) >= MIN_SECRET_CHARS and value.isascii()


def of(request=None, browser_secret=None, profile=None) -> str:
    """The owner of a request (a gr.Request, or None outside one): see the module docstring."""
    if not shared():
        return LOCAL
    username = (
        getattr(profile, "username", None)
        or getattr(profile, "preferred_username", None)
        or signed_in_user(request)
    )
    if username:
        return f"hf:{username}"
    headers = getattr(request, "headers", None) or {}
    key = headers.get(KEY_HEADER, "").strip()
    bearer = headers.get("authorization", "").strip()
    if not key and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    if key:
        return _hash("key", key)
    if valid_secret(browser_secret):
        return _hash("browser", browser_secret)
    session = getattr(request, "session_hash", None) or new_secret()
    return _hash("session", str(session))


def signed_in_user(request) -> str | None:
    """The Hugging Face user signed in through the Space's login button (Gradio keeps it in
    the request's signed session cookie), if the login has not expired."""
    scope = getattr(getattr(request, "request", None), "scope", None) or {}
    info = (scope.get("session") or {}).get("oauth_info") or {}
    expires = info.get("expires_at")
    if not info or (isinstance(expires, (int, float)) and expires < time.time()):
        return None
    return (info.get("userinfo") or {}).get("preferred_username")


def login_offered() -> bool:
    """A Space with `hf_oauth: true` gets these; there the page shows a login button."""
    return bool(os.environ.get("OAUTH_CLIENT_ID") and os.environ.get("SPACE_ID"))


def scope(owner: str) -> str | None:
    """What History reads are limited to: everything on a local install, else the owner's."""
    return None if owner == LOCAL else owner


def browser_state_key() -> str:
    """The key gr.BrowserState encrypts the browser's secret with, kept in History's settings:
    after a restart the secrets browsers hold still decrypt (and their jobs are still theirs)."""
    import sqlite3

    import history

    try:
        store = history.open_store()
        key = store.setting("browser_state_key")
        if not key:
            key = secrets.token_urlsafe(24)
            store.set_setting("browser_state_key", key)
        return key
    except (OSError, sqlite3.Error):  # History is broken and says so; the page still opens
        return secrets.token_urlsafe(24)


def fingerprint(headers, host: str | None) -> str:
    """Who sent a request, as far as the request alone says: its key when it has one, else its
    address and browser. An upload is usable only by requests with the same fingerprint."""
    headers = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    key = headers.get(KEY_HEADER, "").strip()
    bearer = headers.get("authorization", "").strip()
    if key or bearer:
        return _hash("key", key or bearer)
    forwarded = headers.get("x-forwarded-for", "").split(",")[0].strip()
    return _hash("client", f"{forwarded or host or ''}|{headers.get('user-agent', '')}")
