"""What a browser may fetch from this server's files, and how it is served.

Gradio hands out every file a handler returns as a copy in its own cache (a folder named by the
file's content), so nothing needs to be fetched from the data dir itself: History's database, its
write-ahead log, every job's record and every kept input are refused at the file routes
(`/gradio_api/file=<path>` and the older `/gradio_api/file/<path>`), whoever asks. The data dir is
still an allowed path, since Gradio copies only from allowed places. Every file response also says
`X-Content-Type-Options: nosniff` and carries a `sandbox` policy: a served file is media to look at,
never a page that runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote

log = logging.getLogger("ltx_aio.served_files")

FILE_ROUTES = ("/file=", "/file/")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"sandbox; default-src 'none'; media-src 'self'; img-src 'self'"),
]


def requested_path(path: str) -> Path | None:
    """The file a file-route URL path asks for (None for any other URL)."""
    for route in FILE_ROUTES:
        at = path.find(route)
        if at != -1:
            return Path(unquote(path[at + len(route) :]))
    return None


def refused(path: str, data_dir: Path) -> bool:
    wanted = requested_path(path)
    if wanted is None:
        return False
    try:
        resolved = wanted.expanduser().resolve()
    except (OSError, RuntimeError):
        return True
    return resolved.is_relative_to(data_dir.resolve())


def middleware(data_dir):
    """For `launch(app_kwargs={"middleware": [...]})`; `data_dir` is a Path or a callable."""
    from starlette.middleware import Middleware

    return Middleware(FileGuard, data_dir=data_dir)


class FileGuard:
    def __init__(self, app, data_dir) -> None:
        self.app = app
        self.data_dir = data_dir

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if requested_path(path) is None:
            await self.app(scope, receive, send)
            return
        data_dir = Path(self.data_dir() if callable(self.data_dir) else self.data_dir)
        if refused(path, data_dir):
            log.warning("refused a direct fetch inside the data dir: %s", path)
            await send({"type": "http.response.start", "status": 404, "headers": HEADERS})
            await send({"type": "http.response.body", "body": b"Not found"})
            return

        async def send_with_headers(message):
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
