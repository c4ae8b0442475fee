"""End-to-end runs of the Kedro pipelines with ``--env=test`` in a scratch copy of the project.

``finished_run`` (conftest.py) is the session's one default run; tests that run more copy its
``data/`` into a project of their own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import Version
from kedro_project import latest, made_once, project_copy, run_kedro, run_kedro_each

from wemem_pipeline.catalog_datasets.model_outputs import ModelOutputsDataset
from wemem_pipeline.core.attacks import OFFLINE_ATTACKS
from wemem_pipeline.core.outputs import ModelOutputs


def test_default_pipeline_writes_the_report(finished_run: Path) -> None:
    report = json.loads(latest(finished_run, "08_reporting/report.json").read_text())
    assert report["dataset"] == "digits"
    assert [m["name"] for m in report["models"]] == ["dense", "one_shot", "iterative"]
    for model in report["models"]:
        assert set(model["attacks"]) == set(OFFLINE_ATTACKS)  # the default: every offline attack
        for metrics in model["attacks"].values():
            assert set(metrics) >= {
                "balanced_accuracy",
                "auc",
                "tpr_at_1pct_fpr",
                "tpr_at_0_1pct_fpr",
            }
            assert 0.0 <= metrics["auc"] <= 1.0
    sparsity = {m["name"]: m["sparsity"] for m in report["models"]}
    assert sparsity["dense"] == 0.0
    assert sparsity["one_shot"] == pytest.approx(0.6, abs=0.005)
    assert sparsity["iterative"] == pytest.approx(0.6, abs=0.005)
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]  # conf/test: 3 rounds
    for name in ("report.md", "report.csv", "rounds.csv", "roc_curves.png", "rounds.png"):
        assert latest(finished_run, f"08_reporting/{name}").stat().st_size > 0
    page = latest(finished_run, "08_reporting/report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 and "Settings used" in page


def test_memorability_scores_cover_both_pools(finished_run: Path) -> None:
    splits = pd.read_parquet(latest(finished_run, "03_primary/splits.parquet"))
    for pool in ("victim", "shadow"):
        scores = pd.read_parquet(latest(finished_run, f"04_feature/{pool}_mem_scores.parquet"))
        expected = splits[(splits["pool"] == pool) & splits["from_pool"]]["sample_index"]
        assert sorted(scores["sample_index"]) == sorted(expected.unique())
        assert scores["score"].between(0, 1).all()
        assert scores["raw_score"].between(-1, 1).all()
        assert ((scores["in_count"] > 0) & (scores["out_count"] > 0)).all()
    for name in ("mem_histogram.png", "mem_extremes.png", "mem_summary.csv"):
        assert latest(finished_run, f"08_reporting/{name}").stat().st_size > 0


def test_imported_scores_replace_the_estimate(finished_run: Path, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    paths = {}
    for pool in ("victim", "shadow"):
        scores = pd.read_parquet(latest(finished_run, f"04_feature/{pool}_mem_scores.parquet"))
        paths[pool] = tmp_path / f"{pool}.csv"
        scores.rename(columns={"sample_index": "index", "raw_score": "score"})[
            ["index", "score"]
        ].to_csv(paths[pool], index=False)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    override = (
        f"memorability.method=import,memorability.victim_scores_path={paths['victim']},"
        f"memorability.shadow_scores_path={paths['shadow']}"
    )
    result = run_kedro(project, "--pipeline=memorability", "--params", override)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    imported = pd.read_parquet(latest(project, "04_feature/victim_mem_scores.parquet"))
    estimated = pd.read_parquet(latest(finished_run, "04_feature/victim_mem_scores.parquet"))
    pd.testing.assert_series_equal(imported["raw_score"], estimated["raw_score"])


def test_splits_and_histories_are_persisted(finished_run: Path) -> None:
    splits = pd.read_parquet(latest(finished_run, "03_primary/splits.parquet"))
    models = {"victim", "shadow_0", "shadow_1", "shadow_2"}
    assert set(splits["model"]) == models
    history = pd.read_csv(latest(finished_run, "07_model_output/iterative_history.csv"))
    assert len(history) == 4 * 3  # 4 models x 3 rounds
    assert (history["sparsity"] - history["target_sparsity"]).abs().max() < 0.005
    # Every procedure keeps its outputs by round and its members' reuse.
    for stage, rounds in (("dense", [0]), ("one_shot", [0]), ("iterative", [0, 1, 2])):
        folder = finished_run / f"data/07_model_output/{stage}_outputs.npz"
        outputs = ModelOutputsDataset(str(folder), Version(None, None)).load()  # the newest
        assert sorted(outputs) == rounds, stage
        assert all(
            isinstance(o, ModelOutputs) and set(o.logits) == models for o in outputs.values()
        )
        uses = pd.read_parquet(latest(finished_run, f"07_model_output/{stage}_sample_uses.parquet"))
        assert set(uses["model"]) == models and sorted(set(uses["round"])) == rounds, stage


# Trains everything again; the fast set checks reruns with test_golden.py (the default run
# repeats the recorded numbers) and the seed-0 branch of seed_run (test_seeds_pipeline.py).
@pytest.mark.slow
def test_same_seed_gives_same_metrics(finished_run: Path, tmp_path: Path) -> None:
    """The pipelines that make ``attack_metrics.csv`` again, in a new project: the default
    run's metrics, whatever else that run also did."""
    again = project_copy(tmp_path)
    makers = "--pipelines=data_split,memorability,training,pruning,attacks"
    result = run_kedro(again, makers)
    assert result.returncode == 0, result.stderr[-3000:]
    first = pd.read_csv(latest(finished_run, "07_model_output/attack_metrics.csv"))
    second = pd.read_csv(latest(again, "07_model_output/attack_metrics.csv"))
    timing = ["seconds"]  # wall-clock time, the one column that may differ
    pd.testing.assert_frame_equal(first.drop(columns=timing), second.drop(columns=timing))


