"""Install the pinned ComfyUI and node packs into comfy_dir() once, and remember what was installed.

Each pin is fetched by commit (`git init` + `git fetch --depth 1 <url> <sha>` + checkout: a branch
name is not a pin) and marked with a `.aio-pin.json` record. Where git is missing or fails (no git,
a firewall that lets only HTTPS through), the pin comes as GitHub's source archive of that commit
(`<url>/archive/<sha>.tar.gz`, one top folder `<repo>-<sha>/`). With an archive folder named
(`--archives DIR` or LTX_AIO_PIN_ARCHIVES=DIR: files `<repo>-<sha>.tar.gz`, checked against
DIR/SHA256SUMS when it lists them) no network is used at all.

A start whose records match the pins does no network and no git at all. A changed pin replaces
that checkout; replacing the core keeps its custom_nodes/, models/, input/, output/ and user/
folders. Failures never raise to the app: they become `state()["problems"]`, which the UI shows with
what to do.

Run alone: `python bootstrap.py [--archives DIR]` (exit status 0 when every pin is installed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from pins import RECORD_NAME, Pin, comfy_dir, is_installed, needed_pins, pin_dir, read_record

log = logging.getLogger("ltx_aio.bootstrap")

# Folders of a core checkout that hold user or pack data, carried across a core pin change.
CORE_KEEP = ("custom_nodes", "models", "input", "output", "user", "temp")
FETCH_TIMEOUT_S = 900
ARCHIVES_ENV = "LTX_AIO_PIN_ARCHIVES"
SUMS_NAME = "SHA256SUMS"
# GitHub's archive of the largest pin (controlnet_aux) is ~18 MB; anything far past that is not it.
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024


# -- installing one pin


class BootstrapError(Exception):
    pass


Runner = Callable[..., subprocess.CompletedProcess]


def _git(args: list[str], cwd: Path, runner: Runner, timeout: float) -> None:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true")
    step = next(a for a in args if not a.startswith("-") and "=" not in a)
    try:
        done = runner(
            ["git", *args],
            cwd=str(cwd),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise BootstrapError("git is not installed; install git and restart") from exc
    except subprocess.TimeoutExpired as exc:
        raise BootstrapError(f"git {step} timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip().splitlines()
        raise BootstrapError(f"git {step} failed: {detail[-1] if detail else done.returncode}")


def archives_dir() -> Path | None:
    """The folder of pin archives the user named (LTX_AIO_PIN_ARCHIVES), if any."""
    named = os.environ.get(ARCHIVES_ENV, "").strip()
    return Path(named).expanduser().resolve() if named else None


def install_pin(
    pin: Pin,
    root: Path,
    runner: Runner = subprocess.run,
    *,
    archives: Path | None = None,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> str:
    """Make `pin_dir(pin, root)` hold exactly `pin`. Returns "kept" or "installed".

    From `archives` when given (no network); else git, and GitHub's source archive over HTTPS
    when git is missing or fails."""
    dest = pin_dir(pin, root)
    if is_installed(pin, root):
        return "kept"
    staging, retired = _work_dirs(dest)
    keep = CORE_KEEP if not pin.subdir else ()
    _recover(dest, staging, retired, keep)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if archives is not None:
            record = _unpack_archive(
                pin, archives / pin.archive_name, staging, _listed_sums(archives)
            )
        else:
            try:
                record = _git_checkout(pin, staging, runner)
            except BootstrapError as git_failed:
                shutil.rmtree(staging)  # whatever git left half-made
                staging.mkdir()
                record = _download_archive(pin, staging, opener, git_failed)
        (staging / RECORD_NAME).write_text(json.dumps(record, indent=1) + "\n")
        _swap_in(staging, dest, keep=keep)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return "installed"


def _git_checkout(pin: Pin, staging: Path, runner: Runner) -> dict:
    _git(["init", "-q"], staging, runner, 60)
    _git(
        [
            "-c",
            "http.lowSpeedLimit=1000",
            "-c",
            "http.lowSpeedTime=30",
            "fetch",
            "-q",
            "--depth",
            "1",
            pin.url,
            pin.sha,
        ],
        staging,
        runner,
        FETCH_TIMEOUT_S,
    )
    _git(["checkout", "-q", "--detach", "FETCH_HEAD"], staging, runner, 300)
    return {"name": pin.name, "url": pin.url, "sha": pin.sha}


# -- installing one pin from a source archive


def _listed_sums(folder: Path) -> dict[str, str]:
    """file name -> sha256 from folder/SHA256SUMS (`<hex>  <name>` lines); {} when absent."""
    try:
        text = (folder / SUMS_NAME).read_text()
    except OSError:
        return {}
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack_archive(pin: Pin, archive: Path, staging: Path, sums: dict[str, str]) -> dict:
    """Check `archive` is exactly `pin` and write its tree into `staging` (which is empty)."""
    if not archive.is_file():
        raise BootstrapError(
            f"no {archive.name} in {archive.parent}; put GitHub's archive of this commit there "
            f"({pin.archive_url}), or unset {ARCHIVES_ENV} to fetch it with git"
        )
    digest = _sha256(archive)
    listed = sums.get(archive.name)
    if listed is not None and listed != digest:
        raise BootstrapError(
            f"{archive.name} does not match {SUMS_NAME} in {archive.parent} (sha256 {digest[:12]}"
            f"..., listed {listed[:12]}...): it is damaged or was replaced; download it again "
            f"from {pin.archive_url}"
        )
    top = archive.name.removesuffix(".tar.gz")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            commit = tar.pax_headers.get("comment", "")  # GitHub writes the commit id here
            if commit and commit != pin.sha:
                raise BootstrapError(
                    f"{archive.name} holds commit {commit[:10]}, not the pinned {pin.sha[:10]}; "
                    f"download {pin.archive_url}"
                )
            _check_members(archive.name, members, top)
            tar.extractall(staging, members=members, **_data_filter())
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BootstrapError(
            f"{archive.name} is not a readable .tar.gz ({type(exc).__name__}: {exc}); download "
            f"it again from {pin.archive_url}"
        ) from exc
    _lift(staging / top, staging)
    return {
        "name": pin.name,
        "url": pin.url,
        "sha": pin.sha,
        "source": "archive",
        "archive_sha256": digest,
    }


def _check_members(name: str, members: list[tarfile.TarInfo], top: str) -> None:
    """Every entry lies inside the one `<repo>-<sha>/` folder; nothing points outside it."""
    tops = {m.name.split("/", 1)[0] for m in members}
    if tops != {top}:
        shown = ", ".join(sorted(tops)[:3]) or "nothing"
        raise BootstrapError(
            f"{name} should hold one folder {top}/ (the pinned commit) but holds {shown}: it is "
            "another commit or not a GitHub source archive"
        )
    for m in members:
        parts = m.name.split("/")
        bad = m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir() or m.issym())
        if m.issym():
            target = (Path(m.name).parent / m.linkname).as_posix()
            bad = bad or m.linkname.startswith("/") or os.path.normpath(target).startswith("..")
        if bad:
            raise BootstrapError(f"{name} has an unsafe entry {m.name!r}; refusing to unpack it")


def _data_filter() -> dict:
    """tarfile's own safety filter where this Python has it (3.10.12+, 3.11.4+)."""
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _lift(top: Path, staging: Path) -> None:
    """Move the contents of staging/<top>/ up into staging/."""
    holder = staging / ".aio-top"
    top.rename(holder)
    for child in holder.iterdir():
        child.rename(staging / child.name)
    holder.rmdir()


