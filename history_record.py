"""One job's record: the Job type (its fields are the jobs table's columns, in the same order),
the statuses a job goes through, how a row reads back as a Job, and which rows a listing picks.

queued -> running -> done | failed | cancelled; a job refused before any work (a bad field or
file, generation unavailable) is failed with one of REFUSALS as its kind and keeps only its
record. history.Store writes these rows; everyone else reads them as Jobs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

STATUSES = ("queued", "running", "done", "failed", "cancelled")
UNFINISHED = ("queued", "running")
LOCAL = "local"
# Refused before any work (a bad field or file, generation unavailable): only the record is kept.
REFUSALS = ("bad_input", "unavailable")


@dataclass
class Job:
    id: str
    mode: str
    status: str
    params: dict
    used: dict | None
    seed: int | None
    inputs: dict[str, Path]
    output: Path | None
    batch: str | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    timings: dict = field(default_factory=dict)
    error_kind: str | None = None
    error_message: str | None = None
    bytes: int = 0
    owner: str = LOCAL

    def replay(self) -> dict:
        """The values to put back into the mode's panel: snapped values and seed win over requested
        ones, and inputs point at the kept copies."""
        values = dict(self.params)
        values.update(self.used or {})
        if "longest_frames" in values:  # automatic length: the cap is what the user set
            values["frames"] = values.pop("longest_frames")
            values["duration"] = self.params.get("duration")
        values.update({name: str(path) for name, path in self.inputs.items()})
        return values

    def to_dict(self) -> dict:
        data = asdict(self)
        data["inputs"] = {k: str(v) for k, v in self.inputs.items()}
        data["output"] = str(self.output) if self.output else None
        return data


# A Job's fields are the jobs table's columns, in the same order.
COLUMNS = tuple(f.name for f in fields(Job))


def from_row(row: tuple, root: Path) -> Job:
    """The Job a row of COLUMNS holds, its files' paths under the data dir `root` (ValueError,
    TypeError, AttributeError: a field is damaged)."""
    data = dict(zip(COLUMNS, row, strict=True))
    for name in ("params", "inputs", "timings"):
        data[name] = json.loads(data[name]) if data[name] else {}
    data["used"] = json.loads(data["used"]) if data["used"] else None
    data["inputs"] = {k: root / v for k, v in data["inputs"].items()}
    data["output"] = root / data["output"] if data["output"] else None
    return Job(**data)


def dumps(value) -> str:
    """A field's JSON as the row keeps it."""
    return json.dumps(value, default=str, sort_keys=True)


def used_columns(used: dict | None) -> dict:
    """The columns that record the parameters as snapped: `used`, and the seed in it."""
    if used is None:
        return {}
    seed = used.get("seed")
    return {"used": dumps(used), "seed": int(seed) if isinstance(seed, (int, float)) else None}


def filters(
    mode: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    refusals: bool = True,
    since: float | None = None,
) -> tuple[str, list]:
    """The WHERE clause (and its arguments) that picks the rows a listing or count wants."""
    clauses, args = [], []
    if since is not None:
        clauses.append("created_at >= ?")
        args.append(float(since))
    if not refusals:
        marks = ", ".join("?" * len(REFUSALS))
        clauses.append(f"NOT (status = 'failed' AND COALESCE(error_kind, '') IN ({marks}))")
        args.extend(REFUSALS)
    if owner is not None:
        clauses.append("owner = ?")
        args.append(owner)
    if mode:
        clauses.append("mode = ?")
        args.append(mode)
    if status:
        clauses.append("status = ?")
        args.append(status)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args
