"""Model weights: which files a mode needs, where each comes from, and getting them safely on disk.

WHICH files comes from walking the mode graphs (`workflow.model_files`); the facts per file (repo,
path, size, licence, where each was confirmed) live in model_manifest.py. Files are fetched with
huggingface_hub into its cache: it writes a process-unique `.incomplete` file, resumes it with a
Range request after a broken connection, and renames it only once the size checks out, so no
failure leaves a file that looks complete (a killed process starts that file over). ComfyUI sees
them through a symlink comfyui/models/<folder>/<filename> -> cache, so nothing is copied.

huggingface_hub is imported inside functions only: on Spaces `hfcache.activate_mirror()` has to run
before that import (the library reads HF_HOME and friends once, when imported).
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import pins
import tinyset
from errors import AppError, bad_input
from model_manifest import FACTS, GGUF_TRANSFORMERS, VARIANTS, ModelFile
from progress import Progress

log = logging.getLogger("ltx_aio.models")


# Hub clients leave `<etag>.<uuid>.incomplete` behind only when a process dies mid-download; one
# this old belongs to no live download and just eats disk.
STALE_PARTIAL_S = 3600
TINY_SOURCE = "tiny random-weight test set (tools/make_tiny_weights.py)"
_active: dict[tuple[str, str], list[int]] = {}  # (repo, path) -> [bytes done, bytes expected]
_active_lock = threading.Lock()


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


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f}"


def hub_cache_dir() -> Path:
    """The hub cache as huggingface_hub would compute it, but read now rather than at its import."""
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"])
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]) / "hub"
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface" / "hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def lookup(filename: str, node_title: str = "") -> ModelFile:
    fact = FACTS.get(_basename(filename))
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
    if not loaders and any(n.get("class_type") == "UNETLoader" for n in prompt.values()):
        return  # LTX-2.5: its transformer file is already an int8 one, with no GGUF beside it
    if not loaders:
        raise AppError(
            "invalid_graph", "the gguf variant needs a CheckpointLoaderSimple to replace"
        )
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
            fact = lookup(filename, title)
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

    spec = modes.MODES.get(mode)
    if spec is None:
        raise bad_input("mode", f"unknown mode {mode!r}", f"use one of {list(modes.MODES)}")
    if preset is not None and preset not in spec.presets:
        raise bad_input("preset", f"unknown preset {preset!r}", f"use one of {list(spec.presets)}")
    if model is not None and model not in spec.models:
        raise bad_input("model", f"{mode} has no model {model!r}", f"use one of {spec.models}")
    controls = next((f.choices for f in spec.fields if f.name == "control"), (None,))
    autos = (False, True) if any(f.name == "auto_length" for f in spec.fields) else (False,)
    refs = [
        ref
        for family in ([model] if model else spec.models)
        for p in ([preset] if preset else list(spec.presets))
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


def _hub_size(f: ModelFile) -> int | None:
    """The size the Hub reports now (one HEAD), or None when it cannot be asked."""
    if _offline():
        return None
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(
            f.repo, f.path, revision=f.revision, endpoint=os.environ.get("HF_ENDPOINT")
        )
        return get_hf_file_metadata(url, token=os.environ.get("HF_TOKEN") or None).size
    except Exception:  # the download itself will report what is wrong
        return None


def _local_state(need: Need, verify: bool = False) -> tuple[str, Path | None]:
    """linked | own_file | bad_size | cached | missing, with the path that state refers to.

    A file someone put at the link path is trusted when its size matches. When it does not, only
    `verify` (a HEAD to the Hub) can tell a cut-short copy from a manifest figure that is off.
    """
    link = need.link
    if link.is_file():
        if link.is_symlink() and hub_cache_dir().resolve() in link.resolve().parents:
            return "linked", link  # ours: the client only ever renames complete files in there
        size, f = link.stat().st_size, need.file
        hub = _hub_size(f) if verify and size != f.size else None
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


def _link(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}.link")  # one per caller and thread
    try:
        os.symlink(target, tmp)
    except OSError:  # no symlink rights (Windows): a hard link still copies nothing
        os.link(Path(target).resolve(), tmp)
    os.replace(tmp, link)  # atomic: ComfyUI never sees a half-made entry
    return link


class _Report:
    """Folds huggingface_hub's per-file tqdm updates into one (fraction, desc) stream."""

    def __init__(self, callback: Progress | None, sizes: dict[ModelFile, int]):
        self.callback, self.sizes = callback, sizes
        self.total = sum(sizes.values())
        self.finished = self.current = 0
        self.file: ModelFile | None = None
        self.index, self.last = 0, 0.0

    def say(self, fraction: float | None, desc: str) -> None:
        if self.callback is not None:
            self.callback(fraction, desc)

    def start(self, index: int, f: ModelFile) -> None:
        self.index, self.file, self.current = index, f, 0
        self.emit(force=True)

    def advance(self, n: int) -> None:
        self.current += n
        with _active_lock:
            if self.file is not None and (self.file.repo, self.file.path) in _active:
                _active[(self.file.repo, self.file.path)][0] += n
        self.emit()

    def finish(self) -> None:
        self.finished += self.sizes[self.file]
        self.current = 0

    def emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.file is None or (not force and now - self.last < 0.25):
            return
        self.last = now
        done = min(self.finished + self.current, self.total)
        self.say(
            done / self.total if self.total else None,
            f"Downloading {self.file.name} (file {self.index + 1} of {len(self.sizes)}): "
            f"{_gb(done)} of {_gb(self.total)} GB",
        )

    def bar_class(self) -> type:
        from huggingface_hub.utils import tqdm as hf_tqdm

        report = self

        class Bar(hf_tqdm):
            def update(self, n=1):
                # Counted here, not from tqdm's state: tqdm stops counting when its bar is hidden.
                if n:
                    report.advance(n)
                return super().update(n)

            # With these, a Xet download reports its network bytes through this same bar
            # instead of a second one: only the bytes written (update) are counted.
            def update_transfer(self, n=1):
                pass

            def set_transfer_postfix_str(self, s="", refresh=True):
                pass

        return Bar


