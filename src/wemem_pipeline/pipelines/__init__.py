"""Kedro pipelines: one folder each, registered by name in ``pipeline_registry.py``.

Every pipeline that splits, trains or prunes starts from :func:`run_config_pipeline`, which
turns the parameters into the typed :class:`~wemem_pipeline.core.run_config.RunConfig`
once per run; its nodes take ``run_config`` instead of the raw parameter sections.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from wemem_pipeline.core.run_config import run_config


def run_config_pipeline() -> Pipeline:
    """The one node that builds ``run_config`` from the parameters."""
    return Pipeline([Node(run_config, "parameters", "run_config", name="build_run_config")])


def bind(function: Callable[..., Any], **arguments: Any) -> Callable[..., Any]:
    """``function`` with ``arguments`` fixed, under its own name (Kedro names nodes by it)."""
    return update_wrapper(partial(function, **arguments), function)
