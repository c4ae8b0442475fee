"""Tests for wemem_pipeline.core.splits: who trains on what, and what attacks may score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core.splits import (
    ROLES,
    VICTIM,
    SplitConfig,
    balanced_evaluation_set,
    check_splits,
    model_names,
    pool_samples,
    roles_of,
    split_pools,
    split_samples,
)
from wemem_pipeline.core.validation import ParameterError

K = 3
# Sizes are chosen so that 0.9 * pool is not a whole number (round, not truncate).
N_WITH_TEST, N_TRAIN = 1010, 608
N_WITHOUT_TEST = 1010


def with_test_part() -> np.ndarray:
    is_test = np.zeros(N_WITH_TEST, dtype=bool)
    is_test[N_TRAIN:] = True  # 608 train samples, then 402 official test samples
    return is_test


def without_test_part() -> np.ndarray:
    return np.zeros(N_WITHOUT_TEST, dtype=bool)


# Hand-computed sizes.
# With a test part: pools 304 (= 608/2), test halves 201; members round(0.9*304 = 273.6) = 274;
# non-members 30 + 201 = 231, dev round(0.34*231 = 78.54) = 79, test 152.
# Without: test_fraction 0.3 holds out round(303.0) = 303; the other 707 halve into pools of
# 353 (one sample left over), test halves 151; members round(317.7) = 318;
# non-members 35 + 151 = 186, dev round(63.24) = 63, test 123.
EXPECTED_SIZES = {
    "with_test": {"member": 274, "dev": 79, "test": 152},
    "without_test": {"member": 318, "dev": 63, "test": 123},
}
CASES = {"with_test": with_test_part, "without_test": without_test_part}


@pytest.fixture(params=list(CASES))
def case(request):
    is_test = CASES[request.param]()
    table = split_samples(is_test, SplitConfig(num_shadows=K), seed=7)
    return request.param, is_test, table


def samples_of(table: pd.DataFrame, model: str) -> set[int]:
    return set(table.loc[table["model"] == model, "sample_index"].tolist())


def test_table_columns_and_models(case):
    _, is_test, table = case
    assert list(table.columns) == ["sample_index", "pool", "model", "from_pool", "role"]
    assert model_names(table) == [VICTIM] + [f"shadow_{k}" for k in range(K)]
    assert set(table["role"]) == set(ROLES)
    assert set(table.loc[table["model"] == VICTIM, "pool"]) == {"victim"}
    assert set(table.loc[table["model"] != VICTIM, "pool"]) == {"shadow"}
    assert table["sample_index"].between(0, len(is_test) - 1).all()


def test_roles_are_disjoint_per_model(case):
    _, _, table = case
    for model in model_names(table):
        parts = roles_of(table, model)
        member, dev, test = (set(parts[r].tolist()) for r in ROLES)
        assert not member & dev and not member & test and not dev & test
        assert sum(len(parts[r]) for r in ROLES) == len(member | dev | test)


def test_victim_and_shadow_samples_are_disjoint(case):
    _, _, table = case
    victim = samples_of(table, VICTIM)
    for k in range(K):
        assert not victim & samples_of(table, f"shadow_{k}")


def test_sizes_match_the_fractions(case):
    name, _, table = case
    for model in model_names(table):
        sizes = {role: len(indices) for role, indices in roles_of(table, model).items()}
        assert sizes == EXPECTED_SIZES[name], model


def test_members_come_from_the_train_part_only(case):
    name, is_test, table = case
    members = table.loc[table["role"] == "member", "sample_index"].to_numpy()
    assert not is_test[members].any()
    if name == "with_test":
        # Non-members mix the held-back 10% of the pool with the official test part.
        for model in model_names(table):
            outside = np.concatenate([roles_of(table, model)[r] for r in ("dev", "test")])
            assert is_test[outside].sum() == 201
            assert (~is_test[outside]).sum() == 304 - 274


def test_shadows_share_a_pool_but_draw_their_own_members(case):
    _, _, table = case
    pools = [samples_of(table, f"shadow_{k}") for k in range(K)]
    assert all(pool == pools[0] for pool in pools)
    members = [set(roles_of(table, f"shadow_{k}")["member"].tolist()) for k in range(K)]
    for a in range(K):
        for b in range(a + 1, K):
            assert members[a] != members[b]


def test_same_seed_same_table_other_seed_different():
    is_test = with_test_part()
    config = SplitConfig(num_shadows=2)
    first = split_samples(is_test, config, seed=3)
    again = split_samples(is_test, config, seed=3)
    other = split_samples(is_test, config, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert set(roles_of(first, VICTIM)["member"]) != set(roles_of(other, VICTIM)["member"])


def test_pool_size_caps_pools_and_test_halves():
    table = split_samples(with_test_part(), SplitConfig(num_shadows=1, pool_size=100), seed=0)
    # pool 100 -> 90 members; non-members 10 + 100 (capped test half) = 110 -> dev 37, test 73.
    # Without the cap the pools would be 304 and the test halves 201.
    for model in model_names(table):
        sizes = {role: len(indices) for role, indices in roles_of(table, model).items()}
        assert sizes == {"member": 90, "dev": 37, "test": 73}


def test_too_small_dataset_raises_parameter_error():
    with pytest.raises(ParameterError, match="too small"):
        split_samples(np.zeros(12, dtype=bool), SplitConfig(num_shadows=1), seed=0)


# ----------------------------------------------------------------------------- check_splits


def hand_table(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sample_index", "pool", "model", "role"])


VALID_ROWS = [
    (0, "victim", VICTIM, "member"),
    (1, "victim", VICTIM, "dev"),
    (2, "victim", VICTIM, "test"),
    (3, "shadow", "shadow_0", "member"),
    (4, "shadow", "shadow_0", "dev"),
    (5, "shadow", "shadow_0", "test"),
    (4, "shadow", "shadow_1", "member"),  # shadows may share samples with each other
    (3, "shadow", "shadow_1", "dev"),
    (5, "shadow", "shadow_1", "test"),
]


def test_check_splits_accepts_a_valid_hand_made_table():
    check_splits(hand_table(VALID_ROWS))


def test_check_splits_rejects_a_sample_in_two_roles():
    rows = [*VALID_ROWS, (0, "victim", VICTIM, "test")]  # victim member 0 is also scored
    with pytest.raises(AssertionError, match="two roles"):
        check_splits(hand_table(rows))


def test_check_splits_rejects_victim_samples_in_a_shadow():
    rows = [*VALID_ROWS, (2, "shadow", "shadow_1", "member")]  # victim test sample 2
    with pytest.raises(AssertionError, match="shared by victim and shadows"):
        check_splits(hand_table(rows))


# ----------------------------------------------------------------------------- evaluation set


def test_balanced_evaluation_set_is_balanced_and_never_uses_dev():
    split = {
        "member": np.arange(0, 50),
        "dev": np.arange(50, 70),
        "test": np.arange(70, 100),
    }
    indices, is_member = balanced_evaluation_set(split, seed=0)
    assert is_member.dtype == bool
    assert is_member.sum() == (~is_member).sum() == 30
    assert len(indices) == 60 and len(set(indices.tolist())) == 60
    assert set(indices[is_member].tolist()) <= set(split["member"].tolist())
    assert set(indices[~is_member].tolist()) == set(split["test"].tolist())
    assert not set(indices.tolist()) & set(split["dev"].tolist())
    again, _ = balanced_evaluation_set(split, seed=0)
    other, _ = balanced_evaluation_set(split, seed=1)
    np.testing.assert_array_equal(indices, again)
    assert not np.array_equal(indices, other)


def test_balanced_evaluation_set_subsamples_non_members_when_they_outnumber(case):
    _, _, table = case
    split = roles_of(table, VICTIM)
    split = {**split, "member": split["member"][:40]}
    indices, is_member = balanced_evaluation_set(split, seed=0)
    assert is_member.sum() == (~is_member).sum() == 40
    assert not set(indices.tolist()) & set(split["dev"].tolist())
    assert set(indices[~is_member].tolist()) <= set(split["test"].tolist())


# ----------------------------------------------------------------------------- config


def test_zero_shadows_is_rejected():
    with pytest.raises(ParameterError, match=r"split\.num_shadows"):
        SplitConfig(num_shadows=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("member_fraction", 1.0), ("dev_fraction", 0.0), ("test_fraction", 1.5), ("pool_size", 5)],
)
def test_split_config_rejects_bad_values(field, value):
    with pytest.raises(ParameterError, match=rf"split\.{field}"):
        SplitConfig(**{field: value})


def test_roles_of_unknown_model_raises():
    table = split_samples(with_test_part(), SplitConfig(num_shadows=1), seed=0)
    with pytest.raises(KeyError, match="shadow_9"):
        roles_of(table, "shadow_9")


def test_from_pool_marks_training_part_samples_and_pool_samples_lists_them(case):
    _, is_test, table = case
    if is_test.any():
        # With a real test part, from_pool is exactly "not from the dataset's test split".
        assert (table["from_pool"] == ~is_test[table["sample_index"]]).all()
    assert table.loc[table["role"] == "member", "from_pool"].all()
    for pool in ("victim", "shadow"):
        expected = table[(table["pool"] == pool) & table["from_pool"]]["sample_index"]
        np.testing.assert_array_equal(pool_samples(table, pool), np.unique(expected))
    assert not set(pool_samples(table, "victim")) & set(pool_samples(table, "shadow"))


@pytest.mark.parametrize("nonmember_source", ["paper", "pool"])
@pytest.mark.parametrize("pool_size", [None, 40])
def test_split_pools_are_the_pools_of_the_split(case, nonmember_source, pool_size):
    """The checks before the first node take the pools from split_pools, the nodes from the
    split table: the same samples, for every way of drawing them."""
    _, is_test, _ = case
    config = SplitConfig(num_shadows=2, pool_size=pool_size, nonmember_source=nonmember_source)
    table = split_samples(is_test, config, seed=3)
    pools = split_pools(is_test, config, seed=3)
    for pool in ("victim", "shadow"):
        np.testing.assert_array_equal(pools[pool], pool_samples(table, pool))
