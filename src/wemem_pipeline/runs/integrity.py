"""Every artifact a run touches, at one version and with its bytes checked.

Before a run's first node, :func:`guard_artifacts` replaces each versioned artifact of its
pipeline in the catalog by a :class:`CheckedArtifact`: one fixed version (the run's own for
what it makes, the chosen one for what earlier runs made), whose saves are logged with a
SHA-256 of the file in the run's record (:class:`~.records.SaveLog`) and whose loads are
refused when the file's hash differs from the one its run recorded. So a version another
process writes meanwhile is never picked up, and a damaged file never reaches a report.
The wrapper travels with the catalog to parallel and Dask workers, so the check runs
wherever a node runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec
from kedro.io import AbstractDataset, AbstractVersionedDataset, DataCatalog, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path

from ..core.errors import ArtifactError
from .records import RUNS_DIR, RunRecord, SaveLog

_CHUNK = 1 << 20


def file_digest(path: str) -> tuple[str, int]:
    """SHA-256 (hex) and size of the file at ``path`` (a local path or an fsspec URL)."""
    protocol, plain = get_protocol_and_path(path)
    digest, size = hashlib.sha256(), 0
    with fsspec.filesystem(protocol).open(plain, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_file(
    artifact: str, file: str, expected: Mapping[str, Any], made_by: str, project: Path
) -> None:
    """Refuse ``file`` unless its SHA-256 is the ``expected`` one run ``made_by`` recorded."""
    sha256, size = file_digest(file)
    if sha256 != expected["sha256"]:
        raise ArtifactError(
            f"{artifact}: {_relative(file, project)} is not the file run {made_by} saved "
            f"(SHA-256 {sha256[:12]}..., {size:,} bytes; its record says "
            f"{expected['sha256'][:12]}..., {expected['bytes']:,} bytes): it was changed or "
            "damaged after it was saved",
            hint=f"make it again, or load another version with --load-versions="
            f"{artifact}:<run id> (`kedro clean` lists the versions)",
        )


def artifact_file(dataset: AbstractVersionedDataset) -> str:
    """The file a versioned dataset loads from (its version fixed)."""
    return get_filepath_str(dataset._get_load_path(), dataset._protocol)


def _relative(file: str, project: Path) -> str:
    path = Path(file)
    return str(path.relative_to(project)) if path.is_relative_to(project) else file


class CheckedArtifact(AbstractDataset):
    """A versioned catalog entry at one version, whose file is hashed when saved and
    checked against its run's record when loaded.

    Args:
        artifact: the catalog name.
        dataset: the catalog's dataset, with ``version`` as its load and save version.
        project: the project root (files are recorded relative to it).
        made_by: the run whose record holds the file's hash: the run itself for what it
            makes (its save log, read at load time), an earlier run for its inputs.
        expected: the recorded ``{"file", "sha256", "bytes"}`` of an earlier run's artifact.
    """

    def __init__(
        self,
        artifact: str,
        dataset: AbstractVersionedDataset,
        project: Path,
        made_by: str,
        expected: Mapping[str, Any] | None = None,
    ) -> None:
        self._artifact, self._dataset, self._project = artifact, dataset, project
        self._made_by, self._expected = made_by, expected

    def load(self) -> Any:
        file = self._file()
        expected = self._expected or self._recorded(file)
        if expected is None:
            raise ArtifactError(
                f"{self._artifact}: {self._relative(file)} has no content hash in the "
                f"record of run {self._made_by}, so it cannot be checked",
                hint="make it again (the run that made it did not record what it saved)",
            )
        check_file(self._artifact, file, expected, self._made_by, self._project)
        return self._dataset.load()

    @property
    def made_by(self) -> str:
        """The run whose record holds the file's hash (its version)."""
        return self._made_by

    def remove_file(self) -> str | None:
        """Delete this version's file (what a lost attempt of its node saved); its path, or
        ``None`` when there was none."""
        file = self._file()
        protocol, path = get_protocol_and_path(file)
        filesystem = fsspec.filesystem(protocol)
        if not filesystem.exists(path):
            return None
        filesystem.rm(path)
        return file

    def _recorded(self, file: str) -> dict[str, Any] | None:
        """What this run's record (with its processes' save logs) says of ``file``."""
        record = RunRecord.load(self._project, self._made_by)
        return record.saved_file(self._relative(file)) if record else None

    def save(self, data: Any) -> None:
        self._dataset.save(data)
        file = self._file()
        sha256, size = file_digest(file)
        saved = {"version": self._made_by, "file": self._relative(file), "sha256": sha256}
        self._save_log().add(self._artifact, saved | {"bytes": size})

    def _file(self) -> str:
        return artifact_file(self._dataset)

    def _relative(self, file: str) -> str:
        return _relative(file, self._project)

    def _save_log(self) -> SaveLog:
        return SaveLog(self._project / RUNS_DIR, self._made_by)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _release(self) -> None:
        self._dataset.release()

    def _describe(self) -> dict[str, Any]:
        return {"artifact": self._artifact, "version": self._made_by, "dataset": self._dataset}


def guard_artifacts(
    catalog: DataCatalog,
    loaded: Mapping[str, str],
    made: set[str],
    run_id: str,
    records: Mapping[str, RunRecord | None],
    project: Path,
) -> None:
    """Put a :class:`CheckedArtifact` in ``catalog`` for each versioned artifact: ``loaded``
    (artifact -> version of an earlier run, whose record is in ``records``) and ``made``
    (this run's outputs, at version ``run_id``)."""
    for artifact, version in loaded.items():
        dataset = catalog.get(artifact, version=Version(version, run_id))
        file = _relative(artifact_file(dataset), project)
        made_by = records.get(version)
        expected = made_by.saved_file(file) if made_by else None
        if expected is None:
            raise ArtifactError(
                f"{artifact}@{version}: {file} has no content hash in its run's record "
                f"({RUNS_DIR / version}.json), so it cannot be checked",
                hint="make it again with this project (runs record a hash of every artifact)",
            )
        catalog[artifact] = CheckedArtifact(artifact, dataset, project, version, expected)
    for artifact in made:
        dataset = catalog.get(artifact, version=Version(run_id, run_id))
        catalog[artifact] = CheckedArtifact(artifact, dataset, project, run_id)


def load_checked(catalog: DataCatalog, artifact: str, record: RunRecord, project: Path) -> Any:
    """``artifact`` as ``record``'s run saved it, refused if its file changed since."""
    dataset = catalog.get(artifact, version=Version(record.run_id, record.run_id))
    expected = record.saved_file(_relative(artifact_file(dataset), project))
    return CheckedArtifact(artifact, dataset, project, record.run_id, expected).load()


def versioned(catalog: DataCatalog, names: set[str]) -> set[str]:
    """Those of ``names`` that are versioned files of the catalog (not a user's own file)."""
    return {
        name
        for name in names
        if (config := catalog.config_resolver.resolve_pattern(name) or {}).get("versioned")
        and not config.get("file")
    }
