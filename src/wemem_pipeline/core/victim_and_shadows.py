"""Train, prune and record every model of a split table: the victim and its shadows.

One loop serves every procedure (dense training, one-shot and iterative pruning, with or
without a defense) and every model, so the shadows go through exactly what the victim goes
through (the attacks are adaptive). Results are plain containers: state dicts, a history
with one row per model and round, :class:`~.outputs.ModelOutputs` for the attacks, and how
often each member was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks.label_noise import LabelNoise
from .chance import victim_chance_level
from .datasets import Dataset
from .defenses import (
    Defense,
    DefenseContext,
    NoDefense,
    Settings,
    build_defense,
    idle_in_summary,
)
from .masks import load_pruned_state
from .models import ModelSpec
from .outputs import ModelOutputs
from .progress import progress_bar
from .pruning import schedule_of, train_schedule
from .run_config import RunConfig
from .seeds import derive_seed
from .splits import VICTIM, model_names, pool_of, roles_of
from .training import dataset_tensors
from .workers import in_workers, step_done

logger = logging.getLogger(__name__)

StateDicts = dict[str, dict[str, torch.Tensor]]

# The key of each procedure's training seeds (spelled as in earlier versions, so that a seed
# keeps training the same models). A defense does not enter it: Base and a defended run draw
# the same batches wherever the defense trains on the same samples.
SEED_KEYS = {"dense": "dense", "one_shot": "one-shot", "iterative": "iterative"}


class ModelDefenses:
    """The defense ``name`` of every model of a split table, built on first use and kept.

    A model's defense reads its pool's mem-scores: the victim's (and the tuning models') the
    victim pool's, every shadow's the shadow pool's (the attacker's estimate on its own data).
    Keeping each model's defense lets its ``summary()`` cover every round (DP-SGD's privacy
    spent, for one).
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        dataset: Dataset,
        mem_scores: Mapping[str, pd.DataFrame] | None,
        run: RunConfig,
        section: str = "settings",
    ):
        self.name, self.settings, self.section = name, settings, section
        self.dataset, self.mem_scores, self.run = dataset, dict(mem_scores or {}), run
        self._built: dict[str, Defense] = {}
        self._members: dict[str, np.ndarray] = {}
        self.idle_at_start: list[str] = []  # what the victim's defense was warned of

    def __call__(self, model: str, members: np.ndarray, pool: str) -> Defense:
        if model in self._members and not np.array_equal(self._members[model], members):
            raise ValueError(f"model {model!r} was given other members than its defense has")
        if model not in self._built:
            self._members[model] = np.array(members)
            context = DefenseContext(
                members,
                self.dataset.labels,
                self.dataset.num_classes,
                self.mem_scores.get(pool),
                base_weight_decay=self.run.training.weight_decay,
                seed=self.run.seed,
            )
            self._built[model] = build_defense(self.name, self.settings, context, self.section)
            if model == VICTIM:  # the shadows share its settings; one warning says it
                epochs = self.run.pruning.epochs_per_round
                self.idle_at_start = self._built[model].idle_parts(epochs)
                for idle in self.idle_at_start:
                    logger.warning("%s on the victim: %s", self._built[model].title, idle)
        return self._built[model]

    def summaries(
        self, table: pd.DataFrame, models: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """What a reader needs to know of each model's defense (risky members, epsilon), for
        ``models`` (default: every model of ``table``)."""
        summaries = {}
        for model in model_names(table) if models is None else models:
            defense = self(model, roles_of(table, model)["member"], pool_of(table, model))
            summaries[model] = {"defense": defense.name, **defense.summary()}
        return summaries


@dataclass
class TrainedModels:
    """What one procedure made of every model."""

    states: StateDicts
    history: pd.DataFrame  # one row per model and round (RoundRecord's fields)
    outputs: dict[int, ModelOutputs]  # by recorded round
    sample_uses: pd.DataFrame  # model, round, sample_index (a member), uses
    defense_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # by model

    def artifacts(self) -> tuple[StateDicts, pd.DataFrame, dict[int, ModelOutputs], pd.DataFrame]:
        return self.states, self.history, self.outputs, self.sample_uses


def merge_trained(parts: list[TrainedModels], table: pd.DataFrame) -> TrainedModels:
    """Groups of ``table``'s models trained apart (:func:`.workers.in_workers`), as one:
    rows and entries in the table's model order."""
    if len(parts) == 1:
        return parts[0]
    for round_index, first in parts[0].outputs.items():
        if any(
            not np.array_equal(part.outputs[round_index].sample_index, first.sample_index)
            for part in parts
        ):
            raise ValueError("models trained apart must cover the same samples to be merged")
    order = {name: rank for rank, name in enumerate(model_names(table))}

    def in_order(frame: pd.DataFrame) -> pd.DataFrame:
        ranks = frame["model"].map(order)
        return frame.iloc[np.argsort(ranks.to_numpy(), kind="stable")].reset_index(drop=True)

    states = {name: state for part in parts for name, state in part.states.items()}
    outputs = {}
    for round_index, first in parts[0].outputs.items():
        merged = ModelOutputs(first.sample_index, label_noise=first.label_noise)
        for part in parts:
            merged.logits |= part.outputs[round_index].logits
            merged.sensitivity |= part.outputs[round_index].sensitivity
            merged.robustness |= part.outputs[round_index].robustness
        merged.logits = {name: merged.logits[name] for name in order if name in merged.logits}
        merged.sensitivity = {n: merged.sensitivity[n] for n in order if n in merged.sensitivity}
        merged.robustness = {n: merged.robustness[n] for n in order if n in merged.robustness}
        outputs[round_index] = merged
    summaries = {name: s for part in parts for name, s in part.defense_summaries.items()}
    return TrainedModels(
        {name: states[name] for name in order},
        in_order(pd.concat([part.history for part in parts], ignore_index=True)),
        outputs,
        in_order(pd.concat([part.sample_uses for part in parts], ignore_index=True)),
        {name: summaries[name] for name in order if name in summaries},
    )


RoundCallback = Callable[[int, pd.DataFrame], None]


def train_victim_and_shadows(
    dataset: Dataset,
    table: pd.DataFrame,
    run: RunConfig,
    procedure: str,
    *,
    start_states: StateDicts | None = None,
    defenses: ModelDefenses | None = None,
    every_round: bool = True,
    after_round: RoundCallback | None = None,
    label_noise: LabelNoise | None = None,
    models: Sequence[str] | None = None,
    workers: int = 1,
) -> TrainedModels:
    """Put every model of ``table`` through ``procedure``, round by round.

    Args:
        dataset: the data every model trains on (its members) and is evaluated on.
        table: the split table: each model's members, dev and test samples.
        run: model, training and pruning settings, the seed and the device.
        procedure: ``dense`` (from scratch), ``one_shot`` or ``iterative`` (see
            :mod:`.pruning`).
        start_states: the dense models' state dicts, which the pruning procedures start from.
        defenses: each model's defense during every round (default: none, i.e. Base).
        every_round: record the outputs after every round; else after the last one only
            (logits and sensitivity cost a pass over the data per model and round).
        after_round: called with the round's index and history rows once every model has
            trained that round; it may raise to stop the procedure (autotune prunes trials).
        label_noise: also record each model's labels on noisy inputs, for this audit attack.
        models: train only these models of ``table`` (default: all of them).
        workers: processes that train a share of the models each (:mod:`.workers`); the
            results are those of one process. Not with ``after_round``.

    Returns:
        The final state dicts, the history, the outputs per recorded round and the member
        reuse per round. Batches are seeded by (seed, procedure, model, round), whatever the
        defense or the order in which models take their rounds.
    """
    schedule = schedule_of(procedure, run.pruning, run.training)
    names = model_names(table) if models is None else list(models)
    if workers > 1 and len(names) > 1:
        if after_round is not None:
            raise ValueError("after_round sees every model's round: train in one process")
        train_share = partial(
            train_victim_and_shadows,
            dataset,
            table,
            run,
            procedure,
            start_states=start_states,
            defenses=defenses,
            every_round=every_round,
            label_noise=label_noise,
        )
        return _trained_in_workers(train_share, table, names, workers, len(schedule), procedure)
    recorded = range(len(schedule)) if every_round else [len(schedule) - 1]
    features, labels = dataset_tensors(dataset, run.torch_device)
    samples = np.unique(table["sample_index"].to_numpy(np.int64))
    outputs = {
        round_index: ModelOutputs(samples, label_noise=label_noise) for round_index in recorded
    }
    runs = {
        name: _ModelRun(
            dataset, (features, labels), table, run, procedure, name, start_states, defenses
        )
        for name in names
    }
    for round_index in progress_bar(range(len(schedule)), f"{procedure} rounds"):
        rows = [model_run.next_round() for model_run in runs.values()]
        if round_index in outputs:
            for name, model_run in runs.items():
                model = model_run.defense.inference_model(model_run.model)
                outputs[round_index].record(name, model, (features, labels), table, run.seed)
        if after_round is not None:
            after_round(round_index, pd.DataFrame(rows))
        step_done()
    summaries = _defense_summaries(runs, defenses, table)
    if VICTIM in runs:
        _warn_at_chance(runs[VICTIM], dataset.labels, table)
    history = [row for model_run in runs.values() for row in model_run.history]
    uses = [frame for model_run in runs.values() for frame in model_run.uses]
    states = {name: _cpu_state(model_run.model) for name, model_run in runs.items()}
    return TrainedModels(
        states, pd.DataFrame(history), outputs, pd.concat(uses, ignore_index=True), summaries
    )


def _trained_in_workers(
    train_share: Callable[..., TrainedModels],
    table: pd.DataFrame,
    names: list[str],
    workers: int,
    rounds: int,
    procedure: str,
) -> TrainedModels:
    """``train_share(models=...)`` of each worker's share of ``names``, merged."""
    shares = min(workers, len(names))
    parts = in_workers(
        lambda share: train_share(models=share),
        names,
        workers,
        steps=rounds * shares,
        description=f"{procedure} rounds ({shares} workers)",
    )
    return merge_trained([part for _, part in parts], table)


def _defense_summaries(
    runs: Mapping[str, _ModelRun], defenses: ModelDefenses | None, table: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Each trained model's defense summary, with its own dense training's seconds where
    the defense trained one; logs what the victim's defense could not do."""
    if defenses is None:
        return {}
    summaries = defenses.summaries(table, list(runs))
    for name, model_run in runs.items():
        if model_run.defense.trains_dense:
            summaries[name]["dense_seconds"] = model_run.dense_seconds
    # What the start could not foresee: early stopping may end the rounds before the windows
    # reach the risky members.
    if VICTIM in summaries and not defenses.idle_at_start:
        for idle in idle_in_summary(defenses.name, summaries[VICTIM]):
            logger.warning("%s", idle)
    return summaries


class _ModelRun:
    """One model going through a procedure's rounds, one round at a time."""

    def __init__(
        self,
        dataset: Dataset,
        tensors: tuple[torch.Tensor, torch.Tensor],
        table: pd.DataFrame,
        run: RunConfig,
        procedure: str,
        name: str,
        start_states: StateDicts | None,
        defenses: ModelDefenses | None,
    ):
        self.name = name
        split = roles_of(table, name)
        self.members = split["member"]
        pool = pool_of(table, name)
        self.defense = defenses(name, self.members, pool) if defenses else NoDefense(self.members)
        # A defense that covers the whole training (DP-SGD, scope whole) prunes a dense model
        # of its own, trained from the initialisation, not the dense models' states.
        own_dense = self.defense.trains_dense and procedure != "dense"
        self.model = self.defense.prepare(
            _starting_model(
                dataset,
                run,
                "dense" if own_dense else procedure,
                name,
                None if own_dense else start_states,
            )
        )
        defended = defenses is not None and defenses.name != NoDefense.name
        self.stage = defenses.name if defended else procedure
        self.dense_seconds = 0.0  # the defense's own dense training
        if own_dense:
            for record, _ in train_schedule(
                self.model,
                *tensors,
                split,
                schedule_of("dense", run.pruning, run.training),
                run.training,
                scope=run.pruning.scope,
                seed=derive_seed(run.seed, SEED_KEYS["dense"], name),
                description=f"{name} {self.stage} dense",
                defense=self.defense,
            ):
                self.dense_seconds += record.seconds
        self.rounds = train_schedule(
            self.model,
            *tensors,
            split,
            schedule_of(procedure, run.pruning, run.training),
            run.training,
            scope=run.pruning.scope,
            seed=derive_seed(run.seed, SEED_KEYS[procedure], name),
            description=f"{name} {self.stage}",
            defense=self.defense,
        )
        self.history: list[dict[str, Any]] = []
        self.uses: list[pd.DataFrame] = []

    def next_round(self) -> dict[str, Any]:
        """Train the next round; returns its history row."""
        record, result = next(self.rounds)
        self.history.append({"model": self.name, "stage": self.stage, **asdict(record)})
        self.uses.append(_uses_table(self.name, record.round, self.members, result.sample_uses))
        return self.history[-1]


def _warn_at_chance(victim: _ModelRun, labels: np.ndarray, table: pd.DataFrame) -> None:
    """Log that the victim's last round answers no better than the majority class."""
    chance = victim_chance_level(labels, table)
    accuracy = victim.history[-1]["test_accuracy"]
    if not chance.above(accuracy):
        logger.warning("%s", chance.sentence(f"the victim ({victim.stage})", accuracy))


def prune_with_defense(
    dataset: Dataset,
    table: pd.DataFrame,
    run: RunConfig,
    dense_states: StateDicts,
    defense: str,
    settings: Settings,
    mem_scores: Mapping[str, pd.DataFrame] | None,
    *,
    section: str = "settings",
    every_round: bool = True,
    after_round: RoundCallback | None = None,
    label_noise: LabelNoise | None = None,
    workers: int = 1,
) -> tuple[TrainedModels, dict[str, dict[str, Any]]]:
    """Iterative pruning of every dense model with ``defense`` in every round.

    ``mem_scores`` maps ``victim`` and ``shadow`` to their pool's scores; ``section`` names
    the settings in error messages; ``every_round``, ``after_round``, ``label_noise`` and
    ``workers`` are :func:`train_victim_and_shadows`'s. Returns the pruned models and each
    one's defense summary.
    """
    pruned = train_victim_and_shadows(
        dataset,
        table,
        run,
        "iterative",
        start_states=dense_states,
        defenses=ModelDefenses(defense, settings, dataset, mem_scores, run, section),
        every_round=every_round,
        after_round=after_round,
        label_noise=label_noise,
        workers=workers,
    )
    return pruned, pruned.defense_summaries


def victim_history(history: pd.DataFrame) -> pd.DataFrame:
    """The victim's rows of a history, round by round."""
    return history[history["model"] == VICTIM].sort_values("round")


def _starting_model(
    dataset: Dataset, run: RunConfig, procedure: str, name: str, start_states: StateDicts | None
) -> nn.Module:
    if procedure != "dense" and start_states is None:
        raise ValueError(f"the {procedure} procedure starts from the dense models' states")
    if start_states is None:
        seed = derive_seed(run.seed, "init", name)
        return run.model.build(dataset.input_shape, dataset.num_classes, seed).to(run.torch_device)
    return restore_model(dataset, run.model, start_states[name], run.torch_device)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}


def _uses_table(name: str, round_index: int, members: np.ndarray, uses: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"model": name, "round": round_index, "sample_index": members, "uses": uses}
    )


