from kedro.pipeline import Node, Pipeline

from .nodes import plot_scores, score_shadow_pool, score_victim_pool, summarize_scores

_INPUTS = [
    "dataset",
    "splits",
    "params:memorability",
    "params:model",
    "params:training",
    "params:seed",
    "params:device",
]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(score_victim_pool, _INPUTS, "victim_mem_scores", name="score_victim_pool"),
            Node(score_shadow_pool, _INPUTS, "shadow_mem_scores", name="score_shadow_pool"),
            Node(
                summarize_scores,
                ["victim_mem_scores", "shadow_mem_scores"],
                "mem_summary",
                name="summarize_mem_scores",
            ),
            Node(
                plot_scores,
                ["dataset", "victim_mem_scores", "shadow_mem_scores"],
                ["mem_histogram", "mem_extremes"],
                name="plot_mem_scores",
            ),
        ]
    )
