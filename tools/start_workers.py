"""Start N ComfyUI workers for the app to dispatch jobs to: one server per GPU, over one models
folder, each from this app's pinned checkout and isolated from the others.

    python tools/start_workers.py --gpus 0,1            # two workers, ports 8188 and 8189
    python tools/start_workers.py --cpu 2 --port 18188  # two CPU workers (tests, the tiny set)

then start the app with the command it prints (`LTX_AIO_WORKERS=... python app.py`, with the
settings the app must share with the workers as this process has them: the tiny set, the models
folder, the weights variant). It supervises them: a worker that dies is started again after a
backoff while the others go on, and one that keeps dying is reported failed (Supervisor).
Ctrl-C (or SIGTERM) stops them all. Each worker is `python main.py` of the
pinned checkout (`python bootstrap.py` makes it) with `CUDA_VISIBLE_DEVICES` set to its GPU, and
with its own input, output, temp and user folders under `--root`, an in-memory job database
(ComfyUI's default database lives in the checkout and is locked by the first server), no web
frontend unless its package is installed, and an extra_model_paths.yaml naming the shared
models folder (LTX_AIO_MODELS_DIR) and the app's worker_nodes/ (pin report, file cleanup, and the
tiny set's seam when LTX_AIO_TINY_WEIGHTS=1). Tests and tools/bench_workers.py start their
workers with these same functions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import media  # noqa: E402
import model_manifest  # noqa: E402
import pins  # noqa: E402
import progress  # noqa: E402
import tinyset  # noqa: E402

WORKER_NODES = ROOT / "worker_nodes"
READY_TIMEOUT_S = 300
DEFAULT_PORT = 8188
# The largest input the app accepts (a video), in ComfyUI's unit: the upload route's limit.
MAX_UPLOAD_MB = max(media.MAX_FILE_BYTES.values()) // 2**20 + 1


@dataclass
class Worker:
    url: str
    root: Path
    log: Path
    process: subprocess.Popen
    gpu: str | None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def model_folders(models: Path) -> list[str]:
    """The ComfyUI folder types the app's weights live in, and any other the folder holds."""
    known = {f.folder for f in model_manifest._FILES}
    present = {p.name for p in models.iterdir() if p.is_dir()} if models.is_dir() else set()
    # Annotators are found through AUX_ANNOTATOR_CKPTS_PATH, not as a ComfyUI model folder.
    return sorted((known | present) - {"controlnet_aux"})


