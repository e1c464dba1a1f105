"""Which process owns a data dir: one app process per data dir.

The first process to open a store there claims the dir (an exclusive lock on `app.lock`, which
the system lets go when the process ends, kill -9 included). Only the claiming process treats what
it finds as left by a stopped run (a running job failed, a damaged database set aside, scratch
swept); a store another live process has claimed opens as a guest that changes none of that
(`history.Store.guest`), and the app refuses to start on it (app.main). Stores of one process
share its claim; the last one closed lets it go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no claim is taken, as before
    fcntl = None

log = logging.getLogger("ltx_aio.history")

LOCK_NAME = "app.lock"

_claims: dict[Path, list] = {}  # data dir -> [its lock file, stores of this process open on it]
_claims_lock = threading.Lock()
_dropped: list[Path] = []  # claims of stores collected unclosed, let go at the next claim


def hold(root: Path) -> bool:
    """Claim `root` (an existing folder) for one more store of this process (True), or find that
    another live process holds it."""
    key = root.resolve()
    with _claims_lock:
        _let_dropped_go()
        held = _claims.get(key)
        if held is not None:
            held[1] += 1
            return True
        if fcntl is None:
            _claims[key] = [None, 1]
            return True
        handle = (key / LOCK_NAME).open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held by another live process
            handle.close()
            return False
        except OSError as exc:  # a filesystem without locks: claimed, as before there were any
            log.warning("cannot lock %s (%s): one app per data dir is not enforced", key, exc)
            handle.close()
            _claims[key] = [None, 1]
            return True
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _claims[key] = [handle, 1]
        return True


def release(root: Path) -> None:
    """One store of this process no longer holds `root` (the last one lets the claim go)."""
    with _claims_lock:
        _dropped.append(root)
        _let_dropped_go()


def release_later(root: Path) -> None:
    """`release`, at the next claim: for a store the collector drops unclosed, which may happen
    while this thread holds the claims' lock."""
    _dropped.append(root)


def _let_dropped_go() -> None:
    while _dropped:
        key = _dropped.pop().resolve()
        held = _claims.get(key)
        if held is None:
            continue
        held[1] -= 1
        if held[1] <= 0:
            del _claims[key]
            if held[0] is not None:
                held[0].close()  # closing the file lets the lock go


def claim(root: Path | str) -> bool:
    """Claim a data dir for this process for as long as it runs (False: another live process
    holds it). app.main asks this before opening History, whatever state History is in."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return hold(root)


def claimant(root: Path | str) -> int | None:
    """The process id written by whoever claimed `root` (None when unknown)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((Path(root) / LOCK_NAME).read_text().split()[0])
    return None
