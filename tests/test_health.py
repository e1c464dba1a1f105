"""health: 200 only when generation can run, 503 with the reasons otherwise; over HTTP too."""

from __future__ import annotations

import json
import subprocess
import sys
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import health
import history
import readiness

READY_ENGINE = {"ready": True, "problems": [], "engine": "started"}
BOOT = {"phase": "ready", "installed": {}, "problems": [], "pins": {}}
NODES = {"checked": True, "needed": 39, "missing": []}
DISK = {"data": {"free_gb": 50.0}, "comfyui": {"free_gb": 50.0}, "hf_cache": {"free_gb": 50.0}}
DEVICE = {"type": "cpu", "ram_free_gb": 8.0}


def models_with(**modes) -> dict:
    return {"variant": "full", "modes": modes}


RUNNABLE = models_with(t2v={"ready": True, "missing": [], "runnable": True})


ROOMY = {"variant": "full", "need_gb": 1.0, "free_gb": 50.0, "where": "/hub", "others_gb": {}}


def report(**sections):
    given = dict(
        engine=READY_ENGINE,
        boot=BOOT,
        nodes=NODES,
        models=RUNNABLE,
        device=DEVICE,
        disk=DISK,
        weights=ROOMY,
    )
    given.update(sections)
    return health.health_report(**given)


def test_health_is_200_when_generation_can_run():
    code, body = report(queue_length=3)
    assert (code, body["status"], body["reasons"]) == (200, "ok", [])
    assert body["queue"] == {"length": 3} and body["version"] == health.VERSION


def test_health_is_503_with_the_engine_problems():
    engine = {"ready": False, "problems": ["PyTorch is not installed."]}
    code, body = report(engine=engine)
    assert (code, body["status"]) == (503, "unavailable")
    assert body["reasons"] == ["PyTorch is not installed."]


def test_health_engine_not_ready_without_a_reason_still_says_why():
    code, body = report(engine={"ready": False, "problems": []})
    assert code == 503 and body["reasons"]


def test_health_takes_readiness_from_the_engine_not_a_stale_bootstrap_state():
    code, body = report(boot={"phase": "failed", "problems": ["an earlier failure"]})
    assert (code, body["bootstrap"]["phase"]) == (200, "failed")


def test_health_is_503_when_the_engine_status_cannot_be_read(monkeypatch):
    broken = types.SimpleNamespace(engine_status=lambda **_: 1 / 0)
    monkeypatch.setitem(sys.modules, "backend", broken)
    code, body = report(engine=health.PROBE)
    assert code == 503 and "ZeroDivisionError" in body["reasons"][0]


DECODE_MEMORY = {"memory_gb": 48.0, "budget_gb": 24.0, "source": "ZeroGPU's large slice"}


def test_health_shows_the_memory_a_decode_may_use():
    code, body = report(engine={**READY_ENGINE, "decode_memory": DECODE_MEMORY})
    assert code == 200 and body["decode_memory"] == DECODE_MEMORY
    assert "decode_memory" not in body["engine"]  # said once, at the top


def test_health_probes_the_engines_figure(monkeypatch):
    monkeypatch.setenv("LTX_AIO_GPU_MEMORY_GB", "80")
    _, body = report(engine=health.PROBE)
    assert body["decode_memory"] == {
        "memory_gb": 80.0, "budget_gb": 40.0, "source": "LTX_AIO_GPU_MEMORY_GB", "dtype_bytes": 2,
    }  # fmt: skip


def test_health_is_503_naming_unregistered_node_classes():
    code, body = report(nodes={"checked": True, "missing": ["LTXVImgToVideo"]})
    assert code == 503 and "LTXVImgToVideo" in body["reasons"][0]


def test_health_is_503_when_the_data_disk_is_full():
    code, body = report(disk={**DISK, "data": {"free_gb": 0.2}})
    assert code == 503 and "0.2 GB free for data" in body["reasons"][0]


