"""Nodes of the ``attacks`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.evaluation import earlier_rounds, evaluate_run, last_round, round_stage
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.run_config import RunConfig

RoundOutputs = dict[int, ModelOutputs]


def attack_all_stages(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_outputs: RoundOutputs,
    one_shot_outputs: RoundOutputs,
    iterative_outputs: RoundOutputs,
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and ROC points of every attack on the dense, one-shot and per-round victims.

    ``one_shot_outputs`` is empty when no fitting one-shot stage is stored (the scenarios do
    not make one): the other stages are attacked, and the run's log says what was left out.
    """
    stages = {"dense": last_round(dense_outputs)}
    if one_shot_outputs:
        stages["one_shot"] = last_round(one_shot_outputs)
    stages |= {round_stage(r): outputs for r, outputs in sorted(iterative_outputs.items())}
    trend = earlier_rounds(iterative_outputs)
    return evaluate_run(stages, splits, dataset.labels, attack_params, run_config, trend)
