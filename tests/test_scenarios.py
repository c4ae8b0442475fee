"""Tests for the WeMem scenarios: the defense of every model, reuse statistics, and the
``scenario1``/``scenario2``/``scenario3`` Kedro pipelines end to end with ``--env=test``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro_project import latest, project_copy, run_kedro

from wemem_pipeline.core import scenario
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.pruning import PruningConfig
from wemem_pipeline.core.runs import prune_models_iteratively
from wemem_pipeline.core.splits import (
    VICTIM,
    SplitConfig,
    model_names,
    pool_samples,
    roles_of,
    split_samples,
)
from wemem_pipeline.core.training import TrainConfig

# ----------------------------------------------------------------------------- toy data
N_SAMPLES, N_TEST, N_FEATURES, N_CLASSES = 240, 60, 8, 3


def toy_dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = (np.arange(N_SAMPLES) % N_CLASSES).astype(np.int64)
    centers = rng.normal(size=(N_CLASSES, N_FEATURES))
    features = (centers[labels] + rng.normal(size=(N_SAMPLES, N_FEATURES))).astype(np.float32)
    is_test = np.arange(N_SAMPLES) >= N_SAMPLES - N_TEST
    return Dataset("toy", features, labels, is_test, tuple(f"c{c}" for c in range(N_CLASSES)))


def score_table(samples: np.ndarray, raw: np.ndarray) -> pd.DataFrame:
    normalized = pd.Series(raw).rank(method="average").to_numpy() / len(raw)
    return pd.DataFrame({"sample_index": samples, "raw_score": raw, "score": normalized})


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return toy_dataset()


@pytest.fixture(scope="module")
def splits(dataset: Dataset) -> pd.DataFrame:
    return split_samples(dataset.is_test, SplitConfig(num_shadows=2), seed=0)


# ----------------------------------------------------------------------------- defense_factory


def _opposite_tables() -> dict[str, pd.DataFrame]:
    """Both tables score every sample, in opposite orders: the victim's rises with the sample
    index, the shadows' falls. A model given the other pool's table picks other samples."""
    every = np.arange(N_SAMPLES)
    rising = every / N_SAMPLES
    return {"victim": score_table(every, rising), "shadow": score_table(every, 1 - rising)}


def test_defense_factory_gives_each_model_its_pools_scores(dataset, splits):
    tables = _opposite_tables()
    settings = {"threshold": 0.25, "scale": "top_fraction"}
    factory = scenario.defense_factory("rmr", settings, dataset, tables, 5e-4, seed=0)
    for name in model_names(splits):
        members = roles_of(splits, name)["member"]
        defense = factory(name, members)
        count = round(0.25 * len(members))
        ordered = np.sort(members)
        # Victim: the highest sample indices are the riskiest; shadows: the lowest.
        expected = ordered[-count:] if name == VICTIM else ordered[:count]
        assert sorted(defense.risky.tolist()) == sorted(expected.tolist()), name
        assert set(defense.risky.tolist()) <= set(members.tolist())


def test_defense_factory_windows_come_from_the_right_table(dataset, splits):
    tables = _opposite_tables()
    factory = scenario.defense_factory(
        "rsw", {"width": 3, "stride": 1}, dataset, tables, 5e-4, seed=0
    )
    for name in model_names(splits):
        members = roles_of(splits, name)["member"]
        (group,) = factory(name, members).plan_epoch(0)
        expected = set()
        for label in range(N_CLASSES):
            in_class = np.sort(members[dataset.labels[members] == label])
            # Low to high: the victim starts at its lowest indices, the shadows at their highest.
            expected |= set((in_class[:3] if name == VICTIM else in_class[-3:]).tolist())
        assert set(group.indices.tolist()) == expected, name


def test_defense_factory_swmr_shadows_use_shadow_risky_members(dataset, splits):
    tables = _opposite_tables()
    settings = {"window": {"width": 1.0, "stride": 0}, "risky": {"threshold": 0.6}}
    factory = scenario.defense_factory("swmr", settings, dataset, tables, 5e-4, seed=0)
    victim_members = roles_of(splits, VICTIM)["member"]
    shadow_members = roles_of(splits, "shadow_0")["member"]
    victim, shadow = factory(VICTIM, victim_members), factory("shadow_0", shadow_members)
    # Normalized >= 0.6 over all 240 samples: victim table -> indices >= 143; shadow -> <= 96.
    assert len(victim.regularization.risky) and len(shadow.regularization.risky)
    assert victim.regularization.risky.min() >= 143
    assert shadow.regularization.risky.max() <= 96
    # The whole class is the window: its risky/general groups follow the same tables.
    risky, general = victim.plan_epoch(0)
    assert set(risky.indices.tolist()) == set(victim.regularization.risky.tolist())
    assert general.indices.max() < 143
    summary = scenario.defense_summaries(factory, splits)["shadow_0"]
    assert summary["defense"] == "swmr"
    assert summary["risky_total"] == len(shadow.regularization.risky)
    assert set(summary["risky_per_class"]) == {"0", "1", "2"}


def test_defense_factory_with_scores_of_another_split_names_memorability(dataset, splits):
    victim_pool = pool_samples(splits, "victim")
    tables = {"victim": score_table(victim_pool, np.linspace(0, 1, len(victim_pool)))}
    tables["shadow"] = tables["victim"]  # scores that do not cover the shadow pool
    factory = scenario.defense_factory("rsw", {}, dataset, tables, 5e-4, seed=0)
    factory(VICTIM, roles_of(splits, VICTIM)["member"])
    with pytest.raises(ValueError, match="memorability"):
        factory("shadow_0", roles_of(splits, "shadow_0")["member"])


# ----------------------------------------------------------------------------- every model defended

SPEC = ModelSpec("mlp", hidden=(8,))
PRUNING = PruningConfig(sparsity=0.5, rounds=2, epochs_per_round=3)
TRAINING = TrainConfig(batch_size=32, patience=2)


@pytest.fixture(scope="module")
def pruned_runs(dataset, splits):
    """Base and RSW iterative pruning of the victim and both shadows from the same start."""
    dense = {
        name: SPEC.build(dataset.input_shape, dataset.num_classes, seed).state_dict()
        for seed, name in enumerate(model_names(splits))
    }
    tables = {}
    for pool in ("victim", "shadow"):
        samples = pool_samples(splits, pool)
        tables[pool] = score_table(samples, np.random.default_rng(1).random(len(samples)))
    factory = scenario.defense_factory(
        "rsw", {"width": 0.2, "stride": 0.05}, dataset, tables, TRAINING.weight_decay, seed=0
    )
    runs = {}
    for stage, defense_for in (("iterative", None), ("rsw", factory)):
        torch.manual_seed(0)
        _, history, outputs, uses = prune_models_iteratively(
            dataset,
            splits,
            SPEC,
            dense,
            PRUNING,
            TRAINING,
            seed=0,
            device=torch.device("cpu"),
            defense_for=defense_for,
            stage=stage,
        )
        runs[stage] = (history, outputs, uses)
    return runs


def _uses_by_model_round(uses: pd.DataFrame) -> pd.DataFrame:
    return uses.groupby(["model", "round"])["uses"].agg(["mean", "max", "size"])


def test_base_uses_every_member_once_per_epoch_run(pruned_runs, splits):
    history, _, uses = pruned_runs["iterative"]
    assert set(history["stage"]) == {"iterative"}
    epochs = history.set_index(["model", "round"])["epochs_run"]
    for (model, round_index), rows in uses.groupby(["model", "round"]):
        assert (rows["uses"] == epochs[(model, round_index)]).all()
        assert sorted(rows["sample_index"]) == sorted(roles_of(splits, model)["member"])


def test_rsw_reduces_the_uses_of_every_model_shadows_included(pruned_runs, splits):
    history, _, uses = pruned_runs["rsw"]
    base_history, _, base_uses = pruned_runs["iterative"]
    assert set(history["stage"]) == {"rsw"}
    assert set(uses["model"]) == set(model_names(splits)) == {VICTIM, "shadow_0", "shadow_1"}
    stats = _uses_by_model_round(uses)
    base_stats = _uses_by_model_round(base_uses)
    epochs = history.set_index(["model", "round"])["epochs_run"]
    for (model, round_index), row in stats.iterrows():
        assert row["size"] == len(roles_of(splits, model)["member"])
        # A window of a fifth of each class (+ a 5% stride) per epoch: far below one use
        # per epoch, which is what Base gives every member.
        assert row["mean"] <= 0.35 * epochs[(model, round_index)], (model, round_index)
    for model in model_names(splits):
        total = uses[uses["model"] == model]["uses"].sum()
        base_total = base_uses[base_uses["model"] == model]["uses"].sum()
        assert total < 0.5 * base_total, model
        assert base_stats.loc[model]["mean"].min() >= 1
    # The history's reuse columns agree with the uses table.
    for _, record in history.iterrows():
        rows = uses[(uses["model"] == record["model"]) & (uses["round"] == record["round"])]
        assert record["mean_uses"] == pytest.approx(rows["uses"].mean())
        assert record["max_uses"] == rows["uses"].max()
        assert record["members_seen"] == (rows["uses"] > 0).sum()
        assert record["members_seen"] < len(rows)
    assert base_history["members_seen"].tolist() == [
        len(roles_of(splits, m)["member"]) for m in base_history["model"]
    ]


def test_defended_outputs_cover_every_round_and_model(pruned_runs, splits):
    _, outputs, _ = pruned_runs["rsw"]
    assert sorted(outputs) == list(range(PRUNING.rounds))
    for round_outputs in outputs.values():
        assert set(round_outputs.logits) == set(model_names(splits))


# ----------------------------------------------------------------------------- reuse statistics


def test_reuse_statistics_by_hand():
    uses = pd.DataFrame(
        {
            "model": [VICTIM] * 6 + ["shadow_0"] * 2,
            "round": [0, 0, 0, 1, 1, 1, 0, 1],
            "sample_index": [5, 7, 9, 5, 7, 9, 5, 5],
            "uses": [2, 0, 1, 1, 0, 3, 9, 9],
        }
    )
    stats = scenario.reuse_statistics(uses)
    assert stats == {
        "members": 3,
        "members_seen_per_round": 2.0,  # 2 of 3 in each round
        "members_never_seen": 1,  # sample 7
        "mean_uses_per_round": pytest.approx((1.0 + 4 / 3) / 2),
        "max_uses_per_round": 3,
        "mean_uses_total": pytest.approx(7 / 3),  # totals 3, 0, 4
        "max_uses_total": 4,
    }
    shadow = scenario.reuse_statistics(uses, "shadow_0")
    assert shadow["members"] == 1
    assert shadow["mean_uses_total"] == 18
    assert shadow["members_never_seen"] == 0


def test_scenario_stages_attack_dense_base_last_round_and_every_defended_round():
    stages = scenario.scenario_stages("D", {0: "b0", 1: "b1", 2: "b2"}, {0: "r0", 2: "r2"}, "rsw")
    assert stages["dense"] == "D"
    assert stages["base"] == "b2"
    assert sorted(v for k, v in stages.items() if k.startswith("rsw_")) == ["r0", "r2"]


# ----------------------------------------------------------------------------- Kedro end to end

SCENARIOS = {"scenario1": "rsw", "scenario2": "rmr", "scenario3": "swmr"}


@pytest.fixture(scope="module")
def scenario_project(tmp_path_factory) -> Path:
    """One project copy: scenario1 runs everything; scenario2 and scenario3 then reuse its
    splits, mem-scores, dense and Base models and run only their own (namespaced) nodes."""
    project = project_copy(tmp_path_factory.mktemp("scenarios"))
    for name in SCENARIOS:
        args = [f"--pipeline={name}"]
        if name != "scenario1":
            args.append(f"--from-nodes={name}.prune_defended")
        result = run_kedro(project, *args)
        assert result.returncode == 0, name + result.stdout[-3000:] + result.stderr[-3000:]
    return project


@pytest.mark.parametrize(("name", "defense"), SCENARIOS.items())
def test_scenario_report(scenario_project: Path, name: str, defense: str) -> None:
    report = json.loads(latest(scenario_project, f"08_reporting/{name}/report.json").read_text())
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
    history = pd.read_csv(latest(scenario_project, "07_model_output/iterative_history.csv"))
    victim_epochs = history[history["model"] == VICTIM]["epochs_run"].sum()
    assert base["mean_uses_total"] == base["max_uses_total"] == victim_epochs
    assert base["members_never_seen"] == 0
    if defense in ("rsw", "swmr"):
        assert defended["mean_uses_total"] < base["mean_uses_total"]
        assert defended["members_seen_per_round"] < defended["members"]
    else:  # RMR trains every member every epoch, only with another decay
        assert defended["members_seen_per_round"] == defended["members"]
        assert defended["members_never_seen"] == 0
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]  # conf/test: 3 rounds
    assert set(report["defense_summary"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}
    if defense != "rsw":
        for summary in report["defense_summary"].values():
            assert summary["risky_total"] > 0

    for artifact in ("report.md", "report.csv", "privacy_utility.png", "roc_curves.png"):
        assert latest(scenario_project, f"08_reporting/{name}/{artifact}").stat().st_size > 0
    markdown = latest(scenario_project, f"08_reporting/{name}/report.md").read_text()
    assert markdown.startswith(f"# {name}: {defense.upper()}")


@pytest.mark.parametrize(("name", "defense"), SCENARIOS.items())
def test_scenario_shadows_are_defended_too(scenario_project: Path, name: str, defense: str):
    base = pd.read_csv(latest(scenario_project, "07_model_output/iterative_history.csv"))
    defended = pd.read_csv(latest(scenario_project, f"07_model_output/{name}/defended_history.csv"))
    assert set(defended["model"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}
    assert set(defended["stage"]) == {defense}
    merged = defended.merge(base, on=["model", "round"], suffixes=("", "_base"))
    assert len(merged) == len(defended) == 12  # 4 models x 3 rounds
    assert (merged["mean_uses_base"] == merged["epochs_run_base"]).all()
    if defense in ("rsw", "swmr"):
        assert (merged["mean_uses"] < 0.5 * merged["mean_uses_base"]).all()
        assert (merged["members_seen"] < merged["members_seen_base"]).all()
    uses = pd.read_parquet(
        latest(scenario_project, f"07_model_output/{name}/defended_sample_uses.parquet")
    )
    assert set(uses["model"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}


def test_bad_scenario_setting_stops_before_training(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    result = run_kedro(project, "--pipeline=scenario1", "--params", "scenario1.settings.width=0")
    assert result.returncode != 0
    assert "scenario1.settings.width" in result.stdout + result.stderr
    assert not list((project / "data").rglob("*.pt")), "no model may be trained or saved"
    assert not list((project / "data").rglob("*.parquet")), "nothing may run at all"
