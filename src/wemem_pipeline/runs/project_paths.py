"""Paths given as parameters, resolved against the project root before the first node.

A relative path means a place inside the project, whatever the working directory of
``kedro run`` (Kedro finds the project from a subfolder too) or of a Dask worker: it is made
absolute against the project root, and refused when it leads outside the project
(``autotune.storage=../../x.journal``), before anything creates a folder there. An absolute
path may point anywhere; one outside the project is logged. Paths are normalized as written
(``a/../b`` is ``b``), not by following links, so a ``data/`` that is a link to a larger disk
stays inside the project.

Run records keep the project-relative spelling of the paths inside the project, so that the
runs of two copies of a project (or of two checkouts sharing ``data/``) compare equal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from ..core.errors import ParameterError
from .versions import add_parameter, replacing_quietly

log = logging.getLogger(__name__)

# Every parameter that names a file or folder, as ``section.key``.
PATH_PARAMETERS = (
    "dataset.path",
    "dataset.raw_dir",
    "memorability.victim_scores_path",
    "memorability.shadow_scores_path",
    "autotune.storage",
    "attack_stored.file",
)
# The catalog entry that opens ``attack_stored.file`` (``file:`` in conf/base/catalog.yml).
_STORED_MODELS = "stored_models"


def resolve_paths(parameters: Mapping[str, Any], project: Path) -> dict[str, Any]:
    """``parameters`` with every path of :data:`PATH_PARAMETERS` absolute.

    Raises :class:`ParameterError` for a relative path that leads outside ``project``; logs
    the absolute paths outside it, once. Values that are not paths (``null``, a number, an
    fsspec URL such as ``s3://...``) are left as they are, for the parameter checks."""
    project = Path(os.path.abspath(project))
    resolved = dict(parameters)
    outside = []
    for name in PATH_PARAMETERS:
        section, key = name.split(".")
        values = resolved.get(section)
        if not isinstance(values, Mapping) or not _is_local_path(values.get(key)):
            continue
        given = os.path.expanduser(str(values[key]))
        absolute = Path(os.path.normpath(project / given))
        if not absolute.is_relative_to(project):
            if not os.path.isabs(given):
                raise ParameterError(
                    f"{name}={values[key]!r} leads outside the project (to {absolute}); a "
                    f"relative path is read from the project root {project}",
                    hint=f"give an absolute path if you mean a place outside the project: "
                    f"--params {name}={absolute}",
                )
            outside.append(f"{name}={absolute}")
        resolved[section] = {**values, key: str(absolute)}
    if outside:
        log.info("Paths outside the project: %s", ", ".join(outside))
    return resolved


def use_project_paths(catalog: Any, project: Path) -> dict[str, Any]:
    """The run's parameters with their paths resolved (:func:`resolve_paths`), put back in
    ``catalog`` for the nodes: ``parameters`` and ``params:<section>`` of the sections with
    paths."""
    parameters = resolve_paths(catalog.load("parameters"), project)
    sections = {name.split(".")[0] for name in PATH_PARAMETERS} & parameters.keys()
    with replacing_quietly():
        catalog["parameters"] = parameters
        for section in sections:
            add_parameter(catalog, section, parameters[section])
    return parameters


def point_stored_models(catalog: Any, parameters: Mapping[str, Any]) -> None:
    """``stored_models`` opens the resolved ``attack_stored.file``: the catalog takes it as
    given on the command line (its ``runtime_params``), which a node would open relative to
    its working directory. Call it once the input versions are chosen: replacing the entry
    drops its configuration, which the choice reads."""
    config = catalog.config_resolver.resolve_pattern(_STORED_MODELS) or {}
    file = (parameters.get("attack_stored") or {}).get("file")
    if not config.get("file") or not _is_local_path(file):
        return
    with replacing_quietly():  # a user's file has no versions: the catalog's are not read
        catalog[_STORED_MODELS] = AbstractDataset.from_config(
            _STORED_MODELS, {**config, "file": file, "versioned": False}
        )


def project_relative(settings: Mapping[str, Any], project: Path) -> dict[str, Any]:
    """A run record's ``settings`` with the paths inside ``project`` relative to it."""
    project = Path(os.path.abspath(project))
    portable = dict(settings)
    for name in PATH_PARAMETERS:
        section, key = name.split(".")
        values = portable.get(section)
        if not isinstance(values, Mapping) or not _is_local_path(values.get(key)):
            continue
        path = Path(str(values[key]))
        if path.is_absolute() and path.is_relative_to(project):
            portable[section] = {**values, key: path.relative_to(project).as_posix()}
    return portable


def _is_local_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and bool(str(value)) and "://" not in str(value)
