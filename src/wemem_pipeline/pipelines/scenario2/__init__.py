"""Scenario 2: RMR (risky memory regularization) against inherent memorability."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
