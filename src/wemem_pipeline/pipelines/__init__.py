"""Kedro pipelines: one folder each, registered by name in ``pipeline_registry.py``.

Nodes that split, train or prune take ``run_config``, the typed
:class:`~wemem_pipeline.core.run_config.RunConfig` that the project's hook builds from the
parameters before every run (``hooks.py``), instead of the raw parameter sections.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any


def bind(function: Callable[..., Any], **arguments: Any) -> Callable[..., Any]:
    """``function`` with ``arguments`` fixed, under its own name (Kedro names nodes by it)."""
    return update_wrapper(partial(function, **arguments), function)
