"""A tiny Hugging Face Hub on 127.0.0.1 that the real huggingface_hub client downloads from.

It answers HEAD/GET /{repo}/resolve/{revision}/{path} the way the Hub does for the client:
X-Repo-Commit, ETag (the sha256 of the content, like an LFS file), Content-Length, byte ranges
(206), 401 + X-Error-Code: GatedRepo for gated repos without the right token, 404 +
X-Error-Code: EntryNotFound for unknown files; a GET's `Range: bytes=A-` or `bytes=A-B` gets those
bytes (206), as a safetensors header is read without the file. Faults are scripted per file: cut
a GET body short (the connection closes early), or hold it half way until the test lets it go.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

TOKEN = "hf_fake_test_token"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


@dataclass
class Request:
    method: str
    repo: str
    path: str
    headers: dict


@dataclass
class FakeHub:
    files: dict = field(default_factory=dict)  # (repo, path) -> bytes
    gated: set = field(default_factory=set)
    requests: list = field(default_factory=list)
    cuts: dict = field(default_factory=dict)  # (repo, path) -> [cut at byte, GETs left to cut]
    holds: dict = field(default_factory=dict)  # (repo, path) -> (at byte, reached, release)
    url: str = ""

    def add(self, repo: str, path: str, data: bytes) -> str:
        self.files[(repo, path)] = data
        return hashlib.sha256(data).hexdigest()

    def commit(self, repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()

    def cut(self, repo: str, path: str, at: int, times: int = 1) -> None:
        """Close the next `times` GET bodies of this file after `at` bytes (-1: every time)."""
        self.cuts[(repo, path)] = [at, times]

    def hold(self, repo: str, path: str, at: int) -> tuple[threading.Event, threading.Event]:
        """Stop the GET body after `at` bytes until `release` is set; `reached` says it stopped."""
        reached, release = threading.Event(), threading.Event()
        self.holds[(repo, path)] = (at, reached, release)
        return reached, release

    def gets(self, repo: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and repo in (None, r.repo)]

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_HEAD(self):
                hub._serve(self, body=False)

            def do_GET(self):
                hub._serve(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        for _, _, release in self.holds.values():
            release.set()
        self._server.shutdown()
        self._server.server_close()

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        h.send_response(status)
        h.send_header("X-Error-Code", code)
        h.send_header("X-Error-Message", message)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        match = _RESOLVE.match(h.path.split("?")[0])
        if not match:
            return self._error(h, 404, "RepoNotFound", "Repository not found")
        repo, path = unquote(match["repo"]), unquote(match["path"])
        self.requests.append(Request(h.command, repo, path, dict(h.headers)))
        if repo in self.gated and h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(h, 401, "GatedRepo", f"Access to model {repo} is restricted.")
        data = self.files.get((repo, path))
        if data is None:
            return self._error(h, 404, "EntryNotFound", f"{path} does not exist on main")
        start, end = 0, len(data)
        ranged = re.match(r"bytes=(\d+)-(\d*)$", h.headers.get("Range", ""))
        if ranged and body:
            start = min(int(ranged[1]), len(data))
            end = min(int(ranged[2]) + 1, len(data)) if ranged[2] else len(data)
        part = ranged is not None and body and (start, end) != (0, len(data))
        h.send_response(206 if part else 200)
        h.send_header("X-Repo-Commit", self.commit(repo))
        h.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(end - start))
        if part:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        h.end_headers()
        if not body:
            return
        payload = data[start:end]
        cut = self.cuts.get((repo, path))
        if cut and cut[1] != 0 and cut[0] > start:
            cut[1] -= 1
            h.wfile.write(payload[: cut[0] - start])
            h.wfile.flush()
            h.close_connection = True  # the body ends early: the client sees a broken download
            return
        hold = self.holds.get((repo, path))
        if hold and hold[0] > start:
            at, reached, release = hold
            h.wfile.write(payload[: at - start])
            h.wfile.flush()
            reached.set()
            release.wait(30)
            payload = payload[at - start :]
        h.wfile.write(payload)
