"""``settings: auto``: a defense's settings taken from the newest fitting autotune study.

A scenario's ``settings`` (``scenario3.settings: auto``), an entry of ``compare.defenses``
(``compare.defenses.ppb: auto``) or of ``audit.defenses``, or the whole comparison
(``compare.tuned: true``) may ask for tuned settings. Before the first node, each is
replaced by the settings of the newest ``tuned_settings.json`` made by a completed run for
that defense, this run's data, seed, split, model and pruning; a run that finds none stops
with the command that makes one. The resolved parameters name each setting's study, run and
file under ``settings_from_autotune``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kedro.io import DataCatalog

from ..core.autotune import tuned_for_differences
from ..core.compare import compared_defenses
from ..core.defenses import AUTO
from ..core.errors import ArtifactError
from ..core.run_config import RunConfig
from .integrity import check_file
from .records import COMPLETED, readable_record
from .versions import stored_versions

log = logging.getLogger(__name__)

ARTIFACT = "tuned_settings"
# The top-level key under which the resolved parameters say where each ``auto`` setting came
# from: ``{parameter path: {"study", "run", "file"}}``, for the reports and the run record.
SOURCES = "settings_from_autotune"


def auto_requests(parameters: Mapping[str, Any], used: Callable[[str], bool]) -> dict[str, str]:
    """``{parameter path: defense}`` of every setting asked as ``auto`` that the run uses
    (``used(top-level key)``)."""
    requests = {}
    for key, section in parameters.items():
        if isinstance(section, Mapping) and section.get("settings") == AUTO and used(key):
            requests[f"{key}.settings"] = section["defense"]
    audit = parameters.get("audit")
    if isinstance(audit, Mapping) and used("audit"):
        for defense, settings in (audit.get("defenses") or {}).items():
            if settings == AUTO:
                requests[f"audit.defenses.{defense}"] = defense
    compare = parameters.get("compare")
    if isinstance(compare, Mapping) and used("compare"):
        for defense, settings in (compared_defenses(compare) or {}).items():
            if settings == AUTO or compare.get("tuned") is True:
                requests[f"compare.defenses.{defense}"] = defense
    return requests


def resolve_auto_settings(
    parameters: Mapping[str, Any],
    requests: Mapping[str, str],
    catalog: DataCatalog,
    project: Path,
    dataset_fingerprint: str | None,
    run: RunConfig,
    seed_branch: bool = False,
) -> dict[str, Any]:
    """``parameters`` with every requested setting replaced by its tuned settings (those of
    ``run``'s seed; ``seed_branch``: one seed of a multi-seed run, tuned with that seed)."""
    resolved = copy.deepcopy(dict(parameters))
    studies = _completed_studies(catalog, project)
    problems, commands = [], []
    sources: dict[str, dict[str, str]] = {}
    for path, defense in requests.items():
        tuned, problem = _fitting(studies, path, defense, dataset_fingerprint, run)
        if problem:
            problems.append(problem)
            seed = f",seed={run.seed}" if seed_branch else ""
            commands.append(
                f"kedro run --pipeline=autotune --params autotune.defense={defense}{seed}"
            )
            continue
        *parents, leaf = path.split(".")
        section = resolved
        for parent in parents:
            section = section[parent]
        section[leaf] = tuned["settings"]
        sources[path] = {
            "study": tuned["study"],
            "run": tuned["version"],
            "file": tuned["file"],
            # What the study expects the setting to cost, for the report to set beside the
            # victim's measured loss.
            "estimate": {
                key: tuned["estimate"].get(key)
                for key in (
                    "accuracy_loss",
                    "accuracy_noise",
                    "loss_measured_on",
                    "max_accuracy_loss",
                )
            },
        }
        log.info(
            "%s = tuned settings of study %s (run %s): %s",
            path,
            tuned["study"],
            tuned["version"],
            json.dumps(tuned["settings"], sort_keys=True),
        )
    if problems:
        raise ArtifactError(
            "settings asked as auto have no fitting tuned settings:\n"
            + "\n".join(f"  - {problem}" for problem in problems),
            f"tune first, with this run's --env and --params: {' ; '.join(commands)}",
        )
    resolved[SOURCES] = {**resolved.get(SOURCES, {}), **sources}
    return resolved


def _completed_studies(catalog: DataCatalog, project: Path) -> list[dict[str, Any]]:
    """Every ``tuned_settings.json`` made by a completed run, newest first."""
    folder = Path(catalog.config_resolver.resolve_pattern(ARTIFACT)["filepath"])
    studies = []
    for version in stored_versions(catalog, ARTIFACT) or []:
        record = readable_record(project, version)
        if record is None or record.state() != COMPLETED or ARTIFACT not in record.saved:
            continue
        file = folder / version / folder.name
        check_file(ARTIFACT, str(file), record.saved[ARTIFACT], version, project)
        tuned = json.loads(file.read_text())
        shown = file.relative_to(project) if file.is_relative_to(project) else file
        studies.append({**tuned, "version": version, "file": shown.as_posix()})
    return studies


def _fitting(
    studies: list[dict[str, Any]],
    path: str,
    defense: str,
    dataset_fingerprint: str | None,
    run: RunConfig,
) -> tuple[dict[str, Any] | None, str | None]:
    """The newest study of ``defense`` that fits this run, or why there is none."""
    of_defense = [s for s in studies if s["defense"] == defense]
    if not of_defense:
        return None, f"{path}=auto: no completed autotune run has tuned {defense}"
    for study in of_defense:
        if not tuned_for_differences(study, dataset_fingerprint, run):
            return study, None
    newest = of_defense[0]
    differences = "; ".join(tuned_for_differences(newest, dataset_fingerprint, run))
    return None, (
        f"{path}=auto: {defense} was tuned for another setup; the newest study "
        f"(run {newest['version']}) has {differences}"
    )
