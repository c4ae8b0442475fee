"""What the attacks see of every model: its logits on every sample, its input sensitivity and,
in the audit, its labels on noisy inputs.

``ModelOutputs`` holds the outputs of the victim and the shadows of one stage (dense, a
pruning round, ...) and turns them into the membership sets the attacks calibrate on (the
shadows') and score (the victim's), with the shadows as references for LiRA and RMIA, and
the victim's set as a shadow sees it (the shift check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks import MembershipSet, References
from .attacks.label_noise import LabelNoise, label_robustness
from .attacks.samia import input_sensitivity
from .seeds import derive_seed
from .splits import VICTIM, balanced_evaluation_set, model_names, roles_of
from .training import predict_logits


@dataclass
class ModelOutputs:
    """Outputs of every model on the samples of the split table (rows ``sample_index``).

    ``logits`` cover every sample; ``sensitivity`` (for SAMIA) covers each model's members
    and test non-members, the samples an attack may score, and is NaN elsewhere; so does
    ``robustness``, recorded only with a ``label_noise`` probe (the audit's label-only attack).
    """

    sample_index: np.ndarray
    logits: dict[str, np.ndarray] = field(default_factory=dict)
    sensitivity: dict[str, np.ndarray] = field(default_factory=dict)
    robustness: dict[str, np.ndarray] = field(default_factory=dict)
    label_noise: LabelNoise | None = None

    def rows(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.sample_index, indices)

    def membership_set(
        self,
        table: pd.DataFrame,
        labels: np.ndarray,
        model: str,
        seed: int,
        target: str = VICTIM,
        scored_by: str | None = None,
    ) -> MembershipSet:
        """``model``'s balanced member / test non-member set with the outputs of
        ``scored_by`` (default: ``model`` itself); ``seed`` is the run's, from which each
        model's subsample is derived, so a model's set is the same whoever scores it.

        The references are the models other than ``scored_by`` and the attacked ``target``.
        """
        scored_by = scored_by or model
        indices, is_member = balanced_evaluation_set(
            roles_of(table, model), derive_seed(seed, "evaluation", model)
        )
        rows = self.rows(indices)
        sensitivity = self.sensitivity.get(scored_by)
        robustness = self.robustness.get(scored_by)
        return MembershipSet(
            indices,
            self.logits[scored_by][rows],
            labels[indices],
            is_member,
            sensitivity=None if sensitivity is None else sensitivity[rows],
            references=self._references(table, labels, scored_by, indices, target),
            robustness=None if robustness is None else robustness[rows],
        )

    def _references(
        self,
        table: pd.DataFrame,
        labels: np.ndarray,
        model: str,
        indices: np.ndarray,
        target: str,
    ) -> References | None:
        names = [name for name in model_names(table) if name not in (target, model)]
        if not names:
            return None
        # One pass over the table (a lookup per reference costs more than the rest here).
        member_rows = table[table["role"] == "member"].groupby("model", sort=False)
        members = {
            name: rows.to_numpy(np.int64)
            for name, rows in member_rows["sample_index"]
            if name in names
        }
        # The population: samples of the references' pool (the shadow pool and its half of the
        # test part, for the victim) that ``model`` neither trained on nor is scored on.
        pools = table.loc[table["model"].isin(names), "pool"].unique()
        pool_samples = table.loc[table["pool"].isin(pools), "sample_index"].to_numpy(np.int64)
        population = np.setdiff1d(
            pool_samples, np.concatenate([roles_of(table, model)["member"], indices])
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
        self, table: pd.DataFrame, labels: np.ndarray, seed: int, target: str = VICTIM
    ) -> tuple[list[MembershipSet], MembershipSet]:
        """The other models' sets (to calibrate attacks) and ``target``'s set (to score)."""

        shadows = [
            self.membership_set(table, labels, name, seed, target)
            for name in model_names(table)
            if name != target
        ]
        return shadows, self.membership_set(table, labels, target, seed, target)

    def shift_set(
        self, table: pd.DataFrame, labels: np.ndarray, seed: int, target: str = VICTIM
    ) -> MembershipSet:
        """``target``'s scored set as seen by :func:`stand_in`, a model that trained on none
        of it: attacks find membership there only where members and non-members differ in
        distribution."""
        return self.membership_set(
            table, labels, target, seed, target, scored_by=stand_in(table, target)
        )

    def record(
        self,
        name: str,
        model: nn.Module,
        data: tuple[torch.Tensor, torch.Tensor],
        table: pd.DataFrame,
        seed: int,
    ) -> None:
        """Store the outputs of model ``name`` (a row of ``table``) on ``data`` (features and
        labels): logits, sensitivity and, with a ``label_noise`` probe, robustness."""
        features, labels = data
        self.logits[name] = predict_logits(model, features, self.sample_index).cpu().numpy()
        split = roles_of(table, name)
        scored = np.union1d(split["member"], split["test"])
        if VICTIM in model_names(table) and name == stand_in(table):  # the shift check's
            victim = roles_of(table, VICTIM)  # model also scores the victim's set
            scored = np.union1d(scored, np.union1d(victim["member"], victim["test"]))
        sensitivity = np.full(self.logits[name].shape, np.nan, dtype=np.float32)
        sensitivity[self.rows(scored)] = input_sensitivity(
            model, features, scored, seed=derive_seed(seed, "sensitivity", name)
        )
        self.sensitivity[name] = sensitivity
        if self.label_noise is not None:
            robustness = np.full((len(self.sample_index), len(self.label_noise.scales)), np.nan)
            robustness[self.rows(scored)] = label_robustness(
                model,
                features,
                labels,
                scored,
                self.label_noise.scales,
                self.label_noise.draws,
                seed=derive_seed(seed, "label noise", name),
            )
            self.robustness[name] = robustness


def stand_in(table: pd.DataFrame, target: str = VICTIM) -> str:
    """The model the shift check scores ``target``'s set with: the first other model."""
    return next(name for name in model_names(table) if name != target)