def _download_archive(
    pin: Pin, staging: Path, opener: Callable[..., object], git_failed: BootstrapError
) -> dict:
    """GitHub's source archive of the pinned commit, fetched over HTTPS and unpacked."""
    download = staging.with_name(staging.name + ".tar.gz.part")
    try:
        try:
            with opener(pin.archive_url, timeout=60) as response, download.open("wb") as out:
                got = 0
                for block in iter(lambda: response.read(1 << 20), b""):
                    got += len(block)
                    if got > MAX_ARCHIVE_BYTES:
                        raise BootstrapError(
                            f"{pin.archive_url} is larger than {MAX_ARCHIVE_BYTES >> 20} MB"
                        )
                    out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise BootstrapError(
                f"{git_failed}; the source archive {pin.archive_url} could not be downloaded "
                f"either ({reason})"
            ) from exc
        named = download.with_name(pin.archive_name)
        download.rename(named)
        try:
            return _unpack_archive(pin, named, staging, {})
        finally:
            named.unlink(missing_ok=True)
    finally:
        download.unlink(missing_ok=True)


def _work_dirs(dest: Path) -> tuple[Path, Path]:
    """The new checkout while it arrives, and the old one while it is replaced. Both end in
    `.disabled`: ComfyUI skips such folders in custom_nodes/ if one is ever left behind."""
    return (
        dest.with_name(dest.name + ".aio-new.disabled"),
        dest.with_name(dest.name + ".aio-old.disabled"),
    )


