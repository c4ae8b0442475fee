"""Project hooks: parameters are checked before the first node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from .core.parameter_checks import validate_parameters


class ParameterValidationHooks:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        validate_parameters(catalog.load("parameters"))