BAD_PARAMETERS = [
    ("pruning.sparsity=1.0", "pruning.sparsity"),
    ("pruning.sparsity=-0.1", "pruning.sparsity"),
    ("pruning.rounds=0", "pruning.rounds"),
    ("split.num_shadows=0", "split.num_shadows"),
    ("dataset.name=nope", "dataset.name"),
    ("model.name=nope", "model.name"),
    ("memorability.num_models=1", "memorability.num_models"),
    ("memorability.subset_fraction=1.0", "memorability.subset_fraction"),
    ("attacks.rmia.gamma=0", "attacks.rmia.gamma"),
    ("split.num_shadows=2", "split.num_shadows"),  # too few for LiRA's references
    ("attack_stored.shadows=nope", "attack_stored.shadows"),
    ("compare.defenses.ppb.lambda=-1", "compare.defenses.ppb.lambda"),
    ("compare.defenses.dpsgd.noise_multiplier=0", "compare.defenses.dpsgd.noise_multiplier"),
    ("prunning.sparsity=0.5", "'prunning' -> 'pruning'"),  # a top-level typo
    ("device=cuda", "device='cuda'"),  # no GPU on the test machines
    ("threads=0", "threads"),
    ("scenario3.settings.window.stride=0", "scenario3.settings.window.stride must be > 0"),
    ("autotune.defense=nope", "autotune.defense"),
    ("autotune.n_trials=0", "autotune.n_trials"),
    ("autotune.num_models=1", "autotune.num_models"),
    ("autotune.max_accuracy_loss=1.0", "autotune.max_accuracy_loss"),
    ("autotune.search_space.width=0.5", "autotune.search_space has nothing to search"),
    ("compare.tuned=3", "compare.tuned"),
    ("evaluation.seeds=0", "evaluation.seeds"),
    ("audit.num_models=3", "audit.num_models must be >= 4"),
    ("audit.canaries=0.5", "above the budget of 10%"),
    ("evaluation.seeds=[]", "evaluation.seeds"),
    ("evaluation.seeds=[1.5]", "evaluation.seeds"),
    ("evaluation.bootstrap=50", "evaluation.bootstrap"),
    ("split.nonmember_source=test_file", "split.nonmember_source"),
    # Valid settings whose result cannot mean anything on the run's data and model.
    ("pruning.sparsity=0.999999", "pruning.sparsity=0.999999 (pruning.scope=global) leaves 0"),
    ("scenario1.settings.width=1.0,scenario1.settings.stride=0.01", "RSW would train as Base"),
    ("compare.defenses.dpsgd.noise_multiplier=[0.02]", "gives no epsilon the RDP accountant"),
    ("compare.defenses.dpsgd.scope=dense", "compare.defenses.dpsgd.scope must be one of"),
    ("workers=0", "workers must be 'auto' or an integer >= 1"),
    ("compare.only=[]", "compare.only narrows the comparison to nothing"),
]


