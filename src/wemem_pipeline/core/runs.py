"""Train, prune and record every model of a split table: the victim and its shadows.

Each function runs the same code for every model, so the shadows mimic the victim exactly
(the attacks are adaptive). Results are plain containers: state dicts, a history table with
one row per model and stage, and :class:`ModelOutputs` for the attacks.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks import MembershipSet, References
from .attacks.samia import input_sensitivity
from .datasets import Dataset
from .defenses import Defense, NoDefense
from .models import ModelSpec
from .pruning import (
    PruningConfig,
    RoundRecord,
    iterative_prune,
    load_pruned_state,
    one_shot_prune,
    prune_and_finetune,
)
from .splits import VICTIM, balanced_evaluation_set, model_names, roles_of
from .training import TrainConfig, TrainResult, predict_logits

StateDicts = dict[str, dict[str, torch.Tensor]]


def derive_seed(seed: int, *keys: str | int) -> int:
    """A stable 31-bit seed for one purpose (a model, a stage) derived from the run's seed."""
    words = [seed] + [zlib.crc32(str(key).encode()) for key in keys]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


@dataclass
class ModelOutputs:
    """Outputs of every model on the samples of the split table (rows ``sample_index``).

    ``logits`` cover every sample; ``sensitivity`` (for SAMIA) covers each model's members
    and test non-members, the samples an attack may score, and is NaN elsewhere.
    """

    sample_index: np.ndarray
    logits: dict[str, np.ndarray] = field(default_factory=dict)
    sensitivity: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.sample_index, indices)

    def membership_set(
        self, table: pd.DataFrame, labels: np.ndarray, model: str, seed: int
    ) -> MembershipSet:
        """``model``'s balanced member / test non-member set with its outputs.

        The references are the shadows other than ``model``.
        """
        indices, is_member = balanced_evaluation_set(roles_of(table, model), seed)
        rows = self.rows(indices)
        sensitivity = self.sensitivity.get(model)
        return MembershipSet(
            indices,
            self.logits[model][rows],
            labels[indices],
            is_member,
            sensitivity=None if sensitivity is None else sensitivity[rows],
            references=self._references(table, labels, model, indices),
        )

    def _references(
        self, table: pd.DataFrame, labels: np.ndarray, model: str, indices: np.ndarray
    ) -> References | None:
        names = [name for name in model_names(table) if name not in (VICTIM, model)]
        if not names:
            return None
        members = {name: roles_of(table, name)["member"] for name in names}
        # The shadows' samples (pool and their half of the test part) that ``model`` neither
        # trained on nor is scored on.
        shadow_samples = table.loc[table["pool"] == "shadow", "sample_index"].to_numpy(np.int64)
        population = np.setdiff1d(
            shadow_samples, np.concatenate([roles_of(table, model)["member"], indices])
        )
        population_rows = self.rows(population)

        def stacked(rows: np.ndarray) -> np.ndarray:
            return np.stack([self.logits[name][rows] for name in names])

        def out_mask(samples: np.ndarray) -> np.ndarray:
            return np.stack([~np.isin(samples, members[name]) for name in names])

        return References(
            logits=stacked(self.rows(indices)),
            is_out=out_mask(indices),
            population_labels=labels[population],
            population_target_logits=self.logits[model][population_rows],
            population_logits=stacked(population_rows),
            population_is_out=out_mask(population),
        )

    def attack_sets(
        self, table: pd.DataFrame, labels: np.ndarray, seed: int
    ) -> tuple[list[MembershipSet], MembershipSet]:
        """The shadows' sets (to calibrate attacks) and the victim's set (to score)."""
        shadows = [
            self.membership_set(table, labels, name, derive_seed(seed, "evaluation", name))
            for name in model_names(table)
            if name != VICTIM
        ]
        victim = self.membership_set(table, labels, VICTIM, derive_seed(seed, "evaluation", VICTIM))
        return shadows, victim

    def record(
        self, name: str, model: nn.Module, features: torch.Tensor, table: pd.DataFrame, seed: int
    ) -> None:
        """Store the outputs of model ``name`` (a row of ``table``): logits and sensitivity."""
        self.logits[name] = predict_logits(model, features, self.sample_index).cpu().numpy()
        split = roles_of(table, name)
        scored = np.union1d(split["member"], split["test"])
        sensitivity = np.full(self.logits[name].shape, np.nan, dtype=np.float32)
        sensitivity[self.rows(scored)] = input_sensitivity(
            model, features, scored, seed=derive_seed(seed, "sensitivity", name)
        )
        self.sensitivity[name] = sensitivity


def dataset_tensors(dataset: Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.as_tensor(dataset.features, device=device),
        torch.as_tensor(dataset.labels, dtype=torch.long, device=device),
    )


def _all_samples(table: pd.DataFrame) -> np.ndarray:
    return np.unique(table["sample_index"].to_numpy(np.int64))


def _history_row(name: str, stage: str, record: RoundRecord) -> dict:
    return {"model": name, "stage": stage, **asdict(record)}


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}


