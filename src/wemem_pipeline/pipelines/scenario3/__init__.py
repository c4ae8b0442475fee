"""Scenario 3: SWMR (sliding window + memory regularization) against both factors."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
