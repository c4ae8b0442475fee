"""Project pipelines: one folder each under ``pipelines/``; the scenario folder is registered
once per scenario (``scenario1``/``scenario2``/``scenario3``), each in its own namespace.

``__default__`` runs them all except ``attack_stored``, which reads a model file from an
earlier run (or the user) rather than one this run makes, and ``autotune``, a study of its
own that the scenarios use through ``settings: auto``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from .pipelines import (
    attack_stored,
    attacks,
    autotune,
    compare,
    data_split,
    memorability,
    pruning,
    reporting,
    scenario,
    training,
)


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
        )
    }
    pipelines |= {name: scenario.create_pipeline(name) for name in scenario.SCENARIOS}
    pipelines["__default__"] = sum(
        p for name, p in pipelines.items() if name not in ("attack_stored", "autotune")
    )
    return pipelines
