"""A job's folder on disk: where its copies of inputs and output, its record and thumbnail go.

Under the data dir (history.data_dir):

    history.db                       the rows (history_db.py)
    jobs/<id>/inputs/<field><ext>    copies of the files the user gave
    jobs/<id>/<mode>_<id><ext>       copy of the finished video (`.part` while it is copied in)
    jobs/<id>/thumb.png              its first frame, made on first request
    jobs/<id>/next-<what><ext>       a file made from its output for a next step (its last
                                     frame, its sound: next_steps.py), made on first request
    jobs/<id>/record.json            the row as last written, so a lost database can be rebuilt
    jobs/.trash-<id>/                a deleted job's folder, on its way out
    history-salvage-*/               scratch of a database being read back (history_recovery.py)

Files are copied (hard-linked where the filesystem allows), never moved: ComfyUI answers an
identical re-run from its cache with the same file name, which must still exist where it said.
Names on disk are made safe (letters, digits, `_.-`); an input's extension is the one its decoded
content gives, never the file's own suffix. Trash and scratch a stopped run left are swept at the
next claiming start.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path

import videofile
from errors import AppError

JOBS = "jobs"
INPUTS = "inputs"
RECORD = "record.json"
THUMB = "thumb.png"
THUMB_WIDTH = 320
PART = ".part"
TRASH_PREFIX = ".trash-"
SALVAGE_PREFIX = "history-salvage-"


def new_folder(folder: Path) -> None:
    """A new job's folder (it must not exist yet)."""
    (folder / INPUTS).mkdir(parents=True)


def discard(folder: Path) -> None:
    """Remove a folder and all in it, as far as it goes."""
    shutil.rmtree(folder, ignore_errors=True)


def keep_inputs(
    root: Path, folder: Path, inputs: dict[str, str | Path | None], extensions: dict | None
) -> dict[str, str]:
    """Copy each given file into the job's inputs, under its field's name and the extension
    `extensions` gives it: {field: its copy's path relative to `root`}."""
    kept: dict[str, str] = {}
    (folder / INPUTS).mkdir(parents=True, exist_ok=True)
    for name, source in inputs.items():
        if source is None or source == "":
            continue
        source = Path(source)
        if not source.is_file():
            raise AppError("bad_input", f"file not found: {source.name}", where=name)
        suffix = (extensions or {}).get(name) or ".bin"
        target = folder / INPUTS / (safe(name) + safe(suffix))
        link_or_copy(source, target)
        kept[name] = target.relative_to(root).as_posix()
    return kept


def drop_inputs(folder: Path) -> None:
    shutil.rmtree(folder / INPUTS, ignore_errors=True)


def output_path(folder: Path, mode: str, job_id: str, source: Path) -> Path:
    """Where a job's output is kept: named for the job, the name a browser or API client saves
    the download under."""
    return folder / safe(f"{mode}_{job_id}{source.suffix.lower() or '.mp4'}")


def stage(source: Path, target: Path) -> Path:
    """Link or copy `source` in beside `target`, as `<target>.part`, which it returns: moved
    into place (os.replace) only once the job may still take it."""
    part = target.with_name(target.name + PART)
    link_or_copy(source, part)
    return part


def drop_parts(folder: Path) -> None:
    """Remove outputs an interrupted copy left half made."""
    for part in folder.glob(f"*{PART}"):
        part.unlink(missing_ok=True)


def write_record(folder: Path, row: dict) -> None:
    """Keep the row beside the job's files (replaced whole), unless its folder is gone."""
    path = folder / RECORD
    if not folder.is_dir():
        return
    tmp = path.with_name(RECORD + ".tmp")
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, path)


def read_record(path: Path):
    """The row a record.json keeps (OSError, ValueError: it cannot be read)."""
    return json.loads(path.read_text())


def records(jobs_dir: Path) -> list[Path]:
    """Every job folder's record.json."""
    return sorted(jobs_dir.glob(f"*/{RECORD}"))


def thumbnail(folder: Path, output: Path) -> Path | None:
    """The first frame of `output` as a PNG, made once and kept in the job's folder."""
    thumb = folder / THUMB
    if thumb.is_file():
        return thumb
    try:
        return videofile.save_first_frame(output, thumb, THUMB_WIDTH)
    except Exception:  # a thumbnail is decoration: no thumbnail beats a broken History tab
        return None


NEXT_PREFIX = "next-"


def derived(folder: Path, name: str, make) -> Path:
    """A file made from a job's output for a next step, made once (`make(path)` writes it) and
    kept in the job's folder: atomic, never seen half-written."""
    target = folder / safe(NEXT_PREFIX + name)
    if target.is_file():
        return target
    tmp = target.with_name(f"{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        make(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def to_trash(folder: Path) -> Path:
    """Move a job's folder (when there is one) to the trash, whence `discard` removes it; the
    trash's path. Raises OSError when the folder cannot be moved (its files could not go)."""
    trash = folder.with_name(TRASH_PREFIX + folder.name)
    if folder.exists():
        folder.rename(trash)
    return trash


def sweep(root: Path) -> None:
    """Remove the trash and scratch a stopped run left in a data dir."""
    for trash in [*(root / JOBS).glob(f"{TRASH_PREFIX}*"), *root.glob(f"{SALVAGE_PREFIX}*")]:
        shutil.rmtree(trash, ignore_errors=True)


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when source and target share a filesystem (instant, no extra space), else copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
