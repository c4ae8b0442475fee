"""Nodes of the ``attack_stored`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.errors import ArtifactError
from wemem_pipeline.core.evaluation import evaluate_run, last_round
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.reports import figures, stored
from wemem_pipeline.core.reports.document import Document
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.victim_and_shadows import StateDicts, with_stored_victim

RoundOutputs = dict[int, ModelOutputs]


def attack_stored_model(
    dataset: Dataset,
    splits: pd.DataFrame,
    stored_models: StateDicts,
    dense_outputs: RoundOutputs,
    one_shot_outputs: RoundOutputs,
    iterative_outputs: RoundOutputs,
    stored_params: dict[str, Any],
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and ROC points of every attack on the stored model, next to the project's victim.

    The attacks are calibrated on the shadows of ``attack_stored.shadows`` (the last round
    of that procedure); the project's own victim of that stage is attacked too, as the
    reference to compare with.
    """
    shadows = stored_params["shadows"]
    by_procedure = {"dense": dense_outputs, "one_shot": one_shot_outputs}
    chosen = {**by_procedure, "iterative": iterative_outputs}[shadows]
    if not chosen:  # an optional input no fitting run has made
        raise ArtifactError(
            f"attack_stored.shadows={shadows}: no completed run made {shadows}_outputs with "
            "this run's settings",
            hint="make them first with the same --env and --params: kedro run --pipeline=pruning",
        )
    outputs = last_round(chosen)
    name = stored_params["model"]
    if name not in stored_models:
        raise KeyError(
            f"attack_stored.model: the stored file has no model {name!r}; it has "
            f"{sorted(stored_models)}"
        )
    victim = with_stored_victim(outputs, dataset, splits, run_config, stored_models[name])
    stages = {"stored": victim, f"project_{shadows}": outputs}
    return evaluate_run(stages, splits, dataset.labels, attack_params, run_config)


def summarize_stored(
    metrics: pd.DataFrame,
    roc: pd.DataFrame,
    stored_params: dict[str, Any],
    run_parameters: dict[str, Any],
) -> tuple[str, Figure]:
    """A markdown table (strongest attack per metric in bold) and the log-log ROC plot."""
    document = _document(metrics, stored_params, run_parameters)
    non_members = int(metrics["non_members"].min())
    return document.markdown(), figures.roc_figure(roc, _panels(stored_params), non_members)


def stored_page(
    metrics: pd.DataFrame,
    stored_params: dict[str, Any],
    run_parameters: dict[str, Any],
    stored_roc_plot: bytes,
) -> str:
    """``report.html``: the stored model's report with its ROC plot embedded."""
    document = _document(metrics, stored_params, run_parameters)
    return html_page(document, {"roc_curves.png": stored_roc_plot})


def _panels(stored_params: dict[str, Any]) -> dict[str, str]:
    shadows = stored_params["shadows"]
    return {"Stored model": "stored", f"Project victim ({shadows})": f"project_{shadows}"}


def _document(
    metrics: pd.DataFrame, stored_params: dict[str, Any], run_parameters: dict[str, Any]
) -> Document:
    source = stored_params.get("file") or stored_params.get("models")
    return stored.stored_document(
        metrics,
        _panels(stored_params),
        run_parameters,
        title=f"Membership leakage of a stored model ({source})",
        note=f"Attacks calibrated on the project's {stored_params['shadows']} shadows.",
    )
