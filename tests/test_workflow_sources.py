"""The committed graphs are exactly what tools/build_workflows.py writes, so neither drifts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_workflows  # noqa: E402


def test_committed_workflows_match_their_builder():
    built = build_workflows.build()
    on_disk = {p.stem: json.loads(p.read_text()) for p in (ROOT / "workflows").glob("*.json")}
    assert sorted(on_disk) == sorted(built)
    for name, graph in built.items():
        assert on_disk[name] == json.loads(json.dumps(graph)), f"workflows/{name}.json is stale"
