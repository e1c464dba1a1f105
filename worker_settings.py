"""The worker settings: which remote ComfyUI workers run the jobs, and how the app reaches them.

Read from the environment each time, never cached: LTX_AIO_WORKERS names the workers (none on
ZeroGPU, whose GPU runs the jobs itself; `ignored()` says so), LTX_AIO_WORKER_HEADER is the one
header a proxy in front of them expects (`Name: value`), and LTX_AIO_WORKER_GRACE is how long a
job waits for a worker to come back when none is up. backend, readiness and quick_start ask only
whether workers are set; worker_pool.py runs the pool over them.
"""

from __future__ import annotations

import os

WORKERS_ENV = "LTX_AIO_WORKERS"
HEADER_ENV = "LTX_AIO_WORKER_HEADER"
# How long a job waits for a worker when none is up (a worker restarting, a short outage).
GRACE_ENV = "LTX_AIO_WORKER_GRACE"
GRACE_DEFAULT_S = 120.0


def _named_urls() -> list[str]:
    raw = os.environ.get(WORKERS_ENV, "")
    return [url.strip() for url in raw.replace(",", " ").split() if url.strip()]


def on_zerogpu() -> bool:
    """Whether this is a ZeroGPU Space: each job's GPU task runs in a forked process of its own
    (the one place every module asks)."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")


def grace_s() -> float:
    """Seconds a job waits for a worker to come back when none is up (0: it fails at once)."""
    try:
        value = float(os.environ.get(GRACE_ENV, "") or GRACE_DEFAULT_S)
    except ValueError:
        return GRACE_DEFAULT_S
    return max(0.0, value) if value == value else GRACE_DEFAULT_S  # NaN: the default


def configured_urls() -> list[str]:
    """The workers to run jobs on. None on ZeroGPU: its GPU task runs them there (and a Space
    there must keep its GPU function); a CPU Space is the front-end for workers of one's own."""
    return [] if on_zerogpu() else _named_urls()


def ignored() -> str:
    """Why workers that are named are not used ("" when they are, or none are named)."""
    if on_zerogpu() and _named_urls():
        return (
            f"{WORKERS_ENV} is ignored on ZeroGPU, whose GPU runs the jobs here: to send jobs to "
            "workers of your own, run the app on a CPU Space or any other machine."
        )
    return ""


def configured() -> bool:
    return bool(configured_urls())


def configured_header() -> str:
    return os.environ.get(HEADER_ENV, "").strip()


def parse_header(raw: str) -> dict[str, str]:
    """`Name: value` -> {Name: value}; a malformed setting is said, never half-used."""
    if not raw:
        return {}
    name, sep, value = raw.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise ValueError(f"{HEADER_ENV} must read `Name: value`, e.g. `Authorization: Bearer x`")
    return {name.strip(): value.strip()}
