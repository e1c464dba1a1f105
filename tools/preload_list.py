"""Print the README `preload_from_hub:` block for the Space, from the graphs and the manifest.

Spaces download those files at build time (no waiting at the first run) but take at most 10
entries ("repo f1,f2"), one per repo here, and cannot fetch gated repos. So the block lists what
every mode x preset loads in the Spaces variant (fp8), grouped by repo, largest repos first; gated
files, files of unconfirmed access and repos past the limit are left to the runtime download and
listed in the comment lines.

  python tools/preload_list.py               # the block for README.md
  python tools/preload_list.py --variant full
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models  # noqa: E402
import modes  # noqa: E402

LIMIT = 10  # preload_from_hub entries a Space may have


def plan(variant: str = "fp8", limit: int = LIMIT) -> tuple[list[str], list[str], int]:
    """(entries, what is left to runtime and why, bytes preloaded)."""
    files = {}
    for mode in modes.MODES:
        for need in models.needs_for_mode(mode, None, variant):
            files[(need.file.repo, need.file.path)] = need.file
    later, repos = [], {}
    for (repo, path), f in sorted(files.items()):
        if f.gated is False:
            repos.setdefault(repo, []).append(f)
        else:
            why = "gated" if f.gated else "access not confirmed"
            later.append(f"{repo} {path} ({why}: downloaded at run time with HF_TOKEN)")
    ranked = sorted(repos.items(), key=lambda item: -sum(f.size for f in item[1]))
    for repo, fs in ranked[limit:]:
        later += [f"{repo} {f.path} (past the {limit}-entry limit)" for f in fs]
    kept = ranked[:limit]
    entries = [f"{repo} {','.join(f.path for f in fs)}" for repo, fs in kept]
    return entries, later, sum(f.size for _, fs in kept for f in fs)


def render(variant: str = "fp8", limit: int = LIMIT) -> str:
    entries, later, size = plan(variant, limit)
    lines = [
        f"# from tools/preload_list.py --variant {variant}: {len(entries)} entries, "
        f"~{size / 1e9:.1f} GB",
        "preload_from_hub:",
        *(f"  - {entry}" for entry in entries),
    ]
    lines += [f"# not preloaded: {item}" for item in later]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="fp8", choices=list(models.VARIANTS))
    parser.add_argument("--limit", type=int, default=LIMIT)
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.variant, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
