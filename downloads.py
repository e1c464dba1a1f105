"""Fetching the model weights that are missing, and linking them where ComfyUI looks.

models.py says which files a graph or mode needs and whether each is on disk; `ensure_needs` makes
every one of them visible to ComfyUI. A file the Hugging Face cache already holds is only linked;
a user's own file of another size than the manifest's is checked against the Hub (one HEAD) and
set aside as `.bad-size` when it is cut short; the rest is fetched with huggingface_hub into its
cache, after a check that the disk has room for all of it (counting what other downloads running
now still need). The client writes a process-unique `.incomplete` file, resumes it with a Range
request after a broken connection, and renames it only once the size checks out, so no failure
leaves a file that looks complete (a killed process starts that file over; partial files older
than STALE_PARTIAL_S are swept). ComfyUI sees each file through a symlink
comfyui/models/<folder>/<filename> -> cache, so nothing is copied. Progress comes as one
(fraction, desc) stream over all the files; a failure is an AppError saying what to do (a token
for a gated repo, the network, the disk, HF_HUB_OFFLINE).

huggingface_hub is imported inside functions only: on Spaces `hfcache.activate_mirror()` has to run
before that import (the library reads HF_HOME and friends once, when imported).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import models
from errors import AppError
from model_manifest import FACTS, VARIANTS, ModelFile
from progress import Progress

log = logging.getLogger("ltx_aio.downloads")

# Hub clients leave `<etag>.<uuid>.incomplete` behind only when a process dies mid-download; one
# this old belongs to no live download and just eats disk.
STALE_PARTIAL_S = 3600


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f}"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


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


def hub_header(folder: str, filename: str) -> dict | None:
    """The safetensors header of a file the graph loads that is not on disk yet, read from the Hub
    with one or two byte-range requests (never the file): so a Hub LoRA that does not fit the
    model is refused before its download. None where the Hub cannot say (offline, no network,
    a gated repo, a file of no repo: the download reports those); ValueError: the file is no
    safetensors file."""
    if _offline():
        return None
    try:
        f = models.lookup(filename, folder=folder)
    except AppError:
        return None
    if not f.repo or not f.path.endswith(".safetensors"):
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import SafetensorsParsingError

    try:
        meta = HfApi(
            endpoint=os.environ.get("HF_ENDPOINT") or None
        ).parse_safetensors_file_metadata(
            f.repo, f.path, revision=f.revision, token=os.environ.get("HF_TOKEN") or None
        )
    except SafetensorsParsingError as exc:
        raise ValueError(f"the Hub's {f.path} is no safetensors file ({exc})") from None
    except Exception as exc:  # the download will say what is wrong
        log.info("no header of %s/%s from the Hub: %s", f.repo, f.path, exc)
        return None
    return {k: {"dtype": t.dtype, "shape": list(t.shape)} for k, t in meta.tensors.items()}


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
        with models.in_flight_lock:
            if self.file is not None and (self.file.repo, self.file.path) in models.in_flight:
                models.in_flight[(self.file.repo, self.file.path)][0] += n
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
    blobs = models.hub_cache_dir() / f"models--{f.repo.replace('/', '--')}" / "blobs"
    cutoff = time.time() - STALE_PARTIAL_S
    for part in blobs.glob("*.incomplete") if blobs.is_dir() else ():
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)


def cache_free() -> tuple[Path, int]:
    """The folder downloads land in (or its nearest existing parent) and its free bytes."""
    where = models.hub_cache_dir()
    while not where.exists():
        where = where.parent
    return where, shutil.disk_usage(where).free


def _check_disk(sizes: dict[ModelFile, int]) -> None:
    need = sum(sizes.values())
    where, free = cache_free()
    ours = {(f.repo, f.path) for f in sizes}
    # Other downloads already running will take their share of the disk.
    with models.in_flight_lock:
        coming = sum(
            max(0, total - done)
            for key, (done, total) in models.in_flight.items()
            if key not in ours
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
    with models.in_flight_lock:
        models.in_flight[key] = [0, report.sizes[f]]
    try:
        return Path(
            hf_hub_download(
                f.repo,
                f.path,
                revision=f.revision,
                cache_dir=str(models.hub_cache_dir()),
                endpoint=os.environ.get("HF_ENDPOINT") or None,
                token=token or os.environ.get("HF_TOKEN") or None,
                tqdm_class=report.bar_class(),
            )
        )
    except Exception as exc:
        raise _download_error(f, exc) from exc
    finally:
        with models.in_flight_lock:
            models.in_flight.pop(key, None)


def ensure_needs(
    needs: Iterable[models.Need], progress: Progress | None = None, *, token: str | None = None
) -> list[Path]:
    """Make every file visible to ComfyUI, downloading what is missing; returns the link paths."""
    needs = list(needs)
    ready: dict[models.Need, Path] = {}
    todo: list[models.Need] = []
    for need in needs:
        state, path = models.local_state(need, _hub_size)
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
    return ensure_needs(models.needs_for_prompt(prompt), progress)


def ensure_models_for_mode(
    mode: str,
    preset: str | None = "balanced",
    progress: Progress | None = None,
    *,
    variant: str | None = None,
    model: str | None = None,
) -> list[Path]:
    return ensure_needs(models.needs_for_mode(mode, preset, variant, model), progress)
