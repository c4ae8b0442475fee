from kedro.pipeline import Node, Pipeline

from .nodes import load, split


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(load, "run_config", "dataset", name="load_dataset"),
            Node(split, ["dataset", "run_config"], "splits", name="split_samples"),
        ]
    )
