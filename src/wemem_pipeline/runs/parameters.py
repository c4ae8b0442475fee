"""The project's parameters outside a Kedro session, for the benchmarks and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from wemem_pipeline.core.parameter_checks import validate_parameters
from wemem_pipeline.core.threads import use_threads
from wemem_pipeline.settings import CONFIG_LOADER_ARGS

from .versions import add_parameter


def load_parameters(conf_source: str | Path, env: str = "base") -> dict[str, Any]:
    """What ``kedro run --env=<env>`` validates: ``base`` softly overridden by ``env``.

    Uses the project's loader settings, so duplicate keys are an error and ``${...}``
    references between the files are resolved exactly as in a run.
    """
    loader = OmegaConfigLoader(str(conf_source), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
    return loader["parameters"]


def memory_catalog(parameters: Mapping[str, Any]) -> DataCatalog:
    """A catalog that feeds ``parameters`` to nodes as a project run does (``parameters``,
    ``run_parameters``, ``params:a``, ``params:a.b``, ..., and ``run_config``, after the same
    check of every parameter, with the same thread count) and keeps every other dataset in
    memory.

    With Kedro's runner it runs a pipeline without reading or writing ``data/``.
    """
    catalog = DataCatalog()
    catalog["parameters"] = catalog["run_parameters"] = parameters
    catalog["run_config"] = config = validate_parameters(parameters)
    use_threads(config.threads, config.model.name)

    for name, value in parameters.items():
        add_parameter(catalog, name, value)
    return catalog
