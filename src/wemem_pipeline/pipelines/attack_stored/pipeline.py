from kedro.pipeline import Node, Pipeline

from .nodes import attack_stored_model, stored_page, summarize_stored


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                attack_stored_model,
                [
                    "dataset",
                    "splits",
                    "stored_models",
                    "dense_outputs",
                    "one_shot_outputs",
                    "iterative_outputs",
                    "params:attack_stored",
                    "params:attacks",
                    "run_config",
                ],
                ["stored_attack_metrics", "stored_roc_curves"],
                name="attack_stored_model",
            ),
            Node(
                summarize_stored,
                [
                    "stored_attack_metrics",
                    "stored_roc_curves",
                    "params:attack_stored",
                    "run_parameters",
                ],
                ["stored_report_summary", "stored_roc_plot"],
                name="summarize_stored_attack",
            ),
            Node(
                stored_page,
                [
                    "stored_attack_metrics",
                    "params:attack_stored",
                    "run_parameters",
                    "stored_roc_plot",
                ],
                "stored_html",
                name="stored_page",
            ),
        ]
    )
