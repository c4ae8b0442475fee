"""The audit's parts on small synthetic data whose right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core import audit
from wemem_pipeline.core.attacks.label_noise import LabelNoise
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.parameter_checks import validate_parameters
from wemem_pipeline.core.pruning import PruningConfig
from wemem_pipeline.core.reports.audit import audit_verdicts
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.validation import ParameterError, from_mapping
from wemem_pipeline.runs.tuned_settings import auto_requests

ATTACKS = ("lira", "loss")


def config(**values) -> audit.AuditConfig:
    return audit.AuditConfig(**{"attacks": ATTACKS, **values})


def toy_dataset(n: int = 200, classes: int = 4) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(
        name="toy",
        features=rng.normal(size=(n, 3)).astype(np.float32),
        labels=(np.arange(n) % classes).astype(np.int64),
        is_test=np.zeros(n, dtype=bool),
        class_names=tuple(str(c) for c in range(classes)),
    )


def test_canaries_get_another_class_and_nothing_else_changes() -> None:
    dataset = toy_dataset()
    records = np.arange(0, 200, 2)
    planted, canaries = audit.plant_canaries(dataset, records, 10, seed=3)
    assert len(canaries) == 10 and set(canaries) <= set(records)
    assert (planted.labels[canaries] != dataset.labels[canaries]).all()
    others = np.setdiff1d(np.arange(200), canaries)
    np.testing.assert_array_equal(planted.labels[others], dataset.labels[others])
    again, same = audit.plant_canaries(dataset, records, 10, seed=3)
    np.testing.assert_array_equal(same, canaries)
    np.testing.assert_array_equal(again.labels, planted.labels)


def test_each_record_is_in_for_half_the_models_and_dev_is_shared() -> None:
    records, dev = np.arange(100), np.arange(100, 120)
    table = audit.audit_splits(records, dev, records, config(num_models=6), seed=0)
    members = table[table["role"] == "member"].groupby("sample_index")["model"].nunique()
    assert (members == 3).all() and len(members) == 100
    for _, rows in table.groupby("model"):
        roles = rows.groupby("role")["sample_index"].apply(set)
        assert roles["member"].isdisjoint(roles["test"]) and roles["dev"] == set(dev)
        assert roles["member"] | roles["test"] == set(records)


@pytest.mark.usefixtures("one_thread")
def test_models_trained_in_two_worker_processes_are_those_of_one(score_table) -> None:
    """Each model is seeded by its name: two forked workers, each training half of the
    models (dense, then pruned with RSW), give the same logits, labels on noisy inputs and
    histories as one process."""
    dataset = toy_dataset(160)
    records = np.arange(120)
    table = audit.audit_splits(records, np.arange(120, 160), records, config(num_models=4), 0)
    run = RunConfig(
        seed=0,
        device="cpu",
        model=ModelSpec("mlp", hidden=(8,)),
        training=TrainConfig(batch_size=16, max_epochs=2, patience=2),
        pruning=PruningConfig(sparsity=0.5, rounds=2, epochs_per_round=1),
    )
    runs = [("rsw", "rsw", {"width": 0.5, "stride": 0.5})]
    scores = score_table(records, np.linspace(0, 1, len(records)))
    alone, together = (
        audit.train_audit_models(
            dataset, table, run, scores, runs, workers=workers, label_noise=LabelNoise(draws=4)
        )
        for workers in (1, 2)
    )
    assert workers_forked()
    for stage in ("dense", "rsw"):
        assert list(alone[stage].outputs.logits) == list(together[stage].outputs.logits)
        for name, logits in alone[stage].outputs.logits.items():
            np.testing.assert_array_equal(logits, together[stage].outputs.logits[name])
            robustness = alone[stage].outputs.robustness[name]
            assert np.isfinite(robustness).any()
            np.testing.assert_array_equal(robustness, together[stage].outputs.robustness[name])
        pd.testing.assert_frame_equal(
            alone[stage].history.drop(columns="seconds"),
            together[stage].history.drop(columns="seconds"),
        )


def workers_forked() -> bool:
    from wemem_pipeline.core.workers import can_fork

    return can_fork()


@pytest.mark.parametrize(
    ("values", "phrase"),
    [
        ({"num_models": 3}, "audit.num_models must be >= 4, got 3: online LiRA needs"),
        ({"canaries": 0.2}, "above the budget of 10%"),
        ({"canaries": -1}, "audit.canaries must be a count or a share"),
        ({"attacks": ("nope",)}, "audit.attacks must list attacks"),
        ({"fprs": (0.05,)}, "audit.fprs takes values of"),
        ({"defenses": {"nope": {}}}, "audit.defense"),
        ({"defenses": {}}, "audit.defenses must map one or more defenses"),
        ({"workers": 0}, "audit.workers must be 'auto' or an integer >= 1, got 0"),
        ({"workers": "two"}, "audit.workers must be 'auto' or an integer >= 1"),
    ],
)
def test_bad_settings_are_refused_by_name(values: dict, phrase: str) -> None:
    with pytest.raises(ParameterError, match=phrase):
        config(**values)


def test_unknown_keys_and_too_many_canaries_for_the_records_are_refused() -> None:
    with pytest.raises(ParameterError, match="audit"):
        from_mapping(audit.AuditConfig, "audit", {"num_model": 8})
    with pytest.raises(ParameterError, match="asks for 30 canaries among 100 audited records"):
        config(canaries=30).canary_count(100)
    assert config(canaries=0.05).canary_count(100) == 5


def test_auto_settings_pass_the_checks_and_are_resolved_where_the_audit_runs(base_parameters):
    """``scenario3.settings=auto`` reaches ``audit.defenses.swmr`` through the shipped
    interpolation: checked as tuned settings, and put in place only when the audit runs."""
    base_parameters["scenario3"]["settings"] = "auto"
    base_parameters["audit"]["defenses"]["swmr"] = "auto"
    validate_parameters(base_parameters)
    assert auto_requests(base_parameters, lambda key: key == "audit") == {
        "audit.defenses.swmr": "swmr"
    }
    assert auto_requests(base_parameters, lambda key: key == "scenario3") == {
        "scenario3.settings": "swmr"
    }


def test_an_fpr_the_pairs_cannot_measure_is_refused_naming_those_they_can() -> None:
    audit.check_resolvable(config(num_models=4, fprs=(0.01, 0.001)), 600)  # 1200 pairs
    with pytest.raises(ParameterError, match=r"\[0.001\] need at least 1000 .* resolve \[0.01\]"):
        audit.check_resolvable(config(num_models=4, fprs=(0.01, 0.001)), 200)


def scored_rows(separation: float, targets: int = 4, records: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frames = []
    for t in range(targets):
        is_member = rng.permutation(np.arange(records) % 2 == 0)
        score = rng.normal(size=records) + separation * is_member
        frames.append(
            pd.DataFrame(
                {
                    "stage": "base",
                    "attack": "loss",
                    "target": f"audit_{t}",
                    "sample_index": np.arange(records),
                    "is_member": is_member,
                    "score": score,
                    "predicted_member": score > separation / 2,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_pooled_intervals_cover_chance_without_leakage_and_exclude_it_with() -> None:
    names = ("balanced_accuracy", "auc", "tpr_at_1pct_fpr")
    blind = audit.pooled_metrics(scored_rows(0.0), names, 300, seed=0)
    assert blind["auc_ci_low"] < 0.5 < blind["auc_ci_high"]
    leaky = audit.pooled_metrics(scored_rows(3.0), names, 300, seed=0)
    assert leaky["auc"] > 0.95 and leaky["auc_ci_low"] > 0.9
    assert leaky["tpr_at_1pct_fpr_ci_low"] > blind["tpr_at_1pct_fpr_ci_high"]
    chance = audit.chance_reference(scored_rows(3.0), names, 50, seed=0)
    assert chance["chance_auc_q95"] < 0.56


def test_the_memorable_subset_is_the_top_share_by_rank_even_with_ties() -> None:
    scores = pd.DataFrame({"sample_index": np.arange(100), "score": np.repeat([1.0, 0.5], 50)})
    rows = pd.DataFrame({"sample_index": np.arange(100)})
    masks = audit.subset_masks(rows, np.array([0, 1]), scores, 0.2)
    memorable = rows["sample_index"][masks["memorable"]]
    assert len(memorable) == 20 and not {0, 1} & set(memorable)  # canaries are not natural
    assert masks["canaries"].sum() == 2 and masks["population"].all()


def verdict_report(tprs: dict[str, tuple[str, float]]) -> dict:
    """An audit report whose population TPR@1%FPR per stage is ``value +- 0.01``."""
    by_stage = {
        stage: {
            "lowest_resolvable_fpr": 0.001,
            "pairs": {"members": 5000, "non_members": 5000},
            "tpr_at_1pct_fpr": {"value": value, "ci": [value - 0.01, value + 0.01]},
        }
        for stage, (_, value) in tprs.items()
    }
    stages = [{"stage": stage, "defense": defense} for stage, (defense, _) in tprs.items()]
    return {"stages": stages, "evaluations": {"population": by_stage}}


def test_a_wemem_run_against_a_grid_of_baselines_gets_one_sentence_naming_the_resolved() -> None:
    report = verdict_report(
        {
            "dense": ("dense", 0.05),
            "base": ("base", 0.10),
            "SWMR": ("swmr", 0.04),
            "PPB lambda=1": ("ppb", 0.10),
            "PPB lambda=4": ("ppb", 0.045),
            "HAMP gamma=0.5": ("hamp", 0.015),
            "DP-SGD noise_multiplier=1.0": ("dpsgd", 0.08),
        }
    )
    sentences = audit_verdicts(report)
    assert sentences[0].startswith("Pruning (Dense -> Base)") and "0.050 -> 0.100" in sentences[0]
    assert sentences[1] == "SWMR against Base: population 0.100 -> 0.040 (lowered)."
    assert sentences[2] == (
        "SWMR against the baseline runs: population 0.040, below PPB lambda=1, "
        "DP-SGD noise_multiplier=1.0, above HAMP gamma=0.5 (of 4; the others overlap)."
    )
    assert len(sentences) == 3


def test_the_plain_audit_compares_each_wemem_defense_with_each_baseline() -> None:
    report = verdict_report(
        {
            "dense": ("dense", 0.05),
            "base": ("base", 0.1),
            "rsw": ("rsw", 0.04),
            "hamp": ("hamp", 0.015),
        }
    )
    assert audit_verdicts(report)[2] == "RSW against HAMP: population 0.015 -> 0.040 (raised)."
