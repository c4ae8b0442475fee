from kedro.pipeline import Node, Pipeline

from .. import bind
from .nodes import prune

NODE_NAMES = {"one_shot": "prune_one_shot", "iterative": "prune_iteratively"}
ARTIFACTS = ("models", "history", "outputs", "sample_uses")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                bind(prune, procedure=procedure),
                ["dataset", "splits", "dense_models", "run_config"],
                [f"{procedure}_{artifact}" for artifact in ARTIFACTS],
                name=name,
            )
            for procedure, name in NODE_NAMES.items()
        ]
    )
