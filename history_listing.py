"""What the History view says about the records, without Gradio: the gallery's items (a job's
first frame, or a tile naming its status) and captions, the line saying how many jobs are shown
and kept for how long, and the selected job's info table and parameters.

history_ui.py puts these into the page's components and wires its events.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import history
import retention

PAGE = 24
THUMB = (320, 180)
# Placeholder tints for jobs without a picture of their own.
STATUS_COLORS = {
    "queued": (42, 52, 66),
    "running": (60, 52, 20),
    "failed": (70, 28, 28),
    "cancelled": (45, 45, 52),
    "done": (28, 40, 34),
}


def placeholder(status: str) -> Path:
    """A flat tile naming the status, for jobs without a first frame (made once per data dir)."""
    folder = history.open_store().root / "placeholders"
    path = folder / f"{status}.png"
    if path.is_file():
        return path
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", THUMB, STATUS_COLORS.get(status, (40, 40, 40)))
    draw = ImageDraw.Draw(image)
    text = status.upper()
    try:
        from PIL import ImageFont

        font = ImageFont.load_default(size=28)
    except (TypeError, OSError):  # Pillow < 10.1 has one fixed-size default font
        font = None
    box = draw.textbbox((0, 0), text, font=font)
    at = ((THUMB[0] - (box[2] - box[0])) / 2, (THUMB[1] - (box[3] - box[1])) / 2)
    draw.text(at, text, fill=(231, 234, 238), font=font)
    tmp = path.with_name(f"{status}.{time.time_ns()}.tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def caption(job: history.Job, now: float | None = None) -> str:
    """`T2V · done · 14:02 — the prompt`: short enough to read under a thumbnail."""
    created = time.localtime(job.created_at)
    today = time.localtime(time.time() if now is None else now)[:3] == created[:3]
    when = time.strftime("%H:%M" if today else "%b %d %H:%M", created)
    prompt = " ".join(str(job.params.get("prompt") or "").split())
    prompt = prompt if len(prompt) <= 48 else prompt[:47] + "…"
    return f"{job.mode.upper()} · {job.status} · {when}" + (f" — {prompt}" if prompt else "")


def size_text(size: int) -> str:
    if size >= retention.GB:
        return f"{size / retention.GB:.2f} GB"
    return f"{size / 1024**2:.1f} MB"


def listing(
    mode: str | None,
    status: str | None,
    limit: int = PAGE,
    owner: str | None = None,
    refusals: bool = True,
) -> tuple[list, list[str], int]:
    """(gallery items, their job ids, how many jobs match) for the filters, newest first: the
    owner's jobs only, when an owner is given; without refused jobs unless `refusals`."""
    s = history.open_store()
    filters = {"mode": mode or None, "status": status or None, "owner": owner,
               "refusals": refusals}  # fmt: skip
    jobs = s.jobs(limit=int(limit), **filters)
    items = []
    for job in jobs:
        thumb = s.thumbnail(job.id) if job.status == "done" else None
        items.append((str(thumb or placeholder(job.status)), caption(job)))
    return items, [job.id for job in jobs], s.count(**filters)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def usage_text(owner: str | None = None) -> str:
    """What History holds in all (every job, refused ones too) and for how long."""
    s = history.open_store()
    jobs = s.jobs(limit=-1, owner=owner)
    size = size_text(sum(job.bytes for job in jobs))
    policy = retention.current(s)
    limits = []
    if policy.days:
        limits.append(f"{policy.days:g} days")
    if policy.gb:
        limits.append(f"{policy.gb:g} GB")
    if not jobs:
        return (
            "Jobs are kept until you delete them."
            if not limits
            else "Jobs are kept for " + " and ".join(limits) + "."
        )
    them = "it" if len(jobs) == 1 else "them"
    kept = f"until you delete {them}" if not limits else "for " + " and ".join(limits)
    return f"{plural(len(jobs), 'job')} kept in all ({size}), {kept}."


def summary_text(shown: int, total: int, hidden: int, filtered: bool) -> str:
    """What the listing shows of the jobs that match, and why some are not there."""
    if total:
        matching = f" that match{'es' if total == 1 else ''}" if filtered else ""
        said = f"Showing {shown} of {plural(total, 'job')}{matching}."
    elif hidden:
        said = "No jobs to show."
    elif filtered:
        said = "No jobs match these filters."
    else:
        said = "No jobs yet."
    if hidden:
        them = "it" if hidden == 1 else "them"
        said += f" {plural(hidden, 'refused job')} hidden: tick Show refused jobs to list {them}."
    return said


def job_summary(job: history.Job) -> str:
    esc = html.escape
    rows = [
        ("Job", job.id),
        ("Mode", job.mode),
        ("Status", job.status),
        ("Seed", "" if job.seed is None else str(job.seed)),
        ("Created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at))),
    ]
    total = job.timings.get("total_s")
    if total is not None:
        rows.append(("Took", f"{total:.1f} s"))
    if job.error_kind or job.error_message:
        rows.append(("Error", f"[{job.error_kind}] {job.error_message or ''}"))
    if job.batch:
        rows.append(("Batch", job.batch))
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="aio-history-info">{cells}</table>'


def record_view(job: history.Job) -> dict:
    """What the Parameters box shows: the values as used (after snapping), the inputs kept."""
    return {
        "used": job.used or {},
        "requested": job.params,
        "inputs": {name: path.name for name, path in job.inputs.items()},
        "timings": job.timings,
    }
