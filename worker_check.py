"""Whether a ComfyUI worker fits this app: what the app needs of one, and what its answers say.

What the app needs (`app_needs`): its pinned ComfyUI commit and the version number that commit
gives (pins.CORE_VERSIONS), the node packs the graphs use at their pins, the node classes the
workflows name, and whether it runs on the tiny test set. What a worker says comes from three of
its routes, which workers.WorkerClient.check asks for in turn and hands here one by one:
`/system_stats` (is it a ComfyUI the app may use: its version and device), `/aio/worker` (its pin
record from the app's worker_nodes, its cleanup route, the tiny set's seam; a stock ComfyUI has
none and is checked by version number only) and `/object_info` (its node classes). Each step
gives the reason the app cannot use the worker, and what to change (the app or the worker), or
"" when it can. Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pins
import tinyset
from comfy_events import pack_name


@dataclass(frozen=True)
class Needs:
    """What this app needs of a worker."""

    core_sha: str
    core_version: str | None
    packs: dict[str, str]
    classes: frozenset[str]
    tiny: bool


def app_needs() -> Needs:
    return Needs(
        core_sha=pins.CORE.sha,
        core_version=pins.CORE_VERSIONS.get(pins.CORE.sha),
        packs={pin.name: pin.sha for pin in pins.needed_pins() if pin is not pins.CORE},
        classes=frozenset(pins.workflow_class_types()),
        tiny=tinyset.requested(),
    )


@dataclass
class Facts:
    """What a check found. `problem` says why the app cannot use the worker ("" = it can)."""

    version: str = ""
    pins: dict | None = None  # from /aio/worker; None for a stock ComfyUI
    device: dict = field(default_factory=dict)
    cleanup: bool = False
    problem: str = ""
    note: str = ""


def device(stats: dict) -> dict:
    """The first GPU (or CPU) a worker's `/system_stats` names, in GB, and how many it has."""
    devices = stats.get("devices") or [{}]
    first = devices[0] if isinstance(devices[0], dict) else {}

    def gb(key: str) -> float | None:
        value = first.get(key)
        return round(value / 1e9, 2) if isinstance(value, (int, float)) else None

    return {
        "name": str(first.get("name", "")),
        "type": str(first.get("type", "")),
        "vram_total_gb": gb("vram_total"),
        "vram_free_gb": gb("vram_free"),
        "count": len(devices),
    }


def read_stats(status: int, stats) -> Facts:
    """What `/system_stats` says: the worker's ComfyUI version and device, or why it is no
    ComfyUI server this app may use."""
    facts = Facts()
    if status in (401, 403):
        facts.problem = (
            f"refused the app (HTTP {status}): check LTX_AIO_WORKER_HEADER. Change the app: "
            "set it to the header the proxy in front of the worker expects."
        )
        return facts
    if status != 200 or not isinstance(stats, dict) or "system" not in stats:
        facts.problem = (
            f"is not a ComfyUI server (GET /system_stats: HTTP {status}). Change the app: "
            "name the worker's ComfyUI address in LTX_AIO_WORKERS."
        )
        return facts
    facts.version = str(stats["system"].get("comfyui_version", "?"))
    facts.device = device(stats)
    return facts


def read_worker_route(facts: Facts, status: int, aio) -> bool:
    """What `/aio/worker` (the app's worker_nodes) adds to `facts`: the worker's pin record and
    whether it can delete a job's files; returns whether it runs the tiny set's seam."""
    if status == 200 and isinstance(aio, dict) and isinstance(aio.get("pins"), dict):
        facts.pins, facts.cleanup = aio["pins"], bool(aio.get("cleanup"))
        return bool(aio.get("tiny_seam"))
    facts.note = (
        "a stock ComfyUI server: its pins are checked by version number only, and "
        "it cannot delete a job's files afterwards"
    )
    return False


RESTART = (
    "Change the worker: start it from this app's pinned checkout (`python tools/start_workers.py`)."
)


def pin_problem(facts: Facts, needs: Needs, change: str = RESTART) -> str:
    """Why a worker's pins are not this app's ("" when they are, as far as it can tell);
    `change` says what to change (another kind of worker: a RunPod endpoint's image)."""
    wanted = needs.core_sha[:10] + (
        f" (ComfyUI {needs.core_version})" if needs.core_version else ""
    )
    restart = change
    if facts.pins is not None:
        core = str(facts.pins.get("ComfyUI") or "")
        if core != needs.core_sha:
            at = f"commit {core[:10]}" if core else "an unrecorded checkout"
            return (
                f"runs ComfyUI {facts.version} at {at}; this app is pinned to {wanted}. {restart}"
            )
        for name, sha in needs.packs.items():
            got = facts.pins.get(name)
            if got and got != sha:
                return f"runs {name} at {str(got)[:10]}; this app needs {sha[:10]}. {restart}"
        if needs.core_version and facts.version != needs.core_version:
            # The record is a file beside the code; what the running ComfyUI itself says wins.
            return (
                f"reports ComfyUI {facts.version} itself, yet its pin record says commit "
                f"{core[:10]}, this app's pin {wanted}: it runs other code than its record "
                f"says (a server not restarted since its checkout was re-pinned, or a checkout "
                f"changed by hand). {restart}"
            )
        return ""
    if needs.core_version is None:
        return (
            f"runs ComfyUI {facts.version}, and this app has no version number for its pin "
            f"{needs.core_sha[:10]} (pins.CORE_VERSIONS) to compare. {restart}"
        )
    if facts.version != needs.core_version:
        return f"runs ComfyUI {facts.version}; this app is pinned to {wanted}. {restart}"
    return ""


def classes_problem(status: int, info, needs: Needs, tiny_seam: bool, change: str = "") -> str:
    """Why the node classes `/object_info` lists, or the tiny set's seam, do not fit ("" when
    they do); `change` as for pin_problem."""
    if status != 200 or not isinstance(info, dict):
        return f"did not list its node classes (GET /object_info: HTTP {status})."
    missing = sorted(needs.classes - set(info))
    if missing:
        named = ", ".join(f"{cls} ({pack_name(cls)})" for cls in missing)
        return f"lacks node classes the workflows need: {named}. " + (
            change
            or "Change the worker: start it from this app's pinned checkout, with the node "
            "packs `python bootstrap.py` installs (`python tools/start_workers.py`)."
        )
    if needs.tiny and not tiny_seam:
        return (
            "does not run the tiny test set's seam, which this app needs (it was started "
            "with LTX_AIO_TINY_WEIGHTS=1). To test on the tiny set, change the worker: "
            "restart it with LTX_AIO_TINY_WEIGHTS=1 and LTX_AIO_MODELS_DIR at the set. For "
            "real videos, change the app: start it without LTX_AIO_TINY_WEIGHTS."
        )
    if tiny_seam and not needs.tiny:
        return (
            "runs the tiny random-weight test set (its videos are noise), and this app was "
            "started without LTX_AIO_TINY_WEIGHTS=1, so it expects real weights. To test on "
            "the tiny set, change the app: start it with the whole command "
            "`tools/start_workers.py` printed (LTX_AIO_TINY_WEIGHTS=1 and LTX_AIO_MODELS_DIR "
            "at the set). For real videos, change the worker: restart it without "
            "LTX_AIO_TINY_WEIGHTS, over real weights."
        )
    return ""
