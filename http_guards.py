"""The app's HTTP guards: the ASGI middleware in front of Gradio, on one skeleton.

Each guard picks the requests it looks at (`wants`: the path, of a POST unless it says otherwise)
and lets every other request through untouched; what it does with its own lives in the module
that knows the subject:
- `CancelWatch` reads POST .../gradio_api/cancel and cancels exactly the named job (cancel_ui).
- `UploadWatch` refuses an upload over its sender's daily limit before it lands, and notes who
  uploaded each stored file (uploads_ui).
- `RefusalRewriter` admits a mode submission's media before Gradio reads it and answers its
  refusals with the app's one line, recorded in History (api_refusals).
- `FileGuard` refuses direct fetches inside the data dir and marks every served file as media
  (served_files).

`middleware(data_dir)` is the list for `launch(app_kwargs={"middleware": [...]})`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import anyio.to_thread

import api_refusals
import cancel_ui
import served_files
import uploads_ui
from errors import AppError

log = logging.getLogger("ltx_aio.http_guards")


class Guard:
    """ASGI middleware for one kind of request; `guard()` handles those `wants()` picks."""

    method: str | None = "POST"  # None: any method

    def __init__(self, app, **options) -> None:
        self.app = app
        self.options = options

    def wants(self, path: str) -> bool:
        raise NotImplementedError

    async def __call__(self, scope, receive, send) -> None:
        mine = scope.get("type") == "http" and self.method in (None, scope.get("method"))
        if mine and self.wants(scope.get("path", "")):
            await self.guard(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def guard(self, scope, receive, send) -> None:
        raise NotImplementedError

    @classmethod
    def middleware(cls, **options):
        from starlette.middleware import Middleware

        return Middleware(cls, **options)


async def read_body(receive, limit: int | None = None) -> list[dict] | None:
    """The request's messages, read whole (None as soon as more than `limit` bytes arrived:
    a body over the limit is refused while it arrives, never held whole)."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if limit is not None and size > limit:
            return None
        if message.get("type") != "http.request" or not message.get("more_body"):
            return messages


def body_of(messages: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages)


def replay(messages: list[dict], receive):
    """A `receive` that hands the app the messages read already, then the rest."""
    messages = list(messages)

    async def again():
        return messages.pop(0) if messages else await receive()

    return again


async def answer_json(send, status: int, payload: dict) -> None:
    text = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(text))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


class CancelWatch(Guard):
    """Reads POST .../gradio_api/cancel bodies, then passes them on unchanged."""

    def wants(self, path: str) -> bool:
        return path.endswith("/gradio_api/cancel")

    async def guard(self, scope, receive, send) -> None:
        messages = await read_body(receive)
        try:
            app = scope.get("app")
            blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
            cancel_ui.note(body_of(messages), blocks, scope.get("headers", []), scope)
        except Exception:  # watching must never break Gradio's own cancel
            log.exception("reading a cancel request failed")
        await self.app(scope, replay(messages, receive), send)


class UploadWatch(Guard):
    """Notes who uploaded each file (POST .../gradio_api/upload answers with the stored paths),
    and refuses an upload that would pass its sender's limit before it lands."""

    def wants(self, path: str) -> bool:
        return path.endswith("/gradio_api/upload")

    async def guard(self, scope, receive, send) -> None:
        fingerprint = uploads_ui.scope_sender(scope)
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        # What it says it sends counts before it lands.
        refused = uploads_ui.over_limit(fingerprint, length)
        if refused is not None:
            await answer_json(send, 429, {"detail": str(refused)})
            return
        status, body = [0], []

        async def watch(message):
            if message["type"] == "http.response.start":
                status[0] = message.get("status", 0)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if status[0] == 200 and not message.get("more_body"):
                    with contextlib.suppress(ValueError):
                        uploads_ui.remember(json.loads(b"".join(body)), fingerprint)
            await send(message)

        await self.app(scope, receive, watch)


class RefusalRewriter(Guard):
    """A mode submission (queue/join, call/<mode>): its media admitted before Gradio reads it,
    and Gradio's own refusals of it answered with the app's one line."""

    def wants(self, path: str) -> bool:
        return path.endswith("/queue/join") or "/gradio_api/call/" in path

    async def guard(self, scope, receive, send) -> None:
        messages = await read_body(receive, api_refusals.MAX_BODY_BYTES)
        if messages is None:
            await api_refusals.refuse(scope, b"", api_refusals.TOO_BIG, send, status=413)
            return
        body = body_of(messages)
        try:
            # Parsing and decoding a data URL of up to a GiB must not stall the server's loop.
            body, scope = await anyio.to_thread.run_sync(api_refusals.admitted, scope, body)
        except AppError as err:
            await api_refusals.refuse(scope, body, err, send)
            return
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        held: list[dict] = []

        async def hold(message):
            if message["type"] == "http.response.start" and message.get("status") in (400, 422):
                held.append(message)
                return
            if held:
                held.append(message)
                if not message.get("more_body"):
                    await api_refusals.answer(scope, body, held, send)
                return
            await send(message)

        await self.app(scope, replay(messages, receive), hold)


class FileGuard(Guard):
    """The file routes: nothing inside the data dir (`data_dir`: a Path or a callable), and
    every served file marked as media, never a page (served_files)."""

    method = None

    def wants(self, path: str) -> bool:
        return served_files.requested_path(path) is not None

    async def guard(self, scope, receive, send) -> None:
        path, data_dir = scope.get("path", ""), self.options["data_dir"]
        data_dir = Path(data_dir() if callable(data_dir) else data_dir)
        if served_files.refused(path, data_dir):
            log.warning("refused a direct fetch inside the data dir: %s", path)
            headers = served_files.HEADERS
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": b"Not found"})
            return

        async def send_with_headers(message):
            if message.get("type") == "http.response.start":
                extra = served_files.HEADERS
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def middleware(data_dir) -> list:
    """Every guard, in the order requests meet them."""
    return [
        CancelWatch.middleware(),
        RefusalRewriter.middleware(),
        UploadWatch.middleware(),
        FileGuard.middleware(data_dir=data_dir),
    ]
