"""The autotune pipeline: splits and the victim pool's mem-scores (shared with the other
pipelines), then the study and its report under ``data/08_reporting/autotune/``."""

from kedro.pipeline import Node, Pipeline

from ..data_split import create_pipeline as data_split
from ..memorability import create_pipeline as memorability
from .nodes import autotune_page, report_autotune, tune_defense


def create_pipeline(**kwargs) -> Pipeline:
    victim_scores = memorability().only_nodes_with_outputs("victim_mem_scores")
    return (
        data_split()
        + victim_scores
        + Pipeline(
            [
                Node(
                    tune_defense,
                    [
                        "dataset",
                        "splits",
                        "victim_mem_scores",
                        "params:autotune",
                        "params:attacks",
                        "run_config",
                    ],
                    ["autotune_trials", "tuned_settings", "autotune_study"],
                    name="tune_defense",
                ),
                Node(
                    report_autotune,
                    ["autotune_trials", "tuned_settings"],
                    ["autotune_summary", "autotune_plot"],
                    name="report_autotune",
                ),
                Node(
                    autotune_page,
                    ["autotune_trials", "tuned_settings", "autotune_plot"],
                    "autotune_html",
                    name="autotune_page",
                ),
            ]
        )
    )
