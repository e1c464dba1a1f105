"""The Docker build context of a RunPod serverless worker for this app, at the app's pins.

    python tools/runpod_image.py OUT                      # ComfyUI and packs cloned at the pins
    python tools/runpod_image.py OUT --archives ../shared/pins   # or from their source archives
    docker build -t you/ltx-aio-worker:<tag> OUT && docker push you/ltx-aio-worker:<tag>

The image starts FROM RunPod's `worker-comfyui` base image (its handler, start script and CUDA
base; the version is the pinned worker-comfyui release, WORKER_COMFYUI) and replaces the base's
ComfyUI with the app's: `bootstrap.py` installs ComfyUI and every node pack at the commits pins.py
names (the same record, `.aio-pin.json`, that the app checks), the packs' Python needs are the
app's requirements.txt (without the app's own web stack), with torch at requirements.txt's
versions from PyTorch's CUDA index and ComfyUI's web front-end at ComfyUI's own pin (the handler
waits for ComfyUI's page before it takes jobs). The app's `worker_nodes/` (its node and the tiny
set's seam) load from the app tree copied to /aio. The weights are not in the image: they live
on the endpoint's network volume, which serverless workers see at /runpod-volume, in the models
folder layout the manifest gives (`LTX_AIO_MODELS_DIR=/runpod-volume/models`): see README
"Serverless GPUs" for filling it from a pod.

Nothing here needs Docker; the context is plain files (tests/test_runpod_image.py reads them).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import start_workers  # noqa: E402

import pins  # noqa: E402

# The worker-comfyui release whose handler the tests run (../shared/pins/worker-comfyui-<commit>:
# its package.json says 5.8.5); its published base image is runpod/worker-comfyui:<version>-base.
WORKER_COMFYUI = "5.8.5"
BASE_IMAGE = f"runpod/worker-comfyui:{WORKER_COMFYUI}-base"
# Where things live in the image (serverless workers mount the network volume at /runpod-volume).
APP_DIR = "/aio"
COMFY_DIR = "/comfyui"
VOLUME = "/runpod-volume"
MODELS_DIR = f"{VOLUME}/models"
# PyTorch's CUDA wheels for the torch versions requirements.txt pins (a build argument).
TORCH_INDEX = "https://download.pytorch.org/whl/cu128"
TORCH = ("torch", "torchvision", "torchaudio")
# requirements.txt lines the worker does not install: the app's web stack (the worker serves
# ComfyUI, not the page) and torch (from the CUDA index instead: PyPI's build is another).
NOT_ON_WORKER = {"gradio", "spaces", *TORCH}
# What the app tree in the image leaves out: tests, pictures, anything not tracked.
LEFT_OUT = ("tests/", "testkit/", "assets/", ".ci/")


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=~!; ]", requirement.strip(), maxsplit=1)[0].lower()


def worker_requirements(text: str) -> tuple[list[str], list[str]]:
    """(the packs' and node code's needs, torch pins) from requirements.txt's text."""
    needs, torch = [], []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        name = _name(line)
        if name in TORCH:
            torch.append(line)
        elif name not in NOT_ON_WORKER:
            needs.append(line)
    return needs, torch


def app_files(root: Path = ROOT) -> list[str]:
    """The tracked files of the app the worker needs (its modules, tools, workflows, nodes)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    return sorted(p for p in listed.split("\0") if p and not p.startswith(LEFT_OUT))


def dockerfile(torch: list[str], archives: bool) -> str:
    bootstrap = "python bootstrap.py" + (" --archives /tmp/pins" if archives else "")
    copy_pins = "COPY pins/ /tmp/pins/\n" if archives else ""
    return f"""\
# The LTX 2.3 AIO Generator's RunPod serverless worker (written by tools/runpod_image.py).
# RunPod's worker-comfyui handler and start script, with ComfyUI and its node packs at the
# app's pins instead of the base image's ComfyUI; the weights on the network volume.
FROM {BASE_IMAGE}

ARG TORCH_INDEX={TORCH_INDEX}
ENV LTX_AIO_COMFYUI_DIR={COMFY_DIR} \\
    LTX_AIO_MODELS_DIR={MODELS_DIR} \\
    AUX_ANNOTATOR_CKPTS_PATH={MODELS_DIR}/controlnet_aux \\
    PIP_NO_INPUT=1

# The app's tree: bootstrap.py and pins.py (the pins), worker_nodes/ and the modules they load.
COPY app/ {APP_DIR}/
{copy_pins}# ComfyUI and every node pack at the app's pins (their record: .aio-pin.json).
RUN rm -rf {COMFY_DIR} && cd {APP_DIR} && {bootstrap} && rm -rf /tmp/pins
# torch at the app's versions, CUDA build; the packs' needs; ComfyUI's web front-end at its pin
# (the handler waits for ComfyUI's page before it takes a job).
RUN uv pip install {" ".join(torch)} --index-url "$TORCH_INDEX" \\
 && uv pip install -r {APP_DIR}/requirements-worker.txt \\
 && uv pip install "$(grep -E '^comfyui-frontend-package' {COMFY_DIR}/requirements.txt)"
# The models folders on the volume, and the app's worker_nodes.
COPY extra_model_paths.yaml {COMFY_DIR}/extra_model_paths.yaml
"""


def write_context(out: Path, archives: Path | None = None, root: Path = ROOT) -> list[Path]:
    """Write the build context into `out` (made empty first); returns the files written."""
    if out.exists():
        shutil.rmtree(out)
    app = out / "app"
    for rel in app_files(root):
        target = app / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    needs, torch = worker_requirements((root / "requirements.txt").read_text())
    if len(torch) != len(TORCH):
        raise SystemExit(f"requirements.txt must pin {', '.join(TORCH)}; found {torch}")
    head = "# Written by tools/runpod_image.py from requirements.txt: the worker's Python needs.\n"
    (app / "requirements-worker.txt").write_text(head + "\n".join(needs) + "\n")
    if archives is not None:
        wanted = [p.archive_name for p in pins.needed_pins()]
        missing = [name for name in wanted if not (archives / name).is_file()]
        if missing:
            raise SystemExit(f"{archives} lacks {', '.join(missing)}")
        (out / "pins").mkdir(parents=True)
        for name in [*wanted, "SHA256SUMS"]:
            shutil.copy2(archives / name, out / "pins" / name)
    start_workers.write_extra_paths(
        out / "extra_model_paths.yaml", Path(MODELS_DIR), nodes=Path(APP_DIR) / "worker_nodes"
    )
    (out / "Dockerfile").write_text(dockerfile(torch, archives is not None))
    (out / "pins.json").write_text(
        json.dumps({p.name: p.sha for p in pins.needed_pins()}, indent=1) + "\n"
    )
    return sorted(p for p in out.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the build context into")
    parser.add_argument(
        "--archives", type=Path, metavar="DIR",
        help="copy the pins' GitHub source archives (and SHA256SUMS) from DIR into the image, "
        "so the build clones nothing",
    )  # fmt: skip
    options = parser.parse_args(argv)
    written = write_context(options.out.resolve(), options.archives)
    print(f"wrote {len(written)} files to {options.out} (FROM {BASE_IMAGE})")
    print(f"build: docker build -t <you>/ltx-aio-worker:{pins.CORE.sha[:10]} {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