def train_dense_models(
    dataset: Dataset,
    table: pd.DataFrame,
    spec: ModelSpec,
    training: TrainConfig,
    *,
    seed: int,
    device: torch.device,
) -> tuple[StateDicts, pd.DataFrame, ModelOutputs]:
    """Train the victim and every shadow from scratch on its members."""
    features, labels = dataset_tensors(dataset, device)
    outputs = ModelOutputs(_all_samples(table))
    states, history = {}, []
    for name in model_names(table):
        split = roles_of(table, name)
        model = spec.build(
            dataset.input_shape, dataset.num_classes, derive_seed(seed, "init", name)
        ).to(device)
        # Target sparsity 0: nothing is pruned, the model trains from scratch.
        record, _ = prune_and_finetune(
            model,
            features,
            labels,
            split,
            0.0,
            "global",
            training,
            seed=derive_seed(seed, "dense", name),
            description=f"{name} dense",
        )
        history.append(_history_row(name, "dense", record))
        states[name] = _cpu_state(model)
        outputs.record(name, model, features, table, seed)
    return states, pd.DataFrame(history), outputs


def _restore(
    dataset: Dataset, spec: ModelSpec, state: dict[str, torch.Tensor], device: torch.device
) -> nn.Module:
    return load_pruned_state(spec.build(dataset.input_shape, dataset.num_classes, 0), state).to(
        device
    )


def prune_models_one_shot(
    dataset: Dataset,
    table: pd.DataFrame,
    spec: ModelSpec,
    dense_states: StateDicts,
    pruning: PruningConfig,
    training: TrainConfig,
    *,
    seed: int,
    device: torch.device,
) -> tuple[StateDicts, pd.DataFrame, ModelOutputs]:
    """Prune each dense model once to the target and fine-tune it with the same budget."""
    features, labels = dataset_tensors(dataset, device)
    outputs = ModelOutputs(_all_samples(table))
    states, history = {}, []
    for name in model_names(table):
        model = _restore(dataset, spec, dense_states[name], device)
        record = one_shot_prune(
            model,
            features,
            labels,
            roles_of(table, name),
            pruning,
            training,
            seed=derive_seed(seed, "one-shot", name),
            description=f"{name} one-shot",
        )
        history.append(_history_row(name, "one_shot", record))
        states[name] = _cpu_state(model)
        outputs.record(name, model, features, table, seed)
    return states, pd.DataFrame(history), outputs


DefenseFactory = Callable[[str, np.ndarray], Defense]


def prune_models_iteratively(
    dataset: Dataset,
    table: pd.DataFrame,
    spec: ModelSpec,
    dense_states: StateDicts,
    pruning: PruningConfig,
    training: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    defense_for: DefenseFactory | None = None,
    stage: str = "iterative",
    every_round: bool = True,
) -> tuple[StateDicts, pd.DataFrame, dict[int, ModelOutputs], pd.DataFrame]:
    """Iteratively prune each dense model; outputs are recorded after every round.

    ``defense_for(model_name, members)`` gives each model its defense (the same for victim
    and shadows, so attacks stay adaptive). With ``every_round=False`` only the last round's
    outputs are recorded (logits and sensitivity cost a pass over the data per model and
    round). Also returns how many times each member was trained on per round (``model,
    round, sample_index, uses``).
    """
    features, labels = dataset_tensors(dataset, device)
    samples = _all_samples(table)
    recorded = range(pruning.rounds) if every_round else [pruning.rounds - 1]
    round_outputs = {r: ModelOutputs(samples) for r in recorded}
    states, history, uses = {}, [], []
    for name in model_names(table):
        split = roles_of(table, name)
        defense = (defense_for or (lambda _, members: NoDefense(members)))(name, split["member"])
        model = defense.prepare(_restore(dataset, spec, dense_states[name], device))

        def record_round(
            round_index: int,
            model: nn.Module,
            result: TrainResult,
            name: str = name,
            members: np.ndarray = split["member"],
            defense: Defense = defense,
        ) -> None:
            if round_index in round_outputs:
                round_outputs[round_index].record(
                    name, defense.inference_model(model), features, table, seed
                )
            uses.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "round": round_index,
                        "sample_index": members,
                        "uses": result.sample_uses,
                    }
                )
            )

        records = iterative_prune(
            model,
            features,
            labels,
            split,
            pruning,
            training,
            seed=derive_seed(seed, stage, name),
            description=f"{name} {stage}",
            defense=defense,
            on_round=record_round,
        )
        history += [_history_row(name, stage, record) for record in records]
        states[name] = _cpu_state(model)
    return states, pd.DataFrame(history), round_outputs, pd.concat(uses, ignore_index=True)


def with_stored_victim(
    outputs: ModelOutputs,
    dataset: Dataset,
    table: pd.DataFrame,
    spec: ModelSpec,
    state: dict[str, torch.Tensor],
    *,
    seed: int,
    device: torch.device,
) -> ModelOutputs:
    """A copy of ``outputs`` whose victim is the model ``state``; the shadows' outputs stay.

    The stored model is taken to be trained on the split's victim members, so the attacks
    score it exactly as they score the project's own victim.
    """
    try:
        model = _restore(dataset, spec, state, device)
    except (RuntimeError, KeyError) as error:
        raise ValueError(
            f"the stored state dict does not fit model {spec} on {dataset.name}; set the model "
            f"parameters to the architecture it was trained with ({error})"
        ) from error
    features, _ = dataset_tensors(dataset, device)
    replaced = ModelOutputs(outputs.sample_index, dict(outputs.logits), dict(outputs.sensitivity))
    replaced.record(VICTIM, model, features, table, seed)
    return replaced
