"""One remote ComfyUI worker, driven through ComfyUI's own HTTP/WebSocket API (aiohttp).

A worker is a ComfyUI server at the app's pins, one per GPU (`tools/start_workers.py`). `check()`
asks it `/system_stats`, `/aio/worker` (the app's worker_nodes) and `/object_info`, and
worker_check.py judges the answers: whether this app can use it (the pins it runs, the node
classes the workflows need, the tiny set's seam), and if not, what to change. `run()` runs one
prompt: uploads the staged inputs it names, submits it under the
caller's prompt id with a websocket of this job's own (ComfyUI sends a prompt's events only to
the socket whose client id the prompt carries, and a second socket with the same id silently
takes them over), reports the events as progress, and downloads the outputs. Whatever says the
worker is gone (a refused or reset connection, no answer for LTX_AIO_WORKER_TIMEOUT seconds, a
job it no longer knows) is raised as WorkerLost, never as the job's own failure: the pool decides
where the job goes next.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import aiohttp

import worker_check
from comfy_events import classify_execution, classify_validation
from errors import AppError

log = logging.getLogger("ltx_aio.workers")

TIMEOUT_ENV = "LTX_AIO_WORKER_TIMEOUT"
REQUEST_S = 30.0  # a small request (stats, submit, cancel) that takes longer: no answer
OBJECT_INFO_S = 120.0  # ~800 kB of JSON, built by a server that may be busy
QUIET_S = 5.0  # no event this long: ask the worker how the job is doing
TERMINAL_GRACE_S = 10.0  # after success: how long to wait for the history write

Events = Callable[[str, dict], None]  # a job's ComfyUI events, for its progress lines


class WorkerLost(Exception):
    """The worker stopped answering; `leftovers` are what it may still hold of the job."""

    def __init__(self, message: str, *, silent: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.silent = silent  # it did not answer in time (rather than refusing the connection)
        self.refused = refused  # no connection could be made: the request never reached it
        self.leftovers: list[str] = []
        # Whether the job may have started there: False only when it was lost before its
        # prompt could reach it, so running it elsewhere is no re-run.
        self.started = False


def silence_limit() -> float:
    """Seconds a worker may stay silent mid-job before the job is taken elsewhere."""
    try:
        return max(5.0, float(os.environ.get(TIMEOUT_ENV, "") or 60))
    except ValueError:
        return 60.0


def display_name(url: str) -> str:
    """The URL without credentials or a trailing slash: safe to show and to record."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def staged_inputs(prompt: dict, input_dir: Path) -> list[Path]:
    """The files of the local input folder that the prompt's nodes load by name."""
    found: dict[str, Path] = {}
    for node in prompt.values():
        for value in (node.get("inputs") or {}).values() if isinstance(node, dict) else ():
            if isinstance(value, str) and value and Path(value).name == value:
                path = input_dir / value
                if path.is_file():
                    found[value] = path
    return list(found.values())


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


