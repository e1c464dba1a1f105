"""Which uploaded files a request may use: only those its own sender uploaded here.

Gradio's upload cache is one folder for everyone (and, on a shared machine, for other Gradio apps
too), and a file there is named by its content. So a media value is accepted only when this server
received it through its upload route from a sender with the same fingerprint as the request using
it (owners.fingerprint: the caller's key, else address and browser), or handed a copy of a file it
keeps to that sender (History's kept input put back into a panel: `hand_out`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import gradio.utils

import owners

FORGET_AFTER_S = 24 * 3600
MAX_REMEMBERED = 100_000

_lock = threading.Lock()
_uploaded: dict[str, tuple[str, float]] = {}  # resolved path -> (fingerprint, when)


def remember(paths, fingerprint: str) -> None:
    now = time.monotonic()
    with _lock:
        for path in paths:
            if isinstance(path, str):
                _uploaded[str(Path(path).resolve())] = (fingerprint, now)
        if len(_uploaded) > MAX_REMEMBERED:
            for old in [p for p, (_, at) in _uploaded.items() if now - at > FORGET_AFTER_S]:
                del _uploaded[old]


def uploaded_by(path: str, fingerprint: str) -> bool:
    with _lock:
        entry = _uploaded.get(str(Path(path).resolve()))
    return entry is not None and entry[0] == fingerprint


def hand_out(path: Path, request) -> str:
    """A copy of a file this server keeps (History's kept input), put in the upload cache as an
    upload of this request's sender, so that putting it back into a panel makes it usable by
    them, and by no one else."""
    from gradio.processing_utils import save_file_to_cache

    copy = save_file_to_cache(path, cache_dir=gradio.utils.get_upload_folder())
    remember([copy], request_fingerprint(request))
    return copy


def request_fingerprint(request) -> str:
    """owners.fingerprint of a gr.Request (the starlette request inside it)."""
    inner = getattr(request, "request", None)
    headers = getattr(inner, "headers", None) or getattr(request, "headers", None) or {}
    client = getattr(inner, "client", None) or getattr(request, "client", None)
    return owners.fingerprint(headers, getattr(client, "host", None))


def middleware():
    from starlette.middleware import Middleware

    return Middleware(UploadWatch)


class UploadWatch:
    """Notes who uploaded each file (POST .../gradio_api/upload answers with the stored paths)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if not (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and scope.get("path", "").endswith("/gradio_api/upload")
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        client = scope.get("client") or (None, None)
        fingerprint = owners.fingerprint(headers, client[0])
        status, body = [0], []

        async def watch(message):
            if message["type"] == "http.response.start":
                status[0] = message.get("status", 0)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if status[0] == 200 and not message.get("more_body"):
                    with contextlib.suppress(ValueError):
                        remember(json.loads(b"".join(body)), fingerprint)
            await send(message)

        await self.app(scope, receive, watch)