def _move_kept(src: Path, dst: Path, keep: tuple[str, ...]) -> None:
    for name in keep:
        if (src / name).exists() and not (dst / name).exists():
            (src / name).rename(dst / name)


def _recover(dest: Path, staging: Path, retired: Path, keep: tuple[str, ...]) -> None:
    """Undo a swap that a crash cut short, so no user folder is lost with the staging dir."""
    if not dest.exists() and retired.exists():
        retired.rename(dest)
    if dest.exists():
        for leftover in (staging, retired):
            if leftover.exists():
                _move_kept(leftover, dest, keep)


def _swap_in(staging: Path, dest: Path, keep: tuple[str, ...]) -> None:
    """Replace dest by staging, carrying the `keep` subfolders of the old dest across. On any
    failure the old dest is put back whole, user folders included."""
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(dest)
        return
    retired = _work_dirs(dest)[1]
    shutil.rmtree(retired, ignore_errors=True)
    dest.rename(retired)
    try:
        for name in keep:
            new = staging / name
            if (retired / name).exists() and new.exists():
                shutil.rmtree(new) if new.is_dir() and not new.is_symlink() else new.unlink()
        _move_kept(retired, staging, keep)
        staging.rename(dest)
    except BaseException:
        if not dest.exists():
            _move_kept(staging, retired, keep)
            retired.rename(dest)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def retire_unpinned(root: Path, pins: Iterable[Pin]) -> list[str]:
    """Packs this bootstrap installed once that no pin names now are set aside (renamed to end in
    `.disabled`, which ComfyUI skips): an old pack may fail to import, or patch the core."""
    wanted = {pin_dir(pin, root) for pin in pins}
    retired = []
    for folder in sorted((root / "custom_nodes").glob("*")):
        candidate = folder.is_dir() and folder not in wanted
        # Only ours (it has our record): a pack the user put there stays.
        if candidate and not folder.name.endswith(".disabled") and read_record(folder):
            target = folder.with_name(folder.name + ".aio-retired.disabled")
            shutil.rmtree(target, ignore_errors=True)
            folder.rename(target)
            retired.append(folder.name)
    return retired


# -- the whole bootstrap, and its state for the UI

_lock = threading.Lock()
_state: dict = {
    "phase": "not_started",
    "installed": {},
    "problems": [],
    "failed": {},  # pin name -> its problem
    "seconds": None,
}
_thread: threading.Thread | None = None


def state() -> dict:
    with _lock:
        return json.loads(json.dumps(_state))


def _set(**changes) -> None:
    with _lock:
        _state.update(changes)


