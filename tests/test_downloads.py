"""Downloads through the real huggingface_hub client against a fake Hub on loopback.

Every failure must leave nothing that a later run could take for a complete file, and must say
what to do.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest

import downloads
import models
from errors import AppError
from model_manifest import FACTS, ModelFile
from testkit.models_fakehub import TOKEN, FakeHub

REPO = "org/weights"
MB = 1_000_000


@pytest.fixture
def hub():
    fake = FakeHub().start()
    yield fake
    fake.stop()


@pytest.fixture
def env(tmp_path, monkeypatch, hub):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "comfyui"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HOME", "AUX_ANNOTATOR_CKPTS_PATH"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _need(hub, path="model.safetensors", size=3 * MB, repo=REPO, folder="checkpoints", **kw):
    data = os.urandom(size)
    sha = hub.add(repo, path, data)
    f = ModelFile(Path(path).name, folder, repo, path, size, "test", sha256=sha, **kw)
    return models.Need(folder, f.name, f)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(root: Path) -> list[Path]:
    """Anything in the HF cache or ComfyUI models that looks like weight data."""
    found = [p for p in (root / "hub").rglob("*") if p.is_file() and "blobs" in p.parts]
    models_dir = root / "comfyui" / "models"
    return found + [p for p in models_dir.rglob("*") if os.path.lexists(p) and not p.is_dir()]


def test_fresh_download_lands_in_cache_and_is_linked_for_comfyui(env, hub):
    need = _need(hub)
    [path] = downloads.ensure_needs([need])
    assert path == env / "comfyui" / "models" / "checkpoints" / "model.safetensors"
    assert path.is_symlink() and (env / "hub") in path.resolve().parents
    assert _sha(path) == need.file.sha256


def test_linked_file_is_used_without_any_request(env, hub):
    need = _need(hub)
    downloads.ensure_needs([need])
    hub.requests.clear()
    downloads.ensure_needs([need])
    assert hub.requests == []


def test_cached_but_unlinked_file_is_linked_without_any_request(env, hub):
    need = _need(hub)
    [path] = downloads.ensure_needs([need])
    path.unlink()
    hub.requests.clear()
    assert downloads.ensure_needs([need]) == [path]
    assert hub.requests == [] and _sha(path) == need.file.sha256


def test_connection_cut_mid_file_resumes_to_the_right_hash(env, hub):
    # The client writes in 10 MiB chunks, so the cut must come after at least one whole chunk.
    need = _need(hub, size=24 * MB)
    hub.cut(REPO, need.file.path, at=15 * MB)
    [path] = downloads.ensure_needs([need])
    assert _sha(path) == need.file.sha256
    first, retry = [r.headers.get("Range") for r in hub.gets()]
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", retry)[1])
    assert first is None and 0 < resumed_at <= 15 * MB


def test_download_that_keeps_breaking_leaves_nothing_that_looks_complete(env, hub, monkeypatch):
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(fd.time, "sleep", lambda s: None)  # the client's retry pauses
    need = _need(hub)
    hub.cut(REPO, need.file.path, at=MB, times=-1)
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([need])
    assert err.value.kind == "download_failed"
    assert REPO in str(err.value) and "model.safetensors" in str(err.value)
    assert "try again" in err.value.hint
    assert _leftovers(env) == []


def test_run_after_a_broken_download_gets_the_whole_file(env, hub, monkeypatch):
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(fd.time, "sleep", lambda s: None)
    need = _need(hub)
    hub.cut(REPO, need.file.path, at=MB, times=-1)
    with pytest.raises(AppError):
        downloads.ensure_needs([need])
    hub.cuts.clear()
    [path] = downloads.ensure_needs([need])
    assert _sha(path) == need.file.sha256


def test_gated_repo_without_token_says_to_set_hf_token(env, hub):
    need = _need(hub, repo="org/gated")
    hub.gated.add("org/gated")
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([need])
    assert err.value.kind == "download_failed" and "org/gated" in str(err.value)
    assert "HF_TOKEN" in err.value.hint and "https://huggingface.co/org/gated" in err.value.hint
    assert _leftovers(env) == []


def test_gated_repo_downloads_with_token_from_env(env, hub, monkeypatch):
    need = _need(hub, repo="org/gated")
    hub.gated.add("org/gated")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    [path] = downloads.ensure_needs([need])
    assert _sha(path) == need.file.sha256


def test_missing_file_names_repo_and_file(env, hub):
    need = _need(hub)
    hub.files.clear()
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([need])
    assert err.value.kind == "download_failed"
    assert f"{REPO}/model.safetensors" == err.value.where
    assert REPO in err.value.message and "model.safetensors" in err.value.message
    assert _leftovers(env) == []


def test_offline_with_file_cached_works_without_requests(env, hub, monkeypatch):
    need = _need(hub)
    [path] = downloads.ensure_needs([need])
    path.unlink()
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert downloads.ensure_needs([need]) == [path]
    assert hub.requests == [] and _sha(path) == need.file.sha256


def test_offline_without_file_says_downloads_are_off(env, hub, monkeypatch):
    need = _need(hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([need])
    assert err.value.kind == "missing_model"
    assert "HF_HUB_OFFLINE" in str(err.value) and f"{REPO}/model.safetensors" in str(err.value)
    assert hub.requests == []


def test_unreachable_hub_says_to_check_the_network(env, hub, monkeypatch):
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http.time, "sleep", lambda s: None)  # the client's 23 s of backoff
    need = _need(hub)
    hub.stop()
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([need])
    assert err.value.kind == "download_failed"
    assert "Could not reach" in err.value.message and "network" in err.value.hint
    assert _leftovers(env) == []


def _free(monkeypatch, free: int) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(downloads.shutil, "disk_usage", lambda p: usage(free, 0, free))


def test_too_little_disk_names_gb_needed_and_free_before_any_download(env, hub, monkeypatch):
    f = ModelFile("big.safetensors", "checkpoints", REPO, "big.safetensors", 46 * 10**9, "test")
    _free(monkeypatch, 12 * 10**9)
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([models.Need("checkpoints", f.name, f)])
    assert err.value.kind == "download_failed"
    assert "46.0 GB needed, 12.0 GB free" in err.value.message
    assert "Free 34.0 GB" in err.value.hint and "HF_HOME" in err.value.hint
    assert hub.requests == []


def test_too_little_disk_for_full_weights_points_to_the_fp8_variant(env, hub, monkeypatch):
    full = FACTS["ltx-2.3-22b-dev.safetensors"]
    fp8 = FACTS[models.VARIANTS["fp8"][full.name]]
    _free(monkeypatch, 10 * 10**9)
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([models.Need("checkpoints", full.name, full)])
    assert f"LTX_AIO_MODEL_VARIANT=fp8 (smaller weights: {fp8.size / 1e9:.1f} GB)" in err.value.hint
    assert fp8.size < full.size
    assert hub.requests == []


def test_disk_check_counts_every_missing_file(env, hub, monkeypatch):
    needs = [_need(hub, path=f"f{i}.bin", size=2 * MB) for i in range(3)]
    _free(monkeypatch, 5 * MB)
    with pytest.raises(AppError) as err:
        downloads.ensure_needs(needs)
    assert "3 model file(s)" in err.value.message
    assert hub.gets() == []


def test_progress_reports_bytes_and_file_counts(env, hub):
    needs = [_need(hub, path="a.bin", size=2 * MB), _need(hub, path="b.bin", size=4 * MB)]
    calls = []
    downloads.ensure_needs(needs, lambda fraction, desc: calls.append((fraction, desc)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("a.bin (file 1 of 2)" in d for _, d in calls)
    assert any("b.bin (file 2 of 2)" in d for _, d in calls)
    assert any("of 0.0 GB" in d for _, d in calls)


def test_status_shows_a_file_downloading_while_it_arrives(env, hub):
    need = _need(hub, size=24 * MB)  # past one 10 MiB client chunk, so progress is counted
    reached, release = hub.hold(REPO, need.file.path, at=15 * MB)
    worker = threading.Thread(target=downloads.ensure_needs, args=([need],))
    worker.start()
    try:
        assert reached.wait(10)
        deadline = time.monotonic() + 5
        row = models.status_of([need])["files"][0]
        while row.get("bytes_done", 0) < MB and time.monotonic() < deadline:
            time.sleep(0.05)
            row = models.status_of([need])["files"][0]
        assert row["state"] == "downloading" and row["bytes_done"] >= MB
    finally:
        release.set()
        worker.join(10)
    assert models.status_of([need])["files"][0]["state"] == "present"


def test_short_file_in_models_dir_is_set_aside_and_fetched_again(env, hub):
    need = _need(hub)
    need.link.parent.mkdir(parents=True)
    need.link.write_bytes(b"half a file")
    [path] = downloads.ensure_needs([need])
    assert path.is_symlink() and _sha(path) == need.file.sha256
    assert path.with_name("model.safetensors.bad-size").read_bytes() == b"half a file"


def test_users_own_complete_file_is_used_as_is(env, hub):
    need = _need(hub)
    need.link.parent.mkdir(parents=True)
    need.link.write_bytes(hub.files[(REPO, need.file.path)])
    assert downloads.ensure_needs([need]) == [need.link]
    assert not need.link.is_symlink() and hub.requests == []


def test_own_file_the_hub_vouches_for_is_kept_when_the_manifest_size_is_off(env, hub):
    data = os.urandom(2 * MB)
    hub.add(REPO, "own.bin", data)
    f = ModelFile("own.bin", "loras", REPO, "own.bin", 2 * MB + 1, "test")
    need = models.Need("loras", "own.bin", f)
    need.link.parent.mkdir(parents=True)
    need.link.write_bytes(data)
    assert models.status_of([need])["files"][0]["state"] == "missing"  # no network in status
    assert downloads.ensure_needs([need]) == [need.link]
    assert not need.link.is_symlink() and [r.method for r in hub.requests] == ["HEAD"]


def test_stale_partial_download_is_swept(env, hub):
    need = _need(hub)
    blobs = env / "hub" / "models--org--weights" / "blobs"
    blobs.mkdir(parents=True)
    stale = blobs / "deadbeef.0123abcd.incomplete"
    stale.write_bytes(b"x" * 100)
    old = time.time() - downloads.STALE_PARTIAL_S - 60
    os.utime(stale, (old, old))
    downloads.ensure_needs([need])
    assert not stale.exists()


def test_two_graph_names_for_one_hub_file_download_once(env, hub):
    need = _need(hub)
    twin = models.Need("text_encoders", "other_name.safetensors", need.file)
    paths = downloads.ensure_needs([need, twin])
    assert [_sha(p) for p in paths] == [need.file.sha256] * 2
    assert len(hub.gets()) == 1


def test_aux_preprocessor_weights_link_where_the_pack_looks(env, hub):
    need = _need(hub, repo="aux/DWPose", path="yolox_l.onnx", folder="controlnet_aux")
    need = models.Need("controlnet_aux", "aux/DWPose/yolox_l.onnx", need.file)
    [path] = downloads.ensure_needs([need])
    pack = env / "comfyui" / "custom_nodes" / "comfyui_controlnet_aux"
    assert path == pack / "ckpts" / "aux" / "DWPose" / "yolox_l.onnx"
    assert _sha(path) == need.file.sha256


def test_inexact_size_is_asked_of_the_hub_for_the_disk_check(env, hub, monkeypatch):
    hub.add(REPO, "rough.bin", os.urandom(3 * MB))
    f = ModelFile("rough.bin", "loras", REPO, "rough.bin", 1 * MB, "test", size_exact=False)
    _free(monkeypatch, 2 * MB)  # enough for the rounded figure, not for the real file
    with pytest.raises(AppError) as err:
        downloads.ensure_needs([models.Need("loras", f.name, f)])
    assert "needed" in err.value.message
    assert [r.method for r in hub.requests] == ["HEAD"]


def test_own_file_of_another_size_is_kept_when_the_hub_cannot_be_asked(env, hub, monkeypatch):
    need = _need(hub)
    need.link.parent.mkdir(parents=True)
    need.link.write_bytes(b"the user's own, differently sized export")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(downloads, "_offline", lambda: True)
    assert downloads.ensure_needs([need]) == [need.link]
    assert need.link.read_bytes() == b"the user's own, differently sized export"
    assert not need.link.with_name("model.safetensors.bad-size").exists()


def test_disk_check_counts_what_downloads_already_running_still_need(env, hub, monkeypatch):
    need = _need(hub, size=3 * MB)
    _free(monkeypatch, 5 * MB)
    with models.in_flight_lock:
        models.in_flight[("other/repo", "big.safetensors")] = [1 * MB, 4 * MB]
    try:
        with pytest.raises(AppError) as info:
            downloads.ensure_needs([need])
    finally:
        with models.in_flight_lock:
            models.in_flight.pop(("other/repo", "big.safetensors"), None)
    assert info.value.kind == "download_failed" and hub.requests == []


def test_xet_downloads_count_each_byte_once(env):
    from huggingface_hub.utils._xet_progress_reporting import XetDownloadProgressReporter

    f = ModelFile("x.safetensors", "loras", REPO, "x.safetensors", 100, "test")
    seen: list[tuple[float | None, str]] = []
    report = downloads._Report(lambda fraction, desc: seen.append((fraction, desc)), {f: 100})
    report.start(0, f)
    reporter = XetDownloadProgressReporter(
        reconstruction_desc="x", total=100, log_level=0, tqdm_class=report.bar_class()
    )

    class Group:  # what hf_xet reports halfway: 50 bytes received and 50 written
        total_bytes = 100
        total_bytes_completed = total_transfer_bytes_completed = 50
        total_bytes_completion_rate = total_transfer_bytes_completion_rate = 1.0

    reporter.update_progress(Group())
    reporter.close()
    assert report.current == 50


def test_two_threads_linking_one_file_never_collide(env, tmp_path):
    import threading

    target = tmp_path / "blob"
    target.write_bytes(b"weights")
    link = tmp_path / "models" / "checkpoints" / "m.safetensors"
    errors: list[BaseException] = []

    def hammer():
        for _ in range(300):
            try:
                downloads._link(link, target)
            except BaseException as exc:  # any failure is the finding
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and link.read_bytes() == b"weights"


def test_moge_depth_model_downloads_from_comfy_org_into_geometry_estimation(env, hub, monkeypatch):
    """The file the style graph loads with LTX_AIO_STYLE_DEPTH=moge, fetched by the real client
    from its manifest repo and path, and linked where LoadMoGeModel looks."""
    monkeypatch.setenv("LTX_AIO_STYLE_DEPTH", "moge")
    [need] = [
        n
        for n in models.needs_for_mode("style", "fast", "full")
        if n.folder == "geometry_estimation"
    ]
    f = need.file
    sha = hub.add(f.repo, f.path, os.urandom(MB))
    # The real file is 0.66 GB: the same entry at the fake file's size.
    small = ModelFile(f.name, f.folder, f.repo, f.path, MB, "test", sha256=sha)
    monkeypatch.setitem(FACTS, f.name, small)
    [need] = [
        n
        for n in models.needs_for_mode("style", "fast", "full")
        if n.folder == "geometry_estimation"
    ]
    [path] = downloads.ensure_needs([need])
    assert path == env / "comfyui" / "models" / "geometry_estimation" / f.name
    assert _sha(path) == sha
    assert {(r.repo, r.path) for r in hub.gets()} == {
        ("Comfy-Org/MoGe", "geometry_estimation/moge_2_vitl_normal_fp16.safetensors")
    }


def test_a_hub_lora_a_job_names_downloads_with_progress_into_the_same_cache(env, hub):
    """hf:Owner/Repo/path: fetched by the same client into the same cache, linked where its
    loader looks, with the same progress as every other file; then read for its fit."""
    import json

    import loras
    import modes
    from testkit.modes_helpers import graph_spec

    module = "diffusion_model.transformer_blocks.0.attn1.to_q"
    head = json.dumps({
        f"{module}.lora_A.weight": {"dtype": "F32", "shape": [2, 8], "data_offsets": [0, 64]},
        f"{module}.lora_B.weight": {"dtype": "F32", "shape": [8, 2], "data_offsets": [64, 128]},
    }).encode()  # fmt: skip
    hub.add("someone/ltx-styles", "v1/ink.safetensors",
            len(head).to_bytes(8, "little") + head + bytes(128 + MB))  # fmt: skip
    spec = graph_spec("t2v", "fast", modes.LTX25)
    spec.inputs |= {"lora_2": "hf:someone/ltx-styles/v1/ink.safetensors", "lora_2_strength": 0.5}
    prompt = modes.MODES["t2v"].parameterize(spec)
    needs = [n for n in models.needs_for_prompt(prompt) if n.folder == "loras"]
    seen = []
    [path] = downloads.ensure_needs(needs, lambda fraction, desc: seen.append(desc))
    assert path == env / "comfyui" / "models" / "loras" / "hf/someone/ltx-styles/v1/ink.safetensors"
    assert path.is_symlink() and (env / "hub") in path.resolve().parents
    assert any(desc.startswith("Downloading ink.safetensors") for desc in seen)
    assert [r.repo for r in hub.gets()] == ["someone/ltx-styles"]
    assert loras.lora_layers(loras.read_header(path)) == {"transformer_blocks.0.attn1.to_q": (8, 8)}
