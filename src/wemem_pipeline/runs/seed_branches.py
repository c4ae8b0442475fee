"""Multi-seed runs: one namespaced branch per seed, then aggregate reports over the seeds.

``evaluation.seeds: 3`` turns a scenario, ``compare`` or the default run into three
independent branches, ``seed_0``, ``seed_1`` and ``seed_2``: each is the single-seed
pipeline unchanged, wrapped as a Kedro modular pipeline in its seed's namespace. Why this
design: every branch stays an ordinary pipeline (a parallel runner can run them side by side,
``kedro viz`` draws them), every artifact stays catalog-managed and versioned, and nothing in
the nodes knows about seeds.

- **Datasets**: ``catalog.yml``'s entries are repeated per branch by :class:`ConfigLoader`
  (``seed_{branch_seed}.<entry>``), each in a ``seed_<s>/`` folder beside the single-seed
  file, so branches never write over each other or over a single-seed run.
- **Parameters**: a branch reads its own copy of the run's parameters with ``seed``
  replaced (``params:seed_4.*``, ``seed_4.parameters``, ``seed_4.run_config``), which the
  hook puts in the catalog.
- **Registration** must know the seeds before Kedro builds the pipelines; the hook stores the
  run's parameters (command-line ``--params`` included) as soon as the context exists, which
  is before Kedro first reads the registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from kedro.config import OmegaConfigLoader

from ..core.errors import ParameterError
from ..core.validation import from_mapping

# The pipelines a multi-seed run branches: whole experiments that make every artifact they use.
BRANCHED = ("scenario1", "scenario2", "scenario3", "compare", "__default__")
_PLACEHOLDER = "{branch_seed}"
_BRANCH = re.compile(r"(seed_\d+)\.")
_run_parameters: Mapping[str, Any] | None = None


def branch(seed: int) -> str:
    """The namespace of a seed's branch: ``seed_4``."""
    return f"seed_{seed}"


def split_branch(name: str) -> tuple[str | None, str]:
    """``("seed_4", "dense_models")`` of ``seed_4.dense_models``; ``(None, name)`` outside a
    branch."""
    match = _BRANCH.match(name)
    return (match.group(1), name[match.end() :]) if match else (None, name)


def remember_parameters(parameters: Mapping[str, Any] | None) -> None:
    """Keep the run's parameters for :func:`requested_seeds` (called by the hook)."""
    global _run_parameters
    _run_parameters = parameters


def requested_seeds() -> list[int]:
    """The run's seeds; one when there is no run (``kedro viz``) or ``evaluation.seeds`` is
    invalid (the hook then refuses it with its message before any node runs)."""
    # Imported here: settings.py imports this module for every command, `kedro --help` too,
    # and the run settings load torch.
    from ..core.run_config import EvaluationConfig

    parameters = _run_parameters or {}
    seed = parameters.get("seed", 0)
    try:
        evaluation = from_mapping(EvaluationConfig, "evaluation", parameters.get("evaluation"))
        return evaluation.seed_list(seed)
    except (ParameterError, TypeError):
        return [seed]


def branch_parameters(parameters: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The parameters of ``seed``'s branch: the run's, with ``seed`` replaced."""
    return {**parameters, "seed": seed}


def check_branched(pipeline_names: list[str] | None, seeds: list[int]) -> None:
    """Several seeds repeat whole experiments; a pipeline that reads an earlier run's
    artifacts has no branches to repeat."""
    names = pipeline_names or ["__default__"]
    single = [name for name in names if name not in BRANCHED]
    if single:
        raise ParameterError(
            f"evaluation.seeds asks for {len(seeds)} seeds {seeds}, but pipeline {single} "
            f"runs one seed at a time; several seeds run {list(BRANCHED)}",
            hint=f"run {single[0]} once per seed with --params seed=<seed>, or drop "
            "evaluation.seeds",
        )


def seed_catalog(catalog: Mapping[str, Any]) -> dict[str, Any]:
    """``catalog`` plus a ``seed_{branch_seed}.<name>`` entry per file-backed entry, whose
    file lies in a ``seed_{branch_seed}/`` folder beside the entry's own file."""
    branches = {}
    for name, entry in catalog.items():
        if name.startswith("_") or not isinstance(entry, Mapping) or "filepath" not in entry:
            continue
        path = PurePosixPath(entry["filepath"])
        folder = path.parent / f"seed_{_PLACEHOLDER}" / path.name
        branches[f"seed_{_PLACEHOLDER}.{name}"] = {**entry, "filepath": str(folder)}
    return {**catalog, **branches}


class ConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader, whose catalog also holds each entry's seed-branch variant."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        config = super().__getitem__(key)
        return seed_catalog(config) if key == "catalog" else config
