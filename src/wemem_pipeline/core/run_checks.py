"""Settings whose result would mean nothing, named before training starts.

A setting can be valid on its own and still make the run's report meaningless for the run's
data and model: pruning that leaves no weight, classes too small to split, an RSW window that
holds every member. Each check here gives a :class:`Finding`: refused (a
:class:`ParameterError` or :class:`DataError`) where the result cannot mean anything, warned
otherwise. The hook refuses and logs them before the first node (:func:`check_run_on_data`),
with the run's estimated time when it is long (:mod:`.run_time`); the reports list the same
warnings (:func:`settings_warnings`), so a report read later says what its run was warned
about.

What depends on mem-scores, which a node computes, is named when the defended training starts
(``Defense.idle_parts``) and in the scenario report; a victim at chance accuracy when its
training ends (:mod:`.chance`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .compare import compared_defenses, comparison_runs
from .datasets import Dataset
from .datasets.base import MIN_CLASS_SAMPLES
from .defenses import AUTO
from .defenses.dpsgd import DPSGDConfig, epsilon_bound, poisson_steps
from .defenses.windows import WindowConfig, window_coverage
from .errors import DataError, ParameterError, UserError
from .parameter_checks import check_model_on_data
from .pruning import weights_left
from .run_config import RunConfig
from .run_time import estimate_run_time
from .splits import VICTIM, member_class_sizes, roles_of, split_table
from .validation import from_mapping

logger = logging.getLogger(__name__)

# Windows that train on at least this share of Base's member-epochs make RSW Base in effect.
BASE_LIKE_SHARE = 0.95
# Artifacts (the last part of a dataset name) of pruned models: a run that makes one prunes.
_PRUNES = (
    "iterative_models",
    "one_shot_models",
    "defended_models",
    "compare_table",
    "tuned_settings",
)
_WINDOWED = ("rsw", "swmr")


@dataclass(frozen=True)
class Finding:
    """A setting that makes (part of) the result meaningless; ``refuse``: it cannot mean
    anything, so the run stops before the first node."""

    message: str
    refuse: bool = False
    hint: str | None = None
    error: type[UserError] = ParameterError  # what a refusal raises


def check_run_on_data(
    parameters: Mapping[str, Any], config: RunConfig, dataset: Dataset, outputs: Iterable[str]
) -> None:
    """Before the first node of a run that loads the data: refuse a custom model that does not
    fit it and settings whose result cannot mean anything (every refusal in one error); log a
    warning for every other finding, and the estimated time of a long run."""
    outputs = set(outputs)
    check_model_on_data(config, dataset, outputs)
    splits = split_table(dataset.is_test, config.split, config.seed)
    prunes = any(name.rsplit(".", 1)[-1] in _PRUNES for name in outputs)
    scenarios = {key: parameters.get(key) or {} for key in _scenarios(outputs)}
    findings = settings_findings(config, dataset, splits, scenarios, prunes)
    findings += privacy_findings(dp_sgd_settings(parameters, scenarios, outputs), config, splits)
    refused = [finding for finding in findings if finding.refuse]
    if refused:
        raise refused[0].error(
            "\n".join(finding.message for finding in refused),
            hint=" ; ".join(finding.hint for finding in refused if finding.hint) or None,
        )
    for finding in findings:
        logger.warning("%s", finding.message)
    estimate = estimate_run_time(parameters, config, dataset, splits, outputs)
    if estimate.is_long:
        logger.warning("%s", estimate.sentence())


def settings_warnings(
    config: RunConfig,
    dataset: Dataset,
    splits: pd.DataFrame,
    scenarios: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Every finding of :func:`settings_findings`, in words (for a report)."""
    return [finding.message for finding in settings_findings(config, dataset, splits, scenarios)]


def settings_findings(
    config: RunConfig,
    dataset: Dataset,
    splits: pd.DataFrame,
    scenarios: Mapping[str, Mapping[str, Any]] | None = None,
    prunes: bool = True,
) -> list[Finding]:
    """What the run's settings make meaningless for this data: classes too small to split,
    pruning that leaves (nearly) no weight (when the run ``prunes``), and the windows of the
    ``scenarios`` that run (their parameter sections, ``{defense, settings}``, by key)."""
    findings = class_size_findings(dataset, config.dataset.label_column)
    if prunes:
        findings += pruning_findings(config, dataset)
    sizes = member_class_sizes(splits, dataset.labels)
    epochs = config.pruning.epochs_per_round
    for key, section in (scenarios or {}).items():
        defense, settings = section.get("defense"), section.get("settings")
        findings += window_findings(key, defense, settings, sizes, epochs)
    return findings