def _expected_size(f: ModelFile) -> int:
    return f.size if f.size_exact else (_hub_size(f) or f.size)


def _sweep_stale_partials(f: ModelFile) -> None:
    blobs = hub_cache_dir() / f"models--{f.repo.replace('/', '--')}" / "blobs"
    cutoff = time.time() - STALE_PARTIAL_S
    for part in blobs.glob("*.incomplete") if blobs.is_dir() else ():
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)


def cache_free() -> tuple[Path, int]:
    """The folder downloads land in (or its nearest existing parent) and its free bytes."""
    where = hub_cache_dir()
    while not where.exists():
        where = where.parent
    return where, shutil.disk_usage(where).free


def _check_disk(sizes: dict[ModelFile, int]) -> None:
    need = sum(sizes.values())
    where, free = cache_free()
    ours = {(f.repo, f.path) for f in sizes}
    with _active_lock:  # other downloads already running will take their share of the disk
        coming = sum(
            max(0, total - done) for key, (done, total) in _active.items() if key not in ours
        )
    free = max(0, free - coming)
    if need > free:
        log.warning("%s GB needed for downloads, %s GB free at %s", _gb(need), _gb(free), where)
        hint = f"Free {_gb(need - free)} GB or set HF_HOME to a bigger disk"
        fp8 = _fp8_need(sizes)
        if fp8 is not None and fp8 < need:
            hint += f", or set LTX_AIO_MODEL_VARIANT=fp8 (smaller weights: {_gb(fp8)} GB)"
        raise AppError(
            "download_failed",
            f"Not enough disk space for {len(sizes)} model file(s): {_gb(need)} GB needed, "
            f"{_gb(free)} GB free where models are downloaded.",
            hint=hint + ", then try again.",
        )


def _fp8_need(sizes: dict[ModelFile, int]) -> int | None:
    """What the same missing files would take as the fp8 variant; None when none has one."""
    swaps = VARIANTS["fp8"]
    if not any(f.name in swaps for f in sizes):
        return None
    return sum(FACTS[swaps[f.name]].size if f.name in swaps else size for f, size in sizes.items())


