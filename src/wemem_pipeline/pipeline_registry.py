"""Project pipelines: one folder per name under ``pipelines/``.

``__default__`` runs them all except ``attack_stored``, which reads a model file from an
earlier run (or the user) rather than one this run makes.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(p for name, p in pipelines.items() if name != "attack_stored")
    return pipelines
