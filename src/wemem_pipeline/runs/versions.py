"""Which version of each artifact a run loads, and whether they belong together.

Before a run, :func:`choose_input_versions` picks for each artifact the run loads from earlier
runs the newest version made by a *completed* run with the run's own seed and settings (a
killed or failed run's versions are never picked unless named with ``--load-versions``; newer
versions made with other settings, by another ``--env`` say, are skipped and named). When no
such version exists it refuses, naming the settings and the environment the newest ones were
made with; it also refuses inputs made from different data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import DataCatalog

from ..core.errors import ArtifactError
from .records import COMPLETED, RunRecord, TornRecordError, shaping_sections

log = logging.getLogger(__name__)

# Inputs a run can do without: the one-shot stage, which ``scenario1/2/3`` do not make. A run
# that finds no fitting version attacks the stages there are (see ``left_out``).
OPTIONAL_INPUTS = frozenset({"one_shot_outputs"})


@dataclass
class _Candidate:
    """One stored version of an artifact and the record of the run that made it (``None``:
    no record, or a damaged one)."""

    artifact: str
    version: str
    file: str  # relative to the project
    record: RunRecord | None
    damaged: Path | None = None  # the run record, when it cannot be read

    @property
    def usable(self) -> bool:
        """Made by a completed run whose record holds the file's hash (to check it by)."""
        return self.state == COMPLETED and self.record.saved_file(self.file) is not None

    @property
    def state(self) -> str:
        if self.damaged:
            return f"its run record {self.damaged} is damaged"
        return self.record.state() if self.record else "no run record"

    @property
    def label(self) -> str:
        if self.state == COMPLETED and not self.usable:
            why = " (no content hash in its record)"
        else:
            why = "" if self.state == COMPLETED else f" ({self.state})"
        return f"{self.artifact}@{self.version}{why}"

    @property
    def env(self) -> str | None:
        """The ``--env`` of the run that made it (``None``: no record)."""
        return run_env(self.record) if self.record else None


def _folder(catalog: DataCatalog, artifact: str, project: Path) -> str:
    folder = Path(catalog.config_resolver.resolve_pattern(artifact)["filepath"])
    return str(folder.relative_to(project) if folder.is_relative_to(project) else folder)


def stored_versions(catalog: DataCatalog, artifact: str) -> list[str] | None:
    """Versions of a versioned catalog entry, newest first; ``None`` if it is not versioned
    or points to a user's file (``attack_stored.file``)."""
    config = catalog.config_resolver.resolve_pattern(artifact) or {}
    if not config.get("versioned") or config.get("file"):
        return None
    folder = Path(config["filepath"])
    if not folder.is_dir():
        return []
    return sorted((v.name for v in folder.iterdir() if (v / folder.name).exists()), reverse=True)


def choose_input_versions(
    catalog: DataCatalog,
    inputs: Iterable[str],
    record: RunRecord,
    requested: Mapping[str, str],
    project: Path,
    producers: Callable[[str], list[str]],
) -> dict[str, str]:
    """The version of each input to load, checked to belong together (see the module doc).

    ``requested`` are the ``--load-versions``; ``producers(artifact)`` names the pipelines
    that make an artifact (asked only for the message when one is missing).
    """
    records: dict[str, RunRecord | None] = {}
    damaged: dict[str, Path] = {}  # version -> its run record, which cannot be read

    def candidates(artifact: str) -> list[_Candidate] | None:
        versions = stored_versions(catalog, artifact)
        if versions is None:
            return None
        for version in versions:
            if version not in records:
                try:
                    records[version] = RunRecord.load(project, version)
                except TornRecordError as error:
                    records[version], damaged[version] = None, error.path
        folder = _folder(catalog, artifact, project)
        name = Path(folder).name
        return [
            _Candidate(
                artifact,
                version,
                f"{folder}/{version}/{name}",
                records[version],
                damaged.get(version),
            )
            for version in versions
        ]

    chosen: dict[str, _Candidate] = {}
    missing: dict[str, list[_Candidate]] = {}
    for artifact in sorted(inputs):
        stored = candidates(artifact)
        if stored is None:
            continue
        if artifact in requested:
            chosen[artifact] = _requested(artifact, requested[artifact], stored)
        elif picked := _newest_fitting(stored, record):
            chosen[artifact] = picked
        elif _is_optional(artifact):
            _log_left_out(artifact, stored, record, producers)
        elif usable := _newest_usable(stored):
            chosen[artifact] = usable  # made with other settings: refused below, with why
        else:
            missing[artifact] = stored
    if missing:
        folders = {a: _folder(catalog, a, project) for a in missing}
        raise _missing_error(missing, folders, producers)
    conflicts = _conflicts(chosen, record)
    if conflicts:
        raise _mix_error(conflicts, chosen, record, candidates, producers)
    return {artifact: c.version for artifact, c in chosen.items()}