class WorkerClient:
    """HTTP and WebSocket calls to one worker, on the caller's aiohttp session and event loop."""

    def __init__(self, url: str, session: aiohttp.ClientSession, headers: dict | None = None):
        self.url = url.rstrip("/")
        self.name = display_name(url)
        self.cleanup_route = False
        # Jobs that ended here whose cleanup got no answer: the pool reclaims them later.
        self.unclean: list[list[str]] = []
        self._session = session
        self._headers = dict(headers or {})

    async def _call(self, method: str, path: str, *, timeout: float | None = REQUEST_S, **kw):
        """(status, JSON body or text) of one request; WorkerLost when there is no answer.
        `timeout` None: a transfer of any length, as long as data keeps coming."""
        limit = (
            aiohttp.ClientTimeout(total=timeout)
            if timeout is not None
            else aiohttp.ClientTimeout(
                total=None, sock_connect=REQUEST_S, sock_read=silence_limit()
            )
        )
        try:
            async with self._session.request(
                method, self.url + path, headers=self._headers, timeout=limit, **kw
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            silent = isinstance(exc, asyncio.TimeoutError)
            refused = isinstance(exc, aiohttp.ClientConnectorError)
            raise WorkerLost(
                f"{method} {path}: {_why(exc)}", silent=silent, refused=refused
            ) from None
        if status in (502, 503, 504):  # a proxy in front of a worker that is gone
            raise WorkerLost(f"{method} {path}: HTTP {status}")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    # -- checking

    async def check(self, needs: worker_check.Needs) -> worker_check.Facts:
        """Whether this app can use the worker: its answers, judged by worker_check."""
        status, stats = await self._call("GET", "/system_stats")
        facts = worker_check.read_stats(status, stats)
        if facts.problem:
            return facts
        status, aio = await self._call("GET", "/aio/worker")
        tiny_seam = worker_check.read_worker_route(facts, status, aio)
        self.cleanup_route = facts.cleanup
        facts.problem = worker_check.pin_problem(facts, needs)
        if facts.problem:
            return facts
        status, info = await self._call("GET", "/object_info", timeout=OBJECT_INFO_S)
        facts.problem = worker_check.classes_problem(status, info, needs, tiny_seam)
        return facts

    async def stats(self) -> dict:
        status, stats = await self._call("GET", "/system_stats")
        if status != 200 or not isinstance(stats, dict):
            raise WorkerLost(f"GET /system_stats: HTTP {status}")
        return worker_check.device(stats)

    # -- one job

    async def run(
        self,
        prompt: dict,
        prompt_id: str,
        inputs: list[Path],
        dest: Path,
        on_event: Events,
        cancelled: asyncio.Event,
    ) -> list[Path]:
        """Run `prompt` here under `prompt_id`; the output files, downloaded under `dest`."""
        client_id = f"aio-{prompt_id}"
        uploaded: list[str] = []
        items: list[dict] = []
        lost, stage = False, "uploading"
        events = await self._events(client_id)
        try:
            for path in inputs:
                uploaded.append(await self._upload(path))
            if cancelled.is_set():
                raise AppError("interrupted", "Generation was cancelled.")
            stage = "submitting"
            await self._submit(prompt, prompt_id, client_id)
            stage = "submitted"
            if cancelled.is_set():  # a cancel that came while the prompt was on its way
                await self.cancel(prompt_id)
            items = await self._follow(events, prompt, prompt_id, client_id, on_event, cancelled)
            return [await self._download(item, dest) for item in items]
        except WorkerLost as exc:
            lost = True
            exc.leftovers = [prompt_id, *uploaded]
            # A submission may have reached it unless the connection itself was refused.
            exc.started = stage == "submitted" or (stage == "submitting" and not exc.refused)
            raise
        finally:
            if events is not None:
                await events.close()
            if not lost and not await self.cleanup(prompt_id, uploaded, items):
                self.unclean.append([prompt_id, *uploaded])  # removed when it answers again

    async def _events(self, client_id: str) -> aiohttp.ClientWebSocketResponse | None:
        try:
            return await self._session.ws_connect(
                f"{self.url}/ws?clientId={client_id}",
                headers=self._headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise WorkerLost(f"websocket: {_why(exc)}") from None

    async def _upload(self, path: Path) -> str:
        form = aiohttp.FormData()
        form.add_field("type", "input")
        form.add_field("subfolder", "")
        form.add_field("overwrite", "true")
        with path.open("rb") as handle:
            form.add_field("image", handle, filename=path.name)
            status, body = await self._call("POST", "/upload/image", timeout=None, data=form)
        if status == 413:
            raise AppError(
                "bad_input",
                f"the worker {self.name} refuses files as large as {path.name}",
                hint="Start the workers with a larger --max-upload-size (MB).",
            )
        name = body.get("name") if isinstance(body, dict) else None
        if status != 200 or name != path.name:
            raise AppError(
                "node_failed", f"the worker {self.name} did not store the input {path.name}."
            )
        return name

    async def _submit(self, prompt: dict, prompt_id: str, client_id: str) -> None:
        body = {"prompt": prompt, "prompt_id": prompt_id, "client_id": client_id}
        status, answer = await self._call("POST", "/prompt", json=body)
        answer = answer if isinstance(answer, dict) else {}
        if status == 200 and not answer.get("node_errors"):
            return
        if status in (200, 400):
            err = classify_validation(prompt, answer.get("error"), answer.get("node_errors"))
            if err.kind == "missing_model":
                err.hint = (
                    f"Put the file into the models folder of the worker {self.name} (the "
                    "LTX_AIO_MODELS_DIR its workers share), then retry."
                )
            raise err
        raise AppError("node_failed", f"the worker {self.name} refused the job (HTTP {status}).")

    async def _follow(self, events, prompt, prompt_id, client_id, on_event, cancelled):
        """The job's events until it ends: its output items, or its failure raised. When the
        job has been quiet a while, or the socket closed, the worker is asked directly."""
        loop = asyncio.get_running_loop()
        items: list[dict] = []
        heard = answered = loop.time()
        reopened = None
        try:
            while True:
                message = None
                wait = QUIET_S - (loop.time() - heard)
                if events is not None and wait > 0:
                    try:
                        message = await events.receive(timeout=wait)
                    except asyncio.TimeoutError:
                        pass
                    except (aiohttp.ClientError, OSError):
                        events = None
                    if message is not None and message.type == aiohttp.WSMsgType.TEXT:
                        event = json.loads(message.data)
                        kind, data = event.get("type"), event.get("data") or {}
                        if not isinstance(data, dict) or data.get("prompt_id") != prompt_id:
                            continue
                        heard = answered = loop.time()
                        on_event(kind, data)
                        if kind == "executed":
                            items += _output_items({"node": data.get("output") or {}})
                        elif kind == "execution_success":
                            await _history_written(events, prompt_id)
                            return items or await self._outputs_when_done(prompt, prompt_id)
                        elif kind in ("execution_error", "execution_interrupted"):
                            await _history_written(events, prompt_id)
                            raise classify_execution(prompt, [(kind, data)])
                        continue
                    if message is not None and message.type == aiohttp.WSMsgType.BINARY:
                        image = preview_image(message.data)  # this job's socket: its preview
                        if image is not None:
                            heard = answered = loop.time()
                            on_event("preview", {"image": image})
                        continue
                    if message is not None:  # the socket closed: is the worker still there?
                        events = None
                try:
                    job = await self._job(prompt_id)
                except WorkerLost as exc:
                    if not exc.silent or loop.time() - answered > silence_limit():
                        raise
                    continue
                heard = answered = loop.time()
                outcome = self._outcome(prompt, job, cancelled)
                if outcome is not None:
                    return outcome
                if events is None:  # it answers: listen again (the old socket is closed)
                    events = reopened = await self._events(client_id)
        finally:
            if reopened is not None:
                await reopened.close()

    def _outcome(self, prompt: dict, job: dict | None, cancelled: asyncio.Event):
        """A job's output items once it ended well; its failure raised; None while it runs."""
        if job is None:
            if cancelled.is_set():  # a queued job cancelled there leaves no trace at all
                raise AppError("interrupted", "Generation was cancelled.")
            raise WorkerLost("the worker no longer knows the job (was it restarted?)")
        status = job.get("status")
        if status == "completed":
            return _output_items(job.get("outputs") or {})
        if status == "failed":
            raise classify_execution(prompt, [("execution_error", job.get("execution_error"))])
        if status == "cancelled":
            raise AppError("interrupted", "Generation was cancelled.")
        return None

    async def _job(self, prompt_id: str) -> dict | None:
        limit = min(REQUEST_S, silence_limit())
        status, job = await self._call("GET", f"/api/jobs/{prompt_id}", timeout=limit)
        if status == 404:
            return None
        if status != 200 or not isinstance(job, dict):
            raise WorkerLost(f"GET /api/jobs: HTTP {status}")
        return job

    async def _outputs_when_done(self, prompt: dict, prompt_id: str) -> list[dict]:
        """Its outputs from the job record (written just after its success is announced)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TERMINAL_GRACE_S
        while True:
            outcome = self._outcome(prompt, await self._job(prompt_id), asyncio.Event())
            if outcome is not None or loop.time() > deadline:
                return outcome or []
            await asyncio.sleep(0.2)

    async def _download(self, item: dict, dest: Path) -> Path:
        dest = dest.resolve()
        target = (dest / str(item.get("subfolder") or "") / str(item["filename"])).resolve()
        if not target.is_relative_to(dest) or target == dest:
            raise AppError("node_failed", f"the worker {self.name} named an unsafe output file.")
        query = {"filename": item["filename"], "subfolder": item.get("subfolder") or ""}
        partial = target.with_name(f".{target.name}.part")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            timeout = aiohttp.ClientTimeout(total=None, sock_read=silence_limit())
            async with self._session.get(
                self.url + "/view",
                params={**query, "type": "output"},
                headers=self._headers,
                timeout=timeout,
            ) as response:
                if response.status != 200:
                    raise AppError(
                        "node_failed",
                        f"the worker {self.name} lost the output {item['filename']} "
                        f"(HTTP {response.status}).",
                    )
                with partial.open("wb") as out:
                    async for chunk in response.content.iter_chunked(1 << 20):
                        out.write(chunk)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise WorkerLost(f"GET /view: {_why(exc)}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target

    async def cancel(self, prompt_id: str) -> bool:
        """Stop exactly this prompt: dequeued when waiting there, interrupted when running."""
        status, body = await self._call("POST", f"/api/jobs/{prompt_id}/cancel")
        if status == 404:  # a pin without the jobs API: dequeue, and interrupt only this prompt
            await self._call("POST", "/queue", json={"delete": [prompt_id]})
            await self._call("POST", "/interrupt", json={"prompt_id": prompt_id})
            return True
        return bool(isinstance(body, dict) and body.get("cancelled"))

    async def cleanup(self, prompt_id: str, inputs: list[str], items: list[dict]) -> bool:
        """Remove a job's files and record from the worker; False when it did not answer (a
        failure only costs disk there, until the pool asks again)."""
        try:
            if self.cleanup_route:
                outputs = [
                    {"filename": i["filename"], "subfolder": i.get("subfolder", "")} for i in items
                ]
                await self._call("POST", "/aio/cleanup", json={"input": inputs, "output": outputs})
            await self._call("POST", "/history", json={"delete": [prompt_id]})
        except WorkerLost as exc:
            log.warning("could not clean up job %s on %s: %s", prompt_id, self.name, exc)
            return False
        return True

    async def reclaim(self, prompt_id: str, inputs: list[str]) -> bool:
        """What this worker still holds of a job that was given up on here (it ran again
        elsewhere): cancelled while it still runs or waits (False: ask again later), and once it
        ended, its inputs, its outputs (however late it made them) and its record removed (True)."""
        job = await self._job(prompt_id)
        if job is not None and job.get("status") in ("pending", "in_progress"):
            await self.cancel(prompt_id)
            return False
        items = _output_items((job or {}).get("outputs") or {})
        return await self.cleanup(prompt_id, inputs, items)


PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4  # ComfyUI's protocol.BinaryEventTypes


def preview_image(data: bytes) -> bytes | None:
    """The encoded image of a worker's binary websocket message (a sampler's latent preview):
    4 bytes event type, then 4 bytes image type and the image, or (the newer form) 4 bytes of
    metadata length, the metadata and the image. None for any other message."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 8:
        return None
    event = int.from_bytes(data[:4], "big")
    if event == PREVIEW_IMAGE:
        return bytes(data[8:]) or None
    if event == PREVIEW_IMAGE_WITH_METADATA:
        size = int.from_bytes(data[4:8], "big")
        return bytes(data[8 + size :]) or None
    return None


def _output_items(outputs: dict) -> list[dict]:
    """The output files in a history or `executed` record (SaveVideo lists its file under
    "images")."""
    found = []
    for node in outputs.values():
        for items in node.values() if isinstance(node, dict) else ():
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and item.get("filename") and item.get("type") == "output":
                    found.append(item)
    return found


async def _history_written(events, prompt_id: str) -> None:
    """ComfyUI announces a success before it writes the job's record; `executing` with no node
    comes after the write. Cleaning up before it would leave the record behind."""
    if events is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TERMINAL_GRACE_S
    while loop.time() < deadline:
        try:
            message = await events.receive(timeout=deadline - loop.time())
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
            return
        if message.type != aiohttp.WSMsgType.TEXT:
            if message.type == aiohttp.WSMsgType.BINARY:
                continue
            return
        event = json.loads(message.data)
        data = event.get("data") or {}
        done = event.get("type") == "executing" and data.get("node") is None
        if done and data.get("prompt_id") == prompt_id:
            return
