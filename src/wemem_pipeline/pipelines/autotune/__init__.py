"""Let a defense choose its own settings on the defender's data (an Optuna study)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
