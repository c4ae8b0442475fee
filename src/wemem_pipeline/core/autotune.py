"""Autotune: a defense picks its own settings from the defender's data, never the evaluation.

The defender owns its training data (the victim's members) and its dev non-members, and
nothing else. So the study trains ``num_models`` *tuning models* on random halves of the
members (each member IN for half of them), prunes them with the run's schedule and the
defense's candidate setting, and attacks them among themselves: each tuning model in turn
is the target, the others its shadows and references, scored on its IN vs OUT members.
Leakage is the strongest attack of a cheap set (mean over targets); accuracy is the tuning
models' accuracy on their OUT members (``held_out``, never trained on nor early-stopped on)
or on dev. The objective minimises leakage subject to an accuracy loss against Base (the
same tuning models pruned without a defense, once per study) of at most
``max_accuracy_loss``. The victim model, the shadows and the scored non-members are never
touched (:func:`check_tuning_disjoint`).

Half-size models lose less accuracy to a defense than the victim does, so the budget is then
checked at the victim's size (:func:`check_at_victim_size`): ``check_models`` models trained
on all of the victim's members and scored on its dev non-members take the best candidates in
turn until one keeps the budget. Their loss is the study's prediction.

Optuna's TPE sampler does the search: it handles the constraint (``Trial.set_constraint``) and
mixed numeric/categorical spaces, and it is sample-efficient at the 10-50 trials a CPU can
afford; NSGA-II would need populations of that size for one generation. The front of
leakage against accuracy is computed from the trials afterwards. A trial is pruned when,
after a prune round, its accuracy is already more than the budget below Base's accuracy in
that round.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shlex
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from .attacks import ATTACKS, OFFLINE_ATTACKS
from .compare import pareto_front
from .datasets import Dataset
from .defenses import BASELINE_NAMES, DEFENSES, WEMEM_NAMES, check_defense_settings
from .errors import DataError, ParameterError
from .evaluation import evaluate_stages, last_round
from .outputs import ModelOutputs
from .progress import progress_bar
from .run_config import RunConfig
from .search_space import (
    Dimension,
    Space,
    nested_settings,
    parse_search_space,
    suggest_settings,
)
from .seeds import derive_seed
from .splits import VICTIM, model_names, roles_of
from .validation import from_mapping, require_choice, require_int, require_number
from .victim_and_shadows import (
    StateDicts,
    TrainedModels,
    prune_with_defense,
    train_victim_and_shadows,
)

logger = logging.getLogger(__name__)

TUNABLE = (*WEMEM_NAMES, *BASELINE_NAMES)
METRICS = ("auc", "tpr_at_1pct_fpr")
ACCURACIES = {"held_out": "test_accuracy", "dev": "dev_accuracy"}  # history columns
CHEAP_ATTACKS = ("conf", "entr", "mentr", "hconf", "loss", "lira", "rmia")
# Tuning models an attack needs: the target, and shadows that have references of their own.
MODELS_NEEDED = {"lira": 4, "rmia": 3}
MADE_BY = "wemem-pipeline"
DEFAULT_STORAGE = "data/07_model_output/autotune/studies.journal"
# What a tuned setting was tuned for; ``settings: auto`` refuses it for anything else.
TUNED_SECTIONS = ("split", "model", "pruning")
TUNED_FOR = ("dataset", "dataset_fingerprint", "seed", *TUNED_SECTIONS)


@dataclass(frozen=True)
class AutotuneConfig:
    """The ``autotune`` parameter section; see ``conf/base/parameters_autotune.yml``."""

    defense: str = "swmr"
    n_trials: int = 40
    num_models: int = 4
    max_accuracy_loss: float = 0.01
    pool_fraction: float = 1.0
    metric: str = "auc"
    accuracy: str = "held_out"
    attacks: tuple[str, ...] = CHEAP_ATTACKS
    search_space: Mapping[str, Any] | None = None
    check_models: int = 3
    check_candidates: int = 3
    resume: bool = True
    storage: str = DEFAULT_STORAGE

    def __post_init__(self) -> None:
        require_choice("autotune.defense", self.defense, TUNABLE)
        require_int("autotune.n_trials", self.n_trials, 1)
        require_int("autotune.num_models", self.num_models, 2)
        require_int("autotune.check_models", self.check_models, 0)
        require_int("autotune.check_candidates", self.check_candidates, 1)
        require_number(
            "autotune.max_accuracy_loss", self.max_accuracy_loss, 0, 1, high_inclusive=False
        )
        require_number("autotune.pool_fraction", self.pool_fraction, 0, 1, low_inclusive=False)
        require_choice("autotune.metric", self.metric, METRICS)
        require_choice("autotune.accuracy", self.accuracy, ACCURACIES)
        if isinstance(self.attacks, str) or not self.attacks:
            raise ParameterError(f"autotune.attacks must be a non-empty list, got {self.attacks}")
        object.__setattr__(self, "attacks", tuple(self.attacks))
        for name in self.attacks:
            require_choice("autotune.attacks[]", name, OFFLINE_ATTACKS)
        if not self.usable_attacks():
            raise ParameterError(
                f"autotune.attacks={list(self.attacks)} need more than "
                f"autotune.num_models={self.num_models} tuning models (LiRA 4, RMIA 3)"
            )
        if not isinstance(self.resume, bool):
            raise ParameterError(f"autotune.resume must be true or false, got {self.resume!r}")
        if not isinstance(self.storage, str) or not self.storage:
            raise ParameterError(f"autotune.storage must be a file path, got {self.storage!r}")
        check_space(self.defense, *self.space())

    def space(self) -> tuple[Space, dict[str, Any]]:
        """The searched dimensions and the pinned settings (the defense's default space when
        ``search_space`` is null)."""
        values = DEFENSES[self.defense].search_space
        if self.search_space is not None:
            values = self.search_space
        return parse_search_space(values, "autotune.search_space")

    def usable_attacks(self) -> list[str]:
        """The attacks that ``num_models`` tuning models can run (LiRA needs 4, RMIA 3)."""
        return [a for a in self.attacks if self.num_models >= MODELS_NEEDED.get(a, 2)]


def check_space(defense: str, space: Space, pinned: Mapping[str, Any]) -> None:
    """Build the defense at every end of every dimension, so a bad range fails now."""
    middle = {name: _middle(dimension) for name, dimension in space.items()}
    for name, dimension in space.items():
        for value in dimension.choices or (dimension.low, dimension.high):
            values = {**middle, name: value}
            applying = {n: v for n, v in values.items() if space[n].applies(values)}
            if name in applying:
                check_defense_settings(
                    defense, nested_settings({**pinned, **applying}), "autotune.search_space"
                )


def _middle(dimension: Dimension) -> Any:
    if dimension.choices is not None:
        return dimension.choices[0]
    if dimension.integer:
        return (dimension.low + dimension.high) // 2
    if dimension.log:
        return math.sqrt(dimension.low * dimension.high)
    return (dimension.low + dimension.high) / 2


# ----------------------------------------------------------------------------- the index sets


def tuning_splits(splits: pd.DataFrame, config: AutotuneConfig, seed: int) -> pd.DataFrame:
    """The tuning models' split table, drawn from the victim's members and dev only.

    Model ``tune_k`` trains on its IN members, early-stops on the victim's dev non-members
    and is attacked on IN against OUT members (its ``test`` role). Every member is IN for
    ``num_models // 2`` models. ``pool_fraction`` subsamples members and dev first.
    """
    victim = roles_of(splits, VICTIM)
    rows = splits[splits["model"] == VICTIM]
    from_pool = rows.loc[rows["from_pool"], "sample_index"].to_numpy(np.int64)
    rng = np.random.default_rng(derive_seed(seed, "autotune", "halves"))
    members, dev = (_subsample(victim[r], config.pool_fraction, rng) for r in ("member", "dev"))
    table = halves_table(members, dev, config.num_models, rng, "tune", from_pool)
    for name, roles in table.groupby("model")["role"]:
        sizes = roles.value_counts().reindex(["member", "dev", "test"], fill_value=0)
        if sizes.min() < 2:
            raise ParameterError(
                f"autotune.pool_fraction={config.pool_fraction} leaves {name} "
                f"{sizes.to_dict()} samples; raise it"
            )
    check_tuning_disjoint(table, splits)
    return table


def halves_table(
    records: np.ndarray,
    dev: np.ndarray,
    num_models: int,
    rng: np.random.Generator,
    prefix: str,
    from_pool: np.ndarray,
) -> pd.DataFrame:
    """A split table of ``num_models`` models (``<prefix>_k``) on random halves of ``records``.

    Each record is a member (IN) of exactly ``num_models // 2`` models, drawn independently
    per record, and scored as a non-member (role ``test``, OUT) by the others; every model
    early-stops on the shared ``dev`` samples. Attacked among themselves, each model is the
    target in turn with the others as its IN and OUT references.
    """
    # A random permutation of the models per record: the first half of it trains on it.
    rank = rng.random((len(records), num_models)).argsort(axis=1).argsort(axis=1)
    is_in = rank < num_models // 2
    frames = [
        _model_rows(
            f"{prefix}_{k}",
            {"member": records[is_in[:, k]], "dev": dev, "test": records[~is_in[:, k]]},
            from_pool,
        )
        for k in range(num_models)
    ]
    return pd.concat(frames, ignore_index=True)


def _model_rows(model: str, parts: Mapping[str, np.ndarray], from_pool: np.ndarray) -> pd.DataFrame:
    """One model's rows of a split table, from its sample indices per role."""
    sample_index = np.concatenate(list(parts.values()))
    return pd.DataFrame(
        {
            "sample_index": sample_index,
            "pool": "victim",
            "model": model,
            "from_pool": np.isin(sample_index, from_pool),
            "role": np.repeat(list(parts), [len(p) for p in parts.values()]),
        }
    )


