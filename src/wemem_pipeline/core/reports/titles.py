"""How reports name the models of a run: its stages and its defenses."""

from __future__ import annotations

from ..defenses import DEFENSES

TITLES = {
    "dense": "Dense",
    "one_shot": "One-shot pruned",
    "iterative": "Iteratively pruned",
    **{name: defense.title for name, defense in DEFENSES.items()},
}


def title(name: str) -> str:
    """The title of a stage or defense name; other names stay as they are."""
    return TITLES.get(name, name)
