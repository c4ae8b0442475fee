"""The ``audit`` pipeline: worst-case leakage over many models, each the target in turn."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
