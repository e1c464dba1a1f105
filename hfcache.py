"""Make the read-only preload cache of a Space writable without copying a byte of weights.

`preload_from_hub` fills ~/.cache/huggingface/hub at build time as the build user; the app runs
as another user, so any later `hf_hub_download` there fails with EACCES. `mirror_preload_cache`
builds a parallel tree we own: blobs hard-linked (same inode, instant), snapshot symlinks recreated
with the same relative targets (so they resolve inside the mirror), refs copied (the library
rewrites them), directories made. `activate_mirror` then points HF_HOME / HF_HUB_CACHE at the
mirror. huggingface_hub reads those variables once, at import, so call it before anything imports
huggingface_hub (gradio does): first thing in app.py. This module never imports huggingface_hub.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

# Where Spaces puts preload_from_hub files; it does not follow a changed HF_HOME.
PRELOAD_CACHE = Path.home() / ".cache" / "huggingface" / "hub"
MIRROR_HOME = Path.home() / "hf-cache-rw"


def _link_or_symlink(src: Path, dst: Path, counts: Counter) -> None:
    try:
        os.link(src, dst)
        counts["linked"] += 1
    except OSError as exc:
        # EXDEV (other filesystem) and EPERM (fs.protected_hardlinks on files we don't own) both
        # end here; a symlink to the read-only original still reads at full speed.
        log.debug("hard link %s failed (%s); using a symlink", src, exc)
        os.symlink(src, dst)
        counts["symlinked"] += 1


def mirror_preload_cache(src: Path, dst: Path) -> dict[str, int]:
    """Build (or top up) a writable twin of the hub cache `src` at `dst`; returns what it did.

    Entries already in `dst` are kept: they are files downloaded at runtime or an earlier mirror,
    and a ref written at runtime is newer than the build's.
    """
    src, dst = Path(src), Path(dst)
    counts: Counter = Counter()
    dst.mkdir(parents=True, exist_ok=True)
    for root, dirnames, filenames in os.walk(src):
        rel = Path(root).relative_to(src)
        out = dst / rel
        for name in list(dirnames):
            here, there = Path(root) / name, out / name
            if here.is_symlink():
                dirnames.remove(name)
                filenames.append(name)
            elif not there.exists():
                there.mkdir()
                counts["dirs"] += 1
        for name in filenames:
            here, there = Path(root) / name, out / name
            if os.path.lexists(there):
                counts["kept"] += 1
            elif here.is_symlink():
                os.symlink(os.readlink(here), there)
                counts["symlinks"] += 1
            elif rel.parts[:1] == (".locks",):
                # Lock files are recreated on demand; the build user's ones are useless to us.
                continue
            elif "refs" in rel.parts:
                shutil.copyfile(here, there)
                counts["copied"] += 1
            else:
                _link_or_symlink(here, there, counts)
    return dict(counts)


def activate_mirror(
    src: Path | None = None, home: Path | None = None, *, force: bool = False
) -> Path | None:
    """On a Space (env SPACE_ID), mirror the preload cache and point the HF env vars at the copy.

    Returns the writable hub cache dir, or None when not on a Space (nothing changes then).
    """
    if not (force or os.environ.get("SPACE_ID")):
        return None
    src = Path(src) if src is not None else PRELOAD_CACHE
    home = Path(home) if home is not None else MIRROR_HOME
    hub = home / "hub"
    if src.is_dir():
        counts = mirror_preload_cache(src, hub)
        log.info("HF preload cache mirrored to %s: %s", hub, counts)
    else:
        hub.mkdir(parents=True, exist_ok=True)
    # HF_HOME too: the Xet chunk cache and token file live under it and must be writable.
    os.environ["HF_HOME"] = str(home)
    os.environ["HF_HUB_CACHE"] = str(hub)
    if "huggingface_hub" in sys.modules:
        log.warning(
            "huggingface_hub was imported before activate_mirror(); its defaults still point at "
            "the read-only cache. models.py and downloads.py pass cache_dir explicitly, other "
            "callers may not."
        )
    return hub
