"""L-comfy: `tools/start_workers.py --cpu 2` as an operator runs it, two real ComfyUI workers of
the pinned checkout over the tiny set on loopback. A worker killed with kill -9 is started again
on its port while the other keeps serving, the log says so, and SIGTERM stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, tiny_env
from waiting import wait_for

pytestmark = pytest.mark.comfy


def two_free_ports() -> int:
    """A port P with P + 1 free too (the tool numbers its workers from P)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two consecutive free ports")


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=5) as r:
            return "system" in json.loads(r.read())
    except (OSError, ValueError):
        return False


def server_pid(port: int) -> int | None:
    """The ComfyUI server process listening on `port` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        named = b"--port" in words and words[words.index(b"--port") + 1] == str(port).encode()
        if b"main.py" in words and named:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers' processes in /proc")
def test_a_killed_worker_is_restarted_and_the_other_keeps_serving(tiny_models, tmp_path):
    port = two_free_ports()
    log = tmp_path / "supervisor.log"
    env = {**os.environ, **tiny_env(tiny_models), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        tool = subprocess.Popen(
            [sys.executable, str(ROOT / "tools" / "start_workers.py"), "--cpu", "2",
             "--port", str(port), "--root", str(tmp_path / "workers")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "Start the app with" in log.read_text(), "both workers ready", 600)
        killed, other = server_pid(port), server_pid(port + 1)
        assert killed and other
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: "restarting in" in log.read_text(), "the death noticed", 60)
        assert answers(port + 1)  # the other goes on meanwhile
        wait_for(lambda: answers(port) and server_pid(port) not in (None, killed), "back", 600)
        assert server_pid(port + 1) == other and answers(port + 1)
        said = log.read_text()
        assert f"exited  http://127.0.0.1:{port} (-9): restarting in 1 s" in said
        assert f"restart http://127.0.0.1:{port}: started again" in said
        assert tool.poll() is None
    finally:
        tool.send_signal(signal.SIGTERM)
        code = tool.wait(timeout=120)
    assert code == 0, log.read_text()
    assert server_pid(port) is None and server_pid(port + 1) is None
