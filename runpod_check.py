"""Whether a RunPod endpoint fits this app: the check job runpod_endpoint.py sends it before its
first job, and the verdict on its answer.

The endpoint only runs graphs and returns their nodes' `images`, so the check is a one-node graph:
the app's `AIOPinReport` (worker_nodes/aio_nodes) writes what the endpoint's ComfyUI runs (its
version, the pin records and tiny seam of worker_nodes/aio_worker, its node classes) as a JSON
file, which worker-comfyui's handler returns like an image. `judge()` says it as worker_check.py
says a remote worker's answers, with what to change on the endpoint (its image, built by
tools/runpod_image.py); `without_node()` says the refusal of a ComfyUI that lacks the node (a stock
worker-comfyui image). Nothing here touches the network, but for an S3 URL's download.
"""

from __future__ import annotations

import base64
import json

import worker_check
from errors import AppError
from runpod_client import download

NODE = "AIOPinReport"  # worker_nodes/aio_nodes: what the endpoint's ComfyUI runs
GRAPH = {"1": {"class_type": NODE, "inputs": {}}}
REPORT = "aio-pin-report.json"  # the file it writes (aio_nodes.REPORT_NAME)
REBUILD = (
    "Change the endpoint: build its worker image from this app's checkout "
    "(`python tools/runpod_image.py`), push it and set it as the endpoint's image."
)


def without_node(exc: AppError, name: str) -> str:
    """The refusal when the check failed because the endpoint's ComfyUI lacks the node ("" when
    it failed for another reason): ComfyUI's "Node 'AIOPinReport' not found", through the
    handler's "Workflow validation failed"."""
    said = str(exc)
    if NODE not in said or "not found" not in said:
        return ""
    return (
        f"The RunPod endpoint {name} runs a ComfyUI without this app's worker_nodes (it has no "
        f"{NODE} node: a stock worker-comfyui image?), so the app cannot tell what it runs. "
        f"{REBUILD}"
    )


def report(output, name: str) -> dict | None:
    """The check job's report (AIOPinReport's JSON file, as the handler returns it)."""
    items = output.get("images") if isinstance(output, dict) else None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or item.get("filename") != REPORT:
            continue
        try:
            if item.get("type") == "s3_url":
                data = download(str(item["data"]), name)
            else:
                data = base64.b64decode(str(item.get("data") or ""), validate=False)
            found = json.loads(data)
        except (AppError, ValueError):
            return None
        return found if isinstance(found, dict) else None
    return None


def judge(found: dict | None, name: str) -> str:
    """Why the endpoint that sent report `found` cannot run this app's jobs ("" when it can):
    worker_check's verdicts, said of the endpoint, with what to change there."""
    if found is None or not isinstance(found.get("classes"), list):
        return (
            f"The RunPod endpoint {name} answered the app's check without its report (its "
            f"handler returned no {NODE} file). {REBUILD}"
        )
    needs = worker_check.app_needs()
    facts = worker_check.Facts(version=str(found.get("comfyui_version") or "?"))
    facts.pins = found["pins"] if isinstance(found.get("pins"), dict) else None
    tiny_seam = bool(found.get("tiny_seam"))
    classes = {str(cls): {} for cls in found["classes"]}
    problem = worker_check.pin_problem(facts, needs, REBUILD) or worker_check.classes_problem(
        200, classes, needs, needs.tiny, REBUILD
    )
    if not problem and needs.tiny and not tiny_seam:
        problem = (
            "does not run the tiny test set's seam, which this app needs (it was started with "
            "LTX_AIO_TINY_WEIGHTS=1). Change the app: start it without LTX_AIO_TINY_WEIGHTS "
            "for real videos, or set LTX_AIO_TINY_WEIGHTS=1 and LTX_AIO_MODELS_DIR at the tiny "
            "set on the endpoint."
        )
    if not problem and tiny_seam and not needs.tiny:
        problem = (
            "runs the tiny random-weight test set (its videos are noise), and this app was "
            "started without LTX_AIO_TINY_WEIGHTS=1, so it expects real weights. Change the "
            "endpoint: unset LTX_AIO_TINY_WEIGHTS there and give it real weights (or start the "
            "app with LTX_AIO_TINY_WEIGHTS=1 to test on the tiny set)."
        )
    return f"The RunPod endpoint {name} {problem}" if problem else ""
