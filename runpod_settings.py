"""The RunPod settings: which serverless endpoint (running RunPod's worker-comfyui) runs the jobs.

Read from the environment each time, never cached, like worker_settings: LTX_AIO_RUNPOD_ENDPOINT is
the endpoint's id, LTX_AIO_RUNPOD_API_KEY the account's API key (a Space secret: it is sent only in
the endpoint's Authorization header, never logged, shown or recorded), LTX_AIO_RUNPOD_URL the base
the endpoint's URL is made from (RunPod's own API by default; another for a proxy, or a local test
server). None is used on ZeroGPU, whose GPU runs the jobs itself. runpod_endpoint.py is the
executor over them; backend.executor() uses it whenever an endpoint is set.
"""

from __future__ import annotations

import os

import worker_settings

ENDPOINT_ENV = "LTX_AIO_RUNPOD_ENDPOINT"
KEY_ENV = "LTX_AIO_RUNPOD_API_KEY"
URL_ENV = "LTX_AIO_RUNPOD_URL"
DEFAULT_URL = "https://api.runpod.ai/v2"  # hosted: {base}/{endpoint id}/run, /status/{id}, ...
# How many jobs the app lets through to the endpoint at once (it queues and scales them itself).
SLOTS_ENV = "LTX_AIO_RUNPOD_SLOTS"
SLOTS_DEFAULT = 2
# How long one request may go unanswered. The hosted /status answers at once; the runpod SDK's
# local test server (`--rp_serve_api`) answers a job's first /status only once the job has run.
TIMEOUT_ENV = "LTX_AIO_RUNPOD_TIMEOUT"
TIMEOUT_DEFAULT_S = 30.0
# How long the endpoint may stay unreachable mid-job before the job fails (a network blip is
# waited out: the job keeps running there).
SILENCE_ENV = "LTX_AIO_RUNPOD_SILENCE"
SILENCE_DEFAULT_S = 60.0
# Which jobs go to the endpoint (placement.py): every one, or only those the local side (this
# process, or LTX_AIO_WORKERS) has no free slot for.
PLACEMENT_ENV = "LTX_AIO_RUNPOD_PLACEMENT"
PLACEMENTS = ("always", "overflow")
# The GPU seconds one visitor of a shared deployment may spend on the endpoint per day (0: no cap).
VISITOR_S_ENV = "LTX_AIO_RUNPOD_VISITOR_S"


def _number(name: str, default: float, least: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return max(least, value) if value == value else default  # NaN: the default


def endpoint_id() -> str:
    return os.environ.get(ENDPOINT_ENV, "").strip()


def api_key() -> str:
    return os.environ.get(KEY_ENV, "").strip()


def base_url() -> str:
    return (os.environ.get(URL_ENV, "").strip() or DEFAULT_URL).rstrip("/")


def configured() -> bool:
    """Whether jobs go to a RunPod endpoint (never on ZeroGPU: see ignored())."""
    return bool(endpoint_id()) and not worker_settings.on_zerogpu()


def ignored() -> str:
    """Why an endpoint that is named is not used ("" when it is, or none is named)."""
    if endpoint_id() and worker_settings.on_zerogpu():
        return (
            f"{ENDPOINT_ENV} is ignored on ZeroGPU, whose GPU runs the jobs here: to send jobs to "
            "a RunPod endpoint, run the app on a CPU Space or any other machine."
        )
    return ""


def slots() -> int:
    return int(_number(SLOTS_ENV, SLOTS_DEFAULT, 1))


def timeout_s() -> float:
    return _number(TIMEOUT_ENV, TIMEOUT_DEFAULT_S, 1.0)


def silence_s() -> float:
    return _number(SILENCE_ENV, SILENCE_DEFAULT_S, 0.0)


def placement() -> str:
    """`always` (every job to the endpoint; also for a value it does not know) or `overflow`."""
    value = os.environ.get(PLACEMENT_ENV, "").strip().lower()
    return value if value in PLACEMENTS else PLACEMENTS[0]


def bad_placement() -> str:
    """What is wrong with LTX_AIO_RUNPOD_PLACEMENT ("" when nothing)."""
    value = os.environ.get(PLACEMENT_ENV, "").strip()
    if value and value.lower() not in PLACEMENTS:
        return (
            f"{PLACEMENT_ENV}={value!r} is not always or overflow: every job goes to the endpoint."
        )
    return ""


def visitor_s() -> float:
    """GPU seconds a visitor may spend on the endpoint per day, on a shared deployment (0: none)."""
    return _number(VISITOR_S_ENV, 0.0, 0.0)
