"""The report of a stored model attacked with the project's shadows, next to its own victim."""

from __future__ import annotations

import pandas as pd

from .run import evaluation_sizes
from .tables import (
    attack_dict,
    attack_tables,
    markdown_table,
    unresolvable_metrics,
    unresolvable_note,
)


def stored_markdown(metrics: pd.DataFrame, panels: dict[str, str], *, title: str, note: str) -> str:
    """A markdown table of every attack on each ``{title: stage}``, strongest in bold."""
    sizes = evaluation_sizes(metrics)
    unresolvable = unresolvable_metrics(sizes["non_members"])
    models = {panel: attack_dict(metrics, stage) for panel, stage in panels.items()}
    explanation = unresolvable_note(sizes["non_members"])
    lines = [
        f"# {title}",
        "",
        f"{note} {sizes['members']} members against {sizes['non_members']} non-members; "
        "bold marks the strongest attack per metric and model.",
        "",
        markdown_table(attack_tables(models, unresolvable)),
        "",
        *([explanation, ""] if explanation else []),
        "Plot: `roc_curves.png` (log-log ROC of every attack per model).",
        "",
    ]
    return "\n".join(lines)
