"""The report of a stored model attacked with the project's shadows, next to its own victim."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .document import Document
from .run import evaluation_sizes
from .tables import (
    attack_dict,
    attack_tables,
    checks_cells,
    reading_note_items,
    stage_checks,
    strongest_cell,
    unresolvable_metrics,
    unresolvable_note,
)


def stored_document(
    metrics: pd.DataFrame,
    panels: dict[str, str],
    parameters: dict[str, Any],
    *,
    title: str,
    note: str,
) -> Document:
    """A table of every attack on each ``{title: stage}``, strongest in bold, after each
    model's strongest attack, chance reference and shift check (``report.md`` and
    ``report.html``)."""
    sizes = evaluation_sizes(metrics, parameters)
    unresolvable = unresolvable_metrics(sizes["non_members"])
    models = {panel: attack_dict(metrics, stage) for panel, stage in panels.items()}
    checks = pd.DataFrame(
        [
            {
                "model": panel,
                "strongest AUC": strongest_cell(models[panel], "auc"),
                "strongest TPR@1%FPR": strongest_cell(
                    models[panel], "tpr_at_1pct_fpr", unresolvable
                ),
                **checks_cells(stage_checks(metrics, stage)),
            }
            for panel, stage in panels.items()
        ]
    )
    document = Document(title)
    document.paragraph(
        f"{note} {sizes['members']} members against {sizes['non_members']} non-members; "
        "bold marks the strongest attack per metric and model."
    )
    document.table(checks)
    document.table(attack_tables(models, unresolvable))
    document.figure("roc_curves.png", "Log-log ROC curves of every attack, per model")
    document.bullets(reading_note_items(sizes))
    document.paragraph(unresolvable_note(sizes["non_members"]))
    document.paragraph("Plot: `roc_curves.png` (log-log ROC of every attack per model).")
    return document
