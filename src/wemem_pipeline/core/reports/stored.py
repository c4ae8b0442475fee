"""The report of a stored model attacked with the project's shadows, next to its own victim."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .run import evaluation_sizes
from .tables import (
    attack_dict,
    attack_tables,
    checks_cells,
    markdown_table,
    reading_notes,
    stage_checks,
    strongest_cell,
    unresolvable_metrics,
    unresolvable_note,
)


def stored_markdown(
    metrics: pd.DataFrame,
    panels: dict[str, str],
    parameters: dict[str, Any],
    *,
    title: str,
    note: str,
) -> str:
    """A markdown table of every attack on each ``{title: stage}``, strongest in bold, after
    each model's strongest attack, chance reference and shift check."""
    sizes = evaluation_sizes(metrics, parameters)
    unresolvable = unresolvable_metrics(sizes["non_members"])
    models = {panel: attack_dict(metrics, stage) for panel, stage in panels.items()}
    explanation = unresolvable_note(sizes["non_members"])
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
    lines = [
        f"# {title}",
        "",
        f"{note} {sizes['members']} members against {sizes['non_members']} non-members; "
        "bold marks the strongest attack per metric and model.",
        "",
        markdown_table(checks),
        "",
        markdown_table(attack_tables(models, unresolvable)),
        "",
        *reading_notes(sizes),
        "",
        *([explanation, ""] if explanation else []),
        "Plot: `roc_curves.png` (log-log ROC of every attack per model).",
        "",
    ]
    return "\n".join(lines)
