"""The audit pipeline: the splits (shared with the other pipelines), then the audit of
``audit.defenses`` and its report under ``data/08_reporting/audit/``."""

from kedro.pipeline import Node, Pipeline

from ..data_split import create_pipeline as data_split
from .nodes import audit_page, report_audit, run_audit


def create_pipeline(**kwargs) -> Pipeline:
    return data_split() + Pipeline(
        [
            Node(
                run_audit,
                ["dataset", "splits", "params:audit", "params:attacks", "run_config"],
                ["audit_metrics", "audit_exposure", "audit_stages"],
                name="run_audit",
            ),
            Node(
                report_audit,
                [
                    "dataset",
                    "audit_metrics",
                    "audit_exposure",
                    "audit_stages",
                    "params:audit",
                    "run_parameters",
                ],
                ["audit_report", "audit_summary", "audit_plot"],
                name="report_audit",
            ),
            Node(audit_page, ["audit_report", "audit_plot"], "audit_html", name="audit_page"),
        ]
    )