def ensure(
    root: Path | None = None,
    pins: list[Pin] | None = None,
    runner: Runner = subprocess.run,
    *,
    archives: Path | None = None,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> dict:
    """Install every needed pin that is not installed yet. Never raises: see the returned state.

    `archives`: a folder of GitHub source archives to install from (default: LTX_AIO_PIN_ARCHIVES).
    """
    root = comfy_dir() if root is None else root
    pins = needed_pins() if pins is None else pins
    archives = archives_dir() if archives is None else archives
    started = time.monotonic()
    _set(phase="running", problems=[], failed={}, installed={}, seconds=None)
    installed: dict[str, str] = {}
    failed: dict[str, str] = {}
    # The core first: a fresh core checkout creates custom_nodes/ for the packs.
    for pin in pins:
        try:
            install_pin(pin, root, runner, archives=archives, opener=opener)
            installed[pin.name] = pin.sha
        except (BootstrapError, OSError) as exc:
            if archives is not None:
                fix = (
                    f"Check the archive folder {archives} (`{pin.archive_name}` and its line "
                    "in SHA256SUMS), then run `python bootstrap.py --archives "
                    f"{archives}` or restart the app."
                )
            else:
                fix = (
                    f"Check the network (or git access to {pin.url}) and restart the app. Where "
                    f"GitHub cannot be reached, download the pinned source archives "
                    f"(`{pin.archive_name}`, ...) into a folder DIR by hand and run `python "
                    "bootstrap.py --archives DIR`, or set LTX_AIO_PIN_ARCHIVES=DIR and restart."
                )
            # The first sentence is the status banner's headline; the rest is behind its disclosure.
            failed[pin.name] = (
                f"{pin.name} @ {pin.sha[:10]} could not be installed. Installing it into "
                f"{pin_dir(pin, root)} failed: {exc}. {fix}"
            )
            if not pin.subdir:
                break
        _set(installed=dict(installed))
    if not failed:
        try:
            retire_unpinned(root, pins)
        except OSError as exc:
            failed["retire"] = f"An old node pack could not be set aside: {exc}."
    phase = "ready" if not failed else "failed"
    problems = list(failed.values())
    _set(
        phase=phase, problems=problems, failed=failed, seconds=round(time.monotonic() - started, 3)
    )
    return state()


def start_background(on_done: Callable[[dict], object] | None = None) -> threading.Thread:
    """Run ensure() once in a daemon thread so the page is served while checkouts arrive;
    `on_done(state)` follows it there."""
    global _thread

    def work() -> None:
        try:
            ensure()
        except Exception:  # ensure() says its own failures; anything else must not go unsaid
            log.exception("installing the pins failed")
            said = "Installing the pinned ComfyUI failed unexpectedly; the console has the details."
            _set(phase="failed", problems=[said], failed={"install": said})
        finally:
            finished = state()
            if on_done is not None:  # the app's console says it with the rest (readiness)
                on_done(finished)
            else:  # a background install must not fail silently
                for problem in finished.get("problems") or ():
                    log.error("%s", problem)

    with _lock:
        if _thread is not None:
            return _thread
        _thread = threading.Thread(target=work, name="bootstrap", daemon=True)
        _state["phase"] = "running"
    _thread.start()
    return _thread


def wait(timeout: float | None = None) -> dict:
    if _thread is not None:
        _thread.join(timeout)
    return state()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the pinned ComfyUI and node packs.")
    parser.add_argument(
        "--archives",
        type=Path,
        metavar="DIR",
        help=f"install from GitHub source archives in DIR, no network (env {ARCHIVES_ENV})",
    )
    options = parser.parse_args(argv)
    archives = options.archives.expanduser().resolve() if options.archives else None
    result = ensure(archives=archives)
    for name, sha in result["installed"].items():
        print(f"ok      {name} @ {sha}")
    for problem in result["problems"]:
        print(f"problem {problem}", file=sys.stderr)
    print(f"bootstrap {result['phase']} in {result['seconds']} s -> {comfy_dir()}")
    return 0 if result["phase"] == "ready" else 1


if __name__ == "__main__":
    sys.exit(main())