def pruning_findings(config: RunConfig, dataset: Dataset) -> list[Finding]:
    """Pruning to ``pruning.sparsity`` that leaves a layer without any weight (refused: in a
    network whose every path runs through every layer, as in the built-in MLP and CNN, the
    output then no longer depends on the input), or fewer weights than one per layer plus
    one per class but one (warned: a chain of L layers needs a weight in each, and its last
    layer C - 1, before it can predict every one of C classes)."""
    with torch.random.fork_rng(devices=[]):
        model = config.model.build(dataset.input_shape, dataset.num_classes, seed=0)
    pruning = config.pruning
    left = weights_left(model, pruning.sparsity, pruning.scope)
    layers = len(weights_left(model, 0.0, "layer"))
    total = sum(weights_left(model, 0.0, "global").values())
    setting = f"pruning.sparsity={pruning.sparsity} (pruning.scope={pruning.scope})"
    hint = (
        f"lower pruning.sparsity: it keeps (1 - sparsity) of the model's {total:,} prunable weights"
    )
    where = f"{config.model.label} on {dataset.name}"
    if pruning.scope == "layer":
        empty = [name for name, count in left.items() if count == 0]
        if empty:
            return [
                Finding(
                    f"{setting} prunes every weight of layer(s) {empty} of {where}: the model's "
                    "output no longer depends on its input, and every leakage number would "
                    "be that of a model at chance",
                    refuse=True,
                    hint=hint,
                )
            ]
    kept = sum(left.values())
    if pruning.scope == "global" and kept < layers:
        return [
            Finding(
                f"{setting} leaves {kept:,} of the {total:,} prunable weights of {where}, fewer "
                f"than its {layers} prunable layers: at least one layer loses every weight, the "
                "model's output no longer depends on its input, and every leakage number would "
                "be that of a model at chance",
                refuse=True,
                hint=hint,
            )
        ]
    needed = layers - 1 + dataset.num_classes - 1
    if kept < needed:
        return [
            Finding(
                f"{setting} leaves {kept:,} of the {total:,} prunable weights of {where}; a "
                f"chain of {layers} layers needs {needed} to predict every one of its "
                f"{dataset.num_classes} classes, so the pruned model is likely at chance"
            )
        ]
    return []


def class_size_findings(dataset: Dataset, label_column: str | None = None) -> list[Finding]:
    """Classes with fewer than :data:`MIN_CLASS_SAMPLES` samples: the split leaves each model
    few or none of them as members and scored non-members. Refused when they are most
    classes (the labels look continuous or like an identifier: 1,797 distinct values for
    1,797 rows), warned otherwise. ``label_column`` names a user file's label column."""
    counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
    small = np.flatnonzero(counts < MIN_CLASS_SAMPLES)
    if not len(small):
        return []
    labels = f"the label column {label_column!r}" if label_column else "the labels"
    names = [dataset.class_names[c] for c in small[:5]]
    shown = ", ".join(repr(name) for name in names) + (" ..." if len(small) > 5 else "")
    what = (
        f"{labels} of {dataset.name} has {dataset.num_classes:,} distinct values for "
        f"{dataset.num_samples:,} samples, {len(small):,} of them with fewer than "
        f"{MIN_CLASS_SAMPLES} samples each ({shown})"
    )
    if len(small) > dataset.num_classes / 2:
        return [
            Finding(
                f"{what}: it looks continuous or like an identifier, not like classes, and "
                "classes this small cannot be split into members and non-members of every model",
                refuse=True,
                hint="set dataset.label_column to a column of class labels, or bin the values "
                f"into a few classes of at least {MIN_CLASS_SAMPLES} samples each first",
                error=DataError,
            )
        ]
    return [
        Finding(
            f"{what}: the split leaves each model few or no members and scored non-members of "
            "those classes, so the per-class attacks and windows rest on a handful of samples"
        )
    ]


