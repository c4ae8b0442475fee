"""Project pipelines: one folder each under ``pipelines/``; the scenario folder is registered
once per scenario (``scenario1``/``scenario2``/``scenario3``), each in its own namespace.

``__default__`` runs them all except ``attack_stored``, which reads a model file from an
earlier run (or the user) rather than one this run makes, and ``autotune``, a study of its
own that the scenarios use through ``settings: auto``, and ``audit``, which trains many models
of its own.

With several seeds (``evaluation.seeds``) the scenarios, ``compare`` and ``__default__`` run
once per seed, each in its namespace, and end with the aggregate over the seeds
(``pipelines/seeds``).
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from .pipelines import (
    attack_stored,
    attacks,
    audit,
    autotune,
    compare,
    data_split,
    leaderboard,
    memorability,
    pruning,
    reporting,
    scenario,
    seeds,
    training,
)
from .runs.seed_branches import BRANCHED, requested_seeds


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        module.__name__.rsplit(".", 1)[-1]: module.create_pipeline()
        for module in (
            data_split,
            memorability,
            training,
            pruning,
            attacks,
            reporting,
            compare,
            attack_stored,
            autotune,
            audit,
            leaderboard,
        )
    }
    pipelines |= {name: scenario.create_pipeline(name) for name in scenario.SCENARIOS}
    pipelines["__default__"] = sum(
        p
        for name, p in pipelines.items()
        if name not in ("attack_stored", "autotune", "audit", "leaderboard")
    )
    run_seeds = requested_seeds()
    if len(run_seeds) > 1:
        pipelines |= {name: seeds.create_pipeline(pipelines[name], run_seeds) for name in BRANCHED}
    return pipelines