@pytest.fixture(scope="module")
def bad_parameter_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """``kedro run --params <override>`` of every selected bad override, each in its own
    project copy. Such a run is Kedro's start-up and the parameter check, so they share one
    start-up (``run_kedro_each``)."""
    selected = sorted(
        {
            item.callspec.params["override"]
            for item in request.session.items
            if getattr(item, "originalname", None) == "test_bad_parameters_stop_before_training"
        }
    )

    def make(folder: Path) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
        projects = {}
        for i, override in enumerate(selected):
            (folder / str(i)).mkdir()
            projects[override] = project_copy(folder / str(i))
        results = run_kedro_each([(projects[o], ("--params", o)) for o in selected])
        return {o: (projects[o], result) for o, result in zip(selected, results, strict=True)}

    return made_once(tmp_path_factory, "bad_parameters", make)


@pytest.mark.parametrize(("override", "parameter"), BAD_PARAMETERS)
def test_bad_parameters_stop_before_training(
    bad_parameter_runs: dict[str, tuple[Path, subprocess.CompletedProcess]],
    override: str,
    parameter: str,
) -> None:
    if override == "device=cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    project, result = bad_parameter_runs[override]
    assert result.returncode == 1
    assert parameter in result.stderr
    # One short block, not a traceback; and nothing written, not even a run record.
    assert "(parameter problem)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]


