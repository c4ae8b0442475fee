"""Nodes of the ``compare`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import audit, compare
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.reports import compare as report
from wemem_pipeline.core.reports.audit import audit_report
from wemem_pipeline.core.reports.document import Document
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.validation import from_mapping
from wemem_pipeline.core.victim_and_shadows import StateDicts
from wemem_pipeline.runs.tuned_settings import SOURCES


def compare_defenses(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    dense_history: pd.DataFrame,
    dense_outputs: dict[int, ModelOutputs],
    victim_mem_scores: pd.DataFrame,
    shadow_mem_scores: pd.DataFrame,
    compare_params: dict[str, Any],
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Base and every defense setting of ``compare.defenses``, next to the dense victim."""
    return compare.compare_defenses(
        dataset,
        splits,
        run_config,
        dense_models,
        (dense_history, dense_outputs),
        {"victim": victim_mem_scores, "shadow": shadow_mem_scores},
        compare.compared_runs(compare_params),
        attack_params,
    )


def audit_every_run(
    dataset: Dataset,
    splits: pd.DataFrame,
    compare_params: dict[str, Any],
    audit_params: dict[str, Any],
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """With ``compare.audit``: Base and every run of the grid through the audit (the
    ``audit`` section's models, canaries and attacks); else three empty tables."""
    if not compare_params.get("audit", False):
        nothing = pd.DataFrame(columns=["stage"])
        return nothing, nothing, nothing
    config = from_mapping(audit.AuditConfig, "audit", audit_params)
    runs = [("base", "base", {}), *compare.compared_runs(compare_params)]
    results = audit.run_audit(
        dataset, splits, run_config, config, attack_params, runs, "compare.defenses"
    )
    return results["metrics"], results["exposure"], results["stages"]


def report_comparison(
    comparison: pd.DataFrame,
    metrics: pd.DataFrame,
    dataset: Dataset,
    compare_params: dict[str, Any],
    parameters: dict[str, Any],
    audit_metrics: pd.DataFrame,
    audit_exposure: pd.DataFrame,
    audit_stages: pd.DataFrame,
) -> tuple[str, Figure]:
    """The markdown summary and the privacy-utility plot with the Pareto fronts (and, with
    ``compare.audit``, the audit's panels below)."""
    audited = _audit_report(dataset, audit_metrics, audit_exposure, audit_stages, parameters)
    return (
        _document(comparison, metrics, dataset, compare_params, parameters, audited).markdown(),
        report.comparison_figure(comparison, audited),
    )


def comparison_page(
    comparison: pd.DataFrame,
    metrics: pd.DataFrame,
    dataset: Dataset,
    compare_params: dict[str, Any],
    parameters: dict[str, Any],
    audit_metrics: pd.DataFrame,
    audit_exposure: pd.DataFrame,
    audit_stages: pd.DataFrame,
    compare_plot: bytes,
) -> str:
    """``report.html``: the comparison with its plot embedded."""
    audited = _audit_report(dataset, audit_metrics, audit_exposure, audit_stages, parameters)
    document = _document(comparison, metrics, dataset, compare_params, parameters, audited)
    return html_page(document, {"compare_plot.png": compare_plot})


def _audit_report(
    dataset: Dataset,
    metrics: pd.DataFrame,
    exposure: pd.DataFrame,
    stages: pd.DataFrame,
    parameters: dict[str, Any],
) -> dict[str, Any] | None:
    """The audit's report of every run, or None without ``compare.audit``."""
    if stages.empty:
        return None
    return audit_report(metrics, exposure, stages, parameters.get("audit", {}), dataset.name)


def _document(
    comparison: pd.DataFrame,
    metrics: pd.DataFrame,
    dataset: Dataset,
    compare_params: dict[str, Any],
    parameters: dict[str, Any],
    audited: dict[str, Any] | None,
) -> Document:
    """The comparison's report, with every run's settings and, for ``auto`` settings, their
    autotune study; with ``compare.audit``, the audit of every run."""
    prefix = "compare.defenses."
    sources = {
        path.removeprefix(prefix): source
        for path, source in parameters.get(SOURCES, {}).items()
        if path.startswith(prefix)
    }
    return report.comparison_document(
        comparison,
        dataset.name,
        int(metrics["non_members"].iloc[0]),
        compare.compared_runs(compare_params),
        sources,
        audited,
    )
