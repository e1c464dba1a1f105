"""Validate every mode x preset x representative input, from the command line.

Layer 1 (always): the committed node-schema snapshot (workflows/schemas/object_info.json).
Layer 2 (--comfyui DIR): ComfyUI's own validate_prompt in-process, with empty placeholder model
files registered through folder_paths and real small media staged into ComfyUI's input dir.
Run layer 2 with the Python that has ComfyUI's dependencies (torch, ...):

  python tools/validate_workflows.py
  /path/to/venv/bin/python tools/validate_workflows.py --comfyui comfyui
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import modes  # noqa: E402
import prepare  # noqa: E402
import workflow  # noqa: E402
from testkit.modes_helpers import cases, make_media  # noqa: E402


def register_placeholder_models(root: Path) -> list[workflow.ModelRef]:
    """Empty files named like every weight any mode x preset loads, added to ComfyUI's folders."""
    import folder_paths  # ComfyUI's; importable once the engine is up

    refs = {
        ref
        for mode in modes.MODES
        for preset in modes.PRESETS
        for control in modes.CONTROL_NODES
        for ref in modes.required_models(mode, preset, control)
    }
    folders = set()
    for ref in refs:
        if ref.folder == "controlnet_aux":  # the pack fetches these itself at run time
            continue
        path = root / ref.folder / ref.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        folders.add(ref.folder)
    for folder in sorted(folders):
        folder_paths.add_model_folder_path(folder, str(root / folder))
    return sorted(refs)


def run(comfy: bool, verbose: bool = False) -> int:
    schemas = workflow.load_schemas()
    failures = checked = 0
    with tempfile.TemporaryDirectory(prefix="ltx-aio-validate-") as tmp:
        tmp_path = Path(tmp)
        media = make_media(tmp_path / "media")
        input_dir = tmp_path / "input"
        job = f"validate-{uuid.uuid4().hex[:8]}"
        if comfy:
            import comfy_engine
            import pins

            comfy_engine.engine()
            register_placeholder_models(tmp_path / "models")
            input_dir = pins.input_dir()
        try:
            for mode, case, params in cases(media):
                for preset in modes.PRESETS:
                    prepared = prepare.job(
                        mode, {**params, "preset": preset}, input_dir=input_dir, job_id=job
                    )
                    problems = workflow.validate(prepared.prompt, schemas)
                    layer = "snapshot"
                    if comfy and not problems:
                        problems = comfy_engine.validate(prepared.prompt)
                        layer = "comfyui"
                    checked += 1
                    status = "ok" if not problems else "FAIL"
                    if problems or verbose:
                        print(f"{status:4} {mode:8} {preset:8} {case:18} [{layer}]")
                    for p in problems:
                        print(f"       {p}")
                    failures += bool(problems)
        finally:
            if comfy:
                for path in input_dir.glob(f"{job}_*"):
                    path.unlink()
    layers = "snapshot + ComfyUI validate_prompt" if comfy else "snapshot"
    print(f"{checked - failures}/{checked} mode x preset x input cases valid ({layers})")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--comfyui", type=Path, help="pinned ComfyUI checkout: also run validate_prompt"
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    args = ap.parse_args(argv)
    if args.comfyui:
        os.environ["LTX_AIO_COMFYUI_DIR"] = str(args.comfyui.resolve())
    return run(comfy=bool(args.comfyui), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
