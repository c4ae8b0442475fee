"""The ``compare`` runs the leaderboard reads: each dataset's newest completed run per seed.

A run with ``evaluation.seeds`` saved one table per seed branch (``seed_2.compare_table``);
each branch counts as its seed's run. Every file is checked against the hash its run
recorded, so a damaged table is refused, not ranked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..core.errors import ArtifactError
from ..core.leaderboard import CompareRun, LeaderboardConfig
from .integrity import check_file
from .records import COMPLETED, RunRecord, read_records
from .seed_branches import split_branch
from .versions import run_env

log = logging.getLogger(__name__)

TABLE = "compare_table"


def newest_compare_runs(
    project: Path, envs: list[str], config: LeaderboardConfig
) -> list[CompareRun]:
    """Per dataset and seed, the newest completed ``compare`` run made with one of ``envs``
    (and, with ``leaderboard.tuned``, tuned or not as asked)."""
    chosen: dict[tuple[str, int], CompareRun] = {}
    records = sorted(read_records(project).values(), key=lambda r: r.run_id, reverse=True)
    for record in records:
        if record.state() != COMPLETED or run_env(record) not in envs:
            continue
        tuned = bool((record.settings.get("compare") or {}).get("tuned", False))
        if config.tuned is not None and tuned != config.tuned:
            continue
        for artifact in record.saved:
            branch, name = split_branch(artifact)
            if name != TABLE:
                continue
            seed = int(branch.removeprefix("seed_")) if branch else int(record.settings["seed"])
            key = (str(record.dataset), seed)
            if key not in chosen:
                chosen[key] = _read_run(project, record, branch, seed, tuned)
    return [chosen[key] for key in sorted(chosen)]


def _read_run(
    project: Path, record: RunRecord, branch: str | None, seed: int, tuned: bool
) -> CompareRun:
    prefix = f"{branch}." if branch else ""

    def table(name: str) -> pd.DataFrame | None:
        saved = record.saved.get(f"{prefix}{name}")
        if saved is None:
            return None
        file = project / saved["file"]
        if not file.is_file():
            raise ArtifactError(
                f"{prefix}{name}: {saved['file']} of run {record.run_id} is gone",
                hint="run that compare again, or remove its record (`kedro clean` lists runs)",
            )
        check_file(f"{prefix}{name}", str(file), saved, record.run_id, project)
        return pd.read_csv(file)

    attacks = table("compare_attack_metrics")
    return CompareRun(
        run_id=record.run_id,
        dataset=str(record.dataset),
        seed=seed,
        tuned=tuned,
        table=table(TABLE),
        test_samples=int(attacks["non_members"].iloc[0]) if attacks is not None else 0,
        audit_metrics=table("compare_audit_metrics"),
    )
