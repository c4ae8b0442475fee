from kedro.pipeline import Node, Pipeline

from .nodes import attack_all_stages


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                attack_all_stages,
                [
                    "dataset",
                    "splits",
                    "dense_outputs",
                    "one_shot_outputs",
                    "iterative_outputs",
                    "params:attacks",
                    "run_config",
                ],
                ["attack_metrics", "roc_curves"],
                name="attack_all_stages",
            )
        ]
    )