def test_health_is_503_when_no_mode_can_get_its_models():
    models = models_with(t2v={"runnable": False, "why": "offline"}, i2v={"runnable": False})
    code, body = report(models=models)
    assert code == 503 and "t2v: offline" in body["reasons"][0]


def test_health_is_200_when_one_mode_can_run():
    models = models_with(i2v={"runnable": False, "why": "offline"}, **RUNNABLE["modes"])
    code, _ = report(models=models)
    assert code == 200


def test_health_is_503_when_the_model_status_cannot_be_read():
    code, body = report(models={"error": "NameError('x')", "modes": {}})
    assert code == 503 and "NameError" in body["reasons"][0]


def test_health_lists_every_reason_once():
    engine = {"ready": False, "problems": ["a", "a"]}
    code, body = report(engine=engine, nodes={"missing": ["X"]})
    assert code == 503 and len(body["reasons"]) == 2


def test_health_reports_the_history_notice(tmp_path):
    (tmp_path / "history.db").write_bytes(b"garbage" * 100)
    store = history.Store(tmp_path)
    _, body = report(store=store)
    assert body["history"]["open"] and "could not be read" in body["history"]["notice"]
    store.close()


# -- the probes


def fake_models(monkeypatch, files, error=None):
    info = {"files": files, "ready": all(f["state"] == "present" for f in files)}
    info["missing_gb"] = 10.0
    if error:
        info = {"error": {"message": error}, "files": [], "ready": False}
    fake = types.SimpleNamespace(model_status=lambda: {"variant": "full", "modes": {"t2v": info}})
    monkeypatch.setitem(sys.modules, "models", fake)


