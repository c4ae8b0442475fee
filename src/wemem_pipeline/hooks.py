"""Project hooks: the parameters are checked before the first node runs, then typed once."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from .core.parameter_checks import validate_parameters


class ParameterHooks:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Refuse bad parameters before any training; put the typed ``run_config`` (a
        :class:`~.core.run_config.RunConfig`) in the catalog beside the parameters, so that
        every node, in any selection of nodes, can take it."""
        catalog["run_config"] = validate_parameters(catalog.load("parameters"))
