"""Which uploaded files a request may use: only those its own sender uploaded here (on a local
single-user install: any file uploaded here, `usable_by`).

Gradio's upload cache is one folder for everyone (and, on a shared machine, for other Gradio apps
too), and a file there is named by its content. So a media value is accepted only when this server
received it through its upload route from a sender with the same fingerprint as the request using
it (owners.fingerprint: the caller's key, else address and browser), or handed a copy of a file it
keeps to that sender (History's kept input put back into a panel: `hand_out`).

A media value names its file in one of the ways Gradio documents (`media_file`): Gradio's file
data of an upload; the app's own `/gradio_api/file=` URL of an upload (what `gradio upload-mcp`
returns), read from disk, never fetched; or a base64 data URL, which becomes an upload of the
request's sender. The MCP server calls the endpoints over HTTP itself, on its caller's behalf: its
requests carry that caller's fingerprint, vouched for by this process (`vouch`), so an MCP caller
uses exactly the uploads its own fingerprint made.

On a shared deployment one sender may upload at most LTX_AIO_UPLOAD_GB_PER_DAY (5 GB there by
default, no limit locally) in 24 hours; beyond it an upload is refused (429) with the limit and
when it frees up, before Gradio stores anything.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import mimetypes
import os
import re
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import gradio.utils

import media
import owners
from errors import AppError

FORGET_AFTER_S = 24 * 3600
MAX_REMEMBERED = 100_000
# Said with every refusal of a media value: every way of sending a file that works.
HINT = (
    "Upload the file to this server: from Python, gradio_client.handle_file(path); over MCP, "
    "a base64 data URL, or the /gradio_api/file= URL of your own upload."
)
FILE_ROUTE = "/gradio_api/file="
# Carries the fingerprint a request was vouched for (`vouch`); worthless without this process's key.
SENDER_HEADER = "x-aio-sender"
_VOUCH_KEY = secrets.token_bytes(32)
DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(;[^,;]*)*?;base64,", re.I)

UPLOAD_ENV = "LTX_AIO_UPLOAD_GB_PER_DAY"
SHARED_UPLOAD_GB = 5.0
DAY_S = 24 * 3600

_lock = threading.Lock()
_uploaded: dict[str, dict[str, float]] = {}  # resolved path -> {fingerprint: when}
_sent: dict[str, list[tuple[float, int]]] = {}  # fingerprint -> [(when, bytes)] of the last day
_sources: dict[str, str] = {}  # resolved path of a handed-out copy -> the History job it is of


def remember(paths, fingerprint: str, *, counts: bool = True) -> None:
    """Note `fingerprint` as a sender of each stored path; `counts`: against its daily upload
    limit (a copy the server hands out of a file it keeps does not)."""
    now = time.monotonic()
    with _lock:
        for path in paths:
            if isinstance(path, str):
                resolved = str(Path(path).resolve())
                senders = _uploaded.setdefault(resolved, {})
                if counts and fingerprint not in senders:
                    with contextlib.suppress(OSError):
                        _sent.setdefault(fingerprint, []).append((now, os.path.getsize(resolved)))
                senders[fingerprint] = now
        if len(_uploaded) > MAX_REMEMBERED:
            for old, senders in list(_uploaded.items()):
                if all(now - at > FORGET_AFTER_S for at in senders.values()):
                    del _uploaded[old]
                    _sources.pop(old, None)
        if len(_sent) > MAX_REMEMBERED:
            for sender_, sent in list(_sent.items()):
                if all(now - at > DAY_S for at, _size in sent):
                    del _sent[sender_]


def upload_limit_gb() -> float | None:
    """What one sender may upload in 24 hours (None: no limit; a value that is no number keeps
    the default, and the app says so at start)."""
    default = SHARED_UPLOAD_GB if owners.shared() else None
    raw = os.environ.get(UPLOAD_ENV)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else None


def over_limit(fingerprint: str, adding: int = 0) -> AppError | None:
    """The refusal for a sender whose uploads of the last 24 hours, with `adding` bytes more,
    pass the limit; else None."""
    limit = upload_limit_gb()
    if limit is None:
        return None
    allowed = limit * 1024**3
    now = time.monotonic()
    with _lock:
        recent = [(at, size) for at, size in _sent.get(fingerprint, []) if now - at < DAY_S]
        if recent:
            _sent[fingerprint] = recent
        else:
            _sent.pop(fingerprint, None)
    sent = sum(size for _at, size in recent)
    if sent + adding <= allowed and sent < allowed:
        return None
    # When enough of the oldest uploads have aged out for this one to fit.
    frees_at, left = now, sent
    for at, size in recent:
        if left + adding <= allowed and left < allowed:
            break
        left -= size
        frees_at = at + DAY_S
    hours = max(1, math.ceil((frees_at - now) / 3600))
    return AppError(
        "bad_input",
        f"you uploaded {sent / 1024**3:.1f} GB in the last 24 hours; this server takes at most "
        f"{limit:g} GB a day from one visitor",
        where="upload",
        hint=f"Use the files you uploaded already (History keeps your jobs' inputs), or try "
        f"again in about {hours} hour(s).",
    )


def usable_by(path: str, fingerprint: str) -> bool:
    """Whether a request of `fingerprint` may use the uploaded file at `path`. On a deployment
    that others can reach (owners.shared) only its own uploads; on a local single-user install
    every upload this server received is that one user's, whichever program sent it (e.g.
    `gradio upload-mcp`, whose client is not the agent's)."""
    with _lock:
        senders = _uploaded.get(str(Path(path).resolve()), {})
    return fingerprint in senders or (bool(senders) and not owners.shared())


