from kedro.pipeline import Node, Pipeline

from .nodes import train_dense


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_dense,
                ["dataset", "splits", "run_config"],
                ["dense_models", "dense_history", "dense_outputs", "dense_sample_uses"],
                name="train_dense_models",
            )
        ]
    )
