"""The project's parameters outside a Kedro session, for the benchmarks and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

from wemem_pipeline.settings import CONFIG_LOADER_ARGS


def load_parameters(conf_source: str | Path, env: str = "base") -> dict[str, Any]:
    """What ``kedro run --env=<env>`` validates: ``base`` softly overridden by ``env``.

    Uses the project's loader settings, so duplicate keys are an error and ``${...}``
    references between the files are resolved exactly as in a run.
    """
    loader = OmegaConfigLoader(str(conf_source), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
    return loader["parameters"]