def hand_out(path: Path, request, source: str | None = None) -> str:
    """A copy of a file this server keeps (History's kept input, a job's output or its last
    frame), put in the upload cache as an upload of this request's sender, so that putting it
    back into a panel makes it usable by them, and by no one else. `source`: the History job it
    is of, which a job made with it records (`source_of`)."""
    return hand_out_to(path, request_fingerprint(request), source)


def hand_out_to(path: Path, fingerprint: str, source: str | None = None) -> str:
    """`hand_out` for the sender `fingerprint`."""
    from gradio.processing_utils import save_file_to_cache

    copy = save_file_to_cache(path, cache_dir=gradio.utils.get_upload_folder())
    remember([copy], fingerprint, counts=False)
    if source:
        with _lock:
            _sources[str(Path(copy).resolve())] = source
    return copy


def source_of(path: str) -> str | None:
    """The History job a handed-out copy is of (None: an upload, or a file of no job)."""
    with _lock:
        return _sources.get(str(Path(path).resolve()))


# -- who sent a request ----------------------------------------------------------------------------


def vouch(fingerprint: str) -> str:
    """The `SENDER_HEADER` value that makes a request this server sends count as `fingerprint`'s."""
    return f"{fingerprint}.{_mac(fingerprint)}"


def _mac(fingerprint: str) -> str:
    return hmac.new(_VOUCH_KEY, fingerprint.encode(), hashlib.sha256).hexdigest()


def sender(headers, host: str | None) -> str:
    """The fingerprint of a request: the one it was vouched for, else owners.fingerprint."""
    headers = owners.plain_headers(headers)
    fingerprint, _, mac = headers.get(SENDER_HEADER, "").rpartition(".")
    if fingerprint and hmac.compare_digest(mac.encode(), _mac(fingerprint).encode()):
        return fingerprint
    return owners.fingerprint(headers, host)


def request_fingerprint(request) -> str:
    """`sender` of a gr.Request (the starlette request inside it) or a starlette request."""
    inner = getattr(request, "request", None)
    headers = getattr(inner, "headers", None) or getattr(request, "headers", None) or {}
    client = getattr(inner, "client", None) or getattr(request, "client", None)
    return sender(headers, getattr(client, "host", None))


def scope_sender(scope) -> str:
    """`sender` of an ASGI request."""
    return sender(scope.get("headers", []), (scope.get("client") or (None, None))[0])


# -- what a media value names ----------------------------------------------------------------------


def upload_folder() -> Path:
    return Path(gradio.utils.get_upload_folder()).resolve()


