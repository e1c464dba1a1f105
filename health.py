"""GET /healthz: can this process generate right now, and if not, why.

`health_report()` gathers bootstrap state and pins, the engine's verdict, whether the node classes
the workflows need are registered, per-mode model presence, device and free memory, free disk, queue
length, history and version, each remote worker's state (LTX_AIO_WORKERS) and the memory a job's
decode may use (the engine's figure); it answers 200 when generation can run, else 503 with the
reasons.
Every probe can be replaced by a value (tests, or an app that already knows it). Probes never import
torch or start ComfyUI: a health check must not be what initialises CUDA (on ZeroGPU that is fatal
outside a GPU task), so the device is read only when torch is already loaded.

Wire it into Gradio with `demo.launch(app_kwargs={"routes": [health.route(history.open_store)]})`.
`python health.py` prints the report and exits 0 (healthy) or 1.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import readiness
import worker_settings

VERSION = "0.1.0"
# Below this much free space a finished video may fail to be written or kept.
MIN_FREE_GB = 1.0
PROBE = object()  # "find it out": the default of every replaceable section


def health_report(
    *,
    queue_length: int | None = None,
    store=None,
    engine=PROBE,
    boot=PROBE,
    nodes=PROBE,
    models=PROBE,
    device=PROBE,
    disk=PROBE,
    weights=PROBE,
    min_free_gb: float = MIN_FREE_GB,
) -> tuple[int, dict]:
    """(200 or 503, the report). Pass a section's value to skip probing it. Each probe reads
    kept state (the workers' is kept by the pool's watcher, the model list's graphs are built
    once), so the report takes milliseconds however busy the workers are; `took_ms` says how
    long each section took."""
    took: dict[str, float] = {}

    def section(name: str, given, probe):
        if given is not PROBE:
            return given
        started = time.perf_counter()
        try:
            return probe()
        finally:
            took[name] = round((time.perf_counter() - started) * 1000, 1)

    engine = section("engine", engine, _engine)
    boot = section("bootstrap", boot, _boot)
    nodes = section("nodes", nodes, _nodes)
    disk = section("disk", disk, _disk)
    models = section("models", models, lambda: _models(disk))
    device = section("device", device, _device)
    weights = section("weights", weights, _weights)

    reasons: list[str] = list(engine.get("problems") or [])
    if not engine.get("ready") and not reasons:
        reasons.append("The generation engine reports it is not ready.")
    if nodes.get("missing"):
        reasons.append(
            "Node classes the workflows need are not registered: " + ", ".join(nodes["missing"])
        )
    for name, place in sorted(disk.items()):
        free = place.get("free_gb")
        if name in ("data", "comfyui") and free is not None and free < min_free_gb:
            reasons.append(
                f"Only {free} GB free for {name} (need at least {min_free_gb} GB): free up disk."
            )
    if models.get("error"):
        reasons.append(f"The model status cannot be read: {models['error']}")
    per_mode = models.get("modes") or {}
    # Remote workers load the weights from their own folders: this machine needs none.
    local_weights = engine.get("local_weights", True)
    if local_weights and per_mode and not any(m.get("runnable") for m in per_mode.values()):
        reasons.append(
            "No mode can get its model files: "
            + "; ".join(f"{m}: {info.get('why', 'missing')}" for m, info in per_mode.items())
        )
    records = section("history", PROBE, lambda: _history(store))
    if records.get("error"):
        reasons.append(
            f"Jobs cannot be recorded in History: {records['error']}. Check that the data dir "
            "(LTX_AIO_DATA_DIR) is writable."
        )
    reasons = list(dict.fromkeys(reasons))

    # What slows or will stop generation without blocking it: said as the page's banner says it.
    caveats = [readiness.device_line(device), readiness.weights_line(weights or {})]
    warnings = list(engine.get("warnings") or [])
    warnings += [f"{line.headline} {line.detail}".strip() for line in caveats if line]

    report = {
        "status": "ok" if not reasons else "unavailable",
        "reasons": reasons,
        "warnings": warnings,
        "version": VERSION,
        "versions": _versions(),
        "bootstrap": boot,
        "engine": {
            k: v
            for k, v in engine.items()
            if k not in ("bootstrap", "pins", "workers", "decode_memory")
        },
        # The memory a job's decode may use, its budget and where the figure comes from.
        "decode_memory": engine.get("decode_memory"),
        # Remote workers (LTX_AIO_WORKERS): each one's state, job, GPU and memory; [] in-process.
        "workers": list(engine.get("workers") or []),
        "nodes": nodes,
        "models": models,
        "device": device,
        "disk": disk,
        "weights": weights,
        "queue": {"length": queue_length},
        "history": records,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "took_ms": took,
    }
    return (200 if not reasons else 503), report


# -- probes: each returns plain JSON-able data and never raises


def _engine() -> dict:
    """The engine's own verdict, which already covers the bootstrap: the one source of "ready".
    Never waits for the workers' first check: until it ends they are "being checked"."""
    try:
        import backend

        return dict(backend.engine_status(wait_s=0))
    except Exception as exc:  # health must answer even when the engine module is broken
        return {"ready": False, "problems": [f"The engine status is unavailable: {exc!r}"]}


def _boot() -> dict:
    try:
        import bootstrap
        import pins
    except Exception as exc:
        return {"phase": "unknown", "problems": [f"bootstrap is unavailable: {exc!r}"], "pins": {}}
    state = dict(getattr(bootstrap, "state", dict)())
    try:
        needed = {pin.name for pin in pins.needed_pins()}
        state["pins"] = {
            pin.name: {
                "sha": pin.sha,
                "needed": pin.name in needed,
                "installed": pins.is_installed(pin),
            }
            for pin in pins.PINS
        }
    except Exception as exc:
        state["pins_error"] = repr(exc)
    return state


