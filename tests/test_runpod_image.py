"""L1: the RunPod worker image's build context (tools/runpod_image.py), read as files: it
starts from the pinned worker-comfyui release's base image, installs ComfyUI and every pack at
the app's pins (from the archives when given), the app's Python needs but not its web stack,
torch at requirements.txt's versions, ComfyUI's front-end at ComfyUI's own pin, the app's
worker_nodes, and the manifest's model folders on the network volume. No Docker is run."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest

import model_manifest
import pins

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import runpod_image  # noqa: E402

SHARED_PINS = ROOT.parent / "shared" / "pins"


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runpod") / "context"
    runpod_image.write_context(out)
    return out


def test_the_image_is_the_pinned_worker_comfyui_base_with_the_apps_comfyui(context):
    text = (context / "Dockerfile").read_text()
    assert text.splitlines()[3] == f"FROM runpod/worker-comfyui:{runpod_image.WORKER_COMFYUI}-base"
    assert "rm -rf /comfyui && cd /aio && python bootstrap.py" in text
    assert (
        "LTX_AIO_COMFYUI_DIR=/comfyui" in text
        and "LTX_AIO_MODELS_DIR=/runpod-volume/models" in text
    )
    assert json.loads((context / "pins.json").read_text()) == {
        p.name: p.sha for p in pins.needed_pins()
    }
    # bootstrap's own pins are the app's: the tree copied is this checkout's
    assert (context / "app" / "pins.py").read_text() == (ROOT / "pins.py").read_text()
    assert (context / "app" / "worker_nodes" / "aio_nodes" / "__init__.py").is_file()
    # The endpoint's check node (aio_nodes' AIOPinReport) reads its neighbour's pin records.
    assert (context / "app" / "worker_nodes" / "aio_worker" / "__init__.py").is_file()
    assert not (context / "app" / "tests").exists() and not (context / "app" / "testkit").exists()


def test_the_worker_installs_the_apps_needs_without_its_web_stack_and_torch_at_its_pins(context):
    text = (context / "Dockerfile").read_text()
    needs = (context / "app" / "requirements-worker.txt").read_text().splitlines()
    names = {runpod_image._name(line) for line in needs if not line.startswith("#")}
    assert {"kornia", "einops", "gguf", "opencv-python-headless"} <= names
    assert not names & {"gradio", "spaces", "torch", "torchvision", "torchaudio"}
    pinned = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
              if runpod_image._name(line) in runpod_image.TORCH]  # fmt: skip
    assert f"uv pip install {' '.join(pinned)} --index-url" in text
    assert "grep -E '^comfyui-frontend-package' /comfyui/requirements.txt" in text


def test_models_come_from_the_network_volume_in_the_manifests_folders(context):
    yaml = pytest.importorskip("yaml", reason="PyYAML (requirements.txt) reads ComfyUI's file")
    paths = yaml.safe_load((context / "extra_model_paths.yaml").read_text())
    models = paths["aio_models"]
    assert models["base_path"] == "/runpod-volume/models" and models["is_default"] is True
    assert {f.folder for f in model_manifest._FILES} - {"controlnet_aux"} <= set(models)
    assert paths["aio_worker_nodes"]["custom_nodes"] == "/aio/worker_nodes"
    assert (
        "AUX_ANNOTATOR_CKPTS_PATH=/runpod-volume/models/controlnet_aux"
        in (context / "Dockerfile").read_text()
    )


def test_the_worker_comfyui_version_is_the_pinned_handlers(tmp_path):
    found = sorted(SHARED_PINS.glob("worker-comfyui-*.tar.gz"))
    if not found:
        pytest.skip("no worker-comfyui pin in ../shared/pins: put its archive there to check it")
    with tarfile.open(found[-1]) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/package.json"))
        package = json.loads(archive.extractfile(member).read())
    assert package["version"] == runpod_image.WORKER_COMFYUI


def test_with_archives_the_build_clones_nothing(tmp_path):
    if not all((SHARED_PINS / p.archive_name).is_file() for p in pins.needed_pins()):
        pytest.skip("the pins' archives are not in ../shared/pins: put them there to check this")
    out = tmp_path / "context"
    runpod_image.write_context(out, archives=SHARED_PINS)
    text = (out / "Dockerfile").read_text()
    assert "COPY pins/ /tmp/pins/" in text and "bootstrap.py --archives /tmp/pins" in text
    assert {p.name for p in (out / "pins").iterdir()} == {
        *(p.archive_name for p in pins.needed_pins()),
        "SHA256SUMS",
    }