def test_models_probe_missing_files_download_on_first_use(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake_models(monkeypatch, [{"filename": "ltx.safetensors", "state": "missing"}])
    mode = health._models({"hf_cache": {"free_gb": 100.0}})["modes"]["t2v"]
    assert (mode["runnable"], mode["missing"]) == (True, ["ltx.safetensors"])


def test_models_probe_offline_and_missing_cannot_run(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_models(monkeypatch, [{"filename": "ltx.safetensors", "state": "missing"}])
    mode = health._models({})["modes"]["t2v"]
    assert mode["runnable"] is False and "HF_HUB_OFFLINE" in mode["why"]


def test_models_probe_too_little_disk_for_the_download_cannot_run(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake_models(monkeypatch, [{"filename": "ltx.safetensors", "state": "missing"}])
    mode = health._models({"hf_cache": {"free_gb": 2.0}})["modes"]["t2v"]
    assert mode["runnable"] is False and "2.0 GB free" in mode["why"]


def test_models_probe_manifest_error_cannot_run(monkeypatch):
    fake_models(monkeypatch, [], error="not in the model manifest")
    mode = health._models({})["modes"]["t2v"]
    assert mode["runnable"] is False and "manifest" in mode["why"]


def test_nodes_probe_uses_comfyuis_registry_once_loaded(monkeypatch):
    import pins

    needed = sorted(pins.workflow_class_types())
    if not needed:
        pytest.skip("no workflows/*.json committed yet, so no node classes are needed")
    registry = {cls: object for cls in needed[1:]}
    monkeypatch.setitem(sys.modules, "nodes", types.SimpleNamespace(NODE_CLASS_MAPPINGS=registry))
    assert health._nodes() == {"checked": True, "needed": len(needed), "missing": needed[:1]}


def test_nodes_probe_before_the_engine_starts_checks_the_pins(monkeypatch):
    monkeypatch.delitem(sys.modules, "nodes", raising=False)
    probed = health._nodes()
    assert (probed["checked"], probed["missing"], probed["not_in_pins"]) == (False, [], [])


def fake_torch(cuda_available):
    def is_available():
        if isinstance(cuda_available, Exception):
            raise cuda_available
        return cuda_available

    cuda = types.SimpleNamespace(
        is_available=is_available,
        mem_get_info=lambda: (6e9, 24e9),
        get_device_name=lambda: "Fake GPU",
    )
    mps = types.SimpleNamespace(is_available=lambda: False)
    return types.SimpleNamespace(cuda=cuda, backends=types.SimpleNamespace(mps=mps))


def test_device_probe_reads_cuda_memory_when_torch_is_loaded(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    device = health._device()
    assert (device["type"], device["free_gb"], device["total_gb"]) == ("cuda", 6.0, 24.0)


def test_device_probe_never_touches_cuda_on_zerogpu(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setitem(sys.modules, "torch", fake_torch(RuntimeError("CUDA init reached")))
    assert health._device()["type"] == "zerogpu"


def test_device_probe_without_torch_loaded_asks_the_system_not_torch(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(readiness, "_system_device", lambda: "cpu")
    device = health._device()
    assert (device["type"], device["source"]) == ("cpu", "system")
    assert "torch" not in sys.modules


def test_health_warns_that_it_runs_on_the_cpu_without_failing():
    code, body = report(device={"type": "cpu"})
    assert code == 200
    assert any("No GPU" in w for w in body["warnings"])


def test_health_says_which_weights_would_fit_the_disk():
    weights = {"variant": "full", "need_gb": 79.2, "free_gb": 60.0, "where": "/hub",
               "others_gb": {"fp8": 51.1, "gguf": 62.3}}  # fmt: skip
    code, body = report(device={"type": "cuda"}, weights=weights)
    assert code == 200 and body["weights"] == weights
    [said] = body["warnings"]
    assert "79.2 GB" in said and "60.0 GB free" in said and "LTX_AIO_MODEL_VARIANT=fp8" in said


def test_disk_probe_measures_folders_not_made_yet(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_AIO_DATA_DIR", str(tmp_path / "not" / "yet"))
    assert health._disk()["data"]["free_gb"] > 0


def test_real_probes_import_neither_torch_nor_comfyui():
    code = (
        "import sys, json, health; c, b = health.health_report(); json.dumps(b); "
        "print(c, 'torch' in sys.modules, 'comfy' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(health.__file__).parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    status, torch_loaded, comfy_loaded = done.stdout.split()
    assert status in ("200", "503") and (torch_loaded, comfy_loaded) == ("False", "False")


def test_queue_length_counts_waiting_and_running_events():
    class Queue(list):
        active_jobs = [None, ["e1"], ["e2", "e3"]]

    blocks = types.SimpleNamespace(_queue=Queue(["w1", "w2"]))
    assert health.gradio_queue_length(blocks) == 5
    assert health.gradio_queue_length(object()) is None


# -- over HTTP, on a real Gradio server


@pytest.fixture
def serve():
    import gradio as gr

    launched = []

    def start(**overrides) -> str:
        with gr.Blocks() as demo:
            gr.Markdown("health test")
        routes = [health.route(**overrides)]
        _, url, _ = demo.launch(prevent_thread_lock=True, app_kwargs={"routes": routes})
        launched.append(demo)
        return url.rstrip("/")

    yield start
    for demo in launched:
        demo.close()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_healthz_over_http_is_200_when_ready(serve):
    engine = {**READY_ENGINE, "decode_memory": DECODE_MEMORY}
    base = dict(engine=engine, boot=BOOT, nodes=NODES, models=RUNNABLE, disk=DISK)
    code, body = get(serve(**base))
    assert (code, body["status"], body["queue"]["length"]) == (200, "ok", 0)
    assert body["decode_memory"] == DECODE_MEMORY


def test_healthz_over_http_is_503_with_reasons(serve):
    engine = {"ready": False, "problems": ["ComfyUI is not installed."]}
    code, body = get(serve(engine=engine, boot=BOOT, nodes=NODES, models=RUNNABLE, disk=DISK))
    assert (code, body["reasons"]) == (503, ["ComfyUI is not installed."])
