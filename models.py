"""Model weights: which files a mode or graph needs, and whether each is on disk.

WHICH files comes from walking the mode graphs (`workflow.model_files`) after the weights variant
(full, fp8, gguf) has renamed their loaders' files; the facts per file (repo, path, size, licence,
where each was confirmed) live in model_manifest.py. A file is here when ComfyUI sees it through
comfyui/models/<folder>/<filename> (a symlink into the Hugging Face cache, or a file of the user's
own), or when the cache holds it and only the link is missing. The status rows (`model_status`,
what the Models view and `/healthz` show) say per file present / missing / downloading, and per
mode and model family the GB in all and still missing. Nothing here touches the network:
downloads.py fetches what is missing and links it in.

huggingface_hub is imported inside functions only: on Spaces `hfcache.activate_mirror()` has to run
before that import (the library reads HF_HOME and friends once, when imported).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import loras
import pins
import tinyset
from errors import AppError, bad_input
from model_manifest import FACTS, GGUF_TRANSFORMERS, VARIANTS, ModelFile

log = logging.getLogger("ltx_aio.models")


TINY_SOURCE = "tiny random-weight test set (tools/make_tiny_weights.py)"
# The files downloads.py is fetching now, (repo, path) -> [bytes done, bytes expected]: a status
# row says "downloading" from it, and the disk check counts what those still need. It lives here
# because downloads.py imports this module, never the other way round.
in_flight: dict[tuple[str, str], list[int]] = {}
in_flight_lock = threading.Lock()


@dataclass(frozen=True)
class Need:
    """One file a graph loads: the folder its loader searches, the name it asks for, the facts."""

    folder: str
    filename: str
    file: ModelFile

    @property
    def link(self) -> Path:
        if self.folder == "controlnet_aux":
            # The pack looks for <ckpts>/<repo>/<file> before it downloads anything itself.
            return pins.aux_ckpts_dir() / self.filename
        return pins.models_dir() / self.folder / self.filename


def _basename(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).name


def hub_cache_dir() -> Path:
    """The hub cache as huggingface_hub would compute it, but read now rather than at its import."""
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"])
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]) / "hub"
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface" / "hub"


def lookup(filename: str, node_title: str = "", folder: str = "") -> ModelFile:
    # A LoRA a job named by a path (a Hub ref's link, a subfolder of loras/) is that file, even
    # when its name is also an official file's: never the manifest's file of the same name.
    named = folder == "loras" and "/" in filename.replace("\\", "/")
    fact = None if named else FACTS.get(_basename(filename))
    if fact is None and folder == "loras":  # a LoRA a job named: from the Hub or the LoRA folder
        fact = loras.fact(filename)
        if fact is None:
            raise AppError(
                "missing_model",
                f"the LoRA file {filename} is not in the LoRA folder.",
                where=node_title,
                hint="Put it back in loras/ of the models folder, or choose another LoRA.",
            )
    if fact is None:
        raise AppError(
            "missing_model",
            f"{filename} is not in the model manifest, so it cannot be downloaded.",
            where=node_title,
            hint="Add its Hugging Face repo and path to model_manifest.py.",
        )
    return fact


def default_variant() -> str:
    chosen = os.environ.get("LTX_AIO_MODEL_VARIANT", "").strip().lower()
    if chosen:
        return _check_variant(chosen)
    return "fp8" if os.environ.get("SPACES_ZERO_GPU") else "full"


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise bad_input(
            "variant", f"unknown model variant {variant!r}", f"use one of {list(VARIANTS)}"
        )
    return variant


def resolve_variant(prompt: dict, variant: str | None = None) -> dict:
    """A copy of an API-format graph with its loaders pointed at the files of `variant`."""
    variant = _check_variant(variant or default_variant())
    out = copy.deepcopy(prompt)
    renames = VARIANTS[variant]
    for node in out.values():
        inputs = node.get("inputs", {})
        for key, value in inputs.items():
            if isinstance(value, str) and _basename(value) in renames:
                inputs[key] = (
                    value[: len(value) - len(_basename(value))] + renames[_basename(value)]
                )
    if variant == "gguf":
        _swap_in_gguf(out)
    return out


def _swap_in_gguf(prompt: dict) -> None:
    loaders = [
        (nid, n) for nid, n in prompt.items() if n.get("class_type") == "CheckpointLoaderSimple"
    ]
    # LTX-2.5: its transformer file is already an int8 one, with no GGUF beside it; the prompt
    # enhancer's graph (a text encoder alone) loads no transformer to swap.
    if not loaders:
        return
    next_id = max((int(k) for k in prompt if str(k).isdigit()), default=0) + 1
    for nid, node in loaders:
        title = node.get("_meta", {}).get("title", nid)
        unet = GGUF_TRANSFORMERS.get(_basename(node["inputs"].get("ckpt_name", "")))
        if unet is None:
            raise AppError(
                "invalid_graph",
                f"no GGUF transformer is known for {node['inputs'].get('ckpt_name')!r}",
                where=title,
                hint="Use the fp8 or full variant, or add the pair to GGUF_TRANSFORMERS in "
                "model_manifest.py.",
            )
        new_id = str(next_id)
        next_id += 1
        for other in prompt.values():
            for key, value in other.get("inputs", {}).items():
                # Only output 0 (MODEL) moves; CLIP and VAE keep coming from the checkpoint.
                if isinstance(value, list) and [str(v) for v in value] == [str(nid), "0"]:
                    other["inputs"][key] = [new_id, 0]
        prompt[new_id] = {
            "class_type": "UnetLoaderGGUF",
            "inputs": {"unet_name": unet},
            "_meta": {"title": f"{title} (GGUF transformer)"},
        }


def variant_refs(refs: Iterable, variant: str | None = None) -> list[tuple[str, str, str]]:
    """(folder, filename, node title) of `refs` as `resolve_variant` would leave their graph."""
    variant = _check_variant(variant or default_variant())
    renames = VARIANTS[variant]
    out = []
    for folder, filename, title in refs:
        base = _basename(filename)
        renamed = renames.get(base, base)
        out.append((folder, filename[: len(filename) - len(base)] + renamed, title))
        if variant == "gguf" and folder == "checkpoints" and renamed in GGUF_TRANSFORMERS:
            out.append(("unet", GGUF_TRANSFORMERS[renamed], f"{title} (GGUF transformer)"))
    return out


def needs_for_refs(refs: Iterable) -> list[Need]:
    """Each (folder, filename, node title) once, with its manifest facts."""
    needs: dict[tuple[str, str], Need] = {}
    tiny = tinyset.file_sizes(pins.models_dir())
    for folder, filename, title in refs:
        if (folder, filename) not in needs:
            fact = lookup(filename, title, folder)
            if f"{folder}/{filename}" in tiny:  # the test set's own file stands in for this one
                fact = replace(fact, size=tiny[f"{folder}/{filename}"], size_exact=True,
                               sha256=None, source=TINY_SOURCE)  # fmt: skip
            needs[(folder, filename)] = Need(folder, filename, fact)
    return list(needs.values())


def needs_for_prompt(prompt: dict) -> list[Need]:
    """Every weight file `prompt` (already variant-resolved) loads."""
    import workflow

    return needs_for_refs(workflow.model_files(prompt))


def needs_for_mode(
    mode: str, preset: str | None = None, variant: str | None = None, model: str | None = None
) -> list[Need]:
    """What `mode` loads with `preset` (every preset when None) on `model` (every model family
    when None), for every control choice (depth: the server's depth model, LTX_AIO_STYLE_DEPTH),
    with automatic length or not."""
    import modes

    declared = modes.MODES.get(mode)
    if declared is None:
        raise bad_input("mode", f"unknown mode {mode!r}", f"use one of {list(modes.MODES)}")
    if preset is not None and preset not in declared.presets:
        raise bad_input(
            "preset", f"unknown preset {preset!r}", f"use one of {list(declared.presets)}"
        )
    if model is not None and model not in declared.models:
        raise bad_input("model", f"{mode} has no model {model!r}", f"use one of {declared.models}")
    controls = next((f.choices for f in declared.fields if f.name == "control"), (None,))
    autos = (False, True) if any(f.name == "auto_length" for f in declared.fields) else (False,)
    refs = [
        ref
        for family in ([model] if model else declared.models)
        for p in ([preset] if preset else list(declared.presets))
        for control in controls
        for auto in autos
        for ref in modes.required_models(mode, p, control, family, auto)
    ]
    return needs_for_refs(variant_refs(refs, variant))


def _cached(f: ModelFile) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    got = try_to_load_from_cache(
        f.repo, f.path, cache_dir=str(hub_cache_dir()), revision=f.revision
    )
    return Path(got) if isinstance(got, str) and os.path.isfile(got) else None


def local_state(
    need: Need, hub_size: Callable[[ModelFile], int | None] | None = None
) -> tuple[str, Path | None]:
    """linked | own_file | bad_size | cached | missing, with the path that state refers to.

    A file someone put at the link path is trusted when its size matches. When it does not, only
    `hub_size` (downloads.py's HEAD to the Hub; the status rows pass none, so they never touch
    the network) can tell a cut-short copy from a manifest figure that is off.
    """
    link = need.link
    if link.is_file():
        if link.is_symlink() and hub_cache_dir().resolve() in link.resolve().parents:
            return "linked", link  # ours: the client only ever renames complete files in there
        size, f = link.stat().st_size, need.file
        verify = hub_size is not None
        hub = hub_size(f) if verify and size != f.size else None
        if size == f.size or hub == size or (hub is None and not f.size_exact):
            return "own_file", link
        if verify and hub is None:  # the Hub can't say: keep the user's file rather than lose it
            log.warning(
                "%s is %d bytes, not %d; the Hub can't be asked, so it is used", link, size, f.size
            )
            return "own_file", link
        return "bad_size", link
    cached = _cached(need.file)
    return ("cached", cached) if cached else ("missing", None)


def _row(need: Need) -> dict:
    f = need.file
    state, _ = local_state(need)
    with in_flight_lock:
        active = in_flight.get((f.repo, f.path))
    row = {
        "filename": need.filename,
        "folder": need.folder,
        "repo": f.repo,
        "path": f.path,
        "size_bytes": f.size,
        "size_gb": round(f.size / 1e9, 2),
        "size_exact": f.size_exact,
        "state": "present" if state in ("linked", "own_file", "cached") else "missing",
        "gated": f.gated,
        "licence": f.licence,
    }
    if active and row["state"] == "missing":
        row.update(state="downloading", bytes_done=active[0], bytes_expected=active[1])
    if state == "bad_size":
        row["problem"] = f"{need.link} has the wrong size; it will be downloaded again"
    return row


def _totals(rows: list[dict]) -> dict:
    blobs = {(r["repo"], r["path"]): r for r in rows}
    missing = sum(r["size_bytes"] for r in blobs.values() if r["state"] != "present")
    return {
        "total_gb": round(sum(r["size_bytes"] for r in blobs.values()) / 1e9, 2),
        "missing_gb": round(missing / 1e9, 2),
        "ready": all(r["state"] == "present" for r in rows),
    }


def status_of(needs: Iterable[Need]) -> dict:
    rows = [_row(n) for n in needs]
    return {"files": rows, **_totals(rows)}


def _mode_status(mode: str, variant: str) -> dict:
    """A mode's files (every model family), each saying which families load it; per family, its
    GB in all and still missing and whether it has all it needs (`by_model`). The mode's own
    `total_gb`, `missing_gb` and `ready` are its default family's: what it runs on unless a job
    asks for the other, so a mode with a choice never counts both families' files as one need."""
    import modes

    files = status_of(needs_for_mode(mode, variant=variant))["files"]
    uses = {
        family: {n.filename for n in needs_for_mode(mode, variant=variant, model=family)}
        for family in modes.MODES[mode].models
    }
    for row in files:
        row["models"] = [family for family, names in uses.items() if row["filename"] in names]
    by_model = {family: _totals([r for r in files if family in r["models"]]) for family in uses}
    default = modes.MODES[mode].models[0]
    return {
        "files": files,
        **by_model[default],
        "model": default,
        "by_model": by_model,
        "models": {family: totals["ready"] for family, totals in by_model.items()},
    }


def model_status(mode: str | None = None, *, variant: str | None = None) -> dict:
    """Per mode: each file present / missing / downloading, and GB in all and still missing (of
    its default model family, and of each in `by_model`); at the top, the same for every file
    of every mode and family together."""
    import modes

    variant = _check_variant(variant or default_variant())
    out: dict = {"variant": variant, "modes": {}}
    rows: list[dict] = []
    for name in [mode] if mode else list(modes.MODES):
        try:
            out["modes"][name] = _mode_status(name, variant)
            rows += out["modes"][name]["files"]
        except AppError as exc:
            out["modes"][name] = {"error": exc.to_dict(), "files": [], "ready": False}
    return {**out, **_totals(rows)}


def known_loras() -> list[dict]:
    """Each known LoRA (loras.KNOWN) of each model family: where it comes from, what it does and
    whether it is on disk (the Models view's LoRA table). A job fetches one when it names it."""
    rows = []
    for k in loras.KNOWN:
        ref = loras.parse("lora", k.name, k.family)
        need = needs_for_refs([("loras", ref.filename, k.name)])[0]
        state, _ = local_state(need)
        rows.append({
            "name": k.name, "family": k.family, "does": k.does, "repo": k.repo, "path": k.path,
            "note": k.note, "gated": k.gated,
            "state": "present" if state in ("linked", "own_file", "cached") else "missing",
        })  # fmt: skip
    return rows