def media_file(value, kind: str, field: str, scope, server) -> dict | None:
    """Gradio's file data for a media value given as a URL or data URL (None: leave it as it is,
    for Gradio and the job's checks). A URL elsewhere is refused, unfetched; so is this server's
    URL of a file not uploaded to it. `server`: the Blocks (its address and port)."""
    ref = value if isinstance(value, str) else None
    if isinstance(value, dict):
        ref = value.get("path") or value.get("url")
    if not isinstance(ref, str):
        return None
    if ref[:5].lower() == "data:":
        return file_data(save_data_url(ref, kind, field, scope_sender(scope)))
    if ref.split(":", 1)[0].lower() in ("http", "https"):
        path = own_file(ref, own_hosts(scope, server))
        if path is None:
            raise AppError(
                "bad_input",
                "a URL of another server was given; this server reads only files sent to it",
                where=field,
                hint=HINT,
            )
        if not path.is_relative_to(upload_folder()):
            raise AppError(
                "bad_input",
                "the URL is this server's, but of a file that was not uploaded to it",
                where=field,
                hint=HINT,
            )
        return file_data(path)
    if isinstance(value, str) and Path(ref).is_absolute() and in_uploads(ref):
        return file_data(Path(ref))  # the path the upload route answered, as a bare string
    return None


def in_uploads(path: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return Path(path).resolve().is_relative_to(upload_folder())
    return False


def file_data(path: Path | str) -> dict:
    """Gradio's file data of a file on this server."""
    path = Path(path).resolve()
    return {"path": str(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def own_hosts(scope, server) -> set[str]:
    """The `host[:port]` names this server answers to, as the request and its launch say."""
    headers = owners.plain_headers(scope.get("headers", []))
    hosts = {
        headers.get("host", ""),
        headers.get("x-forwarded-host", "").split(",")[0].strip(),
        os.environ.get("SPACE_HOST", ""),
    }
    for url in (getattr(server, "local_url", None), getattr(server, "share_url", None)):
        if isinstance(url, str):
            hosts.add(urlsplit(url).netloc)
    port = getattr(server, "server_port", None) or (scope.get("server") or (None, None))[1]
    if port:
        hosts |= {f"{name}:{port}" for name in ("localhost", "127.0.0.1", "[::1]")}
    return {host.lower() for host in hosts if host}


def own_file(url: str, hosts: set[str]) -> Path | None:
    """The file one of this server's `/gradio_api/file=` URLs names (None: any other URL)."""
    parts = urlsplit(url)
    _, route, rest = parts.path.partition(FILE_ROUTE)
    if parts.netloc.lower() not in hosts or not route or not rest:
        return None
    try:
        return Path(unquote(rest)).resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def save_data_url(text: str, kind: str, field: str, fingerprint: str) -> Path:
    """A base64 data URL's file, saved in the upload cache as an upload of `fingerprint`."""
    from gradio.processing_utils import save_bytes_to_cache

    head = DATA_URL.match(text)
    if head is None:
        raise AppError(
            "bad_input",
            "a data URL must be data:<type>;base64,<data>",
            where=field,
            hint=HINT,
        )
    encoded = text[head.end() :]
    limit = media.MAX_FILE_BYTES[kind]
    if len(encoded) * 3 // 4 > limit + 2:
        raise AppError(
            "bad_input",
            f"the data URL holds about {len(encoded) * 3 // 4 // 2**20} MiB; the limit is "
            f"{limit // 2**20} MiB",
            where=field,
        )
    try:
        data = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AppError(
            "bad_input", "the data URL's data is not valid base64", where=field, hint=HINT
        ) from None
    if not data:
        raise AppError("bad_input", "the data URL holds no data", where=field, hint=HINT)
    refused = over_limit(fingerprint, len(data))
    if refused is not None:  # a data URL is an upload too
        raise AppError(refused.kind, refused.message, where=field, hint=refused.hint)
    suffix = mimetypes.guess_extension(head.group("mime") or "") or ""
    path = Path(save_bytes_to_cache(data, f"{field}{suffix or '.bin'}", str(upload_folder())))
    remember([str(path)], fingerprint)
    return path
