"""Nodes of the scenario pipelines (``scenario1``/``scenario2``/``scenario3``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import victim_and_shadows
from wemem_pipeline.core.chance import victim_chance_level
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.evaluation import earlier_rounds, evaluate_run, last_round
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.record_risk import record_risk, risk_summary
from wemem_pipeline.core.reports import figures
from wemem_pipeline.core.reports import record_risk as risk_figures
from wemem_pipeline.core.reports import scenario as report
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_checks import settings_warnings
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.scenario import scenario_stages
from wemem_pipeline.core.victim_and_shadows import StateDicts
from wemem_pipeline.runs.tuned_settings import SOURCES

RoundOutputs = dict[int, ModelOutputs]


def prune_defended(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    victim_mem_scores: pd.DataFrame,
    shadow_mem_scores: pd.DataFrame,
    scenario_name: str,
    defense: str,
    settings: dict[str, Any],
    run_config: RunConfig,
) -> tuple:
    """Iterative pruning of every dense model with the scenario's defense in each round:
    weights, history, outputs per round, member reuse and each model's defense summary."""
    scores = {"victim": victim_mem_scores, "shadow": shadow_mem_scores}
    pruned, summaries = victim_and_shadows.prune_with_defense(
        dataset,
        splits,
        run_config,
        dense_models,
        defense,
        settings,
        scores,
        section=f"{scenario_name}.settings",
        workers=run_config.worker_processes,
    )
    return *pruned.artifacts(), summaries


def attack_scenario(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_outputs: RoundOutputs,
    base_outputs: RoundOutputs,
    defended_outputs: RoundOutputs,
    defense: str,
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every attack against the dense, the Base-pruned and the defended victim (per round)."""
    stages = scenario_stages(dense_outputs, base_outputs, defended_outputs, defense)
    trend = earlier_rounds(defended_outputs, prefix=f"{defense}_")
    return evaluate_run(stages, splits, dataset.labels, attack_params, run_config, trend)


def report_scenario(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_history: pd.DataFrame,
    base_history: pd.DataFrame,
    defended_history: pd.DataFrame,
    base_sample_uses: pd.DataFrame,
    defended_sample_uses: pd.DataFrame,
    defense_summaries: dict[str, Any],
    attack_metrics: pd.DataFrame,
    risk: pd.DataFrame,
    scenario_name: str,
    defense: str,
    settings: dict[str, Any],
    parameters: dict[str, Any],
    run_config: RunConfig,
) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """The scenario's ``report.json``, its table and its markdown summary, with the warnings
    of its run."""
    scenario = {scenario_name: {"defense": defense, "settings": settings}}
    scenario_report = report.build_scenario_report(
        dataset.name,
        parameters,
        scenario_name,
        defense,
        {"dense": dense_history, "base": base_history, "defended": defended_history},
        attack_metrics,
        {"base": base_sample_uses, "defended": defended_sample_uses},
        defense_summaries,
        risk_summary(risk, defense),
        chance=victim_chance_level(dataset.labels, splits),
        warnings=settings_warnings(run_config, dataset, splits, scenario),
        settings=settings,
        settings_source=parameters.get(SOURCES, {}).get(f"{scenario_name}.settings"),
    )
    return (
        scenario_report,
        report.scenario_table(scenario_report),
        report.scenario_markdown(scenario_report),
    )


def plot_scenario(
    scenario_report: dict[str, Any], roc_curves: pd.DataFrame
) -> tuple[Figure, Figure]:
    """The privacy-utility plot and the ROC curves of Dense, Base and the defense."""
    panels = report.scenario_roc_panels(scenario_report)
    non_members = scenario_report["evaluation"]["non_members"]
    roc = figures.roc_figure(roc_curves, panels, non_members)
    return report.scenario_figure(scenario_report), roc


def scenario_html(
    scenario_report: dict[str, Any],
    privacy_utility_plot: bytes,
    roc_plot: bytes,
    record_risk_plot: bytes,
    exposed_records_plot: bytes,
) -> str:
    """``report.html``: the scenario's report with its plots embedded."""
    plots = {
        "privacy_utility.png": privacy_utility_plot,
        "roc_curves.png": roc_plot,
        "record_risk.png": record_risk_plot,
        "exposed_records.png": exposed_records_plot,
    }
    return html_page(report.scenario_document(scenario_report), plots)


def assess_record_risk(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_outputs: RoundOutputs,
    base_outputs: RoundOutputs,
    defended_outputs: RoundOutputs,
    dense_sample_uses: pd.DataFrame,
    base_sample_uses: pd.DataFrame,
    defended_sample_uses: pd.DataFrame,
    victim_mem_scores: pd.DataFrame,
    defense: str,
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> pd.DataFrame:
    """Every scored member of the victim under Dense, Base and the defense's last round:
    its exposure to LiRA and RMIA, its mem-score and its reuse per round."""
    stages = {
        "dense": last_round(dense_outputs),
        "base": last_round(base_outputs),
        defense: last_round(defended_outputs),
    }
    uses = {"dense": dense_sample_uses, "base": base_sample_uses, defense: defended_sample_uses}
    return record_risk(
        stages, uses, victim_mem_scores, splits, dataset.labels, attack_params, run_config.seed
    )


def plot_record_risk(dataset: Dataset, risk: pd.DataFrame, defense: str) -> tuple[Figure, Figure]:
    """Exposure against mem-score, Base and the defense; their most exposed members."""
    return (
        risk_figures.record_risk_figure(risk, defense),
        risk_figures.exposed_records_figure(dataset, risk, defense),
    )
