from kedro.pipeline import Node, Pipeline

from .nodes import prune_iteratively, prune_one_shot

_INPUTS = [
    "dataset",
    "splits",
    "dense_models",
    "params:model",
    "params:training",
    "params:pruning",
    "params:seed",
    "params:device",
]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                prune_one_shot,
                _INPUTS,
                ["one_shot_models", "one_shot_history", "one_shot_outputs"],
                name="prune_one_shot",
            ),
            Node(
                prune_iteratively,
                _INPUTS,
                [
                    "iterative_models",
                    "iterative_history",
                    "iterative_outputs",
                    "iterative_sample_uses",
                ],
                name="prune_iteratively",
            ),
        ]
    )