def _download_error(f: ModelFile, exc: Exception) -> AppError:
    from huggingface_hub import errors as hf

    where = f"{f.repo}/{f.path}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, hf.GatedRepoError) or status in (401, 403):
        return AppError(
            "download_failed",
            f"{f.repo} needs a Hugging Face token with access to download {f.path}.",
            where=where,
            hint=f"Accept the licence at {f.page}, create a read token at "
            "https://huggingface.co/settings/tokens and set it as HF_TOKEN (a Space secret on "
            "Spaces), then try again.",
        )
    if isinstance(exc, hf.LocalEntryNotFoundError):
        if _offline():
            return AppError(
                "missing_model",
                f"{f.path} from {f.repo} is not on disk and downloads are off (HF_HUB_OFFLINE).",
                where=where,
                hint="Unset HF_HUB_OFFLINE to download it, or put the file in the HF cache.",
            )
        return AppError(
            "download_failed",
            f"Could not reach the Hugging Face Hub to download {f.path} from {f.repo}.",
            where=where,
            hint="Check the network connection (and HF_ENDPOINT if set), then try again.",
        )
    if status == 404 or isinstance(exc, (hf.EntryNotFoundError, hf.RepositoryNotFoundError)):
        return AppError(
            "download_failed",
            f"The Hub has no {f.path} in {f.repo} (revision {f.revision}).",
            where=where,
            hint="The model manifest points at a file that moved; update model_manifest.py.",
        )
    return AppError(
        "download_failed",
        f"Downloading {f.path} from {f.repo} failed ({type(exc).__name__}: {exc}). "
        "Nothing partial was kept.",
        where=where,
        hint="Check the network connection and free disk space, then try again.",
    )


def _download(f: ModelFile, report: _Report, token: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    key = (f.repo, f.path)
    with _active_lock:
        _active[key] = [0, report.sizes[f]]
    try:
        return Path(
            hf_hub_download(
                f.repo,
                f.path,
                revision=f.revision,
                cache_dir=str(hub_cache_dir()),
                endpoint=os.environ.get("HF_ENDPOINT") or None,
                token=token or os.environ.get("HF_TOKEN") or None,
                tqdm_class=report.bar_class(),
            )
        )
    except Exception as exc:
        raise _download_error(f, exc) from exc
    finally:
        with _active_lock:
            _active.pop(key, None)


def ensure_needs(
    needs: Iterable[Need], progress: Progress | None = None, *, token: str | None = None
) -> list[Path]:
    """Make every file visible to ComfyUI, downloading what is missing; returns the link paths."""
    needs = list(needs)
    ready: dict[Need, Path] = {}
    todo: list[Need] = []
    for need in needs:
        state, path = _local_state(need, verify=True)
        if state in ("linked", "own_file"):
            ready[need] = need.link
        elif state == "cached":
            ready[need] = _link(need.link, path)
        else:
            if state == "bad_size":
                path.rename(path.with_name(path.name + ".bad-size"))
            todo.append(need)
    files = list(dict.fromkeys(n.file for n in todo))
    if files and _offline():
        names = ", ".join(f"{f.repo}/{f.path}" for f in files)
        raise AppError(
            "missing_model",
            f"{len(files)} model file(s) are not on disk and downloads are off (HF_HUB_OFFLINE): "
            f"{names}.",
            hint="Unset HF_HUB_OFFLINE to download them, or put the files in the HF cache.",
        )
    for f in files:
        _sweep_stale_partials(f)
    sizes = {f: _expected_size(f) for f in files}
    _check_disk(sizes)
    report = _Report(progress, sizes)
    for index, f in enumerate(files):
        report.start(index, f)
        path = _download(f, report, token)
        report.finish()
        for need in todo:
            if need.file == f:
                ready[need] = _link(need.link, path)
    report.say(1.0, f"{len(needs)} model file(s) ready")
    return [ready[n] for n in needs]


def ensure_models_for_prompt(prompt: dict, progress: Progress | None = None) -> list[Path]:
    """For the backend: exactly the files the graph it is about to run loads."""
    return ensure_needs(needs_for_prompt(prompt), progress)


def ensure_models_for_mode(
    mode: str,
    preset: str | None = "balanced",
    progress: Progress | None = None,
    *,
    variant: str | None = None,
    model: str | None = None,
) -> list[Path]:
    return ensure_needs(needs_for_mode(mode, preset, variant, model), progress)


def _row(need: Need) -> dict:
    f = need.file
    state, _ = _local_state(need)
    with _active_lock:
        active = _active.get((f.repo, f.path))
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