def _requested(artifact: str, version: str, stored: list[_Candidate]) -> _Candidate:
    """The version ``--load-versions`` names, loaded as asked even if its run did not finish."""
    picked = next((c for c in stored if c.version == version), None)
    if picked is None:
        raise ArtifactError(
            f"--load-versions {artifact}:{version}: no such version",
            hint=f"stored versions: {', '.join(c.version for c in stored) or 'none'}",
        )
    if picked.state != COMPLETED:
        log.warning("Loading %s as asked, although its run did not complete", picked.label)
    return picked


def left_out(inputs: Iterable[str], loaded: Mapping[str, str]) -> set[str]:
    """The optional inputs (:data:`OPTIONAL_INPUTS`) the run goes without: no version fits."""
    return {artifact for artifact in inputs if _is_optional(artifact) and artifact not in loaded}


def _is_optional(artifact: str) -> bool:
    return artifact in OPTIONAL_INPUTS


def run_env(record: RunRecord) -> str:
    """The configuration environment a run used; records before this was stored say
    ``None`` for Kedro's default, ``local``."""
    return "local" if record.env in ("None", "") else record.env


def _newest_fitting(stored: list[_Candidate], record: RunRecord) -> _Candidate | None:
    """The newest version made by a completed run that recorded its hash, with this run's
    settings; newer ones are named (unfinished runs, versions no run of this project
    recorded, versions made with other settings)."""
    for index, candidate in enumerate(stored):
        if candidate.usable and not _setting_differences(candidate, record):
            _log_skipped(stored[:index], record)
            return candidate
    return None


def _newest_usable(stored: list[_Candidate]) -> _Candidate | None:
    """The newest version made by a completed run that recorded its hash, whatever its
    settings; newer unfinished ones are named."""
    for index, candidate in enumerate(stored):
        if candidate.usable:
            _log_skipped(stored[:index], None)
            return candidate
    return None


def _log_skipped(skipped: list[_Candidate], record: RunRecord | None) -> None:
    """Name the versions passed over: unfinished ones, and (with this run's ``record``)
    those made with other settings."""
    unfinished = [c.label for c in skipped if not c.usable]
    if unfinished:
        log.warning(
            "Skipping %s: not made by a run that completed and recorded it", ", ".join(unfinished)
        )
    other = [_made_with(c, record) for c in skipped if c.usable]
    if other:
        log.info("Skipping newer versions made with other settings: %s", "; ".join(other))


def _made_with(candidate: _Candidate, record: RunRecord) -> str:
    """``splits@<run> (--env=test: split.num_shadows=3 (this run: 5))``, at most three
    differences named."""
    differences = _setting_differences(candidate, record)
    more = len(differences) - 3
    differences = ", ".join(differences[:3]) + (f" and {more} more" if more > 0 else "")
    env = f"--env={candidate.env}: " if candidate.env != run_env(record) else ""
    return f"{candidate.label} ({env}{differences})"


def _log_left_out(
    artifact: str,
    stored: list[_Candidate],
    record: RunRecord,
    producers: Callable[[str], list[str]],
) -> None:
    made_by = producers(artifact)
    command = f"`kedro run --pipeline={made_by[0]}` makes it" if made_by else "no pipeline makes it"
    newest = next((c for c in stored if c.usable), None)
    why = f"the newest, {_made_with(newest, record)}, does not fit" if newest else "none is stored"
    log.info(
        "Going without %s: no completed run made it with this run's settings (%s); "
        "%s with the same --env and --params",
        artifact,
        why,
        command,
    )


def _conflicts(chosen: Mapping[str, _Candidate], record: RunRecord) -> list[str]:
    """Why the chosen versions cannot be used together in this run (empty: they can)."""
    problems = []
    data = {record.dataset_fingerprint: f"this run's {record.dataset}"}
    for c in chosen.values():
        if c.record and c.record.dataset_fingerprint:
            data.setdefault(c.record.dataset_fingerprint, f"{c.label} from {c.record.dataset}")
    data.pop(None, None)  # this run does not read the data files itself
    if len(data) > 1:
        problems.append(
            "they were made from different data: "
            + "; ".join(f"{made} (fingerprint {fingerprint})" for fingerprint, made in data.items())
        )
    made_with: dict[str, list[str]] = {}  # differences -> the artifacts made with them
    for candidate in chosen.values():
        differences = _setting_differences(candidate, record)
        if differences:
            env = f" (--env={candidate.env})" if candidate.env != run_env(record) else ""
            made_with.setdefault("; ".join(differences), []).append(candidate.label + env)
    problems += [
        f"{', '.join(labels)} {'was' if len(labels) == 1 else 'were'} made with {differences}"
        for differences, labels in made_with.items()
    ]
    return problems


def _setting_differences(candidate: _Candidate, record: RunRecord) -> list[str]:
    if candidate.record is None:
        return []
    made = _shaping_leaves(candidate.artifact, candidate.record.settings)
    now = _shaping_leaves(candidate.artifact, record.settings)
    return [
        f"{key}={made.get(key)!r} (this run: {now.get(key)!r})"
        for key in sorted(set(made) | set(now))
        if made.get(key) != now.get(key)
    ]


