"""RunPod's real worker-comfyui handler, from an extracted checkout of its pin, served by the runpod
SDK's local API server (the app that `handler.py --rp_serve_api` serves) in front of a ComfyUI on
loopback. What is patched, and why (the image RunPod builds has none of these needs):

- `COMFY_HOST` is hard-coded to 127.0.0.1:8188: set to the test ComfyUI's address;
- `COMFY_PID_FILE` is the pid file the image's start.sh writes in its temp folder: a file of the
  test's own, holding the test ComfyUI's pid, so that a stale one of another run is never read;
- the handler waits for `GET /` to answer 200 (the ComfyUI front-end's page), which a ComfyUI
  without its front-end package does not serve: it asks `/system_stats` instead;
- the SDK's server lives at its root: a request's leading `/{endpoint id}` (the hosted API's
  paths) is stripped, so the app's client speaks to it as to the hosted API.

    python testkit/runpod_handler.py --pin DIR --comfy 127.0.0.1:PORT --pid-file F \
        --port N --endpoint ID
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def strip_prefix(app, prefix: str):
    async def asgi(scope, receive, send):
        path = scope.get("path", "")
        if scope.get("type") == "http" and (path == prefix or path.startswith(prefix + "/")):
            scope = {**scope, "path": path[len(prefix) :] or "/", "raw_path": None}
        await app(scope, receive, send)

    return asgi


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pin", type=Path, required=True, help="the extracted worker-comfyui")
    parser.add_argument("--comfy", required=True, help="host:port of the ComfyUI it drives")
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--endpoint", required=True)
    options = parser.parse_args(argv)
    sys.path[:0] = [str(options.pin), str(options.pin / "src")]
    sys.argv = [sys.argv[0]]  # the SDK reads its own flags from the command line

    import handler
    import requests
    import uvicorn
    from runpod.serverless.modules import rp_fastapi

    handler.COMFY_HOST = options.comfy
    handler.COMFY_PID_FILE = options.pid_file
    check = handler.check_server
    handler.check_server = lambda url, *a, **kw: check(url.rstrip("/") + "/system_stats", *a, **kw)

    def reachable():
        try:
            answer = requests.get(f"http://{options.comfy}/system_stats", timeout=5)
            return {"reachable": answer.status_code == 200, "status_code": answer.status_code}
        except Exception as exc:
            return {"reachable": False, "error": str(exc)}

    handler._comfy_server_status = reachable
    api = rp_fastapi.WorkerAPI({"handler": handler.handler})
    app = strip_prefix(api.rp_app, f"/{options.endpoint}")
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
