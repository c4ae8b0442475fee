"""Nodes of the ``attack_stored`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import reporting
from wemem_pipeline.core.config import model_spec
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.evaluation import evaluate_stages
from wemem_pipeline.core.runs import ModelOutputs, StateDicts, with_stored_victim
from wemem_pipeline.core.training import resolve_device


def attack_stored_model(
    dataset: Dataset,
    splits: pd.DataFrame,
    stored_models: StateDicts,
    dense_outputs: ModelOutputs,
    one_shot_outputs: ModelOutputs,
    iterative_outputs: dict[int, ModelOutputs],
    stored_params: dict[str, Any],
    model_params: dict[str, Any],
    attack_params: dict[str, Any],
    seed: int,
    device: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and ROC points of every attack on the stored model, next to the project's victim.

    The attacks are calibrated on the shadows of ``attack_stored.shadows``; the project's own
    victim of that stage is attacked too, as the reference to compare with.
    """
    shadows = stored_params["shadows"]
    outputs = {
        "dense": dense_outputs,
        "one_shot": one_shot_outputs,
        "iterative": iterative_outputs[max(iterative_outputs)],
    }[shadows]
    name = stored_params["model"]
    if name not in stored_models:
        raise KeyError(
            f"attack_stored.model: the stored file has no model {name!r}; it has "
            f"{sorted(stored_models)}"
        )
    stored = with_stored_victim(
        outputs,
        dataset,
        splits,
        model_spec(model_params),
        stored_models[name],
        seed=seed,
        device=resolve_device(device),
    )
    stages = {"stored": stored, f"project_{shadows}": outputs}
    return evaluate_stages(stages, splits, dataset.labels, attack_params, seed)


def summarize_stored(
    metrics: pd.DataFrame, roc: pd.DataFrame, stored_params: dict[str, Any]
) -> tuple[str, Figure]:
    """A markdown table (strongest attack per metric in bold) and the log-log ROC plot."""
    shadows = stored_params["shadows"]
    panels = {"Stored model": "stored", f"Project victim ({shadows})": f"project_{shadows}"}
    source = stored_params.get("file") or stored_params.get("models")
    text = reporting.stage_comparison_markdown(
        metrics,
        panels,
        title=f"Membership leakage of a stored model ({source})",
        note=f"Attacks calibrated on the project's {shadows} shadows.",
    )
    return text, reporting.roc_figure(roc, panels)
