"""Audit: worst-case membership leakage, evaluated the way Aerni, Zhang & Tramer (CCS 2024) ask.

A defense is judged on the records that leak most, against strong adaptive attacks:

- **Canaries**: a share of the audited records gets a wrong label (mislabeled copies, the
  standard most-vulnerable records). Their mem-scores are computed like every other
  record's, so a defense that keys on memorability sees them as they are.
- **Many models, each the target in turn**: ``num_models`` models train on random halves of
  the records (each record IN for half of them), through the run's dense training, pruning
  schedule and the audited defense (the attacker's models are defended too). Each model in
  turn is the target and the others its IN and OUT references, which gives thousands of
  member / non-member pairs: TPR at 0.1% FPR becomes measurable.
- **Two evaluations**: population (every scored pair) and worst case (the canaries' pairs,
  the top mem-score fifth of the natural records' pairs, and the most-exposed records).

The audited records are the victim pool's members and scored non-members; the models
early-stop on the victim's dev samples, which also serve RMIA as its population (no audit
model trains on them; their selection of a checkpoint makes RMIA slightly conservative).
Scores of all targets are pooled into one ROC (Carlini et al. 2022); intervals resample
targets and records together.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import memorability
from .attacks import ATTACKS, build_attack
from .attacks.label_noise import LabelNoise
from .autotune import halves_table
from .compare import Run
from .datasets import Dataset
from .defenses import AUTO, check_defense_settings
from .errors import ParameterError
from .metrics import LOW_FPRS, weighted_metrics
from .outputs import ModelOutputs
from .progress import progress_bar
from .run_config import RunConfig
from .seeds import derive_seed
from .splits import VICTIM, model_names, roles_of
from .threads import check_threads
from .training import one_line_per_fit_off
from .validation import require_int, require_number
from .victim_and_shadows import (
    prune_with_defense,
    train_victim_and_shadows,
)
from .workers import worker_count

MIN_MODELS = 4
# More mislabeled records than this changes the task the models learn: the audit would
# measure another model than the one a user trains.
MAX_CANARY_SHARE = 0.1
_RESAMPLES_PER_BLOCK = 64
SUBSETS = ("population", "canaries", "memorable")
DENSE = "dense"


@dataclass(frozen=True)
class AuditConfig:
    """The ``audit`` parameter section; see ``conf/base/parameters_audit.yml``."""

    num_models: int = 16
    canaries: int | float = 0.05  # a count, or a share of the audited records (at most 0.1)
    defenses: Mapping[str, Any] = field(default_factory=lambda: {"base": {}})
    attacks: tuple[str, ...] = (
        "lira_online",
        "rmia_online",
        "lira",
        "rmia",
        "loss",
        "correctness",
        "label_noise",
    )
    memorable_fraction: float = 0.2  # the top mem-score share of the natural records
    fprs: tuple[float, ...] = (0.01, 0.001)
    exposed: int = 10  # most-exposed records listed per model kind
    workers: int | str = "auto"  # processes training the models; auto: one per core on a CPU

    def __post_init__(self) -> None:
        if isinstance(self.num_models, int) and self.num_models < MIN_MODELS:
            raise ParameterError(
                f"audit.num_models must be >= {MIN_MODELS}, got {self.num_models}: online "
                "LiRA needs, whichever model is the target, IN and OUT references for every "
                "record, and variances with degrees of freedom; 16 or more is usual, 64 on a GPU"
            )
        require_int("audit.num_models", self.num_models, MIN_MODELS)
        canaries = self.canaries
        if isinstance(canaries, bool) or not isinstance(canaries, (int, float)) or canaries < 0:
            raise ParameterError(f"audit.canaries must be a count or a share, got {canaries!r}")
        if isinstance(canaries, float) and canaries > MAX_CANARY_SHARE:
            raise ParameterError(
                f"audit.canaries={canaries} is above the budget of {MAX_CANARY_SHARE:.0%} "
                "mislabeled records: more would change the task the audited models learn"
            )
        if not isinstance(self.defenses, Mapping) or not self.defenses:
            raise ParameterError("audit.defenses must map one or more defenses to settings")
        for name, settings in self.defenses.items():
            # auto: its autotune study's settings, put in place before the first node
            tuned = settings == AUTO
            check_defense_settings(name, {} if tuned else settings or {}, f"audit.defenses.{name}")
        unknown = [name for name in self.attacks if name not in ATTACKS]
        if isinstance(self.attacks, str) or not self.attacks or unknown:
            raise ParameterError(
                f"audit.attacks must list attacks from {list(ATTACKS)}, got {self.attacks!r}"
            )
        require_number(
            "audit.memorable_fraction", self.memorable_fraction, 0, 1, low_inclusive=False
        )
        for fpr in self.fprs:
            require_number("audit.fprs", fpr, 0, 1, low_inclusive=False, high_inclusive=False)
            if fpr not in LOW_FPRS.values():
                raise ParameterError(f"audit.fprs takes values of {sorted(LOW_FPRS.values())}")
        require_int("audit.exposed", self.exposed, 1)
        check_threads(self.workers, "audit.workers")

    def canary_count(self, records: int) -> int:
        """How many of ``records`` become canaries."""
        count = self.canaries if isinstance(self.canaries, int) else round(self.canaries * records)
        if count > MAX_CANARY_SHARE * records:
            raise ParameterError(
                f"audit.canaries={self.canaries} asks for {count} canaries among {records} "
                f"audited records, above the budget of {MAX_CANARY_SHARE:.0%} "
                f"({int(MAX_CANARY_SHARE * records)})"
            )
        return count


# ----------------------------------------------------------------------------- the setup


def audited_records(splits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The victim pool's members and scored non-members (the audited records), its dev
    samples, and which of them come from the pool itself."""
    victim = roles_of(splits, VICTIM)
    rows = splits[splits["model"] == VICTIM]
    from_pool = rows.loc[rows["from_pool"], "sample_index"].to_numpy(np.int64)
    return np.union1d(victim["member"], victim["test"]), np.sort(victim["dev"]), from_pool


