"""A submission that Gradio itself turns away gets the app's own one-line refusal.

Before a request joins the queue, Gradio checks its media against each component's data model:
a server path given as a string, a URL, a file that was never uploaded here. It answers with a 400
whose text is a pydantic or path error meant for developers. This middleware puts in its place the
line every other refusal has (`[bad_input] Check your input: image: the file was not uploaded to
this server. ...`) and records the refusal in History (mode, reason, time; nothing it was given),
as every submission is recorded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import gradio.utils

import jobs
import modes
import owners
from errors import AppError

log = logging.getLogger("ltx_aio.api_refusals")

GRADIOS_OWN = ("validation error for", "not uploaded by a user", "Cannot move")
HINT = "Upload the file first; from a script, pass gradio_client.handle_file(path)."


def _endpoint(blocks, path: str, body: dict):
    """(mode, its input components in payload order) of the request, or None."""
    fns = getattr(blocks, "fns", {}) or {}
    fn = None
    if "/call/" in path:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        fn = next((f for f in fns.values() if getattr(f, "api_name", None) == name), None)
    elif isinstance(body.get("fn_index"), int):
        fn = fns.get(body["fn_index"])
    mode = getattr(fn, "api_name", None)
    return (mode, list(fn.inputs)) if mode in modes.MODES else None


def _uploaded(value) -> bool:
    path = value.get("path") if isinstance(value, dict) else None
    if not isinstance(path, str) or not path:
        return False
    folder = Path(gradio.utils.get_upload_folder()).resolve()
    return Path(path).resolve().is_relative_to(folder)


def refusal(mode: str, inputs: list, data: list) -> AppError:
    """What is wrong, naming the first media field whose value is not an upload to this server."""
    kinds = {f.name: f.kind for f in modes.MODES[mode].fields}
    for component, value in zip(inputs, data, strict=False):
        name = str(getattr(component, "elem_id", "")).removeprefix(f"aio-{mode}-")
        if kinds.get(name) in modes.MEDIA_KINDS and value is not None and not _uploaded(value):
            given = "a URL" if "://" in json.dumps(value) else "a path on the server"
            return AppError(
                "bad_input",
                f"the file was not uploaded to this server ({given} was given)",
                where=name,
                hint=HINT,
            )
    return AppError("bad_input", "a file given is not one this server can read", hint=HINT)


def middleware():
    from starlette.middleware import Middleware

    return Middleware(RefusalRewriter)


class RefusalRewriter:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if not (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and (path.endswith("/queue/join") or "/gradio_api/call/" in path)
        ):
            await self.app(scope, receive, send)
            return
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message.get("type") != "http.request" or not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        body = b"".join(m.get("body", b"") for m in messages)
        held: list[dict] = []

        async def hold(message):
            if message["type"] == "http.response.start" and message.get("status") in (400, 422):
                held.append(message)
                return
            if held:
                held.append(message)
                if not message.get("more_body"):
                    await self._answer(scope, body, held, send)
                return
            await send(message)

        await self.app(scope, replay, hold)

    async def _answer(self, scope, request_body: bytes, held: list[dict], send) -> None:
        text = b"".join(m.get("body", b"") for m in held[1:]).decode(errors="replace")
        out = held
        try:
            detail = str(json.loads(text).get("detail", ""))
            payload = json.loads(request_body or b"{}")
            found = _endpoint(scope["app"].get_blocks(), scope.get("path", ""), payload)
            if found and any(marker in detail for marker in GRADIOS_OWN):
                mode, inputs = found
                err = refusal(mode, inputs, payload.get("data") or [])
                headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
                caller = SimpleNamespace(headers=headers, session_hash=payload.get("session_hash"))
                jobs.open_history().record_refusal(mode, err.kind, str(err), owners.of(caller))
                new = json.dumps({"detail": jobs.describe(err)}).encode()
                start = {
                    **held[0],
                    "headers": [
                        (k, v)
                        for k, v in held[0].get("headers", [])
                        if k.lower() not in (b"content-length",)
                    ]
                    + [(b"content-length", str(len(new)).encode())],
                }
                out = [start, {"type": "http.response.body", "body": new}]
        except Exception:  # a rewrite must never lose Gradio's own answer
            log.exception("rewriting a refused submission failed")
        for message in out:
            await send(message)