def victim_size_table(splits: pd.DataFrame, num_models: int, seed: int) -> pd.DataFrame:
    """The split table of the ``check_<k>`` models: each trains on all of the victim's
    members, as the victim does, early-stops on a random half of its dev non-members and is
    scored on the other half (``test``); consecutive models swap the halves, so every dev
    sample is scored.
    """
    victim = roles_of(splits, VICTIM)
    rows = splits[splits["model"] == VICTIM]
    from_pool = rows.loc[rows["from_pool"], "sample_index"].to_numpy(np.int64)
    rng = np.random.default_rng(derive_seed(seed, "autotune", "victim-size"))
    frames = []
    for k in range(num_models):
        if k % 2 == 0:
            halves = np.array_split(rng.permutation(victim["dev"]), 2)
        dev, test = halves if k % 2 == 0 else halves[::-1]
        parts = {"member": victim["member"], "dev": np.sort(dev), "test": np.sort(test)}
        frames.append(_model_rows(f"check_{k}", parts, from_pool))
    table = pd.concat(frames, ignore_index=True)
    check_tuning_disjoint(table, splits)
    return table


def _subsample(indices: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    if fraction >= 1:
        return np.sort(indices)
    return np.sort(rng.choice(indices, max(2, round(fraction * len(indices))), replace=False))


def check_tuning_disjoint(tuning: pd.DataFrame, splits: pd.DataFrame) -> None:
    """Raise if the study could see a sample it must not: anything but the victim's members
    and dev non-members (the scored non-members, every shadow's data)."""
    victim = roles_of(splits, VICTIM)
    allowed = np.union1d(victim["member"], victim["dev"])
    seen = np.unique(tuning["sample_index"].to_numpy(np.int64))
    forbidden = np.setdiff1d(seen, allowed)
    if len(forbidden):
        raise AssertionError(
            f"the autotune study would use {len(forbidden)} samples outside the victim's "
            f"members and dev non-members, e.g. {forbidden[:5].tolist()}"
        )


# ----------------------------------------------------------------------------- one evaluation


@dataclass
class Evaluation:
    """What one setting did to the tuning models."""

    accuracy: float  # mean over tuning models, after the last round
    dev_accuracy: float
    leakage: float  # the strongest attack's metric, mean over targets
    attack: str
    leakage_se: float  # its standard error over the targets
    metrics: pd.DataFrame  # every attack against every target
    round_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


class DefenderStudy:
    """The defender's tuning models: trained once, then pruned with one setting at a time."""

    def __init__(
        self,
        dataset: Dataset,
        splits: pd.DataFrame,
        run: RunConfig,
        victim_mem_scores: pd.DataFrame | None,
        config: AutotuneConfig,
        attack_options: Mapping[str, Any] | None = None,
        table: pd.DataFrame | None = None,
    ):
        self.dataset, self.splits, self.run, self.config = dataset, splits, run, config
        self.table = tuning_splits(splits, config, run.seed) if table is None else table
        self.mem_scores = {"victim": victim_mem_scores}
        self.attack_options = attack_options
        options = {k: v for k, v in (attack_options or {}).items() if k in ATTACKS}
        self.attack_params = {"names": config.usable_attacks(), **options}
        self._dense: StateDicts | None = None

    def at_victim_size(self) -> DefenderStudy:
        """The same study on the ``check_models`` models of :func:`victim_size_table`."""
        table = victim_size_table(self.splits, self.config.check_models, self.run.seed)
        return DefenderStudy(
            self.dataset,
            self.splits,
            self.run,
            self.mem_scores["victim"],
            self.config,
            self.attack_options,
            table,
        )

    def accuracy_noise(self, accuracy: float) -> float:
        """The standard error of a difference between two settings' mean accuracies at
        ``accuracy``: binomial, over the records every tuning model is scored on (its OUT
        members for ``held_out``, the dev samples for ``dev``), counted once per model. A
        completed trial's accuracy moves by about this much from one round to the next."""
        role = "test" if self.config.accuracy == "held_out" else "dev"
        records = int((self.table["role"] == role).sum())
        return math.sqrt(2 * accuracy * (1 - accuracy) / records)

    def dense_states(self) -> StateDicts:
        """The dense tuning models (trained on first use, like the victim: early-stopped)."""
        if self._dense is None:
            trained = train_victim_and_shadows(self.dataset, self.table, self.run, "dense")
            self._dense = trained.states
        return self._dense

    def evaluate(
        self,
        defense: str,
        settings: Mapping[str, Any],
        after_round: Callable[[int, float], None] | None = None,
    ) -> Evaluation:
        """Prune every tuning model with ``defense``, then attack them among themselves.

        ``after_round(round, accuracy)`` sees the mean accuracy after each round and may
        raise to stop (Optuna prunes a trial that way).
        """
        started = time.perf_counter()
        pruned, round_accuracy = self.prune(defense, settings, after_round)
        metrics = self.leakage_metrics(last_round(pruned.outputs))
        strongest = metrics.groupby("attack")[self.config.metric].mean()
        per_target = metrics.loc[metrics["attack"] == strongest.idxmax(), self.config.metric]
        last = pruned.history.groupby("model").tail(1)
        return Evaluation(
            accuracy=float(last[ACCURACIES[self.config.accuracy]].mean()),
            dev_accuracy=float(last["dev_accuracy"].mean()),
            leakage=float(strongest.max()),
            attack=str(strongest.idxmax()),
            leakage_se=float(per_target.std(ddof=1) / np.sqrt(len(per_target))),
            metrics=metrics,
            round_accuracy=round_accuracy,
            seconds=time.perf_counter() - started,
        )

    def prune(
        self,
        defense: str,
        settings: Mapping[str, Any],
        after_round: Callable[[int, float], None] | None = None,
    ) -> tuple[TrainedModels, list[float]]:
        """Every model of the table pruned with ``defense``, and its mean accuracy after each
        round (``after_round`` sees it as it comes)."""
        column = ACCURACIES[self.config.accuracy]
        round_accuracy: list[float] = []

        def record(round_index: int, rows: pd.DataFrame) -> None:
            round_accuracy.append(float(rows[column].mean()))
            if after_round is not None:
                after_round(round_index, round_accuracy[-1])

        pruned, _ = prune_with_defense(
            self.dataset,
            self.table,
            self.run,
            self.dense_states(),
            defense,
            settings,
            self.mem_scores,
            section="autotune.search_space",
            every_round=False,
            after_round=record,
        )
        return pruned, round_accuracy

    def correct(self, pruned: TrainedModels) -> np.ndarray:
        """Whether each model got each record its accuracy is measured on right after the
        last round, model after model in table order."""
        outputs = last_round(pruned.outputs)
        role = "test" if self.config.accuracy == "held_out" else "dev"
        hits = []
        for name in model_names(self.table):
            records = roles_of(self.table, name)[role]
            predicted = outputs.logits[name][outputs.rows(records)].argmax(axis=1)
            hits.append(predicted == self.dataset.labels[records])
        return np.concatenate(hits)

    def leakage_metrics(self, outputs: ModelOutputs) -> pd.DataFrame:
        """Every attack against every tuning model in turn (the others its shadows)."""
        frames = [
            evaluate_stages(
                {target: outputs},
                self.table,
                self.dataset.labels,
                self.attack_params,
                self.run.seed,
                target=target,
            )[0]
            for target in model_names(self.table)
        ]
        return pd.concat(frames, ignore_index=True).rename(columns={"stage": "target"})


# ----------------------------------------------------------------------------- the study


def study_identity(dataset: Dataset, run: RunConfig, config: AutotuneConfig) -> dict[str, Any]:
    """Everything that shapes a trial's result; a study resumes only with the same identity."""
    # More trials or other checks continue a study; they do not change its trials.
    ongoing = ("n_trials", "check_models", "check_candidates", "resume", "storage")
    tuned = {k: v for k, v in asdict(config).items() if k not in ongoing}
    # The space searched, spelled out: a changed default range starts a new study.
    tuned["search_space"] = config.search_space or DEFENSES[config.defense].search_space
    identity = {
        "made_by": MADE_BY,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint(),
        "seed": run.seed,
        **{s: _settings(run, s) for s in ("split", "model", "training", "pruning")},
        "memorability": asdict(run.memorability) if config.defense in WEMEM_NAMES else None,
        "autotune": tuned,
    }
    return json.loads(json.dumps(identity, default=str))


def _settings(run: RunConfig, section: str) -> dict[str, Any]:
    """``run``'s ``section`` as a dict, without a custom model's fields when they are unset:
    studies and tuned settings made before ``model.class_path`` existed stay the same."""
    values = asdict(getattr(run, section))
    if section == "model" and values.get("class_path") is None and not values.get("kwargs"):
        values = {k: v for k, v in values.items() if k not in ("class_path", "kwargs")}
    return values


def study_name(identity: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{identity['autotune']['defense']}-{identity['dataset']}-{digest[:10]}"


def open_storage(path: str | Path) -> optuna.storages.BaseStorage:
    """The journal file at ``path`` (created if missing), refused if it is damaged or holds
    studies this project did not make. A refusal never asks to remove the file: it holds
    every study of every defense and seed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_journal(path)
    try:
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        storage = optuna.storages.JournalStorage(backend)
        studies = storage.get_all_studies()
    except Exception as error:  # Optuna raises whatever its replay of the operations meets
        raise DataError(
            f"autotune.storage={str(path)!r} is not a readable Optuna journal file ({error})",
            hint=f"give another autotune.storage (a new file is created); keep {path.name}: "
            "it may hold other studies",
        ) from error
    foreign = [s.study_name for s in studies if s.user_attrs.get("made_by") != MADE_BY]
    if foreign:
        raise DataError(
            f"autotune.storage={str(path)!r} holds studies wemem-pipeline did not make: "
            f"{foreign[:3]}",
            hint="give autotune.storage a file of this project's own (a new file is created)",
        )
    return storage


def _check_journal(path: Path) -> None:
    """Every line an Optuna journal operation. Optuna skips a last line without its newline
    (a write cut short, as a killed run leaves it) and appends the next operation right after
    it, which glues the two into one bad line and makes every later read fail: refused here
    with the command that drops only the cut line."""
    if not path.exists():
        return
    with path.open("rb") as file:
        lines = file.readlines()
    start = 0  # the byte offset of the line in hand
    for number, line in enumerate(lines, start=1):
        if not _is_operation(line):
            _refuse_line(path, number, len(lines), start, cut=_cut_short(line))
        start += len(line)


# How Optuna begins every operation it writes (json.dumps of a dict whose first key it is).
_OPERATION_START = b'{"op_code":'


def _cut_short(line: bytes) -> bool:
    """The start of an operation whose write stopped before its newline."""
    return not line.endswith(b"\n") and (
        line.startswith(_OPERATION_START) or _OPERATION_START.startswith(line)
    )


def _is_operation(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        operation = json.loads(line)
    except ValueError:
        return False
    return isinstance(operation, dict) and "op_code" in operation


def _refuse_line(path: Path, number: int, count: int, start: int, cut: bool) -> None:
    where = f"autotune.storage={str(path)!r}"
    if cut:  # the last line (only it lacks a newline): dropping it loses no other operation
        raise DataError(
            f"{where}: its last line (line {number}) is cut off, as a run killed while "
            "writing leaves it; every line before it is intact",
            hint="drop only that line, which keeps every study: "
            f"truncate -s {start} {shlex.quote(str(path))} (or give another autotune.storage)",
        )
    raise DataError(
        f"{where} is not a readable Optuna journal file: line {number} of {count} is not a "
        "journal operation",
        hint=f"give another autotune.storage (a new file is created); keep {path.name}: it "
        f"holds the other studies, and line {number} may be repaired by hand",
    )


def open_study(
    storage: optuna.storages.BaseStorage, identity: Mapping[str, Any], config: AutotuneConfig
) -> optuna.Study:
    """The study for ``identity``: resumed where it stopped, or a new one (``resume=false``)."""
    name = study_name(identity)
    if not config.resume:
        name += time.strftime("-%Y%m%dT%H%M%S")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=max(2, config.n_trials // 3),
            multivariate=True,
            group=True,  # RMR's decoupled is searched only with a separate optimizer
            seed=derive_seed(identity["seed"], "autotune", "sampler"),
        )
    study = optuna.create_study(
        storage=storage, study_name=name, direction="minimize", sampler=sampler, load_if_exists=True
    )
    if study.user_attrs.get("made_by") is None:
        for key, value in identity.items():
            study.set_user_attr(key, value)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # A run killed mid-trial left it running; it will never finish.
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    return study


def run_study(study: optuna.Study, defender: DefenderStudy, log_trial: Callable[[str], None]):
    """Evaluate Base (once per study) and the remaining trials of ``defender.config``."""
    config = defender.config
    if "base" not in study.user_attrs:
        base = defender.evaluate("base", {})
        study.set_user_attr(
            "base",
            {
                "accuracy": base.accuracy,
                "dev_accuracy": base.dev_accuracy,
                "leakage": base.leakage,
                "attack": base.attack,
                "leakage_se": base.leakage_se,
                "round_accuracy": base.round_accuracy,
                "accuracy_noise": defender.accuracy_noise(base.accuracy),
                "seconds": base.seconds,
            },
        )
        log_trial(
            f"Base: accuracy {base.accuracy:.4f}, {config.metric} {base.leakage:.4f} "
            f"({base.attack}), {base.seconds:.1f}s"
        )
    base = study.user_attrs["base"]
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    if done:
        log_trial(f"Resuming study {study.study_name}: {done} trials already done")
    space, pinned = config.space()
    objective = _Objective(defender, space, pinned, base, log_trial, study)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    for _ in progress_bar(range(max(config.n_trials - done, 0)), f"autotune {config.defense}"):
        study.optimize(objective, n_trials=1)


class _Objective:
    """One trial: a setting from the space, pruned when it falls clearly behind Base.

    A trial more than the budget plus the accuracy's noise (:meth:`DefenderStudy.
    accuracy_noise`) behind Base after a round is pruned once it can no longer be chosen:
    when a completed trial meets the budget, or else when it is also behind the fallback
    choice (the completed trial that lost least) in that round. Within the noise, a round's
    dip is no evidence that the trial will end outside the budget.
    """

    def __init__(self, defender, space, pinned, base, log_trial, study):
        self.defender, self.space, self.pinned = defender, space, pinned
        self.base, self.log_trial = base, log_trial
        self.budget = defender.config.max_accuracy_loss
        self.margin = self.budget + base.get("accuracy_noise", 0.0)
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        self.feasible_found = False  # a completed trial within the budget
        self.fallback: tuple[float, dict[int, float]] | None = None  # its loss, round accuracy
        for trial in complete:
            self._consider_fallback(trial.user_attrs["accuracy_loss"], trial.intermediate_values)

    def _consider_fallback(self, loss: float, round_accuracy: Mapping[int, float]) -> None:
        self.feasible_found |= loss <= self.budget
        if self.fallback is None or loss < self.fallback[0]:
            self.fallback = (loss, dict(round_accuracy))

    def _out_of_the_running(self, round_index: int, accuracy: float) -> bool:
        if self.base["round_accuracy"][round_index] - accuracy <= self.margin:
            return False
        if self.feasible_found:
            return True
        return self.fallback is not None and accuracy < self.fallback[1][round_index]

    def _set_accuracy_loss(self, trial: optuna.Trial, loss: float) -> None:
        """Record the loss against Base; the sampler's constraint: feasible (<= 0) when it is
        within the budget."""
        trial.set_user_attr("accuracy_loss", loss)
        trial.set_constraint("accuracy_loss", loss - self.budget)

    def __call__(self, trial: optuna.Trial) -> float:
        flat = suggest_settings(trial, self.space)
        settings = nested_settings({**self.pinned, **flat})
        trial.set_user_attr("settings", settings)
        trial.set_user_attr("budget", self.budget)

        def after_round(round_index: int, accuracy: float) -> None:
            trial.report(accuracy, round_index)
            if self._out_of_the_running(round_index, accuracy):
                behind = self.base["round_accuracy"][round_index] - accuracy
                self._set_accuracy_loss(trial, self.base["accuracy"] - accuracy)
                trial.set_user_attr("pruned_after_round", round_index)
                self.log_trial(
                    f"trial {trial.number} {_flat(flat)}: pruned after round {round_index} "
                    f"(accuracy {accuracy:.4f}, {behind:.4f} behind Base)"
                )
                raise optuna.TrialPruned()

        result = self.defender.evaluate(self.defender.config.defense, settings, after_round)
        for key in ("accuracy", "dev_accuracy", "leakage", "attack", "leakage_se", "seconds"):
            trial.set_user_attr(key, getattr(result, key))
        loss = self.base["accuracy"] - result.accuracy
        self._set_accuracy_loss(trial, loss)
        self._consider_fallback(loss, dict(enumerate(result.round_accuracy)))
        self.log_trial(
            f"trial {trial.number} {_flat(flat)}: accuracy {result.accuracy:.4f} "
            f"(Base {self.base['accuracy']:.4f}), {self.defender.config.metric} "
            f"{result.leakage:.4f} ({result.attack}), {result.seconds:.1f}s"
        )
        return result.leakage


# The study's record of the victim-size checks: Base's accuracy there and each checked
# trial's accuracy loss (a resumed study checks only what it has not).
CHECKS = "victim_size"


def check_at_victim_size(
    study: optuna.Study, defender: DefenderStudy, log_trial: Callable[[str], None]
) -> None:
    """Check the best candidates' accuracy loss on models of the victim's size, in turn,
    until one keeps the budget (:func:`check_order`); with ``check_models: 0``, nothing.

    A loss there is paired: Base and the candidate prune the same dense models and are
    scored on the same records, so its standard error is that of the mean of the records'
    differences (a record right under one and wrong under the other), not of two
    independent accuracies.
    """
    config = defender.config
    if not config.check_models:
        if study.user_attrs.get(CHECKS, {}).get("trials"):
            study.set_user_attr(CHECKS, {"trials": {}})  # the choice rests on the tuning models
        return
    order = check_order(trials_table(study), config.check_candidates)
    if not order:
        return
    checks = study.user_attrs.get(CHECKS, {"trials": {}})
    if checks.get("base", {}).get("models") != config.check_models:
        checks = {"trials": {}}  # checked with another number of models: check again
    checker = defender.at_victim_size()
    if "base" not in checks:
        base_correct = checker.correct(checker.prune("base", {})[0])
        members = checker.table[checker.table["role"] == "member"].groupby("model").size()
        checks["base"] = {
            "accuracy": float(base_correct.mean()),
            "correct": base_correct.astype(int).tolist(),
            "models": config.check_models,
            "members": int(members.iloc[0]),
            "scored": len(base_correct),
        }
    base_correct = np.asarray(checks["base"]["correct"], dtype=float)
    trials = {trial.number: trial for trial in study.get_trials(deepcopy=False)}
    for number in progress_bar(order, f"autotune {config.defense}: checks at the victim's size"):
        key = str(number)
        if key not in checks["trials"]:
            settings = trials[number].user_attrs["settings"]
            differences = base_correct - checker.correct(checker.prune(config.defense, settings)[0])
            checks["trials"][key] = {
                "loss": float(differences.mean()),
                "noise": float(differences.std(ddof=1) / math.sqrt(len(differences))),
            }
            study.set_user_attr(CHECKS, checks)
        loss = checks["trials"][key]["loss"]
        log_trial(
            f"trial {number} at the victim's size: accuracy loss {loss:.4f} "
            f"± {checks['trials'][key]['noise']:.4f} (budget {config.max_accuracy_loss})"
        )
        if loss <= config.max_accuracy_loss:
            break
    study.set_user_attr(CHECKS, checks)


def check_order(trials: pd.DataFrame, candidates: int) -> list[int]:
    """The trials to check at the victim's size, in turn: the ``candidates`` least leaky
    within the budget on the tuning models, then the completed trial that lost least."""
    if trials.empty:
        return []
    complete = trials[trials["state"] == "complete"]
    feasible = complete[complete["feasible"]].sort_values(
        ["leakage", "accuracy"], ascending=[True, False]
    )
    order = [int(t) for t in feasible["trial"].iloc[:candidates]]
    least = complete.sort_values(["accuracy_loss", "leakage"])["trial"]
    if len(least) and int(least.iloc[0]) not in order:
        order.append(int(least.iloc[0]))
    return order


def _flat(values: Mapping[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


# ----------------------------------------------------------------------------- the outcome


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per finished trial: its settings, accuracy, leakage, and whether it was pruned,
    feasible, on the front (completed trials only) or chosen."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        attrs = trial.user_attrs
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                **{f"param.{k}": v for k, v in trial.params.items()},
                "settings": json.dumps(attrs.get("settings"), sort_keys=True),
                "accuracy": attrs.get("accuracy", np.nan),
                "dev_accuracy": attrs.get("dev_accuracy", np.nan),
                "accuracy_loss": attrs.get("accuracy_loss", np.nan),
                "leakage": attrs.get("leakage", np.nan),
                "leakage_se": attrs.get("leakage_se", np.nan),
                "attack": attrs.get("attack"),
                "pruned_after_round": attrs.get("pruned_after_round"),
                "seconds": attrs.get("seconds", np.nan),
                **{f"round_{r}": v for r, v in sorted(trial.intermediate_values.items())},
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    budget = study.user_attrs["autotune"]["max_accuracy_loss"]
    complete = table["state"] == "complete"
    table["feasible"] = complete & (table["accuracy_loss"] <= budget)
    checked = study.user_attrs.get(CHECKS, {}).get("trials", {})
    for column in ("loss", "noise"):
        table[f"checked_{column}"] = table["trial"].map(
            lambda t, c=column: checked.get(str(t), {}).get(c, np.nan)
        )
    table["checked_feasible"] = table["checked_loss"] <= budget
    table["on_front"] = False
    table.loc[complete, "on_front"] = pareto_front(
        table.loc[complete, "accuracy"].to_numpy(), table.loc[complete, "leakage"].to_numpy()
    )
    table["chosen"] = table["trial"] == chosen_trial(table)
    return table


def chosen_trial(table: pd.DataFrame) -> int | None:
    """The feasible trial of least leakage (ties: the more accurate); without a feasible
    one, the completed trial of least accuracy loss; None if no trial completed.

    Where trials were checked at the victim's size, feasible means within the budget there,
    and the fallback is the checked trial that lost least there.
    """
    if table.get("checked_loss", pd.Series(dtype=float)).notna().any():
        checked = table[table["checked_loss"].notna()]
        passing = checked[checked["checked_feasible"]]
        if passing.empty:
            return int(checked.sort_values(["checked_loss", "leakage"])["trial"].iloc[0])
        best = passing.sort_values(["leakage", "accuracy"], ascending=[True, False])
        return int(best["trial"].iloc[0])
    feasible = table[table["feasible"]] if "feasible" in table else table.iloc[:0]
    if not feasible.empty:
        best = feasible.sort_values(["leakage", "accuracy"], ascending=[True, False])
        return int(best["trial"].iloc[0])
    complete = table[table["state"] == "complete"] if not table.empty else table
    if complete.empty:
        return None
    return int(complete.sort_values(["accuracy_loss", "leakage"])["trial"].iloc[0])


def tuned_settings(study: optuna.Study, trials: pd.DataFrame) -> dict[str, Any]:
    """``tuned_settings.json``: the chosen setting, its estimate, and what it was tuned for
    (``settings: auto`` checks the dataset, seed, split, model and pruning against it)."""
    chosen = chosen_trial(trials)
    if chosen is None:
        raise ParameterError(
            f"autotune: none of the {len(trials)} trials of study {study.study_name} completed "
            "(every one fell behind Base by more than the budget)",
            hint="raise autotune.max_accuracy_loss, or run again for more trials "
            "(autotune.resume keeps the ones done)",
        )
    row = trials.set_index("trial").loc[chosen]
    identity = study.user_attrs
    space, _ = from_mapping(AutotuneConfig, "autotune", identity["autotune"]).space()
    checks = identity.get(CHECKS, {}).get("base")
    checked = checks is not None and not pd.isna(row["checked_loss"])
    if checked:
        checks = {k: v for k, v in checks.items() if k != "correct"}
    return {
        "defense": identity["autotune"]["defense"],
        "settings": json.loads(row["settings"]),
        "feasible": bool(row["checked_feasible"] if checked else row["feasible"]),
        "estimate": {
            "metric": identity["autotune"]["metric"],
            "leakage": float(row["leakage"]),
            "leakage_se": float(row["leakage_se"]),
            "attack": row["attack"],
            "accuracy": float(row["accuracy"]),
            # The prediction for the victim: at its size where checked.
            "accuracy_loss": float(row["checked_loss"] if checked else row["accuracy_loss"]),
            "accuracy_noise": float(row["checked_noise"])
            if checked
            else identity["base"].get("accuracy_noise"),
            "loss_measured_on": "victim_size" if checked else "tuning",
            "tuning_accuracy_loss": float(row["accuracy_loss"]),
            "tuning_accuracy_noise": identity["base"].get("accuracy_noise"),
            "max_accuracy_loss": identity["autotune"]["max_accuracy_loss"],
            "base": {k: identity["base"][k] for k in ("accuracy", "leakage", "attack")},
        },
        "victim_size": checks if checked else None,
        "at_edge": settings_at_edge(row, space),
        "flat": is_flat(trials, chosen),
        "trial": chosen,
        "trials": {
            "finished": len(trials),
            "pruned": int((trials["state"] == "pruned").sum()),
            "feasible": int(trials["feasible"].sum()),
        },
        "study": study.study_name,
        "autotune": identity["autotune"],
        **{key: identity[key] for key in TUNED_FOR},
    }


# A chosen number in the outer 2% of its range (log scale where it has one) is at its edge.
EDGE = 0.02


def settings_at_edge(trial: pd.Series, space: Space) -> list[dict[str, Any]]:
    """The searched numbers of ``trial`` (a :func:`trials_table` row) at an end of their
    range, where the best value may lie beyond it: ``{setting, value, edge, range}``."""
    edges = []
    for name, dimension in space.items():
        value = trial.get(f"param.{name}")
        if dimension.choices is not None or value is None or pd.isna(value):
            continue
        scale = math.log if dimension.log else float
        low, high = scale(dimension.low), scale(dimension.high)
        position = (scale(value) - low) / (high - low)
        if EDGE < position < 1 - EDGE:
            continue
        edges.append(
            {
                "setting": name,
                "value": value,
                "edge": "low" if position <= EDGE else "high",
                "range": [dimension.low, dimension.high],
            }
        )
    return edges


def is_flat(trials: pd.DataFrame, chosen: int) -> bool:
    """Whether the study found no setting clearly better than another: even its leakiest
    completed trial lies within two standard errors (over the targets) of the chosen one."""
    complete = trials[trials["state"] == "complete"].set_index("trial")
    if len(complete) < 2:
        return False
    best, worst = complete.loc[chosen], complete.loc[complete["leakage"].idxmax()]
    noise = math.hypot(best["leakage_se"], worst["leakage_se"])
    return bool(worst["leakage"] - best["leakage"] <= 2 * noise)


def study_snapshot(study: optuna.Study, storage: optuna.storages.BaseStorage) -> str:
    """The study alone, as the text of a journal file (``optuna-dashboard <file>`` opens it)."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "study.journal")
        target = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
        optuna.copy_study(from_study_name=study.study_name, from_storage=storage, to_storage=target)
        return Path(path).read_text()


def tuned_for_differences(
    tuned: Mapping[str, Any], dataset_fingerprint: str | None, run: RunConfig
) -> list[str]:
    """How a tuned setting's study differs from ``run`` on ``dataset_fingerprint``'s data
    (empty: it may be used; without a fingerprint the dataset names are compared).

    The seed and split matter besides the data, model and pruning: a study of another split
    trained on samples this run scores as non-members.
    """
    differences = []
    if dataset_fingerprint and tuned.get("dataset_fingerprint") != dataset_fingerprint:
        differences.append(
            f"other data: {tuned.get('dataset')} (fingerprint {tuned.get('dataset_fingerprint')})"
            f", this run's {run.dataset.name} has {dataset_fingerprint}"
        )
    elif not dataset_fingerprint and tuned.get("dataset") != run.dataset.name:
        differences.append(f"dataset={tuned.get('dataset')!r} (this run: {run.dataset.name!r})")
    if tuned.get("seed") != run.seed:
        differences.append(f"seed={tuned.get('seed')!r} (this run: {run.seed!r})")
    now = json.loads(json.dumps({s: _settings(run, s) for s in TUNED_SECTIONS}, default=str))
    for section, values in now.items():
        made = tuned.get(section) or {}
        differences += [
            f"{section}.{key}={made.get(key)!r} (this run: {value!r})"
            for key, value in values.items()
            if made.get(key) != value
        ]
    return differences