def write_extra_paths(path: Path, models: Path, *, nodes: Path = WORKER_NODES) -> Path:
    """ComfyUI's extra_model_paths.yaml: each model folder type under `models`, and the app's
    worker_nodes/ (`nodes`: where they are where ComfyUI runs, e.g. in a worker image)."""
    lines = ["aio_models:", f"  base_path: {json.dumps(str(models))}", "  is_default: true"]
    lines += [f"  {name}: {name}/" for name in model_folders(models)]
    lines += ["aio_worker_nodes:", f"  custom_nodes: {json.dumps(str(nodes))}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def worker_command(root: Path, port: int, listen: str, cpu: bool, extra: list[str]) -> list[str]:
    command = [sys.executable, "main.py", "--listen", listen, "--port", str(port)]
    command += ["--disable-auto-launch", "--disable-api-nodes"]
    if importlib.util.find_spec("comfyui_frontend_package") is None:
        # Without its web frontend package ComfyUI's server exits at start; an empty folder
        # serves no page and the whole API.
        command += ["--front-end-root", str(root / "frontend")]
    for name in ("input", "output", "temp", "user"):
        command += [f"--{name}-directory", str(root / name)]
    command += ["--database-url", "sqlite:///:memory:"]
    command += ["--max-upload-size", str(MAX_UPLOAD_MB)]
    command += ["--extra-model-paths-config", str(root / "extra_model_paths.yaml")]
    if progress.previews_on():  # latent previews over the websocket, as the app shows them
        command += ["--preview-method", "latent2rgb", "--preview-size", "256"]
    return command + (["--cpu"] if cpu else []) + list(extra)


def worker_env(gpu: str | None, models: Path, extra: dict | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env.update(
        LTX_AIO_MODELS_DIR=str(models),
        AUX_ANNOTATOR_CKPTS_PATH=str(models / "controlnet_aux"),
        PYTHONDONTWRITEBYTECODE="1",  # nothing written into the shared checkout
        PYTHONUNBUFFERED="1",
    )
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


def cpu_threads(workers: int) -> int:
    """Each of `workers` CPU workers' share of this machine's cores. Torch would give each all of
    them, and its threads then spin against each other's: two such workers on two cores do less
    together than one alone."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def problems(checkout: Path, models: Path, tiny: bool) -> list[str]:
    found = []
    record = pins.read_record(checkout)
    if not (checkout / "main.py").is_file() or not record:
        found.append(f"No pinned ComfyUI at {checkout}: run `python bootstrap.py` first.")
    elif record.get("sha") != pins.CORE.sha:
        found.append(f"{checkout} is not at the pinned commit: run `python bootstrap.py`.")
    if tiny and tinyset.read_marker(models) is None:
        found.append(
            f"LTX_AIO_TINY_WEIGHTS=1, but {models} holds no tiny set: run "
            "`python tools/make_tiny_weights.py` and point LTX_AIO_MODELS_DIR at it."
        )
    return found


def start(
    root: Path,
    port: int,
    *,
    gpu: str | None = None,
    cpu: bool = False,
    listen: str = "127.0.0.1",
    checkout: Path | None = None,
    models: Path | None = None,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
    threads: int | None = None,
) -> Worker:
    """Start one worker (not waiting for it: see wait_ready) with its folders under `root`;
    `env`: settings of its own (e.g. LTX_AIO_TINY_WEIGHTS); `threads`: the CPU threads its
    torch may use (CPU workers share the cores: see cpu_threads)."""
    checkout = checkout or pins.comfy_dir()
    models = models or pins.models_dir()
    environment = worker_env(gpu, models, env)
    if threads:
        environment.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    found = problems(checkout, models, environment.get(tinyset.ENV, "").strip() == "1")
    if found:
        raise SystemExit("\n".join(found))
    for name in ("input", "output", "temp", "user", "frontend"):
        (root / name).mkdir(parents=True, exist_ok=True)
    write_extra_paths(root / "extra_model_paths.yaml", models)
    log = root / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            worker_command(root, port, listen, cpu, extra or []),
            cwd=str(checkout),
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in this terminal is ours to pass on
        )
    host = "127.0.0.1" if listen in ("0.0.0.0", "::") else listen
    return Worker(f"http://{host}:{port}", root, log, process, gpu)


def wait_ready(worker: Worker, timeout: float = READY_TIMEOUT_S) -> dict:
    """The worker's /system_stats once it answers; raises if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(
                f"worker {worker.url} exited ({worker.process.returncode}):\n{worker.log_tail()}"
            )
        try:
            with urllib.request.urlopen(worker.url + "/system_stats", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError):  # not listening yet
            time.sleep(0.5)
    raise RuntimeError(f"worker {worker.url} not ready after {timeout:.0f} s:\n{worker.log_tail()}")


def stop(worker: Worker, timeout: float = 30) -> int | None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout)
    # ComfyUI's exit on SIGTERM skips its own temp cleanup.
    shutil.rmtree(worker.root / "temp", ignore_errors=True)
    return worker.process.returncode


