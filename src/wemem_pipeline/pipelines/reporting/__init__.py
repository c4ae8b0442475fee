"""Write the report: JSON, tables, markdown summary and plots."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
