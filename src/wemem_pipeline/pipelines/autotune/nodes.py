"""Nodes of the ``autotune`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import autotune
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.reports import autotune as report
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.validation import from_mapping

log = logging.getLogger(__name__)


def tune_defense(
    dataset: Dataset,
    splits: pd.DataFrame,
    victim_mem_scores: pd.DataFrame,
    autotune_params: dict[str, Any],
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """Run (or resume) the study: its trials, the chosen setting and a copy of the study."""
    config = from_mapping(autotune.AutotuneConfig, "autotune", autotune_params)
    storage = autotune.open_storage(config.storage)
    identity = autotune.study_identity(dataset, run_config, config)
    study = autotune.open_study(storage, identity, config)
    defender = autotune.DefenderStudy(
        dataset, splits, run_config, victim_mem_scores, config, attack_params
    )
    autotune.run_study(study, defender, log.info)
    autotune.check_at_victim_size(study, defender, log.info)
    trials = autotune.trials_table(study)
    return trials, autotune.tuned_settings(study, trials), autotune.study_snapshot(study, storage)


def report_autotune(trials: pd.DataFrame, tuned_settings: dict[str, Any]) -> tuple[str, Figure]:
    """``autotune.md`` and ``autotune.png``."""
    return (
        report.autotune_markdown(tuned_settings, trials),
        report.autotune_figure(tuned_settings, trials),
    )


def autotune_page(
    trials: pd.DataFrame, tuned_settings: dict[str, Any], autotune_plot: bytes
) -> str:
    """``report.html``: the autotune report with its plot embedded."""
    document = report.autotune_document(tuned_settings, trials)
    return html_page(document, {"autotune.png": autotune_plot})
