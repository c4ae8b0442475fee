from kedro.pipeline import Node, Pipeline

from .nodes import compare_defenses, report_comparison


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compare_defenses,
                [
                    "dataset",
                    "splits",
                    "dense_models",
                    "dense_history",
                    "dense_outputs",
                    "victim_mem_scores",
                    "shadow_mem_scores",
                    "params:compare",
                    "params:attacks",
                    "run_config",
                ],
                ["compare_table", "compare_attack_metrics", "compare_defense_summaries"],
                name="compare_defenses",
            ),
            Node(
                report_comparison,
                ["compare_table", "compare_attack_metrics", "dataset"],
                ["compare_summary", "compare_plot"],
                name="report_comparison",
            ),
        ]
    )
