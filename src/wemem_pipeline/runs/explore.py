"""A finished run's artifacts in a notebook, all of one completed run (``notebooks/``).

The catalog alone would load each artifact's newest version, which may come from different
runs or from a run that failed; here every artifact is loaded at the version of the newest
completed run that wrote them all, and that run is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ArtifactError
from .integrity import load_checked
from .records import COMPLETED, RUNS_DIR, RunRecord, read_records


def scenario_artifacts(scenario: str = "scenario3", branch: str = "") -> dict[str, str]:
    """``{short name: catalog name}`` of what ``notebooks/explore_a_run.ipynb`` shows of a
    scenario run (``branch``: a seed branch's namespace, such as ``seed_1``)."""
    prefix = f"{branch}." if branch else ""
    names = {"dataset": "dataset", "mem_scores": "victim_mem_scores"}
    names |= {name: f"{scenario}.{name}" for name in ("report", "roc_curves", "record_risk")}
    return {short: f"{prefix}{name}" for short, name in names.items()}


def newest_complete_run(project: Path, artifacts: Sequence[str]) -> RunRecord | None:
    """The newest completed run whose record says it saved every one of ``artifacts``."""
    for _, record in sorted(read_records(project).items(), reverse=True):
        if record.state() == COMPLETED and set(artifacts) <= set(record.saved):
            return record
    return None


def load_run(
    catalog: Any, artifacts: dict[str, str], project: Path, command: str
) -> tuple[RunRecord, dict[str, Any]]:
    """The newest completed run that wrote ``artifacts`` ({short name: catalog name}) and
    each artifact at that run's version; ``command`` is the run to make them."""
    record = newest_complete_run(project, list(artifacts.values()))
    if record is None:
        # The whole instruction is in the message: a notebook shows only the exception's
        # message under its traceback.
        raise ArtifactError(
            f"no completed run in {project / RUNS_DIR} has written "
            f"{', '.join(artifacts.values())}: run `{command}` in {project} first"
        )
    loaded = {
        short: load_checked(catalog, name, record, project) for short, name in artifacts.items()
    }
    return record, loaded
