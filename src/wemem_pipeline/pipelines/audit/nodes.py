"""Nodes of the ``audit`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import audit
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.reports import audit as report
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.validation import from_mapping
from wemem_pipeline.runs.tuned_settings import SOURCES


def run_audit(
    dataset: Dataset,
    splits: pd.DataFrame,
    audit_params: dict[str, Any],
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The audit's metrics, per-record exposure and per-model-kind summary."""
    config = from_mapping(audit.AuditConfig, "audit", audit_params)
    results = audit.run_audit(dataset, splits, run_config, config, attack_params)
    return results["metrics"], results["exposure"], results["stages"]


def report_audit(
    dataset: Dataset,
    audit_metrics: pd.DataFrame,
    audit_exposure: pd.DataFrame,
    audit_stages: pd.DataFrame,
    audit_params: dict[str, Any],
    run_parameters: dict[str, Any],
) -> tuple[dict[str, Any], str, Figure]:
    """``audit.json``, ``audit.md`` and ``audit_plot.png``, with each defense's settings and,
    for ``auto`` ones, their autotune study."""
    prefix = "audit.defenses."
    sources = {
        path.removeprefix(prefix): source
        for path, source in run_parameters.get(SOURCES, {}).items()
        if path.startswith(prefix)
    }
    document = report.audit_report(
        audit_metrics, audit_exposure, audit_stages, audit_params, dataset.name, sources
    )
    return document, report.audit_document(document).markdown(), report.audit_figure(document)


def audit_page(audit_report: dict[str, Any], audit_plot: bytes) -> str:
    """``report.html``: the audit report with its plot embedded."""
    return html_page(report.audit_document(audit_report), {"audit_plot.png": audit_plot})
