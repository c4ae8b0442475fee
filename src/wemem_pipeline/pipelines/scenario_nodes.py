"""Nodes shared by the ``scenario1``/``scenario2``/``scenario3`` pipelines (one template)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import reporting, scenario
from wemem_pipeline.core.config import model_spec, pruning_config, train_config
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.evaluation import evaluate_stages
from wemem_pipeline.core.runs import ModelOutputs, StateDicts, prune_models_iteratively
from wemem_pipeline.core.training import resolve_device


def prune_defended(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    victim_mem_scores: pd.DataFrame,
    shadow_mem_scores: pd.DataFrame,
    defense: str,
    settings: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    pruning_params: dict[str, Any],
    seed: int,
    device: str,
) -> tuple[StateDicts, pd.DataFrame, dict[int, ModelOutputs], pd.DataFrame, dict[str, Any]]:
    """Iterative pruning of every dense model with the scenario's defense in each round."""
    training = train_config(training_params)
    scores = {"victim": victim_mem_scores, "shadow": shadow_mem_scores}
    defense_for = scenario.defense_factory(
        defense, settings, dataset, scores, training.weight_decay, seed
    )
    states, history, outputs, uses = prune_models_iteratively(
        dataset,
        splits,
        model_spec(model_params),
        dense_models,
        pruning_config(pruning_params),
        training,
        seed=seed,
        device=resolve_device(device),
        defense_for=defense_for,
        stage=defense,
    )
    summaries = scenario.defense_summaries(defense_for, splits)
    return states, history, outputs, uses, summaries


def attack_scenario(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_outputs: ModelOutputs,
    base_outputs: dict[int, ModelOutputs],
    defended_outputs: dict[int, ModelOutputs],
    defense: str,
    attack_params: dict[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every attack against the dense, the Base-pruned and the defended victim (per round)."""
    stages = scenario.scenario_stages(dense_outputs, base_outputs, defended_outputs, defense)
    return evaluate_stages(stages, splits, dataset.labels, attack_params, seed)


def report_scenario(
    dataset: Dataset,
    dense_history: pd.DataFrame,
    base_history: pd.DataFrame,
    defended_history: pd.DataFrame,
    base_sample_uses: pd.DataFrame,
    defended_sample_uses: pd.DataFrame,
    defense_summaries: dict[str, Any],
    attack_metrics: pd.DataFrame,
    scenario_name: str,
    defense: str,
    parameters: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """The scenario's ``report.json``, its table and its markdown summary."""
    report = scenario.build_scenario_report(
        dataset.name,
        parameters,
        scenario_name,
        defense,
        {"dense": dense_history, "base": base_history, "defended": defended_history},
        attack_metrics,
        {"base": base_sample_uses, "defended": defended_sample_uses},
        defense_summaries,
    )
    return report, scenario.scenario_table(report), scenario.scenario_markdown(report)


def plot_scenario(report: dict[str, Any], roc_curves: pd.DataFrame) -> tuple[Figure, Figure]:
    """The privacy-utility plot and the ROC curves of Dense, Base and the defense."""
    defense = report["defense"]
    last_round = report["rounds"][-1]["round"]
    title = scenario.DEFENSE_TITLES.get(defense, defense)
    panels = {
        "Dense": "dense",
        "Base (iteratively pruned)": "base",
        f"{title} (iteratively pruned)": f"{defense}_{reporting.round_stage(last_round)}",
    }
    return scenario.privacy_utility_figure(report), reporting.roc_figure(roc_curves, panels)
