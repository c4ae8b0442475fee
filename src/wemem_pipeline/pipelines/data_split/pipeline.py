from kedro.pipeline import Node, Pipeline

from .nodes import load, split


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(load, "params:dataset", "dataset", name="load_dataset"),
            Node(split, ["dataset", "params:split", "params:seed"], "splits", name="split_samples"),
        ]
    )
