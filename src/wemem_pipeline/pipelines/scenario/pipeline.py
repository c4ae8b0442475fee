"""One scenario pipeline, registered once per scenario under its own namespace.

A scenario runs everything it needs (splits, mem-scores, dense models and Base iterative
pruning, shared with the other pipelines) and then, under its namespace (``scenario3.``),
the defended iterative pruning of victim and shadows, the attacks and the report. Its
parameters are the namespace's: ``scenario3.defense``, ``scenario3.settings``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..data_split import create_pipeline as data_split
from ..memorability import create_pipeline as memorability
from ..pruning import create_pipeline as pruning
from ..training import create_pipeline as training
from .nodes import (
    assess_record_risk,
    attack_scenario,
    plot_record_risk,
    plot_scenario,
    prune_defended,
    report_scenario,
    scenario_html,
)

SCENARIOS = ("scenario1", "scenario2", "scenario3")

# Outside the namespace: what the shared pipelines make, and the run's parameters.
_SHARED_INPUTS = {
    "dataset",
    "splits",
    "run_config",
    "run_parameters",
    "dense_models",
    "dense_history",
    "dense_outputs",
    "dense_sample_uses",
    "victim_mem_scores",
    "shadow_mem_scores",
    "iterative_history",
    "iterative_outputs",
    "iterative_sample_uses",
}
_SHARED_PARAMETERS = {"params:attacks"}


def _defended_pruning() -> Node:
    return Node(
        prune_defended,
        [
            "dataset",
            "splits",
            "dense_models",
            "victim_mem_scores",
            "shadow_mem_scores",
            "params:name",
            "params:defense",
            "params:settings",
            "run_config",
        ],
        [
            "defended_models",
            "defended_history",
            "defended_outputs",
            "defended_sample_uses",
            "defense_summaries",
        ],
        name="prune_defended",
    )


def _attacks_and_report() -> list[Node]:
    return [
        Node(
            attack_scenario,
            [
                "dataset",
                "splits",
                "dense_outputs",
                "iterative_outputs",
                "defended_outputs",
                "params:defense",
                "params:attacks",
                "run_config",
            ],
            ["attack_metrics", "roc_curves"],
            name="attack_scenario",
        ),
        Node(
            report_scenario,
            [
                "dataset",
                "splits",
                "dense_history",
                "iterative_history",
                "defended_history",
                "iterative_sample_uses",
                "defended_sample_uses",
                "defense_summaries",
                "attack_metrics",
                "record_risk",
                "params:name",
                "params:defense",
                "params:settings",
                "run_parameters",
                "run_config",
            ],
            ["report", "report_table", "report_summary"],
            name="report_scenario",
        ),
        Node(
            plot_scenario,
            ["report", "roc_curves"],
            ["privacy_utility_plot", "roc_plot"],
            name="plot_scenario",
        ),
    ]


def _record_risk() -> list[Node]:
    return [
        Node(
            assess_record_risk,
            [
                "dataset",
                "splits",
                "dense_outputs",
                "iterative_outputs",
                "defended_outputs",
                "dense_sample_uses",
                "iterative_sample_uses",
                "defended_sample_uses",
                "victim_mem_scores",
                "params:defense",
                "params:attacks",
                "run_config",
            ],
            "record_risk",
            name="assess_record_risk",
        ),
        Node(
            plot_record_risk,
            ["dataset", "record_risk", "params:defense"],
            ["record_risk_plot", "exposed_records_plot"],
            name="plot_record_risk",
        ),
    ]


def _html_report() -> Node:
    return Node(
        scenario_html,
        ["report", "privacy_utility_plot", "roc_plot", "record_risk_plot", "exposed_records_plot"],
        "report_html",
        name="scenario_html",
    )


def create_pipeline(scenario: str = "scenario3", **kwargs) -> Pipeline:
    """Pipeline ``scenario`` (parameters under the ``scenario`` key, artifacts namespaced)."""
    upstream = data_split() + memorability() + training()
    base_pruning = pruning().only_nodes("prune_iteratively")
    defended = Pipeline(
        [_defended_pruning(), *_attacks_and_report(), *_record_risk(), _html_report()],
        namespace=scenario,
        inputs=_SHARED_INPUTS,
        parameters=_SHARED_PARAMETERS,
    )
    return upstream + base_pruning + defended
