from kedro.pipeline import Node, Pipeline

from .nodes import train_dense


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_dense,
                [
                    "dataset",
                    "splits",
                    "params:model",
                    "params:training",
                    "params:seed",
                    "params:device",
                ],
                ["dense_models", "dense_history", "dense_outputs"],
                name="train_dense_models",
            )
        ]
    )