def _shaping_leaves(artifact: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting that shaped ``artifact``, by dotted name (``pruning.sparsity``)."""
    leaves: dict[str, Any] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{name}.{key}")
        else:
            leaves[name] = value

    for section in shaping_sections(artifact):
        walk(settings.get(section), section)
    return leaves


def _params_that_fit(chosen: Mapping[str, _Candidate], record: RunRecord) -> str | None:
    """``--params`` under which the newest inputs all fit this run, when there are such."""
    if len({c.record.dataset_fingerprint for c in chosen.values() if c.record}) > 1:
        return None  # other data: no parameter makes them fit
    made: dict[str, Any] = {}
    for candidate in chosen.values():
        if candidate.record is None:
            return None
        for key, value in _shaping_leaves(candidate.artifact, candidate.record.settings).items():
            if made.setdefault(key, value) != value:
                return None  # the inputs disagree among themselves
    now = {
        key: value
        for c in chosen.values()
        for key, value in _shaping_leaves(c.artifact, record.settings).items()
    }
    changes = {key: value for key, value in made.items() if now.get(key) != value}
    if not changes or any(isinstance(v, (list, dict)) for v in changes.values()):
        return None  # a list cannot be given with --params
    return ",".join(f"{key}={_as_param(value)}" for key, value in changes.items())


def _as_param(value: Any) -> str:
    """A value as ``--params`` spells it (``null``, ``true``, ``0.6``, ``digits``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _missing_error(
    missing: Mapping[str, list[_Candidate]],
    folders: Mapping[str, str],
    producers: Callable[[str], list[str]],
) -> ArtifactError:
    lines, commands = [], []
    for artifact, stored in missing.items():
        unfinished = f"; only: {', '.join(c.label for c in stored)}" if stored else ""
        made_by = producers(artifact)
        lines.append(
            f"  - {artifact}: no version from a completed run in {folders[artifact]}{unfinished}"
        )
        if made_by:
            commands.append(f"kedro run --pipeline={made_by[0]}")
    hint = "make them first with the same --env and --params"
    if commands:
        hint += ": " + " ; ".join(dict.fromkeys(commands)) + " (or `kedro run` for everything)"
    return ArtifactError(
        "this run loads artifacts that no completed run has made:\n" + "\n".join(lines), hint
    )


def _mix_error(
    conflicts: list[str],
    chosen: Mapping[str, _Candidate],
    record: RunRecord,
    candidates: Callable[[str], list[_Candidate] | None],
    producers: Callable[[str], list[str]],
) -> ArtifactError:
    """The refusal of a mix, with the ``--env``, ``--load-versions``, ``--params`` or
    pipelines that would work."""
    matching: dict[str, _Candidate] = {}
    for artifact in chosen:
        match = next(
            (c for c in candidates(artifact) if c.usable and not _setting_differences(c, record)),
            None,
        )
        if match:
            matching[artifact] = match
    fingerprints = {c.record.dataset_fingerprint for c in matching.values()}
    hints = []
    unfitting = [c for c in chosen.values() if _setting_differences(c, record)]
    envs = {c.env for c in unfitting}
    if len(envs) == 1 and (env := envs.pop()) not in (None, run_env(record)):
        hints.append(f"run it with --env={env}, the environment they were made in")
    if len(matching) == len(chosen) and len(fingerprints) == 1:
        versions = ",".join(f"{a}:{c.version}" for a, c in sorted(matching.items()))
        hints.append(f"load versions made with this run's parameters: --load-versions={versions}")
    if params := _params_that_fit(chosen, record):
        hints.append(
            f"use the newest ones with the parameters they were made with: --params {params}"
        )
    makers = [p[0] for c in unfitting if (p := producers(c.artifact))]
    if makers:
        commands = " ; ".join(f"kedro run --pipeline={m}" for m in dict.fromkeys(makers))
        hints.append(f"make them with this run's settings first: {commands}")
    elif not hints:
        hints.append("make the artifacts again with this run's parameters")
    message = "the newest inputs of this run do not belong together:\n" + "\n".join(
        f"  - {problem}" for problem in conflicts
    )
    return ArtifactError(message, "; or ".join(hints))


@contextmanager
def replacing_quietly():
    """Kedro warns 'Replacing dataset' when a version is pinned; that is what we mean."""
    catalog_log = logging.getLogger("kedro.io.data_catalog")
    level = catalog_log.level
    catalog_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        catalog_log.setLevel(level)


def add_parameter(catalog: DataCatalog, name: str, value: Any) -> None:
    """Put ``params:<name>`` and every ``params:<name>.<key>...`` below it in ``catalog``."""
    catalog[f"params:{name}"] = value
    if isinstance(value, Mapping):
        for key, item in value.items():
            add_parameter(catalog, f"{name}.{key}", item)
