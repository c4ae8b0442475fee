from kedro.pipeline import Node, Pipeline

from .. import bind
from .nodes import plot_scores, score_pool, summarize_scores


def create_pipeline(**kwargs) -> Pipeline:
    scoring = [
        Node(
            bind(score_pool, pool=pool),
            ["dataset", "splits", "run_config"],
            f"{pool}_mem_scores",
            name=f"score_{pool}_pool",
        )
        for pool in ("victim", "shadow")
    ]
    return Pipeline(
        [
            *scoring,
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
