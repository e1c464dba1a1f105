"""A stand-in for a ComfyUI worker server: the slice of ComfyUI's HTTP/WebSocket API the worker
pool speaks (as observed on the pinned ComfyUI), in a process of its own so that a test can kill
it (SIGKILL) or freeze it (SIGSTOP) the way a machine dies or hangs. It needs only aiohttp.

Each prompt "runs" `--steps` steps (or as many as its node 1's `steps` input says) of `--step-s`
seconds, one at a time in submission order, sending the events ComfyUI sends to the prompt's
client id, and "writes" a small output file.
`GET /_test` reports what it was asked (uploads, prompts, cancels, cleanups, headers).

    python testkit/fake_worker.py --port N [--version 0.33.0] [--stock] [--token T] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import pins  # noqa: E402
from testkit.loopback import free_port  # noqa: E402

# The app's pins, as the app's worker_nodes would report them from its own checkout.
PINS = {pin.name: pin.sha for pin in pins.PINS}
VERSION = pins.CORE_VERSIONS[pins.CORE.sha]


def serve(options) -> None:
    from aiohttp import web

    sockets: dict[str, web.WebSocketResponse] = {}
    jobs: dict[str, dict] = {}
    seen = {"uploads": [], "prompts": [], "busy_at_submit": [], "cancels": [], "cleanups": []}
    seen["headers"] = []
    lock = asyncio.Lock()
    classes = json.loads(Path(options.classes).read_text()) if options.classes else []
    failing = {"cleanups": options.cleanup_fails}

    @web.middleware
    async def guard(request, handler):
        seen["headers"].append(request.headers.get("Authorization", ""))
        if options.token and request.headers.get("Authorization") != f"Bearer {options.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    def preview_message(step: int) -> bytes:
        """ComfyUI's binary PREVIEW_IMAGE: event type 1, image type 1 (JPEG), the image."""
        from io import BytesIO

        from PIL import Image

        out = BytesIO()
        Image.new("RGB", (32, 18), (20 * step % 256, 80, 160)).save(out, format="JPEG")
        return (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + out.getvalue()

    async def send(client_id, kind, data):
        ws = sockets.get(client_id)
        if ws is not None and not ws.closed:
            await ws.send_json({"type": kind, "data": data})

    async def execute(prompt_id, prompt, client_id):
        job = jobs[prompt_id]
        steps = int(prompt.get("1", {}).get("inputs", {}).get("steps", options.steps))
        async with lock:  # one prompt at a time, as a ComfyUI server runs them
            if job["status"] == "cancelled":
                return
            job["status"] = "in_progress"
            await send(client_id, "execution_start", {"prompt_id": prompt_id})
            for step in range(1, steps + 1):
                await asyncio.sleep(options.step_s)
                if job["status"] == "cancelled":
                    data = {"prompt_id": prompt_id, "node_id": "1", "node_type": "Sampler"}
                    await send(client_id, "execution_interrupted", data)
                    break
                node = {"value": step, "max": steps, "state": "running", "node_id": "1"}
                await send(client_id, "executing", {"node": "1", "prompt_id": prompt_id})
                await send(
                    client_id, "progress_state", {"prompt_id": prompt_id, "nodes": {"1": node}}
                )
                ws = sockets.get(client_id)
                if ws is not None and not ws.closed:  # a latent preview, as ComfyUI sends one
                    await ws.send_bytes(preview_message(step))
            else:
                item = {"filename": f"{prompt_id}_00001_.mp4", "subfolder": "out", "type": "output"}
                job["file"] = f"fake video of {prompt_id}".encode()
                job["outputs"] = {"9": {"images": [item], "animated": [True]}}
                await send(
                    client_id,
                    "executed",
                    {"node": "9", "output": job["outputs"]["9"], "prompt_id": prompt_id},
                )
                await send(client_id, "execution_success", {"prompt_id": prompt_id})
                job["status"] = "completed"
            await send(client_id, "executing", {"node": None, "prompt_id": prompt_id})

    async def system_stats(request):
        device = {"name": "cuda:0 Fake GPU : cudaMallocAsync", "type": "cuda",
                  "vram_total": 24e9, "vram_free": 20e9}  # fmt: skip
        return web.json_response(
            {"system": {"comfyui_version": options.version}, "devices": [device]}
        )

    async def aio_worker(request):
        if options.stock:
            raise web.HTTPNotFound()
        return web.json_response({"comfyui_version": options.version, "pins": PINS,
                                  "tiny_seam": options.tiny, "cleanup": True})  # fmt: skip

    async def object_info(request):
        return web.json_response({name: {} for name in classes})

    async def upload(request):
        form = await request.post()
        part = form["image"]
        seen["uploads"].append(part.filename)
        return web.json_response({"name": part.filename, "subfolder": "", "type": "input"})

    async def prompt(request):
        body = await request.json()
        prompt_id, client_id = body["prompt_id"], body["client_id"]
        if str(uuid.UUID(prompt_id)) != prompt_id:
            return web.json_response({"error": {"type": "invalid_prompt_id"}}, status=400)
        for node_id, node in body["prompt"].items():
            if node.get("inputs", {}).get("ckpt_name") == "missing.safetensors":
                error = {"type": "value_not_in_list", "message": "Value not in list",
                         "extra_info": {"input_name": "ckpt_name"}}  # fmt: skip
                return web.json_response({"error": {"type": "prompt_outputs_failed_validation"},
                                          "node_errors": {node_id: {"errors": [error]}}},
                                         status=400)  # fmt: skip
        seen["prompts"].append(prompt_id)
        unfinished = [j for j in jobs.values() if j["status"] in ("pending", "in_progress")]
        seen["busy_at_submit"].append(len(unfinished))
        jobs[prompt_id] = {"status": "pending"}
        asyncio.get_running_loop().create_task(execute(prompt_id, body["prompt"], client_id))
        return web.json_response({"prompt_id": prompt_id, "number": 0, "node_errors": {}})

    async def events(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets[request.query["clientId"]] = ws
        await ws.send_json({"type": "status", "data": {"status": {}}})
        async for _ in ws:
            pass
        return ws

    async def job(request):
        found = jobs.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response({"id": request.match_info["id"], "status": found["status"],
                                  "outputs": found.get("outputs", {})})  # fmt: skip

    async def cancel(request):
        prompt_id = request.match_info["id"]
        seen["cancels"].append(prompt_id)
        found = jobs.get(prompt_id)
        running = found is not None and found["status"] in ("pending", "in_progress")
        if running:
            found["status"] = "cancelled"
        return web.json_response({"cancelled": running})

    async def view(request):
        for found in jobs.values():
            name = (found.get("outputs") or {}).get("9", {}).get("images", [{}])[0].get("filename")
            if name == request.query.get("filename") and "file" in found:
                return web.Response(body=found["file"], content_type="video/mp4")
        raise web.HTTPNotFound()

    async def cleanup(request):
        if failing["cleanups"] > 0:  # as a proxy says when the worker behind it is gone
            failing["cleanups"] -= 1
            return web.Response(status=502)
        seen["cleanups"].append(await request.json())
        return web.json_response({"removed": [], "missing": [], "refused": []})

    async def history(request):
        body = await request.json()
        for prompt_id in body.get("delete", []):
            jobs.pop(prompt_id, None)
        return web.Response()

    async def report(request):
        return web.json_response(seen)

    app = web.Application(middlewares=[guard])
    app.router.add_get("/system_stats", system_stats)
    app.router.add_get("/aio/worker", aio_worker)
    app.router.add_get("/object_info", object_info)
    app.router.add_post("/upload/image", upload)
    app.router.add_post("/prompt", prompt)
    if not options.no_ws:  # else as behind a proxy that passes no websocket: 404
        app.router.add_get("/ws", events)
    app.router.add_get("/api/jobs/{id}", job)
    app.router.add_post("/api/jobs/{id}/cancel", cancel)
    app.router.add_get("/view", view)
    app.router.add_post("/aio/cleanup", cleanup)
    app.router.add_post("/history", history)
    app.router.add_get("/_test", report)
    web.run_app(app, host="127.0.0.1", port=options.port, print=None, handle_signals=True)


# -- the test side


class FakeWorker:
    def __init__(self, folder: Path, *args: str, port: int | None = None) -> None:
        self.folder, self.args = folder, list(args)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> FakeWorker:
        classes = self.folder / "classes.json"
        if not classes.exists():
            sys.path.insert(0, str(ROOT))

            classes.write_text(json.dumps(sorted(pins.workflow_class_types())))
        command = [sys.executable, __file__, "--port", str(self.port), "--classes", str(classes)]
        self.process = subprocess.Popen([*command, *self.args])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.report()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the fake worker on {self.port} did not start")

    def report(self) -> dict:
        request = urllib.request.Request(self.url + "/_test", headers=self._auth())
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def _auth(self) -> dict:
        if "--token" in self.args:
            return {"Authorization": f"Bearer {self.args[self.args.index('--token') + 1]}"}
        return {}

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=30)


@contextmanager
def fake_workers(folder: Path, *specs: tuple[str, ...]):
    """One fake worker per spec (its command-line options), started; stopped on exit."""
    started = []
    try:
        for spec in specs:
            started.append(FakeWorker(folder, *spec).start())
        yield started
    finally:
        for worker in started:
            worker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--stock", action="store_true", help="no /aio/worker route")
    parser.add_argument("--tiny", action="store_true", help="report the tiny seam")
    parser.add_argument("--token", help="require Authorization: Bearer <token>")
    parser.add_argument("--classes", help="JSON list of the node classes it has")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--step-s", type=float, default=0.05)
    parser.add_argument("--no-ws", action="store_true", help="no /ws route: takes no job")
    parser.add_argument("--cleanup-fails", type=int, default=0, help="first N cleanups: 502")
    serve(parser.parse_args())
