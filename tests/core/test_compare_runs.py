"""Tests for wemem_pipeline.runs.compare_runs: which compare runs the leaderboard reads, on
run records written by hand (no training)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wemem_pipeline.core.errors import ArtifactError
from wemem_pipeline.core.leaderboard import LeaderboardConfig
from wemem_pipeline.runs.compare_runs import newest_compare_runs
from wemem_pipeline.runs.integrity import file_digest
from wemem_pipeline.runs.records import RunRecord


def saved_table(project: Path, run_id: str, name: str, table: pd.DataFrame) -> dict:
    relative = f"data/08_reporting/compare/{name}.csv/{run_id}/{name}.csv"
    file = project / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(file, index=False)
    sha256, size = file_digest(str(file))
    return {"file": relative, "sha256": sha256, "bytes": size}


def compare_run(
    project: Path,
    run_id: str,
    seed: int = 0,
    env: str = "local",
    dataset: str = "digits",
    status: str = "completed",
    tuned: bool = False,
    branches: tuple[int, ...] = (),
) -> None:
    """The record of a compare run whose Base has accuracy ``seed`` (to tell them apart)."""
    saved = {}
    for branch in branches or (None,):
        prefix = f"seed_{branch}." if branch is not None else ""
        accuracy = branch if branch is not None else seed
        table = pd.DataFrame({"run": ["Base"], "defense": ["base"], "test_accuracy": [accuracy]})
        attacks = pd.DataFrame({"non_members": [100 + accuracy]})
        folder = prefix.rstrip(".") or "single"
        saved[f"{prefix}compare_table"] = saved_table(project, run_id, f"{folder}_table", table)
        saved[f"{prefix}compare_attack_metrics"] = saved_table(
            project, run_id, f"{folder}_attacks", attacks
        )
    record = RunRecord(
        run_id=run_id,
        pipelines=["compare"],
        env=env,
        status=status,
        dataset=dataset,
        settings={"seed": seed, "compare": {"tuned": tuned}},
        saved=saved,
    )
    record.save(project)


def chosen(project: Path, envs=("local",), **config) -> list[tuple[str, int, str]]:
    runs = newest_compare_runs(project, list(envs), LeaderboardConfig(**config))
    return [(run.dataset, run.seed, run.run_id) for run in runs]


def test_the_newest_completed_run_per_dataset_and_seed(tmp_path: Path) -> None:
    compare_run(tmp_path, "2026-01-01T00.00.00.000Z", seed=0)
    compare_run(tmp_path, "2026-01-02T00.00.00.000Z", seed=0)
    compare_run(tmp_path, "2026-01-03T00.00.00.000Z", seed=0, status="failed")
    compare_run(tmp_path, "2026-01-04T00.00.00.000Z", seed=1)
    compare_run(tmp_path, "2026-01-05T00.00.00.000Z", dataset="adult", env="adult")
    assert chosen(tmp_path) == [
        ("digits", 0, "2026-01-02T00.00.00.000Z"),
        ("digits", 1, "2026-01-04T00.00.00.000Z"),
    ]
    assert [run[0] for run in chosen(tmp_path, envs=("local", "adult"))] == [
        "adult",
        "digits",
        "digits",
    ]


def test_seed_branches_count_as_their_seeds_runs(tmp_path: Path) -> None:
    compare_run(tmp_path, "2026-01-01T00.00.00.000Z", branches=(1, 2))
    runs = newest_compare_runs(tmp_path, ["local"], LeaderboardConfig())
    assert [(run.seed, run.table["test_accuracy"].iloc[0]) for run in runs] == [(1, 1), (2, 2)]
    assert [run.test_samples for run in runs] == [101, 102]


def test_tuned_or_untuned_as_asked(tmp_path: Path) -> None:
    compare_run(tmp_path, "2026-01-01T00.00.00.000Z", tuned=True)
    compare_run(tmp_path, "2026-01-02T00.00.00.000Z", tuned=False)
    assert chosen(tmp_path, tuned=True)[0][2] == "2026-01-01T00.00.00.000Z"
    assert chosen(tmp_path)[0][2] == "2026-01-02T00.00.00.000Z"


def test_a_changed_table_is_refused(tmp_path: Path) -> None:
    compare_run(tmp_path, "2026-01-01T00.00.00.000Z")
    table = next(p for p in tmp_path.glob("data/**/single_table.csv") if p.is_file())
    table.write_text(table.read_text().replace("Base", "Bose"))
    with pytest.raises(ArtifactError, match="changed or damaged after it was saved"):
        newest_compare_runs(tmp_path, ["local"], LeaderboardConfig())
