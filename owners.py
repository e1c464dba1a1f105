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

A key-less caller's address (what its uploads are tied to, `fingerprint`) is the socket's peer;
forwarded headers are believed only when that peer is a proxy this deployment trusts
(LTX_AIO_TRUSTED_PROXIES; on a Space, whose container only the Hugging Face proxy reaches, the
private networks it comes from), and then only the entries those proxies added: a caller cannot
choose its own address by sending an X-Forwarded-For.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import time

SHARED_ENV = "LTX_AIO_SHARED"
PROXIES_ENV = "LTX_AIO_TRUSTED_PROXIES"
# "private": the private and link-local networks (on a Space, where the Hugging Face proxy is).
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7")
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


def plain_headers(headers) -> dict[str, str]:
    """A request's headers as one lower-cased name -> value dict, from an ASGI scope's list of
    byte pairs, a starlette `Headers` or a dict. A header sent more than once keeps every value,
    joined with ", " as HTTP allows for list-valued headers: a proxy may add its own
    X-Forwarded-For line below the one the caller wrote, and only reading both finds its entry."""
    raw = getattr(headers, "raw", None)
    if raw is None and isinstance(headers, (list, tuple)):
        raw = headers
    if raw is not None:
        pairs = [
            (k.decode("latin-1") if isinstance(k, bytes) else str(k),
             v.decode("latin-1") if isinstance(v, bytes) else str(v))
            for k, v in raw
        ]  # fmt: skip
    else:
        pairs = [(str(k), str(v)) for k, v in dict(headers or {}).items()]
    plain: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        plain[name] = f"{plain[name]}, {value}" if name in plain else value
    return plain


def fingerprint(headers, host: str | None) -> str:
    """Who sent a request, as far as the request alone says: its key when it has one, else its
    address and browser. An upload is usable only by requests with the same fingerprint."""
    headers = plain_headers(headers)
    key = headers.get(KEY_HEADER, "").strip()
    bearer = headers.get("authorization", "").strip()
    if key or bearer:
        return _hash("key", key or bearer)
    return _hash("client", f"{client_address(headers, host)}|{headers.get('user-agent', '')}")


def trusted_proxies() -> list:
    """The networks whose forwarded headers are believed (LTX_AIO_TRUSTED_PROXIES: addresses or
    CIDRs, comma- or space-separated, or `private`; unset: `private` on a Space, loopback with
    share=True, else none)."""
    raw = os.environ.get(PROXIES_ENV)
    if raw is None:
        # On a Space the Hugging Face proxy; with share=True Gradio's share tunnel, whose
        # client connects from this machine.
        if os.environ.get("SPACE_ID"):
            raw = "private"
        elif os.environ.get("GRADIO_SHARE", "").lower() == "true":
            raw = "127.0.0.1 ::1"
        else:
            raw = ""
    networks = []
    for item in raw.replace(",", " ").split():
        for text in PRIVATE if item.lower() == "private" else (item,):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:  # said once at start (app.main), never a crash per request
                continue
    return networks


def bad_proxies() -> list[str]:
    """The LTX_AIO_TRUSTED_PROXIES entries that are neither an address, a CIDR nor `private`."""
    bad = []
    for item in (os.environ.get(PROXIES_ENV) or "").replace(",", " ").split():
        if item.lower() != "private":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                bad.append(item)
    return bad


def _trusted(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:10.0.0.5 is 10.0.0.5
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks if net.version == ip.version)


def client_address(headers, host: str | None) -> str:
    """Who connected: the socket's peer, or, where that peer is a trusted proxy, the nearest
    address in X-Forwarded-For that is not one (walked from the right: each proxy appends the
    address it saw; the left is whatever the caller wrote; every X-Forwarded-For line counts)."""
    headers = plain_headers(headers)
    networks = trusted_proxies()
    address = host or ""
    if not networks or not _trusted(address, networks):
        return address
    for hop in reversed([h.strip() for h in headers.get("x-forwarded-for", "").split(",")]):
        if not hop:
            continue
        address = hop
        if not _trusted(hop, networks):
            break
    return address


def visitor(owner: str, fingerprint: str) -> str:
    """Who takes turns for the GPU and is counted against the limits per visitor: a signed-in
    user or an API key is itself; a page's secret or a script's session can be made anew at will,
    so those count as the address and client that sent them (`fingerprint`)."""
    if owner == LOCAL or owner.startswith(("hf:", "key:")):
        return owner
    return fingerprint