def _nodes() -> dict:
    """Needed vs registered node classes. Registration is known once ComfyUI's `nodes` module is
    loaded (the engine starts on the first generation); before that, the committed schema snapshot
    of the pins says whether the pins provide every class."""
    try:
        import pins

        needed = sorted(pins.workflow_class_types())
        pinned = set(pins.class_modules())
    except Exception as exc:
        return {"checked": False, "error": repr(exc), "missing": []}
    comfy_nodes = sys.modules.get("nodes")
    registered = getattr(comfy_nodes, "NODE_CLASS_MAPPINGS", None)
    if isinstance(registered, dict):
        missing = [c for c in needed if c not in registered]
        return {"checked": True, "needed": len(needed), "missing": missing}
    return {
        "checked": False,
        "needed": len(needed),
        "missing": [],
        "not_in_pins": [c for c in needed if pinned and c not in pinned],
        "note": "registration is checked when the engine starts (first generation)",
    }


def _models(disk: dict) -> dict:
    try:
        import models

        status = models.model_status()
    except Exception as exc:
        return {"error": repr(exc), "modes": {}}
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    cache_free = (disk.get("hf_cache") or {}).get("free_gb")
    modes = {}
    for mode, info in (status.get("modes") or {}).items():
        missing = [f["filename"] for f in info.get("files", []) if f.get("state") != "present"]
        entry = {"ready": bool(info.get("ready")), "missing": missing}
        entry["missing_gb"] = info.get("missing_gb", 0.0)
        if info.get("error"):
            entry["why"] = info["error"].get("message", "unknown model problem")
        elif missing and offline:
            entry["why"] = "files missing and HF_HUB_OFFLINE is set"
        elif missing and cache_free is not None and cache_free < entry["missing_gb"]:
            entry["why"] = f"{entry['missing_gb']} GB to download, {cache_free} GB free"
        entry["runnable"] = entry["ready"] or (bool(missing) and "why" not in entry)
        if missing and entry["runnable"]:
            entry["note"] = "downloads on first use"
        modes[mode] = entry
    return {"variant": status.get("variant"), "modes": modes}


def _device() -> dict:
    ram = _ram_free_gb()
    if worker_settings.on_zerogpu():
        return {"type": "zerogpu", "note": "a GPU is attached for each job", "ram_free_gb": ram}
    torch = sys.modules.get("torch")
    if torch is None:  # the system's word for it: importing torch here could start CUDA
        return {**readiness.probe_device(), "ram_free_gb": ram}
    try:
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            return {
                "type": "cuda",
                "name": torch.cuda.get_device_name(),
                "free_gb": round(free / 1e9, 2),
                "total_gb": round(total / 1e9, 2),
                "ram_free_gb": ram,
            }
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return {"type": "mps", "free_gb": ram, "note": "unified memory", "ram_free_gb": ram}
    except Exception as exc:
        return {"type": "unknown", "error": repr(exc), "ram_free_gb": ram}
    return {"type": "cpu", "ram_free_gb": ram}


def _weights() -> dict | None:
    try:
        return readiness.probe_weights()
    except Exception as exc:
        return {"error": repr(exc)}


def _ram_free_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().available / 1e9, 2)
    except Exception:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return round(int(line.split()[1]) * 1024 / 1e9, 2)
    except (OSError, ValueError):
        pass
    return None


def _disk() -> dict:
    places: dict[str, Path] = {}
    try:
        import history

        places["data"] = history.data_dir()
    except Exception:
        pass
    try:
        import pins

        places["comfyui"] = pins.comfy_dir()
    except Exception:
        pass
    try:
        import models

        places["hf_cache"] = models.hub_cache_dir()
    except Exception:
        pass
    return {name: _free(path) for name, path in places.items()}


def _free(path: Path) -> dict:
    # Folders made on first use may not exist yet: measure the disk they will be made on.
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return {"free_gb": None, "error": exc.strerror or repr(exc)}
    return {"free_gb": round(usage.free / 1e9, 2), "total_gb": round(usage.total / 1e9, 2)}


def _history(store) -> dict:
    """The job records; `store` is a history.Store, or a function opening it on each check (so a
    data dir that comes back, such as a bucket mounted late, is seen)."""
    if store is None:
        return {"open": False}
    try:
        if callable(store):
            store = store()
        return {
            "open": True,
            "jobs": store.count(),
            "pending": len(store.pending()),
            "notice": store.notice,
        }
    except Exception as exc:
        return {"open": False, "error": f"{type(exc).__name__}: {exc}"}


def _versions() -> dict:
    from importlib import metadata

    found = {"app": VERSION, "python": platform.python_version()}
    for dist in ("gradio", "torch"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


# -- serving it


def gradio_queue_length(blocks) -> int | None:
    """Events waiting plus running in a launched Gradio app's queue (None if unknowable)."""
    queue = getattr(blocks, "_queue", None)
    try:
        waiting = len(queue)
        running = sum(len(job) for job in queue.active_jobs if job)
    except Exception:  # a private API: rather no number than a failed health check
        return None
    return waiting + running


def route(store=None, path: str = "/healthz", **overrides):
    """A Starlette route serving health_report(**overrides) as JSON.

    For `demo.launch(app_kwargs={"routes": [route(store)]})`; the queue length is read from the
    Gradio app that serves the request."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def healthz(request):
        try:
            blocks = request.app.get_blocks()
        except Exception:
            blocks = None
        code, body = await run_in_threadpool(
            lambda: health_report(
                queue_length=gradio_queue_length(blocks), store=store, **overrides
            )
        )
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    return Route(path, healthz, methods=["GET"])


def main() -> int:
    code, report = health_report()
    print(json.dumps(report, indent=1))
    return 0 if code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
