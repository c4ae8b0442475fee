"""The check run before any training: every parameter a run may use, named when it is wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from .attacks import check_attack_params
from .audit import AuditConfig
from .autotune import AutotuneConfig
from .compare import check_compare_params
from .datasets import Dataset
from .defenses import AUTO, check_defense_settings
from .ensemble import ModelEnsemble
from .leaderboard import LeaderboardConfig
from .memorability import MemorabilityConfig, check_coverage, read_scores, score_file
from .models import check_model
from .pruning import PROCEDURES
from .run_config import SECTIONS, RunConfig, run_config
from .validation import ParameterError, check_known_keys, from_mapping, require_choice


def validate_parameters(params: Mapping[str, Any]) -> RunConfig:
    """Check every section a run uses, so bad input fails before any training starts.

    Returns the typed settings the nodes share (``run_config``).
    """
    check_top_level_keys(params)
    config = run_config(params)
    check_attack_params(params.get("attacks") or {}, config.split.num_shadows)
    check_attack_stored(params.get("attack_stored"))
    for key, section in params.items():
        if is_scenario(key, section):
            settings = section.get("settings")
            defense = section["defense"]
            if settings == AUTO:  # tuned settings, checked when tuned
                check_defense_settings(defense, {}, f"{key}.defense")
            else:
                check_defense_settings(defense, settings, f"{key}.settings")
    # After the scenarios: compare reuses their settings, and a bad one is theirs to name.
    if "compare" in params:
        check_compare_params(params["compare"])
    if "autotune" in params:
        from_mapping(AutotuneConfig, "autotune", params["autotune"])
    if "audit" in params:
        from_mapping(AuditConfig, "audit", params["audit"])
    if "leaderboard" in params:
        from_mapping(LeaderboardConfig, "leaderboard", params["leaderboard"])
    return config


def is_scenario(key: str, section: Any) -> bool:
    """A scenario's section: a mapping with a ``defense`` key (autotune's names the defense
    it tunes, and has no settings)."""
    return (
        key not in ("autotune", "audit", "leaderboard")
        and isinstance(section, Mapping)
        and "defense" in section
    )


def check_top_level_keys(params: Mapping[str, Any]) -> None:
    """Refuse a top-level key no section reads (``prunning.sparsity`` would be ignored).

    A scenario's section is any mapping with a ``defense`` key (``scenario3``, ...).
    """
    known = {
        "seed",
        "device",
        "threads",
        "workers",
        *SECTIONS,
        "attacks",
        "attack_stored",
        "compare",
        "autotune",
        "audit",
        "leaderboard",
    }
    scenarios = {key for key, section in params.items() if is_scenario(key, section)}
    unknown = sorted(set(params) - known - scenarios)
    if unknown:
        guesses = {key: difflib.get_close_matches(key, known, n=1) for key in unknown}
        meant = [f"{key!r} -> {guess[0]!r}" for key, guess in guesses.items() if guess]
        raise ParameterError(
            f"unknown top-level parameters {unknown}; known: {sorted(known | scenarios)}",
            hint=f"did you mean {', '.join(meant)}?" if meant else None,
        )


def check_attack_stored(values: Mapping[str, Any] | None) -> None:
    """The ``attack_stored`` section: which shadows, which model, which file."""
    values = dict(values or {})
    check_known_keys("attack_stored", values, ("shadows", "model", "models", "file"))
    require_choice("attack_stored.shadows", values.get("shadows", "iterative"), PROCEDURES)
    if not isinstance(values.get("model", "victim"), str):
        raise ParameterError(f"attack_stored.model must be a model name, got {values['model']!r}")


def check_model_on_data(config: RunConfig, dataset: Dataset, outputs: Iterable[str]) -> None:
    """Refuse a ``custom`` model that does not fit ``dataset`` (or gives non-finite logits
    for two of its samples), before any training.

    ``outputs`` are the run's artifacts: a run that makes Feldman mem-scores trains the model
    as a batched ensemble, so two stacked copies must run a forward pass too.
    """
    if config.model.name != "custom":
        return
    shape, classes = dataset.input_shape, dataset.num_classes
    check_model(config.model, shape, classes, torch.as_tensor(dataset.features[:2]))
    makes_scores = any(name.split(".")[-1].endswith("_mem_scores") for name in outputs)
    if makes_scores and config.memorability.method == "feldman":
        with torch.random.fork_rng(devices=[]):
            ModelEnsemble(config.model, shape, classes, [0, 1], torch.device("cpu"))


def makes_imported_scores(config: RunConfig, outputs: Iterable[str]) -> bool:
    """Whether a run with ``outputs`` imports mem-score files (``memorability.method: import``)."""
    makes_scores = any(name.split(".")[-1].endswith("_mem_scores") for name in outputs)
    return makes_scores and config.memorability.method == "import"


def check_imported_scores(
    config: MemorabilityConfig, pools: Iterable[Mapping[str, np.ndarray]]
) -> None:
    """Refuse, before any training, a mem-score file that cannot be read as scores or that
    leaves a sample of a pool without a score. ``pools``: each seed's ``victim`` and
    ``shadow`` pool samples."""
    pools = list(pools)
    for pool in ("victim", "shadow"):
        parameter = f"memorability.{pool}_scores_path"
        path = getattr(config, f"{pool}_scores_path")
        scores = read_scores(path, parameter)
        for samples in pools:
            check_coverage(scores, samples[pool], score_file(path, parameter))