def test_compare_runs_every_defense(finished_run: Path) -> None:
    comparison = pd.read_csv(latest(finished_run, "08_reporting/compare/compare.csv"))
    assert comparison["defense"].tolist() == [
        "dense",
        "base",
        "rsw",
        "rmr",
        "swmr",
        "ppb",
        "advreg",
        "dpsgd",
        "dpsgd",
        "relaxloss",
        "hamp",
    ]  # conf/test: one setting per baseline, DP-SGD over the rounds and over the whole
    assert comparison["test_accuracy"].between(0.2, 1.0).all()
    assert comparison[["auc", "tpr_at_1pct_fpr"]].notna().all().all()
    base = comparison.set_index("defense").loc["base"]
    assert base["time_relative_to_base"] == pytest.approx(1.0)
    epsilon = comparison.set_index("defense")["epsilon"]
    assert (epsilon["dpsgd"] > 0).all() and epsilon.drop("dpsgd").isna().all()
    private = comparison[comparison["defense"] == "dpsgd"].set_index("epsilon_covers")
    whole = private.loc["dense training and every prune round"]
    fine = private.loc["prune rounds"]
    assert whole["epsilon"] > fine["epsilon"] and whole["epsilon_steps"] > fine["epsilon_steps"]
    assert (private["sample_rate"] > 0).all() and (private["epsilon_delta"] < 1).all()
    report = latest(finished_run, "08_reporting/compare/compare.md").read_text()
    assert "scope=whole: epsilon" in report and "Poisson sampling at rate" in report
    assert "so it is no guarantee for the model" in report  # the fine-tuning-only run
    for metric in ("auc", "tpr_at_1pct_fpr"):  # a front only where some run beats chance
        above = comparison[metric] > comparison[f"chance_{metric}_q95"]
        assert comparison[f"pareto_{metric}"].any() == above.any(), metric
    metrics = pd.read_csv(latest(finished_run, "07_model_output/compare/attack_metrics.csv"))
    for run in comparison["run"]:
        assert set(metrics.loc[metrics["run"] == run, "attack"]) == set(OFFLINE_ATTACKS), run
    # Base is pruned again beside the defenses with the pruning pipeline's seeds: the same
    # victim, so the same attack metrics as the attacks pipeline's last round.
    attacks = pd.read_csv(latest(finished_run, "07_model_output/attack_metrics.csv"))
    columns = ["attack", "auc", "balanced_accuracy", "tpr_at_1pct_fpr"]
    pd.testing.assert_frame_equal(
        metrics.loc[metrics["run"] == "Base", columns].reset_index(drop=True),
        attacks.loc[attacks["stage"] == "round_2", columns].reset_index(drop=True),
    )
    summary = latest(finished_run, "08_reporting/compare/compare.md").read_text()
    assert "## Where the WeMem defenses stand" in summary
    assert latest(finished_run, "08_reporting/compare/compare_plot.png").stat().st_size > 0


def stored_metrics(project: Path) -> pd.DataFrame:
    metrics = pd.read_csv(latest(project, "07_model_output/stored/attack_metrics.csv"))
    return metrics.drop(columns="seconds").set_index(["stage", "attack"])


def test_attack_stored_model_from_a_state_dict_file(finished_run: Path, tmp_path: Path) -> None:
    # The project's own iterative victim saved as a plain state dict: attacked with the same
    # shadows, it must score exactly as the project's victim.
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    models = torch.load(latest(finished_run, "06_models/iterative_models.pt"), weights_only=True)
    victim_file = tmp_path / "victim.pt"
    torch.save(models["victim"], victim_file)
    result = run_kedro(
        project, "--pipeline=attack_stored", "--params", f"attack_stored.file={victim_file}"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = stored_metrics(project)
    assert set(metrics.index.get_level_values("attack")) == set(OFFLINE_ATTACKS)
    pd.testing.assert_frame_equal(
        metrics.loc["stored"], metrics.loc["project_iterative"], check_exact=False, atol=1e-9
    )
    summary = latest(project, "08_reporting/stored/report.md").read_text()
    assert str(victim_file) in summary and "**" in summary
    assert latest(project, "08_reporting/stored/roc_curves.png").stat().st_size > 0
    page = latest(project, "08_reporting/stored/report.html").read_text()
    assert str(victim_file) in page and page.count('src="data:image/png;base64,') == 1


# Another way to name the stored model; attack_stored itself stays in the fast set (above).
@pytest.mark.slow
def test_attack_stored_model_picks_a_catalog_version(finished_run: Path, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    version = latest(finished_run, "06_models/dense_models.pt").parent.name
    result = run_kedro(
        project,
        "--pipeline=attack_stored",
        "--params",
        "attack_stored.models=dense_models,attack_stored.shadows=dense",
        "--load-versions",
        f"stored_models:{version}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = stored_metrics(project)
    pd.testing.assert_frame_equal(
        metrics.loc["stored"], metrics.loc["project_dense"], check_exact=False, atol=1e-9
    )


def test_attack_stored_model_names_a_missing_file(finished_run: Path, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    missing = tmp_path / "nowhere.pt"
    result = run_kedro(
        project, "--pipeline=attack_stored", "--params", f"attack_stored.file={missing}"
    )
    assert result.returncode != 0
    assert str(missing) in result.stdout + result.stderr
