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

from pathlib import Path
from urllib.parse import unquote

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