def window_findings(
    key: str,
    defense: str | None,
    settings: Any,
    class_sizes: Mapping[str, np.ndarray],
    epochs: int,
) -> list[Finding]:
    """An RSW or SWMR window at least as wide as every class of every model: it restricts
    nothing, and only its slide leaves the lowest-ranked members out. When the windows then
    still train on :data:`BASE_LIKE_SHARE` of Base's member-epochs in a round of ``epochs``
    epochs, RSW is Base (refused) and SWMR is RMR (warned); otherwise both are warned."""
    if defense not in _WINDOWED or settings == AUTO:
        return []
    window = (settings or {}).get("window") if defense == "swmr" else settings
    section = f"{key}.settings" + (".window" if defense == "swmr" else "")
    config = from_mapping(WindowConfig, section, window)
    coverage = {
        model: window_coverage(config, sizes, epochs) for model, sizes in class_sizes.items()
    }
    if not coverage or not all(c.covers_every_class for c in coverage.values()):
        return []
    share = min(c.trained_share for c in coverage.values())
    largest = max(int(sizes.max()) for sizes in class_sizes.values() if len(sizes))
    name = "RSW" if defense == "rsw" else "SWMR"
    said = (
        f"{section}.width={config.width} is at least every class's size (largest: {largest} "
        f"members), so the window restricts nothing: with stride {config.stride} the windows "
        f"train on {share:.0%} of Base's member-epochs in a round of {epochs} epochs"
    )
    if share < BASE_LIKE_SHARE:
        return [Finding(f"{said}; {name} only leaves out the lowest-ranked members as it slides")]
    if defense == "rsw":
        return [
            Finding(
                f"{said}: RSW would train as Base, and its comparison with Base would measure "
                "nothing",
                refuse=True,
                hint=f"narrow the window ({section}.width, e.g. 0.25 of each class)",
            )
        ]
    return [Finding(f"{said}: SWMR trains as RMR")]


def dp_sgd_settings(
    parameters: Mapping[str, Any], scenarios: Mapping[str, Mapping[str, Any]], outputs: set[str]
) -> dict[str, dict[str, Any]]:
    """The DP-SGD settings the run trains, by the parameter section that gives them: the
    scenarios', every run of ``compare``'s grid and the audit's (tuned settings are the
    study's business)."""
    found = {
        f"{key}.settings": dict(section.get("settings") or {})
        for key, section in scenarios.items()
        if section.get("defense") == "dpsgd" and section.get("settings") != AUTO
    }
    compare = parameters.get("compare") or {}
    grid = (compared_defenses(compare) or {}).get("dpsgd")
    if _makes(outputs, "compare_table") and grid not in (None, AUTO) and not compare.get("tuned"):
        for label, _, settings in comparison_runs({"dpsgd": grid}):
            found[f"compare.defenses.dpsgd ({label})"] = settings
    audited = ((parameters.get("audit") or {}).get("defenses") or {}).get("dpsgd")
    if _makes(outputs, "audit_metrics") and audited not in (None, AUTO):
        found["audit.defenses.dpsgd"] = dict(audited)
    return found


def privacy_findings(
    settings: Mapping[str, Mapping[str, Any]], config: RunConfig, splits: pd.DataFrame
) -> list[Finding]:
    """DP-SGD settings whose training the accountant cannot bound (refused: the run would
    report an epsilon that is no guarantee). Counted on the victim's members, over every step
    the settings' ``scope`` covers, at most (every epoch of every round)."""
    members = len(roles_of(splits, VICTIM)["member"])
    rate, steps_per_epoch = poisson_steps(members, config.training.batch_size)
    pruning, delta = config.pruning, 1.0 / members
    findings = []
    for section, values in settings.items():
        dp = from_mapping(DPSGDConfig, section, values)
        epochs = pruning.rounds * pruning.epochs_per_round
        if dp.trains_dense:
            epochs += config.training.max_epochs
        steps = epochs * steps_per_epoch
        if epsilon_bound(dp.noise_multiplier, rate, steps, delta) is not None:
            continue
        enough = next(
            (
                sigma
                for sigma in (0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)
                if epsilon_bound(sigma, rate, steps, delta) is not None
            ),
            None,
        )
        findings.append(
            Finding(
                f"{section}: noise_multiplier={dp.noise_multiplier} gives no epsilon the RDP "
                f"accountant can bound over {steps} steps at sampling rate {rate:.3g} (delta "
                f"{delta:.2g}): the noise is too small for a privacy guarantee",
                refuse=True,
                hint=f"raise noise_multiplier (here {enough} has a bound)" if enough else None,
            )
        )
    return findings


def _makes(outputs: set[str], artifact: str) -> bool:
    return any(name.rsplit(".", 1)[-1] == artifact for name in outputs)


def _scenarios(outputs: set[str]) -> list[str]:
    """The scenario keys whose defended pruning the run makes."""
    keys = {name.split(".")[-2] for name in outputs if name.endswith(".defended_models")}
    return sorted(keys)