def plant_canaries(
    dataset: Dataset, records: np.ndarray, count: int, seed: int
) -> tuple[Dataset, np.ndarray]:
    """``dataset`` with ``count`` of ``records`` relabeled to another class, drawn uniformly
    (the canaries), and their indices."""
    if count and dataset.num_classes < 2:
        raise ParameterError("audit.canaries needs a dataset with a second class to mislabel to")
    rng = np.random.default_rng(derive_seed(seed, "audit", "canaries"))
    canaries = np.sort(rng.choice(records, count, replace=False))
    labels = dataset.labels.copy()
    shift = rng.integers(1, dataset.num_classes, size=count)
    labels[canaries] = (labels[canaries] + shift) % dataset.num_classes
    return dataclasses.replace(dataset, labels=labels), canaries


def audit_splits(
    records: np.ndarray, dev: np.ndarray, from_pool: np.ndarray, config: AuditConfig, seed: int
) -> pd.DataFrame:
    """The audit models' split table: ``audit_k`` on a random half of the records."""
    rng = np.random.default_rng(derive_seed(seed, "audit", "halves"))
    return halves_table(records, dev, config.num_models, rng, "audit", from_pool)


def resolvable_fprs(non_members: int) -> list[float]:
    """The FPRs of :data:`LOW_FPRS` that ``non_members`` scored non-members can measure."""
    return [fpr for fpr in sorted(LOW_FPRS.values()) if non_members * fpr >= 1]


