"""The scenario pipeline, registered once per WeMem scenario (``scenario1``/``2``/``3``)."""

from .pipeline import SCENARIOS, create_pipeline

__all__ = ["SCENARIOS", "create_pipeline"]