def restore_model(
    dataset: Dataset, spec: ModelSpec, state: dict[str, torch.Tensor], device: torch.device
) -> nn.Module:
    """A model of ``spec`` for ``dataset`` holding the (possibly pruned) ``state``."""
    model = load_pruned_state(spec.build(dataset.input_shape, dataset.num_classes, 0), state)
    return model.to(device)


def with_stored_victim(
    outputs: ModelOutputs,
    dataset: Dataset,
    table: pd.DataFrame,
    run: RunConfig,
    state: dict[str, torch.Tensor],
) -> ModelOutputs:
    """A copy of ``outputs`` whose victim is the model ``state``; the shadows' outputs stay.

    The stored model is taken to be trained on the split's victim members, so the attacks
    score it exactly as they score the project's own victim.
    """
    try:
        model = restore_model(dataset, run.model, state, run.torch_device)
    except (RuntimeError, KeyError) as error:
        raise ValueError(
            f"the stored state dict does not fit model {run.model} on {dataset.name}; set the "
            f"model parameters to the architecture it was trained with ({error})"
        ) from error
    replaced = ModelOutputs(outputs.sample_index, dict(outputs.logits), dict(outputs.sensitivity))
    replaced.record(VICTIM, model, dataset_tensors(dataset, run.torch_device), table, run.seed)
    return replaced
