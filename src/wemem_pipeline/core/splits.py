"""Who trains on what: victim and shadow pools, members, dev and test non-members.

The result is one long table with a row per (model, sample): ``sample_index`` (row of the
dataset arrays), ``pool`` (``victim`` or ``shadow``), ``model`` (``victim``, ``shadow_0``, ...),
``from_pool`` (True for samples of the pool's training part, False for samples of the test
part) and ``role``:

- ``member``: trains the model;
- ``dev``: a non-member used only for early stopping, never scored by an attack;
- ``test``: a non-member that attacks score and test accuracy is measured on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .validation import ParameterError, require_choice, require_int, require_number

logger = logging.getLogger(__name__)

ROLES = ("member", "dev", "test")
VICTIM = "victim"
# Where non-members come from: the paper's mix (the pool's left-over training samples plus
# the dataset's test part) or only the training part, the members' own source.
NONMEMBER_SOURCES = ("paper", "pool")


def shadow_name(k: int) -> str:
    return f"shadow_{k}"


@dataclass(frozen=True)
class SplitConfig:
    """How the dataset is divided; see the module docstring for the roles."""

    num_shadows: int = 5
    member_fraction: float = 0.9
    dev_fraction: float = 0.34
    test_fraction: float = 0.3
    pool_size: int | None = None
    nonmember_source: str = "paper"

    def __post_init__(self) -> None:
        require_choice("split.nonmember_source", self.nonmember_source, NONMEMBER_SOURCES)
        require_int("split.num_shadows", self.num_shadows, 1)
        open_unit = {"low_inclusive": False, "high_inclusive": False}
        require_number("split.member_fraction", self.member_fraction, 0, 1, **open_unit)
        require_number("split.dev_fraction", self.dev_fraction, 0, 1, **open_unit)
        require_number("split.test_fraction", self.test_fraction, 0, 1, **open_unit)
        if self.pool_size is not None:
            require_int("split.pool_size", self.pool_size, 10)


def split_samples(is_test: np.ndarray, config: SplitConfig, seed: int) -> pd.DataFrame:
    """:func:`split_table`, with each model's role counts logged."""
    table = split_table(is_test, config, seed)
    for model, rows in table.groupby("model", sort=False):
        logger.info("split %s: %s", model, rows["role"].value_counts().to_dict())
    return table


def split_table(is_test: np.ndarray, config: SplitConfig, seed: int) -> pd.DataFrame:
    """Assign every model its members, dev and test non-members.

    The training part is halved into a victim pool and a shadow pool, and so is the test
    part, so that no shadow ever sees a sample the victim is scored on. Within its pool a
    model takes ``member_fraction`` as members; the rest of the pool plus its half of the test
    part are non-members, ``dev_fraction`` of them dev and the others test. Each shadow draws
    its own split of the shadow pool. A dataset without a test part first holds out a seeded
    ``test_fraction`` of its samples.

    With ``nonmember_source="pool"`` the dataset's test part is set aside and the test part is
    held out of the training part instead (as many samples as the test part had, at most
    ``test_fraction`` of the training part), so that members and non-members come from one
    source and a distribution shift between the two files cannot pass for membership.
    """
    rng = np.random.default_rng(seed)
    train_halves, test_halves = _pools(is_test, config, rng)
    frames = [_model_split(VICTIM, VICTIM, train_halves[0], test_halves[0], config, rng)]
    for k in range(config.num_shadows):
        frames.append(
            _model_split(shadow_name(k), "shadow", train_halves[1], test_halves[1], config, rng)
        )
    table = pd.concat(frames, ignore_index=True)
    check_splits(table)
    return table


def split_pools(is_test: np.ndarray, config: SplitConfig, seed: int) -> dict[str, np.ndarray]:
    """The sorted samples of the victim and the shadow pool, as :func:`split_samples` draws
    them (its :func:`pool_samples`), without the models' splits: cheap enough for the checks
    before the first node."""
    train_halves, _ = _pools(is_test, config, np.random.default_rng(seed))
    return {VICTIM: np.sort(train_halves[0]), "shadow": np.sort(train_halves[1])}