def check_resolvable(config: AuditConfig, records: int) -> None:
    """Refuse FPRs that the pooled population's non-member pairs cannot measure."""
    pairs = (records // 2) * config.num_models
    fine = resolvable_fprs(pairs)
    missing = [fpr for fpr in config.fprs if fpr not in fine]
    if missing:
        raise ParameterError(
            f"audit.fprs {missing} need at least {int(1 / min(missing))} non-member pairs; "
            f"{config.num_models} models on {records} records give about {pairs}, which "
            f"resolve {fine or 'no FPR of ' + str(sorted(LOW_FPRS.values()))}: raise "
            "audit.num_models or drop them"
        )


# ----------------------------------------------------------------------------- the models


def audited_runs(config: AuditConfig) -> list[Run]:
    """``(label, defense, settings)`` of every defense of ``audit.defenses``, by its name."""
    return [(name, name, dict(settings or {})) for name, settings in config.defenses.items()]


@dataclass
class AuditedStage:
    """One kind of model (dense, or pruned with a defense setting): outputs and cost."""

    defense: str
    outputs: ModelOutputs
    history: pd.DataFrame
    seconds: float


def train_audit_models(
    dataset: Dataset,
    table: pd.DataFrame,
    run: RunConfig,
    mem_scores: pd.DataFrame,
    runs: list[Run],
    section: str = "audit.defenses",
    workers: int = 1,
    label_noise: LabelNoise | None = None,
) -> dict[str, AuditedStage]:
    """The dense audit models, then each run's iterative pruning of them, by run label;
    ``workers`` processes train a share of the models each (:mod:`.workers`); with
    ``label_noise`` every model is also queried on noisy inputs for that attack."""

    with one_line_per_fit_off():
        started = time.perf_counter()
        dense = train_victim_and_shadows(
            dataset, table, run, "dense", label_noise=label_noise, workers=workers
        )
        last = dense.outputs[max(dense.outputs)]
        stages = {DENSE: AuditedStage(DENSE, last, dense.history, time.perf_counter() - started)}
        for label, defense, settings in progress_bar(runs, "audited defenses"):
            started = time.perf_counter()
            pruned, _ = prune_with_defense(
                dataset,
                table,
                run,
                dense.states,
                defense,
                settings,
                {"victim": mem_scores},
                section=f"{section}.{defense}",
                every_round=False,
                label_noise=label_noise,
                workers=workers,
            )
            last = pruned.outputs[max(pruned.outputs)]
            seconds = time.perf_counter() - started
            stages[label] = AuditedStage(defense, last, pruned.history, seconds)
    return stages


def score_every_target(
    stage: str,
    outputs: ModelOutputs,
    table: pd.DataFrame,
    labels: np.ndarray,
    attack_params: Mapping[str, Any],
    config: AuditConfig,
    seed: int,
) -> pd.DataFrame:
    """Every audit model in turn the target, the others its shadows and IN/OUT references:
    one row per (attack, target, scored record)."""
    frames = []
    for target in model_names(table):
        shadows, scored = outputs.attack_sets(table, labels, seed, target)
        for name in config.attacks:
            result = build_attack(name, attack_params.get(name)).fit(shadows).score(scored)
            frames.append(
                pd.DataFrame(
                    {
                        "stage": stage,
                        "attack": name,
                        "target": target,
                        "sample_index": scored.sample_index,
                        "is_member": scored.is_member,
                        "score": result.scores,
                        "predicted_member": result.predicted_member,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- the metrics


def subset_masks(
    scores: pd.DataFrame, canaries: np.ndarray, mem_scores: pd.DataFrame, fraction: float
) -> dict[str, np.ndarray]:
    """Which scored rows each evaluation takes: all, the canaries', the memorable records'."""
    natural = mem_scores[~mem_scores["sample_index"].isin(canaries)]
    # By rank, not a score cut: a few models' scores tie, and a cut would take the ties too.
    top = natural.sort_values(["score", "sample_index"], ascending=[False, True])
    memorable = top["sample_index"].to_numpy()[: max(1, round(fraction * len(natural)))]
    index = scores["sample_index"].to_numpy()
    return {
        "population": np.ones(len(scores), dtype=bool),
        "canaries": np.isin(index, canaries),
        "memorable": np.isin(index, memorable),
    }


def _names(fprs: tuple[float, ...]) -> tuple[str, ...]:
    by_fpr = {fpr: name for name, fpr in LOW_FPRS.items()}
    return ("balanced_accuracy", "auc", *(by_fpr[f] for f in sorted(fprs, reverse=True)))


def pooled_metrics(
    rows: pd.DataFrame, names: tuple[str, ...], resamples: int, seed: int
) -> dict[str, float]:
    """``names`` over the pooled rows of one attack, and 95% intervals that resample the
    targets and the records together (each row counts ``target draws x record draws``)."""
    # Group numbers in the rows' own order (they pick the random draws), then highest first.
    targets = pd.factorize(rows["target"])[0]
    records = pd.factorize(rows["sample_index"])[0]
    order = np.argsort(-rows["score"].to_numpy(float), kind="stable")
    rows, targets, records = rows.iloc[order], targets[order], records[order]
    is_member = rows["is_member"].to_numpy(bool)
    scores, predicted = rows["score"].to_numpy(float), rows["predicted_member"].to_numpy(bool)
    point = weighted_metrics(scores, predicted, is_member[None], ~is_member[None], names)
    rng = np.random.default_rng(seed)

    def draws(groups: np.ndarray) -> np.ndarray:  # (resamples, groups): each group's draw count
        count = groups.max() + 1
        return rng.multinomial(count, np.full(count, 1 / count), resamples).astype(np.int32)

    target_draws, record_draws = draws(targets), draws(records)
    parts = []
    # A block of resamples at a time: the (resamples x rows) weights of a large audit do not
    # fit in memory at once.
    for start in range(0, resamples, _RESAMPLES_PER_BLOCK):
        block = slice(start, start + _RESAMPLES_PER_BLOCK)
        # np.take keeps rows contiguous (fancy indexing would not): the running sums need it.
        weights = np.take(target_draws[block], targets, 1) * np.take(
            record_draws[block], records, 1
        )
        parts.append(
            weighted_metrics(scores, predicted, weights * is_member, weights * ~is_member, names)
        )
    values = {}
    for name in names:
        resampled = np.concatenate([part[name] for part in parts])
        finite = resampled[np.isfinite(resampled)]
        values[name] = float(point[name][0])
        values[f"{name}_ci_low"], values[f"{name}_ci_high"] = (
            (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
            if len(finite)
            else (np.nan, np.nan)
        )
    return values


def chance_reference(
    rows: pd.DataFrame, names: tuple[str, ...], permutations: int, seed: int
) -> dict[str, float]:
    """The strongest attack's value when membership is shuffled within each target's rows
    (95th percentile over shuffles): what the pooled evaluation reaches with no leakage."""
    rng = np.random.default_rng(seed)
    first = rows[rows["attack"] == rows["attack"].iloc[0]]
    order = first[["target", "sample_index"]]
    shuffles = np.stack(
        [
            first.groupby("target")["is_member"]
            .transform(lambda m: rng.permutation(m.to_numpy()))
            .to_numpy(bool)
            for _ in range(permutations)
        ]
    )
    best = None
    for _, attack_rows in rows.groupby("attack"):
        aligned = order.merge(attack_rows, on=["target", "sample_index"], how="left")
        values = weighted_metrics(
            aligned["score"].to_numpy(float),
            aligned["predicted_member"].to_numpy(bool),
            shuffles,
            ~shuffles,
            names,
        )
        best = values if best is None else {n: np.maximum(best[n], values[n]) for n in names}
    return {f"chance_{name}_q95": float(np.percentile(best[name], 95)) for name in names}


def audit_metrics(
    scores: pd.DataFrame,
    masks: dict[str, np.ndarray],
    config: AuditConfig,
    resamples: int,
    permutations: int,
    seed: int,
) -> pd.DataFrame:
    """One row per (stage, evaluation, attack): the pooled metrics with intervals, the pairs
    they stand on, the FPRs those pairs resolve, and each evaluation's chance reference."""
    names = _names(config.fprs)
    rows = []
    for subset, mask in masks.items():
        chosen = scores[mask]
        for stage, stage_rows in chosen.groupby("stage", sort=False):
            if stage_rows["is_member"].all() or not stage_rows["is_member"].any():
                continue
            chance = chance_reference(
                stage_rows, names, permutations, derive_seed(seed, "audit chance", stage, subset)
            )
            for attack, attack_rows in stage_rows.groupby("attack", sort=False):
                non_members = int((~attack_rows["is_member"]).sum())
                rows.append(
                    {
                        "stage": stage,
                        "evaluation": subset,
                        "attack": attack,
                        "members": int(attack_rows["is_member"].sum()),
                        "non_members": non_members,
                        "targets": attack_rows["target"].nunique(),
                        "records": attack_rows["sample_index"].nunique(),
                        "lowest_resolvable_fpr": 1 / non_members,
                        **pooled_metrics(
                            attack_rows,
                            names,
                            resamples,
                            derive_seed(seed, "audit bootstrap", stage, subset),
                        ),
                        **chance,
                    }
                )
    return pd.DataFrame(rows)


def record_exposure(
    scores: pd.DataFrame,
    metrics: pd.DataFrame,
    canaries: np.ndarray,
    mem_scores: pd.DataFrame,
) -> pd.DataFrame:
    """Per stage and record: how often the stage's strongest attack (population TPR@1%FPR)
    flags the record as a member when it is IN, at the pooled threshold of 1% FPR."""
    frames = []
    population = metrics[metrics["evaluation"] == "population"]
    for stage, stage_metrics in population.groupby("stage", sort=False):
        attack = stage_metrics.loc[stage_metrics["tpr_at_1pct_fpr"].idxmax(), "attack"]
        rows = scores[(scores["stage"] == stage) & (scores["attack"] == attack)]
        outside = np.sort(rows.loc[~rows["is_member"], "score"].to_numpy())[::-1]
        threshold = outside[int(np.floor(0.01 * len(outside)))]  # at most 1% flagged
        inside = rows[rows["is_member"]]
        inside = inside.assign(flagged=inside["score"].to_numpy() > threshold)
        per_record = inside.groupby("sample_index").agg(
            exposure=("flagged", "mean"), in_targets=("flagged", "size")
        )
        per_record = per_record.reset_index().assign(stage=stage, attack=attack)
        frames.append(per_record)
    exposure = pd.concat(frames, ignore_index=True)
    exposure["canary"] = exposure["sample_index"].isin(canaries)
    scores_by_record = mem_scores.set_index("sample_index")["score"]
    exposure["mem_score"] = exposure["sample_index"].map(scores_by_record)
    return exposure


def stage_summary(stages: dict[str, AuditedStage], table: pd.DataFrame) -> pd.DataFrame:
    """Per stage: the audit models' mean accuracy on their OUT records and dev, and the
    seconds it took (a defense's fine-tuning time against Base's)."""
    rows = []
    for stage, audited in stages.items():
        last = audited.history.groupby("model").tail(1)
        rows.append(
            {
                "stage": stage,
                "defense": audited.defense,
                "test_accuracy": float(last["test_accuracy"].mean()),
                "dev_accuracy": float(last["dev_accuracy"].mean()),
                "seconds": audited.seconds,
                "models": int(last["model"].nunique()),
            }
        )
    summary = pd.DataFrame(rows)
    if "base" in set(summary["defense"]):
        base = float(summary.loc[summary["defense"] == "base", "seconds"].iloc[0])
        summary["time_relative_to_base"] = summary["seconds"] / base
    return summary


def label_noise_probe(config: AuditConfig, attack_params: Mapping[str, Any]) -> LabelNoise | None:
    """The ``label_noise`` attack whose noisy queries the models' outputs must record, when
    the audit runs it (its scales and draws are ``attacks.label_noise``'s)."""
    if "label_noise" not in config.attacks:
        return None
    return build_attack("label_noise", attack_params.get("label_noise"))


def run_audit(
    dataset: Dataset,
    splits: pd.DataFrame,
    run: RunConfig,
    config: AuditConfig,
    attack_params: Mapping[str, Any],
    runs: list[Run] | None = None,
    section: str = "audit.defenses",
) -> dict[str, pd.DataFrame]:
    """The whole audit: canaries, their mem-scores, the models, every target attacked.

    ``runs`` are the defense settings audited (default: ``audit.defenses``; ``compare``
    passes its grid, named in errors by ``section``). Returns the ``metrics``
    (:func:`audit_metrics`), the per-record ``exposure`` (:func:`record_exposure`) and the
    ``stages`` summary (:func:`stage_summary`).
    """
    records, dev, from_pool = audited_records(splits)
    check_resolvable(config, len(records))
    audited, canaries = plant_canaries(
        dataset, records, config.canary_count(len(records)), run.seed
    )
    workers = worker_count(config.workers, config.num_models, run.torch_device.type != "cpu")
    mem_scores = memorability.score_pool(
        audited,
        records,
        "victim",
        run.memorability,
        run.model,
        run.training,
        seed=derive_seed(run.seed, "audit"),
        device=run.torch_device,
        workers=workers,
    )
    table = audit_splits(records, dev, from_pool, config, run.seed)
    runs = audited_runs(config) if runs is None else runs
    probe = label_noise_probe(config, attack_params)
    stages = train_audit_models(audited, table, run, mem_scores, runs, section, workers, probe)
    scores = pd.concat(
        [
            score_every_target(
                stage, kept.outputs, table, audited.labels, attack_params, config, run.seed
            )
            for stage, kept in progress_bar(list(stages.items()), "audited stages")
        ],
        ignore_index=True,
    )
    masks = subset_masks(scores, canaries, mem_scores, config.memorable_fraction)
    evaluation = run.evaluation
    metrics = audit_metrics(
        scores, masks, config, evaluation.bootstrap, evaluation.null_permutations, run.seed
    )
    return {
        "metrics": metrics,
        "exposure": record_exposure(scores, metrics, canaries, mem_scores),
        "stages": stage_summary(stages, table),
    }
