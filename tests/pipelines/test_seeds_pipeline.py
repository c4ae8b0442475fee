"""Multi-seed runs (``evaluation.seeds``) end to end with ``--env=test``: one namespaced branch
per seed, each identical to a single-seed run of its seed, and the aggregate over seeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro_project import SEEDS, latest, project_copy, run_kedro, with_seeds

from wemem_pipeline.pipeline_registry import register_pipelines
from wemem_pipeline.runs import seed_branches


def without_seconds(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c == "seconds"])


def test_a_seed_branch_is_the_single_seed_run_of_its_seed(
    seed_run: Path, finished_run: Path
) -> None:
    branch = pd.read_csv(latest(seed_run, "07_model_output/scenario3/seed_0/attack_metrics.csv"))
    single = pd.read_csv(latest(finished_run, "07_model_output/scenario3/attack_metrics.csv"))
    pd.testing.assert_frame_equal(without_seconds(branch), without_seconds(single))
    other = pd.read_csv(latest(seed_run, "07_model_output/scenario3/seed_2/attack_metrics.csv"))
    assert not np.allclose(other["auc"], single["auc"])  # another seed: other models
    report = json.loads(latest(seed_run, "08_reporting/scenario3/seed_2/report.json").read_text())
    assert report["parameters"]["seed"] == 2


def test_the_aggregate_is_mean_and_sd_of_the_seeds(seed_run: Path) -> None:
    aggregate = json.loads(latest(seed_run, "08_reporting/scenario3/seeds/report.json").read_text())
    assert aggregate["seeds"] == SEEDS
    per_seed = {
        seed: json.loads(
            latest(seed_run, f"08_reporting/scenario3/seed_{seed}/report.json").read_text()
        )
        for seed in SEEDS
    }
    for row in aggregate["models"]:
        accuracies = [
            next(m for m in report["models"] if m["name"] == row["model"])["test_accuracy"]
            for report in per_seed.values()
        ]
        assert row["test_accuracy_mean"] == pytest.approx(np.mean(accuracies))
        assert row["test_accuracy_sd"] == pytest.approx(np.std(accuracies, ddof=1))
    verdicts = aggregate["verdicts"]
    assert set(verdicts) == {"auc", "tpr_at_1pct_fpr"}
    for metric, verdict in verdicts.items():
        assert verdict["per_seed"] == {str(s): per_seed[s]["verdicts"][metric] for s in SEEDS}
    summary = latest(seed_run, "08_reporting/scenario3/seeds/report.md").read_text()
    assert "± " in summary and "one seed at a time" in summary
    assert latest(seed_run, "08_reporting/scenario3/seeds/privacy_utility.png").stat().st_size
    page = (seed_run / "data/08_reporting/latest/scenario3-seeds/report.html").read_text()
    assert page == latest(seed_run, "08_reporting/scenario3/seeds/report.html").read_text()
    assert "one seed at a time" in page and 'src="data:image/png;base64,' in page


# compare trains every defense per seed; the fast set runs compare in finished_run and the
# seed branches in seed_run.
@pytest.mark.slow
def test_compare_over_seeds_reuses_the_branches_of_an_earlier_run(
    seed_run: Path, tmp_path: Path
) -> None:
    """``compare`` alone loads each branch's dense models from the scenario3 run: a branch
    artifact was made with its branch's seed, whatever that run's ``seed`` parameter. Its
    Base is pruned again from them, so it is each branch's Base to the bit."""
    project = with_seeds(project_copy(tmp_path))
    shutil.copytree(seed_run / "data", project / "data", dirs_exist_ok=True)
    result = run_kedro(project, "--pipeline=compare")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(latest(project, "08_reporting/compare/seeds/compare.csv"))
    per_seed = {
        s: pd.read_csv(latest(project, f"08_reporting/compare/seed_{s}/compare.csv")) for s in SEEDS
    }
    assert summary["run"].tolist() == per_seed[SEEDS[0]]["run"].tolist()
    assert summary["seeds"].eq(2).all()
    assert np.allclose(summary["auc_mean"], np.mean([t["auc"] for t in per_seed.values()], axis=0))
    assert set(summary["auc_vs_base"].fillna("")) <= {
        "",
        "lowered",
        "raised",
        "no clear difference",
    }
    for seed, table in per_seed.items():
        scenario = json.loads(
            latest(seed_run, f"08_reporting/scenario3/seed_{seed}/report.json").read_text()
        )
        base = next(m for m in scenario["models"] if m["name"] == "base")
        strongest = max(values["auc"] for values in base["attacks"].values())
        assert table.set_index("run").at["Base", "auc"] == pytest.approx(strongest, abs=1e-12)


def test_several_seeds_refuse_a_pipeline_that_reads_earlier_runs(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    result = run_kedro(project, "--pipeline=attacks", "--params", "evaluation.seeds=2")
    assert result.returncode == 1
    assert "evaluation.seeds" in result.stderr and "--params seed=<seed>" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]


def test_the_registry_branches_only_with_several_seeds() -> None:
    try:
        seed_branches.remember_parameters({"seed": 3, "evaluation": {"seeds": 2}})
        branched = register_pipelines()
        seed_branches.remember_parameters({"seed": 3, "evaluation": {"seeds": 1}})
        single = register_pipelines()
    finally:
        seed_branches.remember_parameters(None)
    names = {node.name for node in branched["scenario3"].nodes}
    assert {"seed_3.scenario3.attack_scenario", "seed_4.scenario3.attack_scenario"} <= names
    assert "aggregate_scenario3_seeds" in names
    assert {"aggregate_run_seeds", "aggregate_compare_seeds"} <= {
        node.name for node in branched["__default__"].nodes
    }
    assert branched["attacks"].nodes == single["attacks"].nodes  # runs one seed at a time
    assert "scenario3.attack_scenario" in {node.name for node in single["scenario3"].nodes}