def _pools(
    is_test: np.ndarray, config: SplitConfig, rng: np.random.Generator
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The training part and the test part, each halved into the victim's and the shadows'."""
    is_test = np.asarray(is_test, dtype=bool)
    train_part, test_part = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    if len(test_part) == 0 or config.nonmember_source == "pool":
        shuffled = rng.permutation(train_part)
        held_out = round(config.test_fraction * len(shuffled))
        if len(test_part):
            held_out = min(held_out, len(test_part))
        test_part, train_part = np.sort(shuffled[:held_out]), np.sort(shuffled[held_out:])
    train_halves = _halve(rng.permutation(train_part), config.pool_size)
    test_halves = _halve(rng.permutation(test_part), config.pool_size)
    return train_halves, test_halves


def _halve(indices: np.ndarray, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    half = len(indices) // 2
    first, second = indices[:half], indices[half : 2 * half]
    if cap is not None:
        first, second = first[:cap], second[:cap]
    return first, second


def _model_split(
    model: str,
    pool: str,
    pool_indices: np.ndarray,
    test_indices: np.ndarray,
    config: SplitConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    shuffled = rng.permutation(pool_indices)
    num_members = round(config.member_fraction * len(shuffled))
    members = shuffled[:num_members]
    outside = rng.permutation(np.concatenate([shuffled[num_members:], test_indices]))
    num_dev = round(config.dev_fraction * len(outside))
    parts = {"member": members, "dev": outside[:num_dev], "test": outside[num_dev:]}
    for role, indices in parts.items():
        if len(indices) < 2:
            raise ParameterError(
                f"the split leaves {len(indices)} {role} samples for {model}; the dataset is too "
                f"small for split.member_fraction={config.member_fraction}, "
                f"split.dev_fraction={config.dev_fraction}, split.pool_size={config.pool_size}"
            )
    sample_index = np.concatenate(list(parts.values())).astype(np.int64)
    return pd.DataFrame(
        {
            "sample_index": sample_index,
            "pool": pool,
            "model": model,
            "from_pool": np.isin(sample_index, pool_indices),
            "role": np.repeat(list(parts), [len(v) for v in parts.values()]),
        }
    )


def check_splits(table: pd.DataFrame) -> None:
    """Raise if any model's roles overlap or any victim sample is in a shadow's data."""
    for model, rows in table.groupby("model"):
        if rows["sample_index"].duplicated().any():
            clash = rows.loc[rows["sample_index"].duplicated(keep=False)].head()
            raise AssertionError(f"{model}: samples appear in two roles:\n{clash}")
    victim = set(table.loc[table["model"] == VICTIM, "sample_index"])
    shadow = set(table.loc[table["model"] != VICTIM, "sample_index"])
    if victim & shadow:
        raise AssertionError(f"{len(victim & shadow)} samples are shared by victim and shadows")


def model_names(table: pd.DataFrame) -> list[str]:
    """Victim first, then the shadows in order."""
    return table["model"].unique().tolist()  # in order of appearance


def roles_of(table: pd.DataFrame, model: str) -> dict[str, np.ndarray]:
    """Sample indices of ``model`` per role, as ``{"member": ..., "dev": ..., "test": ...}``."""
    rows = table[table["model"] == model]
    if rows.empty:
        raise KeyError(f"no model named {model!r} in the split table")
    return {
        role: rows.loc[rows["role"] == role, "sample_index"].to_numpy(np.int64) for role in ROLES
    }


def member_class_sizes(table: pd.DataFrame, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's members per class (the classes its members hold), victim first."""
    members = table[table["role"] == "member"]
    label = np.asarray(labels)[members["sample_index"].to_numpy(np.int64)]
    counts = members.assign(label=label).groupby(["model", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(model_names(table), fill_value=0)
    return {
        str(model): row[row > 0] for model, row in zip(counts.index, counts.to_numpy(), strict=True)
    }


def role_counts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model (victim first), one column per role: how many samples it has."""
    counts = table.groupby(["model", "role"], sort=False).size().unstack(fill_value=0)
    return counts.reindex(columns=list(ROLES), fill_value=0)


def pool_of(table: pd.DataFrame, model: str) -> str:
    """The pool ``model`` trains on (``victim`` or ``shadow``)."""
    pools = table.loc[table["model"] == model, "pool"].unique()
    if len(pools) != 1:
        raise KeyError(f"model {model!r} has pools {list(pools)} in the split table, not one")
    return str(pools[0])


def pool_samples(table: pd.DataFrame, pool: str) -> np.ndarray:
    """Sorted sample indices of the ``victim`` or ``shadow`` pool (training part only)."""
    rows = table[(table["pool"] == pool) & table["from_pool"]]
    if rows.empty:
        raise KeyError(f"no pool named {pool!r} in the split table")
    return np.unique(rows["sample_index"].to_numpy(np.int64))


def balanced_evaluation_set(
    split: dict[str, np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Members and test non-members in equal numbers (the larger side subsampled, seeded).

    Returns the sample indices and a boolean membership array. Dev samples never appear.
    """
    rng = np.random.default_rng(seed)
    members, non_members = split["member"], split["test"]
    size = min(len(members), len(non_members))
    members = np.sort(rng.choice(members, size, replace=False))
    non_members = np.sort(rng.choice(non_members, size, replace=False))
    indices = np.concatenate([members, non_members])
    return indices, np.repeat([True, False], size)
