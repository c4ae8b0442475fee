"""The scenario pipelines (``scenario1``/``scenario2``/``scenario3``: one folder registered
three times) end to end with ``--env=test``, on the session's default run, which runs them
all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro_project import RUN_OUTPUT, latest, project_copy, run_kedro

from wemem_pipeline.core.splits import VICTIM
from wemem_pipeline.pipeline_registry import register_pipelines

SCENARIOS = {"scenario1": "rsw", "scenario2": "rmr", "scenario3": "swmr"}


def test_every_scenario_is_registered_in_its_own_namespace():
    pipelines = register_pipelines()
    default = {node.name for node in pipelines["__default__"].nodes}
    for name in SCENARIOS:
        nodes = {node.name for node in pipelines[name].nodes}
        own = {f"{name}.{node}" for node in ("prune_defended", "attack_scenario")}
        assert own | {"train_dense_models", "prune_iteratively"} <= nodes
        assert nodes <= default
        # A scenario runs on its own: it needs nothing but the parameters (``run_config`` is
        # typed from them by the project's hook).
        free_inputs = pipelines[name].inputs() - {"run_parameters", "run_config"}
        assert all(free.startswith("params:") for free in free_inputs), name
    # The scenarios share the upstream nodes and only namespace their own.
    scenario_nodes = {n for n in default if n.split(".")[0] in SCENARIOS}
    assert len(scenario_nodes) == 3 * len({n.split(".", 1)[1] for n in scenario_nodes})


@pytest.mark.parametrize(("name", "defense"), SCENARIOS.items())
def test_scenario_report(finished_run: Path, name: str, defense: str) -> None:
    report = json.loads(latest(finished_run, f"08_reporting/{name}/report.json").read_text())
    assert (report["scenario"], report["defense"], report["dataset"]) == (name, defense, "digits")
    models = {m["name"]: m for m in report["models"]}
    assert list(models) == ["dense", "base", defense]
    attacks = set(models["dense"]["attacks"])
    assert attacks
    for model in models.values():
        assert set(model["attacks"]) == attacks
        for metrics in model["attacks"].values():
            assert set(metrics) >= {"balanced_accuracy", "auc", "tpr_at_1pct_fpr"}
            assert 0.0 <= metrics["auc"] <= 1.0
    assert "time_relative_to_base" not in models["dense"]
    assert models["base"]["time_relative_to_base"] == pytest.approx(1.0)
    assert models[defense]["time_relative_to_base"] > 0
    assert models[defense]["sparsity"] == pytest.approx(0.6, abs=0.005)

    base, defended = models["base"]["reuse"], models[defense]["reuse"]
    assert base["members"] == defended["members"] > 0
    # Base: every member in every epoch of every round.
    history = pd.read_csv(latest(finished_run, "07_model_output/iterative_history.csv"))
    victim_epochs = history[history["model"] == VICTIM]["epochs_run"].sum()
    assert base["mean_uses_total"] == base["max_uses_total"] == victim_epochs
    assert base["members_never_seen"] == 0
    if defense in ("rsw", "swmr"):
        # Fewer uses than Base, yet the windows sweep every class in every round.
        assert defended["mean_uses_total"] < base["mean_uses_total"]
        assert defended["members_never_seen"] == 0
    else:  # RMR trains every member every epoch, only with another decay
        assert defended["members_seen_per_round"] == defended["members"]
        assert defended["members_never_seen"] == 0
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]  # conf/test: 3 rounds
    assert set(report["defense_summary"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}
    if defense != "rsw":
        for summary in report["defense_summary"].values():
            assert summary["risky_total"] > 0

    for artifact in ("report.md", "report.csv", "privacy_utility.png", "roc_curves.png"):
        assert latest(finished_run, f"08_reporting/{name}/{artifact}").stat().st_size > 0
    markdown = latest(finished_run, f"08_reporting/{name}/report.md").read_text()
    assert markdown.startswith(f"# {name}: {defense.upper()}")


@pytest.mark.parametrize(("name", "defense"), SCENARIOS.items())
def test_scenario_shadows_are_defended_too(finished_run: Path, name: str, defense: str):
    base = pd.read_csv(latest(finished_run, "07_model_output/iterative_history.csv"))
    defended = pd.read_csv(latest(finished_run, f"07_model_output/{name}/defended_history.csv"))
    assert set(defended["model"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}
    assert set(defended["stage"]) == {defense}
    merged = defended.merge(base, on=["model", "round"], suffixes=("", "_base"))
    assert len(merged) == len(defended) == 12  # 4 models x 3 rounds
    assert (merged["mean_uses_base"] == merged["epochs_run_base"]).all()
    if defense in ("rsw", "swmr"):
        assert (merged["mean_uses"] < merged["mean_uses_base"]).all()
        assert (merged["members_seen"] == merged["members_seen_base"]).all()
    uses = pd.read_parquet(
        latest(finished_run, f"07_model_output/{name}/defended_sample_uses.parquet")
    )
    assert set(uses["model"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}


def test_swmr_says_how_many_risky_members_entered_a_window(finished_run: Path) -> None:
    """Every round's count is in report.json and report.md; when it is 0 in every round (the
    window never reaches the risky members), SWMR trained as RSW, and the
    log, the report's warnings and the run's summary say so."""
    report = json.loads(latest(finished_run, "08_reporting/scenario3/report.json").read_text())
    summary = report["defense_summary"][VICTIM]
    entered = summary["risky_in_window_per_round"]
    assert len(entered) == 3 and all(0 <= n <= summary["risky_total"] for n in entered)
    markdown = latest(finished_run, "08_reporting/scenario3/report.md").read_text()
    counts = ", ".join(str(n) for n in entered)
    assert f"Risky members that entered a window, per round: {counts} (of " in markdown
    never = [w for w in report["warnings"] if "entered a window in any of the 3 rounds" in w]
    output = (finished_run / RUN_OUTPUT).read_text()
    if any(entered):
        assert not never
    else:
        (warning,) = never
        assert warning in markdown and f"Warning: {warning}" in output
        assert "SWMR on the victim: none of the" in output  # when its training started


def test_bad_scenario_setting_stops_before_training(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    result = run_kedro(project, "--pipeline=scenario1", "--params", "scenario1.settings.width=0")
    assert result.returncode != 0
    assert "scenario1.settings.width" in result.stdout + result.stderr
    assert not list((project / "data").rglob("*.pt")), "no model may be trained or saved"
    assert not list((project / "data").rglob("*.parquet")), "nothing may run at all"


# The fast set reruns scenario3 from a stored stage with test_integrity.py's planted version.
@pytest.mark.slow
def test_a_scenario_runs_by_name_and_repeats_the_default_runs_numbers(
    finished_run: Path, tmp_path: Path
) -> None:
    # scenario3 alone, from its own first node, on the default run's upstream artifacts:
    # the same seeds on the same inputs give the same report.
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    result = run_kedro(project, "--pipeline=scenario3", "--from-nodes=scenario3.prune_defended")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    columns = ["stage", "attack", "auc", "balanced_accuracy", "tpr_at_1pct_fpr"]
    again = pd.read_csv(latest(project, "07_model_output/scenario3/attack_metrics.csv"))
    first = pd.read_csv(latest(finished_run, "07_model_output/scenario3/attack_metrics.csv"))
    pd.testing.assert_frame_equal(again[columns], first[columns])
