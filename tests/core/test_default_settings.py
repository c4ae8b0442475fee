"""The shipped settings on the default data: every part of SWMR acts.

A fine-tuning round stops early when dev accuracy stalls, so only ``training.patience + 1``
epochs (at most ``pruning.epochs_per_round``) are sure to run. The risky members are the most
memorable of their class, the last ranks a low-to-high window reaches; these tests replay the
windows of those epochs, round after round, on the victim's real mem-scores.
"""

from __future__ import annotations

from typing import Any

import pytest
from kedro_project import CONF

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.defenses import DefenseContext, build_defense
from wemem_pipeline.core.defenses.swmr import SWMR
from wemem_pipeline.core.run_config import RunConfig, run_config
from wemem_pipeline.core.splits import VICTIM, pool_of, roles_of, split_table
from wemem_pipeline.pipelines.memorability.nodes import score_pool
from wemem_pipeline.runs.parameters import load_parameters


def victim_swmr(parameters: dict[str, Any], dataset: Dataset) -> tuple[SWMR, RunConfig]:
    """The victim's SWMR as a run with ``parameters`` builds it, with the victim pool's
    mem-scores computed by the configured estimator."""
    config = run_config({**parameters, "device": "cpu"})
    table = split_table(dataset.is_test, config.split, config.seed)
    scores = score_pool(dataset, table, config, pool_of(table, VICTIM))
    context = DefenseContext(
        roles_of(table, VICTIM)["member"],
        dataset.labels,
        dataset.num_classes,
        scores,
        base_weight_decay=config.training.weight_decay,
        seed=config.seed,
    )
    section = parameters["scenario3"]
    swmr = build_defense(section["defense"], section["settings"], context, "scenario3.settings")
    assert isinstance(swmr, SWMR)
    return swmr, config


@pytest.mark.parametrize("env", ["base", "test"])
def test_every_risky_member_enters_a_window_in_every_round(env, digits, one_thread):
    parameters = load_parameters(CONF, env)
    assert parameters["dataset"]["name"] == "digits"
    swmr, config = victim_swmr(parameters, digits)
    sure_epochs = min(config.training.patience + 1, config.pruning.epochs_per_round)
    for _ in range(config.pruning.rounds):
        for epoch in range(sure_epochs):
            swmr.plan_epoch(epoch)
    summary = swmr.summary()
    assert summary["risky_total"] > 0
    # Every risky member, not only some: the windows sweep every rank of every class.
    expected = [summary["risky_total"]] * config.pruning.rounds
    assert summary["risky_in_window_per_round"] == expected
    assert swmr.idle_parts(sure_epochs) == []
