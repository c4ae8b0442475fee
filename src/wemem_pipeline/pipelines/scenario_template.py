"""The scenario pipeline template, namespaced once per scenario.

A scenario runs everything it needs (splits, mem-scores, dense models, Base iterative pruning:
shared with the other pipelines) and then, under its own namespace, the defended iterative
pruning of victim and shadows, the attacks and the scenario report.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from . import scenario_nodes as nodes
from .data_split import create_pipeline as data_split
from .memorability import create_pipeline as memorability
from .pruning import create_pipeline as pruning
from .training import create_pipeline as training

_SHARED_PARAMETERS = {
    "params:model",
    "params:training",
    "params:pruning",
    "params:attacks",
    "params:seed",
    "params:device",
}
_SHARED_INPUTS = {
    "dataset",
    "splits",
    "dense_models",
    "dense_history",
    "dense_outputs",
    "victim_mem_scores",
    "shadow_mem_scores",
    "iterative_history",
    "iterative_outputs",
    "iterative_sample_uses",
}


def _defended_part() -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.prune_defended,
                [
                    "dataset",
                    "splits",
                    "dense_models",
                    "victim_mem_scores",
                    "shadow_mem_scores",
                    "params:defense",
                    "params:settings",
                    "params:model",
                    "params:training",
                    "params:pruning",
                    "params:seed",
                    "params:device",
                ],
                [
                    "defended_models",
                    "defended_history",
                    "defended_outputs",
                    "defended_sample_uses",
                    "defense_summaries",
                ],
                name="prune_defended",
            ),
            Node(
                nodes.attack_scenario,
                [
                    "dataset",
                    "splits",
                    "dense_outputs",
                    "iterative_outputs",
                    "defended_outputs",
                    "params:defense",
                    "params:attacks",
                    "params:seed",
                ],
                ["attack_metrics", "roc_curves"],
                name="attack_scenario",
            ),
            Node(
                nodes.report_scenario,
                [
                    "dataset",
                    "dense_history",
                    "iterative_history",
                    "defended_history",
                    "iterative_sample_uses",
                    "defended_sample_uses",
                    "defense_summaries",
                    "attack_metrics",
                    "params:name",
                    "params:defense",
                    "parameters",
                ],
                ["report", "report_table", "report_summary"],
                name="report_scenario",
            ),
            Node(
                nodes.plot_scenario,
                ["report", "roc_curves"],
                ["privacy_utility_plot", "roc_plot"],
                name="plot_scenario",
            ),
        ]
    )


def create_scenario_pipeline(scenario: str) -> Pipeline:
    """Pipeline ``scenario`` (parameters under the ``scenario`` key, artifacts namespaced)."""
    upstream = data_split() + memorability() + training()
    base_pruning = pruning().only_nodes("prune_iteratively")
    defended = Pipeline(
        _defended_part(),
        namespace=scenario,
        inputs=_SHARED_INPUTS,
        parameters=_SHARED_PARAMETERS | {"parameters"},
    )
    return upstream + base_pruning + defended
