"""Partial summaries: what each rank has folded in so far, resumable and mergeable.

`DIR/partials/rank00001-of00002.safetensors` is rank 1's summary of the first
`batches_done` batches of its shard, with the job's identity (model, data fingerprint,
statistics, threshold, batch size, world size) in its metadata. A restart continues from it;
a changed model, corpus, request or world size is refused, never mixed in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from workbench.core.summary import StatsSummary

PARTIALS = "partials"
NAME = re.compile(r"^rank(\d{5})-of(\d{5})\.safetensors$")
IDENTITY = ("model", "config_hash", "data_fingerprint", "stats", "mlp_threshold", "batch_size",
            "n_sequences", "world")  # fmt: skip


def partial_path(out: Path, rank: int, world: int) -> Path:
    return Path(out) / PARTIALS / f"rank{rank:05d}-of{world:05d}.safetensors"


def partial_files(out: Path) -> dict[tuple[int, int], Path]:
    """(rank, world) -> file, for every partial in `out`."""
    folder = Path(out) / PARTIALS
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match:
            found[(int(match.group(1)), int(match.group(2)))] = path
    return found


def check_same_job(found: dict[str, Any], expected: dict[str, Any], where: Path) -> None:
    """Refuse to continue or merge a partial of another job, naming what differs."""
    diffs = [
        f"{key}: {found.get(key)!r} in the file, {expected.get(key)!r} now"
        for key in IDENTITY
        if found.get(key) != expected.get(key)
    ]
    if diffs:
        raise ValueError(
            f"{where} belongs to a different collection ({'; '.join(diffs)}). Use a new --out "
            "folder, or delete the partials to start over; they are never mixed."
        )


def check_world(out: Path, world: int) -> None:
    """Partials written with another world size cannot be continued with this one."""
    other = sorted({w for (_, w) in partial_files(out) if w != world})
    if other:
        raise ValueError(
            f"{Path(out) / PARTIALS} holds partials of a run with {other[0]} ranks; this run "
            f"has {world}. Rerun with {other[0]} ranks to resume, or merge them with "
            "`workbench collect --merge`."
        )


def merge_partials(out: str | Path) -> StatsSummary:
    """The summary of a whole collection from its partial files (offline reduce). Every rank
    must be present and complete; otherwise the error names the missing ones."""
    files = partial_files(Path(out))
    if not files:
        raise FileNotFoundError(f"No partial summaries in {Path(out) / PARTIALS}")
    worlds = {w for (_, w) in files}
    if len(worlds) > 1:
        raise ValueError(f"{out}: partials of runs with different world sizes {sorted(worlds)}")
    world = worlds.pop()
    parts = [StatsSummary.load(files[(r, world)]) for r in range(world) if (r, world) in files]
    missing = [r for r in range(world) if (r, world) not in files]
    unfinished = [p.meta["partial"]["rank"] for p in parts if not p.meta["partial"]["complete"]]
    if missing or unfinished:
        raise ValueError(
            f"{out}: cannot merge yet: ranks {missing} have no partial, ranks {unfinished} "
            f"are unfinished. Rerun the collection with {world} ranks to finish them."
        )
    for part in parts[1:]:
        check_same_job(part.meta["partial"], parts[0].meta["partial"], Path(out))
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    return finished(merged)


def finished(summary: StatsSummary) -> StatsSummary:
    """The merged summary's metadata: the job, without the per-rank bookkeeping."""
    job = {k: summary.meta["partial"][k] for k in IDENTITY}
    meta = {k: v for k, v in summary.meta.items() if k != "partial"}
    meta["data"] = [{"fingerprint": job["data_fingerprint"], "tokens": summary.tokens,
                     "sequences": summary.sequences}]  # fmt: skip
    meta["collection"] = job
    return StatsSummary(summary.accumulators, summary.fire_counts, summary.tokens,
                        summary.sequences, meta)  # fmt: skip
