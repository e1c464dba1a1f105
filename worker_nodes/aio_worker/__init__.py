"""The app's side of a remote ComfyUI worker: a custom node folder each worker loads (listed under
`custom_nodes:` in the worker's extra_model_paths.yaml, as `tools/start_workers.py` writes it),
outside the pinned checkout. It registers no node classes (the app's own nodes are its neighbour
folder, `aio_nodes`, which the in-process engine loads too). It does four things:

- GET /aio/worker: the pins the worker really runs (each checkout's `.aio-pin.json` record, which
  stock ComfyUI cannot report: it only knows its version number) and whether the tiny seam is in.
  aio_nodes' `AIOPinReport` reports the same (`_records`, `TINY_SEAM`) through a graph, for an
  endpoint that only takes graphs (a RunPod endpoint).
- POST /aio/cleanup {"input": [names], "output": [{"filename", "subfolder"}]}: delete a job's
  uploaded inputs and outputs once the app has its copy (ComfyUI has no route for that). Only
  files inside the worker's own input and output folders are touched.
- The tiny random-weight set's one seam (tinyset.install_seam), gated exactly as in the app: only
  with LTX_AIO_TINY_WEIGHTS=1 and the set's marker in LTX_AIO_MODELS_DIR.
- The app's fixes to the pinned ComfyUI where its code does not run on a device (comfy_fixes.py).
"""

import json
import logging
import os
import sys
from pathlib import Path

NODE_CLASS_MAPPINGS = {}  # a seam and two routes, not a node pack

log = logging.getLogger("aio_worker")
REPO = Path(__file__).resolve().parents[2]
TINY_SEAM = False


def _app_module(name: str):
    """One of the app's own modules. The app folder leaves sys.path at once: its app.py would
    shadow ComfyUI's own `app` package for every later import."""
    sys.path.insert(0, str(REPO))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(REPO))


# The app's fixes to the pinned ComfyUI, as its own engine applies them (comfy_fixes.py).
_app_module("comfy_fixes").install()

if os.environ.get("LTX_AIO_TINY_WEIGHTS", "").strip() == "1":
    _tinyset = _app_module("tinyset")
    _models = Path(os.environ.get("LTX_AIO_MODELS_DIR", "models"))
    _tinyset.install_seam(_tinyset.active(_models))  # refuses a folder without the set's marker
    TINY_SEAM = True
    log.info("[aio_worker] the tiny random-weight set's text-encoder seam is installed")


def _records(core: Path) -> dict:
    found = {}
    for folder in [core, *sorted((core / "custom_nodes").glob("*"))]:
        try:
            record = json.loads((folder / ".aio-pin.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("name"):
            found[record["name"]] = record.get("sha")
    return found


def _inside(base: str, *parts: str) -> Path | None:
    root = Path(base).resolve()
    path = root.joinpath(*parts).resolve()
    return path if path.is_relative_to(root) and path != root else None


def _register() -> None:
    import comfyui_version
    import folder_paths
    import server
    from aiohttp import web

    routes = server.PromptServer.instance.routes
    core = Path(folder_paths.__file__).resolve().parent

    @routes.get("/aio/worker")
    async def aio_worker(request):
        return web.json_response(
            {
                "comfyui_version": comfyui_version.__version__,
                "pins": _records(core),
                "tiny_seam": TINY_SEAM,
                "cleanup": True,
            }
        )

    @routes.post("/aio/cleanup")
    async def aio_cleanup(request):
        try:
            body = await request.json()
            wanted = [(folder_paths.get_input_directory(), "", str(n)) for n in body["input"]]
            wanted += [
                (folder_paths.get_output_directory(), str(o.get("subfolder", "")), o["filename"])
                for o in body["output"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            expected = "expected {input: [names], output: [{filename, subfolder}]}"
            return web.json_response({"error": expected}, status=400)
        removed, missing, refused = [], [], []
        for base, subfolder, name in wanted:
            path = _inside(base, subfolder, name)
            if path is None:
                refused.append(name)
            elif path.is_file():
                path.unlink()
                removed.append(name)
            else:
                missing.append(name)
        return web.json_response({"removed": removed, "missing": missing, "refused": refused})


try:
    _register()
except Exception:  # in-process (library) ComfyUI has no server routes: the seam alone matters
    log.exception("[aio_worker] routes not registered")
