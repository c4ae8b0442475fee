"""Tests for wemem_pipeline.core.memorability: Feldman & Zhang mem-scores and their settings.

The estimator is checked on hand-made matrices; the whole method on sklearn's digits with
deliberately flipped labels, which only memorization can fit. The digits runs take a few
seconds in all on 2 CPU cores (16 batched MLPs per run).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.errors import DataError
from wemem_pipeline.core.memorability import (
    SCORE_COLUMNS,
    MemorabilityConfig,
    feldman_estimate,
    feldman_scores,
    import_scores,
    loss_proxy_scores,
    rank_normalize,
    read_scores,
    score_pool,
    subset_masks,
)
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.parameter_checks import validate_parameters
from wemem_pipeline.core.run_config import run_config
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.validation import ParameterError, from_mapping

CPU = torch.device("cpu")

# The project defaults (conf/base/parameters_training.yml): Adam, lr 1e-3, batch 64, 60 epochs.
# Fitting a flipped label takes that long: with 30 epochs the flip AUC drops to about 0.88.
SPEC = ModelSpec("mlp", hidden=(256, 128))
TRAINING = TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, max_epochs=60)
# 16 models: each sample is left out by round(16 * 0.3) = 5 of them. 32 models measured no
# better here (flip AUC 0.956-0.984 vs 0.952-0.983, stability the same) at twice the cost.
NUM_MODELS = 16
POOL_SIZE = 600
FLIP_FRACTION = 0.03


# ----------------------------------------------------------------------------- feldman_estimate


def test_feldman_estimate_on_a_hand_made_example():
    included = np.array(
        [
            [1, 0, 1, 1],
            [1, 1, 0, 0],
            [0, 1, 1, 0],
            [0, 1, 0, 0],
        ],
        dtype=bool,
    )
    correct = np.array(
        [
            [1, 1, 1, 1],
            [1, 0, 0, 1],
            [0, 1, 0, 1],
            [1, 1, 1, 0],
        ]
    )
    table = feldman_estimate(correct, included)
    # Sample 0: in by models 0,1 (both right), out of 2,3 (one right): 1 - 1/2.
    # Sample 1: in by models 1,2,3 (two right), out of 0 (right): 2/3 - 1.
    # Sample 2: in by models 0,2 (one right), out of 1,3 (one right): 1/2 - 1/2.
    # Sample 3: in by model 0 (right), out of 1,2,3 (two right): 1 - 2/3.
    np.testing.assert_allclose(table["raw_score"], [0.5, -1 / 3, 0.0, 1 / 3])
    np.testing.assert_array_equal(table["in_count"], [2, 3, 2, 1])
    np.testing.assert_array_equal(table["out_count"], [2, 1, 2, 3])
    # sqrt(p_in (1 - p_in) / in + p_out (1 - p_out) / out)
    expected_se = [
        math.sqrt(0 + 0.25 / 2),
        math.sqrt((2 / 3) * (1 / 3) / 3 + 0),
        math.sqrt(0.25 / 2 + 0.25 / 2),
        math.sqrt(0 + (2 / 3) * (1 / 3) / 3),
    ]
    np.testing.assert_allclose(table["std_error"], expected_se)


def test_feldman_estimate_matches_a_loop_reference():
    rng = np.random.default_rng(0)
    included = subset_masks(40, 8, 0.7, seed=1)
    correct = rng.random((8, 40)) < 0.7
    table = feldman_estimate(correct, included)
    for i in range(40):
        inside, outside = correct[included[:, i], i], correct[~included[:, i], i]
        assert table["raw_score"][i] == pytest.approx(inside.mean() - outside.mean())
        assert table["in_count"][i] == len(inside)
        assert table["out_count"][i] == len(outside)


def test_feldman_estimate_of_a_sample_fit_only_when_trained_on_is_one():
    included = np.array([[1, 1], [1, 0], [0, 1]], dtype=bool)
    table = feldman_estimate(included, included)  # right exactly when trained on
    np.testing.assert_allclose(table["raw_score"], [1.0, 1.0])
    np.testing.assert_allclose(table["std_error"], [0.0, 0.0])


@pytest.mark.parametrize("column", [np.ones(4, dtype=bool), np.zeros(4, dtype=bool)])
def test_feldman_estimate_rejects_samples_never_left_out_or_never_included(column):
    included = subset_masks(10, 4, 0.5, seed=0)
    included[:, 3] = column
    with pytest.raises(ParameterError, match=r"memorability\.num_models") as error:
        feldman_estimate(np.ones((4, 10)), included)
    assert "1 samples" in str(error.value)


# ----------------------------------------------------------------------------- subset_masks


@pytest.mark.parametrize(
    ("num_samples", "num_models", "fraction", "left_out"),
    [
        (96, 32, 0.7, 10),  # 9.6 -> 10
        (80, 16, 0.7, 5),  # 4.8 -> 5
        (40, 2, 0.7, 1),  # 0.6 -> 1
        (40, 4, 0.99, 1),  # 0.04 -> 0, clipped up to 1
        (40, 4, 0.01, 3),  # 3.96 -> 4, clipped down to M - 1
        (30, 10, 0.5, 5),
    ],
)
def test_subset_masks_leave_every_sample_out_exactly_k_times(
    num_samples, num_models, fraction, left_out
):
    # N * k is a multiple of M here, so exactly-k and equal sizes are both possible.
    assert num_samples * left_out % num_models == 0
    masks = subset_masks(num_samples, num_models, fraction, seed=3)
    assert masks.shape == (num_models, num_samples) and masks.dtype == bool
    np.testing.assert_array_equal((~masks).sum(0), left_out)
    np.testing.assert_array_equal(masks.sum(1), num_samples - num_samples * left_out // num_models)


@pytest.mark.parametrize(
    ("num_samples", "num_models", "fraction", "left_out"),
    [(100, 32, 0.7, 10), (101, 16, 0.7, 5), (600, 16, 0.7, 5), (7, 5, 0.5, 2)],
)
def test_subset_masks_have_equal_sizes_when_loads_cannot_be_equal(
    num_samples, num_models, fraction, left_out
):
    # N * k is not a multiple of M: equal subset sizes force some samples out more often.
    masks = subset_masks(num_samples, num_models, fraction, seed=3)
    sizes = masks.sum(1)
    assert len(set(sizes)) == 1
    assert sizes[0] == num_samples - math.ceil(num_samples * left_out / num_models)
    out_count = (~masks).sum(0)
    assert out_count.min() == left_out
    assert masks.sum(0).min() >= 1  # every score stays defined


@pytest.mark.parametrize(
    ("num_samples", "num_models", "fraction", "left_out"),
    [(100, 32, 0.7, 10), (11, 2, 0.7, 1), (10, 3, 0.5, 2)],
)
def test_subset_masks_leave_out_at_most_one_extra_time(num_samples, num_models, fraction, left_out):
    try:
        masks = subset_masks(num_samples, num_models, fraction, seed=0)
    except ParameterError as error:  # refusing an impossible request up front is fine too
        assert "memorability" in str(error)
        return
    out_count = (~masks).sum(0)
    assert set(out_count) <= {left_out, left_out + 1}
    assert masks.sum(0).min() >= 1


def test_subset_masks_are_reproducible_per_seed():
    first = subset_masks(200, 16, 0.7, seed=5)
    np.testing.assert_array_equal(first, subset_masks(200, 16, 0.7, seed=5))
    assert not np.array_equal(first, subset_masks(200, 16, 0.7, seed=6))


@pytest.mark.parametrize("num_models", [32, 20, 100])
def test_subset_masks_give_every_model_its_own_subset(num_models):
    masks = subset_masks(600, num_models, 0.7, seed=0)
    identical = [
        (a, b)
        for a in range(num_models)
        for b in range(a + 1, num_models)
        if np.array_equal(masks[a], masks[b])
    ]
    assert not identical, f"models train on the same subset: {identical[:5]}"


@pytest.mark.parametrize("num_models", [16, 32])
def test_subset_masks_overlap_like_independent_random_subsets(num_models):
    # With a random set of k models leaving each sample out, two models both train on a
    # sample with probability (M-k)(M-k-1) / (M(M-1)): a shared share of about 0.67 of a
    # subset, +- 0.03 (one sd) at N = 600; a random design measured 0.63-0.72.
    masks = subset_masks(600, num_models, 0.7, seed=0)
    k = round(num_models * 0.3)
    expected = (num_models - k - 1) / (num_models - 1)
    shared = (masks[:, None] & masks[None]).sum(-1) / masks.sum(1)[0]
    off_diagonal = shared[~np.eye(num_models, dtype=bool)]
    assert np.abs(off_diagonal - expected).max() < 0.12, (off_diagonal.min(), off_diagonal.max())


# ----------------------------------------------------------------------------- rank_normalize


def test_rank_normalize_range_ties_and_order():
    np.testing.assert_allclose(rank_normalize([3, 1, 3, 2]), [2.5 / 3, 0, 2.5 / 3, 1 / 3])
    values = np.random.default_rng(0).normal(size=50)
    ranks = rank_normalize(values)
    assert ranks.min() == 0.0 and ranks.max() == 1.0
    np.testing.assert_array_equal(np.argsort(ranks), np.argsort(values))
    # Ties share their average rank; a constant vector sits in the middle.
    np.testing.assert_allclose(rank_normalize([0.0, 0.0, 0.0]), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(rank_normalize([0, 0, 1, 1]), [1 / 6, 1 / 6, 5 / 6, 5 / 6])
    # Monotone: a larger value never gets a smaller score.
    mixed = np.array([0.0, 0.0, 0.1, 0.0, 0.5, 0.1, 1.0])
    order = np.argsort(mixed, kind="stable")
    assert np.all(np.diff(rank_normalize(mixed)[order]) >= 0)


def test_rank_normalize_short_inputs():
    assert rank_normalize([]).shape == (0,)
    np.testing.assert_array_equal(rank_normalize([4.2]), [0.0])
    np.testing.assert_allclose(rank_normalize([2.0, -1.0]), [1.0, 0.0])


# ----------------------------------------------------------------------------- digits runs


@pytest.fixture(scope="module")
def pool(digits) -> np.ndarray:
    return np.sort(np.random.default_rng(0).choice(digits.num_samples, POOL_SIZE, replace=False))


@pytest.fixture(scope="module")
def flipped(digits, pool) -> tuple[Dataset, np.ndarray]:
    """Digits with 3% of the pool relabelled to another class; returns (dataset, flipped rows)."""
    rng = np.random.default_rng(1)
    rows = rng.choice(pool, round(FLIP_FRACTION * len(pool)), replace=False)
    labels = digits.labels.copy()
    labels[rows] = (labels[rows] + rng.integers(1, digits.num_classes, len(rows))) % 10
    assert np.all(labels[rows] != digits.labels[rows])
    dataset = Dataset(digits.name, digits.features, labels, digits.is_test, digits.class_names)
    return dataset, np.sort(rows)


@pytest.fixture(scope="module")
def flipped_scores(flipped, pool) -> pd.DataFrame:
    dataset, _ = flipped
    config = MemorabilityConfig(num_models=NUM_MODELS)  # epochs None: training.max_epochs
    return feldman_scores(dataset, pool, SPEC, TRAINING, config, seed=0, device=CPU)


def test_feldman_scores_table(flipped, flipped_scores, pool):
    dataset, _ = flipped
    table = flipped_scores
    assert list(table.columns) == list(SCORE_COLUMNS)
    np.testing.assert_array_equal(table["sample_index"], pool)
    np.testing.assert_array_equal(table["label"], dataset.labels[pool])  # the flipped labels
    np.testing.assert_array_equal(table["in_count"] + table["out_count"], NUM_MODELS)
    assert table["out_count"].min() == round(NUM_MODELS * 0.3)
    np.testing.assert_allclose(table["score"], rank_normalize(table["raw_score"]))
    assert table["raw_score"].between(-1, 1).all()
    assert table["std_error"].between(0, 1).all()


def test_flipped_labels_score_higher_than_clean_ones(flipped, flipped_scores):
    _, rows = flipped
    is_flipped = np.isin(flipped_scores["sample_index"], rows)
    raw = flipped_scores["raw_score"].to_numpy()
    # Measured (M=16) over 25 runs of several pools, flip draws and seeds: AUC 0.948-0.991
    # (0.951 for this draw, where 1 of the 18 flipped samples is never fit), flipped median 1.
    assert roc_auc_score(is_flipped, raw) > 0.9
    assert np.median(raw[is_flipped]) >= 0.5
    # Clean digits are fit whether or not a model trained on them: 89-92% score exactly 0,
    # so the clean median was 0.0 in every run (90th percentile 0.1-0.27, mean 0.06-0.08).
    assert np.median(raw[~is_flipped]) <= 0.05
    assert raw[~is_flipped].mean() <= 0.15


def test_loss_proxy_separates_flipped_labels(flipped, pool):
    dataset, rows = flipped
    config = MemorabilityConfig(method="loss_proxy", epochs=60)
    table = loss_proxy_scores(dataset, pool, SPEC, TRAINING, config, seed=0, device=CPU)
    assert list(table.columns) == list(SCORE_COLUMNS)
    np.testing.assert_array_equal(table["sample_index"], pool)
    np.testing.assert_array_equal(table["in_count"], 60)
    assert (table["raw_score"] > 0).all()
    is_flipped = np.isin(table["sample_index"], rows)
    # Measured over 7 draws: AUC 0.988-0.999 (0.990 for this one).
    assert roc_auc_score(is_flipped, table["raw_score"]) > 0.9


def test_feldman_scores_are_stable_across_seeds(digits, pool):
    runs = [
        feldman_scores(
            digits,
            pool,
            SPEC,
            TRAINING,
            MemorabilityConfig(num_models=NUM_MODELS),
            seed=s,
            device=CPU,
        )["raw_score"].to_numpy()
        for s in (1, 2)
    ]
    # About 90% of the digits score exactly 0 in each run, so the rank correlation rests on
    # which few samples score above 0 and in what order. Measured with M=16: Spearman
    # 0.70-0.83 over 6 seed pairs on this pool, 0.53-0.77 over 9 pairs on 3 other pools;
    # unrelated scores (one run permuted) give 0 +- 0.04. The floor 0.4 is ten null standard
    # deviations and below every measured pair.
    rho = spearmanr(*runs)[0]
    assert rho > 0.4, rho


def test_feldman_scores_chunking_does_not_change_the_scores(digits):
    # One batch per epoch (batch >= subset) makes batch order irrelevant, so training the 6
    # models as chunks of 4 + 2 or all at once must give the same correctness matrix.
    small_pool = np.arange(0, 300, 3)
    training = TrainConfig(lr=1e-2, batch_size=128, max_epochs=10)

    def scores(chunk_size: int, workers: int = 1) -> pd.DataFrame:
        config = MemorabilityConfig(num_models=6, chunk_size=chunk_size)
        return feldman_scores(
            digits, small_pool, SPEC, training, config, seed=3, device=CPU, workers=workers
        )

    whole, chunked = scores(6), scores(4)
    pd.testing.assert_frame_equal(whole, chunked)
    assert whole["raw_score"].abs().sum() > 0  # not trivially all zero
    # Three chunks of 2 dealt to two forked workers (2 + 1): the same scores again.
    pd.testing.assert_frame_equal(scores(2, workers=2), whole)


# ----------------------------------------------------------------------------- import_scores


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_import_scores_round_trip(tmp_path):
    labels = np.arange(20, dtype=np.int64) % 3
    pool = np.array([7, 2, 11, 5])
    rows = {2: 0.4, 5: 0.1, 7: 0.9, 11: 0.4, 13: 0.2}  # 13 is not in the pool: ignored
    frame = pd.DataFrame({"index": list(rows), "score": list(rows.values())})
    path = tmp_path / "scores.csv"
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)  # any row order
    table = import_scores(path, pool, labels)
    assert list(table.columns) == list(SCORE_COLUMNS)
    np.testing.assert_array_equal(table["sample_index"], [2, 5, 7, 11])
    np.testing.assert_array_equal(table["label"], labels[[2, 5, 7, 11]])
    np.testing.assert_allclose(table["raw_score"], [0.4, 0.1, 0.9, 0.4])
    np.testing.assert_allclose(table["score"], [0.5, 0.0, 1.0, 0.5])
    pd.testing.assert_frame_equal(import_scores(str(path), pool, labels), table)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("idx,score\n0,0.1\n1,0.2\n", r"needs columns index,score; missing \['index'\]"),
        ("index,value\n0,0.1\n1,0.2\n", r"needs columns index,score; missing \['score'\]"),
        ("index,score\n0,0.1\n1,\n", r"missing or non-numeric scores at \[1\]"),
        ("index,score\n0,0.1\n1,nan\n", r"missing or non-numeric scores at \[1\]"),
        ("index,score\n0,high\n1,0.2\n", r"missing or non-numeric scores at \[0\]"),
        ("index,score\n0,inf\n1,0.2\n", r"infinite scores at \[0\]"),
        ("index,score\n0,0.1\n1,0.2\n1,0.3\n", r"lists some indices twice \(e\.g\. \[1\]\)"),
        ("index,score\n0,0.1\n", r"no score for 1 of the 2 pool samples \(e\.g\. indices \[1\]\)"),
        ("index,score\n", "no score for 2 of the 2 pool samples"),
        ("", r"cannot be read as a CSV table \(No columns to parse from file\)"),
        ('index,score\n0,"0.1\n', "cannot be read as a CSV table"),
        ("index,score\n0,-50\n1,80\n", r"2 scores outside \[-1, 1\] \(they range from -50 to 80\)"),
        ("index,score\n0,1.5\n1,0.2\n", r"1 scores outside \[-1, 1\]"),
    ],
    ids=[
        "no-index",
        "no-score",
        "empty-score",
        "nan-score",
        "text-score",
        "infinite",
        "duplicate",
        "wrong-length",
        "no-rows",
        "empty-file",
        "unclosed-quote",
        "other-scale",
        "above-one",
    ],
)
def test_import_scores_errors(tmp_path, text, message):
    path = write_csv(tmp_path / "scores.csv", text)
    with pytest.raises(DataError, match=message) as error:
        import_scores(path, np.array([0, 1]), np.zeros(2, dtype=np.int64))
    assert str(path) in str(error.value)  # says which file


def test_scores_on_either_scale_are_read_as_given(tmp_path):
    path = write_csv(tmp_path / "scores.csv", "index,score\n0,-1\n1,1\n2,0\n3,0.25\n")
    scores = read_scores(path)
    assert scores.to_dict() == {0: -1.0, 1: 1.0, 2: 0.0, 3: 0.25}


@pytest.mark.parametrize("kind", ["not-csv", "binary", "folder", "missing"])
def test_a_file_that_is_no_score_table_is_refused_with_its_name(tmp_path, kind):
    """/etc/passwd as a score file printed a 338-line pandas traceback."""
    path = tmp_path / "scores.csv"
    if kind == "not-csv":  # as /etc/passwd: colon-separated lines, a few with commas
        users = ["root:x:0:0:root:/root:/bin/bash", "daemon:x:1:1:daemon:/usr/sbin:/bin/sh"]
        path.write_text("\n".join([*users, "gnats:x:41:41:Gnats Bug-Reporting,,,:/bin/sh", ""]))
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "folder":
        path.mkdir()
    what = {"folder": "is not a file", "missing": "does not exist"}.get(kind, "cannot be read")
    with pytest.raises(DataError, match=what) as error:
        read_scores(path, "memorability.victim_scores_path")
    assert str(error.value).startswith(f"memorability.victim_scores_path: mem-score file {path}")
    assert error.value.hint


@pytest.mark.parametrize("index", ["1.7", "", "one"], ids=["fractional", "empty", "text"])
def test_import_scores_rejects_bad_indices(tmp_path, index):
    path = write_csv(tmp_path / "scores.csv", f"index,score\n0,0.1\n{index},0.2\n1,0.3\n")
    with pytest.raises(DataError, match=str(path)):
        import_scores(path, np.array([0, 1]), np.zeros(2, dtype=np.int64))


def test_score_pool_imports_the_pools_own_file(tmp_path):
    labels = np.arange(10, dtype=np.int64) % 2
    dataset = Dataset("toy", np.zeros((10, 2), np.float32), labels, np.zeros(10, bool), ("a", "b"))
    pools = {"victim": np.array([1, 3]), "shadow": np.array([2, 4])}
    paths = {
        name: write_csv(tmp_path / f"{name}.csv", f"index,score\n{a},0.2\n{b},0.1\n")
        for name, (a, b) in pools.items()
    }
    config = MemorabilityConfig(
        method="import", victim_scores_path=paths["victim"], shadow_scores_path=paths["shadow"]
    )
    for name, pool in pools.items():
        table = score_pool(dataset, pool, name, config, SPEC, TRAINING, seed=0, device=CPU)
        pd.testing.assert_frame_equal(table, import_scores(paths[name], pool, labels))


# ----------------------------------------------------------------------------- configuration


def with_memorability(params: dict[str, Any], **values: Any) -> dict[str, Any]:
    params = copy.deepcopy(params)
    params["memorability"].update(values)
    return params


def test_base_memorability_section_is_valid(base_parameters):
    validate_parameters(base_parameters)
    config = from_mapping(MemorabilityConfig, "memorability", base_parameters["memorability"])
    assert (
        config
        == MemorabilityConfig(**base_parameters["memorability"])
        == run_config(base_parameters).memorability
    )
    assert config.method in ("feldman", "loss_proxy", "import")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_models", 1),
        ("num_models", 0),
        ("num_models", 4.0),
        ("subset_fraction", 0),
        ("subset_fraction", 1),
        ("subset_fraction", 1.5),
        ("subset_fraction", -0.2),
        ("method", "shapley"),
        ("epochs", 0),
        ("chunk_size", 0),
    ],
)
def test_bad_memorability_value_names_the_parameter(base_parameters, key, value):
    with pytest.raises(ParameterError) as error:
        validate_parameters(with_memorability(base_parameters, **{key: value}))
    message = str(error.value)
    assert f"memorability.{key}" in message
    assert repr(value) in message
    with pytest.raises(ParameterError, match=rf"memorability\.{key}"):
        MemorabilityConfig(**{key: value})


@pytest.mark.parametrize(
    ("paths", "missing"),
    [
        ({}, "victim_scores_path"),
        ({"victim_scores_path": "v.csv"}, "shadow_scores_path"),
        ({"shadow_scores_path": "s.csv"}, "victim_scores_path"),
        ({"victim_scores_path": "", "shadow_scores_path": "s.csv"}, "victim_scores_path"),
    ],
)
def test_import_method_needs_both_paths(base_parameters, paths, missing):
    params = with_memorability(
        base_parameters, method="import", victim_scores_path=None, shadow_scores_path=None
    )
    params["memorability"].update(paths)
    with pytest.raises(ParameterError, match=rf"memorability\.{missing} must name a CSV"):
        validate_parameters(params)


def test_import_method_with_both_paths_is_valid(base_parameters):
    validate_parameters(
        with_memorability(
            base_parameters, method="import", victim_scores_path="v.csv", shadow_scores_path="s.csv"
        )
    )


def test_unknown_memorability_key_is_rejected(base_parameters):
    params = with_memorability(base_parameters, num_model=8)  # a typo of num_models
    with pytest.raises(ParameterError, match=r"memorability has unknown keys \['num_model'\]"):
        validate_parameters(params)