class Supervisor:
    """Keeps workers running: one that dies is started again (same port and folders) after a
    backoff, the others go on; one that died MAX_RESTARTS times within RESTART_WINDOW_S is
    reported failed and left down. Only `stop()` (this tool's own shutdown) stops them all.
    `start_again(worker)` starts a worker's replacement; `say` gets each line of the log."""

    MAX_RESTARTS = 5
    RESTART_WINDOW_S = 600.0
    BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # one per restart allowed in the window

    def __init__(self, workers: list[Worker], start_again, say=print, clock=time.monotonic):
        self.workers = list(workers)
        self.start_again, self.say, self.clock = start_again, say, clock
        self.failed: set[str] = set()
        self._deaths: dict[str, list[float]] = {}
        self._due: dict[str, float] = {}  # url -> when its restart is due

    def check(self) -> None:
        """One look at every worker: note deaths, start the ones whose backoff is over."""
        now = self.clock()
        for n, worker in enumerate(self.workers):
            if worker.url in self.failed or worker.process.poll() is None:
                continue
            if worker.url not in self._due:
                deaths = [
                    t for t in self._deaths.get(worker.url, []) if now - t < self.RESTART_WINDOW_S
                ]
                deaths.append(now)
                self._deaths[worker.url] = deaths
                code = worker.process.returncode
                if len(deaths) > self.MAX_RESTARTS:
                    self.failed.add(worker.url)
                    self.say(
                        f"failed  {worker.url}: exited ({code}) {len(deaths)} times in "
                        f"{self.RESTART_WINDOW_S / 60:.0f} min; not restarted again. Its log "
                        f"{worker.log} says why:\n{worker.log_tail(10)}"
                    )
                    continue
                wait = self.BACKOFF_S[min(len(deaths), len(self.BACKOFF_S)) - 1]
                self._due[worker.url] = now + wait
                self.say(
                    f"exited  {worker.url} ({code}): restarting in {wait:g} s "
                    f"(restart {len(deaths)} of at most {self.MAX_RESTARTS} in "
                    f"{self.RESTART_WINDOW_S / 60:.0f} min); the other workers go on"
                )
            elif now >= self._due[worker.url]:
                del self._due[worker.url]
                try:
                    self.workers[n] = self.start_again(worker)
                except (Exception, SystemExit) as exc:  # e.g. its checkout changed: said, and
                    # counted as one more death at the next look (the others go on)
                    self.say(f"restart {worker.url}: could not start it again: {exc}")
                    continue
                self.say(f"restart {worker.url}: started again, log {worker.log}")

    def running(self) -> bool:
        """Whether any worker is up or coming back."""
        return len(self.failed) < len(self.workers)

    def stop(self) -> None:
        for worker in self.workers:
            stop(worker)


# What the app must be told of the workers' settings: whether they run on the tiny set and the
# folder that holds it (the app checks both: a worker on the tiny set is refused by an app that is
# not), and the weights variant, whose file names the app's graphs ask the workers to load.
SHARED_SETTINGS = (tinyset.ENV, "LTX_AIO_MODELS_DIR", "LTX_AIO_MODEL_VARIANT")


def app_command(urls: list[str], models: Path, env=None, cwd: Path | None = None) -> str:
    """The command that starts the app on these workers, with every setting it must share with
    them (as this process has them in `env`), ready to paste into a shell."""
    env = os.environ if env is None else env
    settings = {"LTX_AIO_WORKERS": ",".join(urls)}
    settings.update(
        {name: env[name].strip() for name in SHARED_SETTINGS if env.get(name, "").strip()}
    )
    if "LTX_AIO_MODELS_DIR" in settings or settings.get(tinyset.ENV) == "1":
        settings["LTX_AIO_MODELS_DIR"] = str(Path(models).resolve())
    here = Path(cwd or Path.cwd()).resolve()
    app = "app.py" if here == ROOT else str(ROOT / "app.py")
    python = "python" if shutil.which("python") == sys.executable else sys.executable
    said = " ".join(f"{name}={shlex.quote(value)}" for name, value in settings.items())
    return f"{said} {shlex.quote(python)} {shlex.quote(app)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--gpus", help="comma-separated GPU indices: one worker per GPU")
    which.add_argument("--cpu", type=int, metavar="N", help="N workers on the CPU")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="first port (+1 each)")
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--root", type=Path, default=ROOT / "workers", help="the workers' own folders"
    )
    parser.add_argument("extra", nargs="*", help="more ComfyUI arguments, after --")
    options = parser.parse_args(argv)
    gpus = options.gpus.split(",") if options.gpus else [None] * options.cpu
    specs = {}  # url -> how to start that worker again
    workers = []
    for n, gpu in enumerate(gpus):
        how = {
            "root": options.root.resolve() / f"worker-{n}",
            "port": options.port + n,
            "gpu": gpu,
            "cpu": gpu is None,
            "listen": options.listen,
            "extra": options.extra,
            "threads": cpu_threads(len(gpus)) if gpu is None else None,
        }
        workers.append(start(**how))
        specs[workers[-1].url] = how
    supervisor = Supervisor(workers, lambda worker: start(**specs[worker.url]), say=_say)
    try:
        for worker in workers:
            stats = wait_ready(worker)
            device = (stats.get("devices") or [{}])[0].get("name", "?")
            _say(f"ready   {worker.url}  GPU {worker.gpu or '-'}  {device}  log {worker.log}")
        command = app_command([w.url for w in workers], pins.models_dir())
        _say(f"\nStart the app with:\n  {command}")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while supervisor.running():
            supervisor.check()
            time.sleep(0.5)
        _say("every worker failed: stopping")
        return 1
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        supervisor.stop()
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
