"""The door of the mode endpoints: how a submission's media arrive, and the app's own refusals.

Before Gradio reads a submission (`/gradio_api/queue/join`, `/gradio_api/call/<mode>`), each media
value given as a URL or a data URL is put in the form Gradio reads (uploads_ui.media_file): this
app's own `/gradio_api/file=` URL of an upload becomes that file, read from disk, never fetched;
a data URL becomes an upload of the sender; a URL elsewhere is refused here, unfetched. A
`job:<id>` value becomes a copy of what that History job of the caller's gives the field (its
video, last frame or sound: next_steps.resolve), handed out to the sender as theirs; another
owner's job, an unknown one or one that did not finish is refused here, naming the field.

Gradio then checks the media against each component's data model: a server path given as a
string, a file that was never uploaded here. It answers with a 400 whose text is a pydantic or
path error meant for developers. Its guard (http_guards.RefusalRewriter) puts in its place the
line every other refusal has (`[bad_input] Check your input: image: the file was not uploaded to
this server. ...`).
Either refusal is recorded in History (mode, reason, time; nothing it was given), as every
submission is recorded.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import jobs
import media
import modes
import next_steps
import owners
import uploads_ui
from errors import AppError

log = logging.getLogger("ltx_aio.api_refusals")

# A submission's body: its JSON, with every file of the mode as a base64 data URL at most.
MAX_BODY_BYTES = sum(sorted(media.MAX_FILE_BYTES.values())[-2:]) * 4 // 3 + 2**20
TOO_BIG = AppError(
    "bad_input",
    f"the request is larger than {MAX_BODY_BYTES // 2**20} MiB",
    hint="Upload big files to /gradio_api/upload and pass their URL instead of a data URL.",
)
GRADIOS_OWN = ("validation error for", "not uploaded by a user", "Cannot move")


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


def _media_fields(mode: str, inputs: list) -> list[tuple[int, str, str]]:
    """(payload index, field name, kind) of each media input of the mode's endpoint."""
    kinds = {f.name: f.kind for f in modes.MODES[mode].fields}
    found = []
    for i, component in enumerate(inputs):
        name = str(getattr(component, "elem_id", "")).removeprefix(f"aio-{mode}-")
        if kinds.get(name) in modes.MEDIA_KINDS:
            found.append((i, name, kinds[name]))
    return found


def admit(
    mode: str, inputs: list, data: list, scope, server, session: str | None = None
) -> list | None:
    """The payload's data with its URLs, data URLs and `job:<id>` values as Gradio's file data
    (None: nothing to change). Raises the AppError that refuses a value."""
    out, changed = list(data), False
    for i, name, kind in _media_fields(mode, inputs):
        if i < len(out) and out[i] is not None:
            job_id = next_steps.job_ref(out[i])
            if job_id is not None:
                given = _job_file(job_id, kind, name, scope, session)
            else:
                given = uploads_ui.media_file(out[i], kind, name, scope, server)
            if given is not None:
                out[i], changed = given, True
    return out if changed else None


def caller(scope, session: str | None = None) -> SimpleNamespace:
    """The request as owners.of reads it (its headers, session and sign-in), at the door."""
    headers = owners.plain_headers(scope.get("headers", []))
    return SimpleNamespace(
        headers=headers, session_hash=session, request=SimpleNamespace(scope=scope)
    )


def _job_file(job_id: str, kind: str, name: str, scope, session: str | None) -> dict:
    """`job:<id>`: a copy of what that job of the caller's gives this field (its video, last
    frame or sound), handed out to the caller as their upload and marked as that job's."""
    owner = owners.scope(owners.of(caller(scope, session)))
    path, source = next_steps.resolve(job_id, kind, name, owner)
    copy = uploads_ui.hand_out_to(path, uploads_ui.scope_sender(scope), source=source)
    return uploads_ui.file_data(copy)


def _uploaded(value) -> bool:
    path = value.get("path") if isinstance(value, dict) else None
    return isinstance(path, str) and bool(path) and uploads_ui.in_uploads(path)


def refusal(mode: str, inputs: list, data: list) -> AppError:
    """What is wrong, naming the first media field whose value is not an upload to this server."""
    for i, name, _ in _media_fields(mode, inputs):
        value = data[i] if i < len(data) else None
        if value is not None and not _uploaded(value):
            given = "a URL" if "://" in json.dumps(value) else "a path on the server"
            return AppError(
                "bad_input",
                f"the file was not uploaded to this server ({given} was given)",
                where=name,
                hint=uploads_ui.HINT,
            )
    return AppError(
        "bad_input", "a file given is not one this server can read", hint=uploads_ui.HINT
    )


def admitted(scope, body: bytes) -> tuple[bytes, dict]:
    """The request's body and scope with its media admitted (`admit`); as they were when
    there is nothing to change or the body is not a mode's submission."""
    try:
        payload = json.loads(body or b"{}")
        blocks = scope["app"].get_blocks()
        found = _endpoint(blocks, scope.get("path", ""), payload)
    except (ValueError, KeyError, AttributeError):
        return body, scope
    if not found or not isinstance(payload.get("data"), list):
        return body, scope
    mode, inputs = found
    try:
        session = payload.get("session_hash")
        data = admit(mode, inputs, payload["data"], scope, blocks, session)
    except AppError:
        raise
    except Exception:  # Gradio and the job's own checks then say what is wrong
        log.exception("admitting a %s submission's media failed", mode)
        return body, scope
    if data is None:
        return body, scope
    new = json.dumps({**payload, "data": data}).encode()
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(new)).encode()))
    return new, {**scope, "headers": headers}


async def answer(scope, request_body: bytes, held: list[dict], send) -> None:
    """Gradio's answer `held` (a 400 or 422), or in its place the app's refusal of the same
    submission when it is Gradio's own check that failed."""
    text = b"".join(m.get("body", b"") for m in held[1:]).decode(errors="replace")
    try:
        detail = str(json.loads(text).get("detail", ""))
        payload = json.loads(request_body or b"{}")
        found = _endpoint(scope["app"].get_blocks(), scope.get("path", ""), payload)
        if found and any(marker in detail for marker in GRADIOS_OWN):
            mode, inputs = found
            err = refusal(mode, inputs, payload.get("data") or [])
            await refuse(scope, request_body, err, send, held[0])
            return
    except Exception:  # a rewrite must never lose Gradio's own answer
        log.exception("rewriting a refused submission failed")
    for message in held:
        await send(message)


async def refuse(
    scope, request_body: bytes, err: AppError, send, start=None, status: int = 400
) -> None:
    """Answer with the app's one line for `err` (in place of Gradio's answer `start`, when
    there is one), recorded in History as a refused job where that can be done: the answer
    goes out whatever the record does."""
    try:
        payload = json.loads(request_body or b"{}")
        found = _endpoint(scope["app"].get_blocks(), scope.get("path", ""), payload)
        if found:
            owner = owners.of(caller(scope, payload.get("session_hash")))
            jobs.open_history().record_refusal(found[0], err.kind, str(err), owner)
    except Exception:
        log.exception("recording a refused submission failed")
    new = json.dumps({"detail": err.line()}).encode()
    start = start or {"type": "http.response.start", "status": status, "headers": []}
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    if not any(k.lower() == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(new)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": new})
