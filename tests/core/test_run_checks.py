"""Settings whose result would mean nothing (``core/run_checks.py``), a run's estimated time
(``core/run_time.py``) and the chance level of test accuracy (``core/chance.py``)."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pytest

from wemem_pipeline.core import run_time
from wemem_pipeline.core.chance import ChanceLevel, victim_chance_level
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.errors import DataError, ParameterError
from wemem_pipeline.core.parameter_checks import validate_parameters
from wemem_pipeline.core.run_checks import (
    check_run_on_data,
    class_size_findings,
    dp_sgd_settings,
    privacy_findings,
    pruning_findings,
    settings_warnings,
    window_findings,
)
from wemem_pipeline.core.splits import (
    VICTIM,
    SplitConfig,
    member_class_sizes,
    pool_samples,
    roles_of,
    split_table,
)
from wemem_pipeline.pipeline_registry import register_pipelines


@pytest.fixture(scope="module")
def outputs() -> dict[str, set[str]]:
    """The artifacts of the registered pipelines, by pipeline name."""
    return {name: pipeline.all_outputs() for name, pipeline in register_pipelines().items()}


def _config(parameters, **sections):
    """The run config of ``parameters`` with ``sections`` updated (``parameters`` stay)."""
    changed = {key: {**parameters[key], **sections.get(key, {})} for key in sections}
    return validate_parameters({**parameters, **changed})


# ----------------------------------------------------------------------------- pruning


def test_pruning_every_weight_is_refused_in_either_scope(base_parameters, digits):
    config = _config(base_parameters, pruning={"sparsity": 0.999999})
    (finding,) = pruning_findings(config, digits)
    assert finding.refuse and finding.hint
    # MLP 256-128 on 64 pixels, 10 classes: 64*256 + 256*128 + 128*10 weights, 3 layers.
    assert "leaves 0 of the 50,432 prunable weights" in finding.message
    assert "fewer than its 3 prunable layers" in finding.message
    config = _config(base_parameters, pruning={"sparsity": 0.9999, "scope": "layer"})
    (finding,) = pruning_findings(config, digits)  # 1,280 * 0.9999 rounds to every weight
    assert finding.refuse and "every weight of layer(s) ['net.5']" in finding.message


def test_pruning_that_leaves_too_few_weights_for_every_class_is_warned(base_parameters, digits):
    # 50,432 weights, 6 kept: 3 layers, 10 classes need 2 + 9 = 11 to predict every class.
    config = _config(base_parameters, pruning={"sparsity": 1 - 6 / 50432})
    (finding,) = pruning_findings(config, digits)
    assert not finding.refuse and "leaves 6 of the 50,432" in finding.message
    assert "needs 11 to predict every one of its 10 classes" in finding.message
    assert pruning_findings(_config(base_parameters), digits) == []  # the shipped 0.6


# ----------------------------------------------------------------------------- classes


def _dataset(labels: np.ndarray) -> Dataset:
    labels = np.asarray(labels, dtype=np.int64)
    features = np.zeros((len(labels), 2), dtype=np.float32)
    names = tuple(str(c) for c in range(labels.max() + 1))
    return Dataset("file", features, labels, np.zeros(len(labels), dtype=bool), names)


def test_labels_that_are_mostly_tiny_classes_are_refused_as_data():
    (finding,) = class_size_findings(_dataset(np.arange(1797)), "target")
    assert finding.refuse and finding.error is DataError
    assert "the label column 'target' of file has 1,797 distinct values" in finding.message
    assert "looks continuous or like an identifier" in finding.message


def test_a_few_small_classes_are_warned():
    labels = np.r_[np.zeros(50), np.ones(50), [2, 2, 2]]
    (finding,) = class_size_findings(_dataset(labels))
    assert not finding.refuse
    assert "1 of them with fewer than 10 samples each ('2')" in finding.message
    assert class_size_findings(_dataset(np.arange(40) % 4)) == []


# ----------------------------------------------------------------------------- windows

SIZES = {VICTIM: np.array([57, 60]), "shadow_0": np.array([55, 62])}


def test_a_window_that_holds_every_member_makes_rsw_base(digits):
    (finding,) = window_findings("scenario1", "rsw", {"width": 1.0, "stride": 1}, SIZES, 2)
    assert finding.refuse and finding.hint
    assert "scenario1.settings.width=1.0 is at least every class's size" in finding.message
    assert "(largest: 62 members)" in finding.message
    assert "RSW would train as Base" in finding.message
    # Counts: 62 covers every class too.
    assert window_findings("scenario1", "rsw", {"width": 62, "stride": 1}, SIZES, 2)[0].refuse


def test_a_wide_window_whose_slide_leaves_members_out_is_warned():
    (finding,) = window_findings("scenario1", "rsw", {"width": 1.0, "stride": 0.1}, SIZES, 5)
    # Strides of 6 members: epochs 1-4 leave out 6, 12, 18 and 24 of each class.
    assert not finding.refuse
    assert "train on 79% of Base's member-epochs in a round of 5 epochs" in finding.message


def test_a_window_that_holds_every_member_makes_swmr_rmr_a_warning():
    settings = {"window": {"width": 1.0, "stride": 1}, "risky": {"threshold": 0.9}}
    (finding,) = window_findings("scenario3", "swmr", settings, SIZES, 2)
    assert not finding.refuse and "scenario3.settings.window.width=1.0" in finding.message
    assert "SWMR trains as RMR" in finding.message


@pytest.mark.parametrize(
    ("defense", "settings"),
    [
        ("rsw", {"width": 0.25, "stride": 0.17}),  # the shipped window
        ("rsw", {"width": 60, "stride": 1}),  # narrower than the 62-member class
        ("rsw", "auto"),  # tuned settings: checked when tuned
        ("rmr", {"threshold": 0.85}),  # no window
    ],
)
def test_windows_that_restrict_are_fine(defense, settings):
    assert window_findings("scenario1", defense, settings, SIZES, 2) == []


# ----------------------------------------------------------------------------- before the run


def test_check_run_refuses_every_meaningless_setting_in_one_error(base_parameters, digits, outputs):
    base_parameters["pruning"]["sparsity"] = 0.999999
    base_parameters["scenario1"]["settings"]["width"] = 1.0
    base_parameters["pruning"]["epochs_per_round"] = 1
    config = validate_parameters(base_parameters)
    with pytest.raises(ParameterError) as error:
        check_run_on_data(base_parameters, config, digits, outputs["__default__"])
    assert "pruning.sparsity=0.999999" in str(error.value)
    assert "scenario1.settings.width=1.0" in str(error.value)
    # A run that prunes nothing is not refused for its pruning; one without scenario1 not
    # for scenario1's window.
    check_run_on_data(base_parameters, config, digits, outputs["training"])
    with pytest.raises(ParameterError, match="pruning.sparsity") as error:
        check_run_on_data(base_parameters, config, digits, outputs["scenario3"])
    assert "scenario1" not in str(error.value)


def test_check_run_logs_the_warnings(base_parameters, digits, outputs, caplog):
    base_parameters["scenario3"]["settings"]["window"]["width"] = 1.0
    config = validate_parameters(base_parameters)
    with caplog.at_level(logging.WARNING):
        check_run_on_data(base_parameters, config, digits, outputs["scenario3"])
    (record,) = [r for r in caplog.records if "scenario3.settings.window" in r.message]
    assert record.levelno == logging.WARNING and "only leaves out" in record.message


def test_the_report_lists_the_same_warnings(base_parameters, digits):
    config = validate_parameters(base_parameters)
    splits = split_table(digits.is_test, config.split, config.seed)
    scenario = {"scenario3": {"defense": "swmr", "settings": {"window": {"width": 1.0}}}}
    (warning,) = settings_warnings(config, digits, splits, scenario)
    assert warning.startswith("scenario3.settings.window.width=1.0")
    assert settings_warnings(config, digits, splits) == []


def test_member_class_sizes_count_each_models_members(digits):
    splits = split_table(digits.is_test, SplitConfig(), seed=0)
    sizes = member_class_sizes(splits, digits.labels)
    assert list(sizes)[0] == VICTIM and len(sizes) == 6  # the victim and 5 shadows
    for model, counts in sizes.items():
        members = roles_of(splits, model)["member"]
        np.testing.assert_array_equal(counts, np.bincount(digits.labels[members]))


# ----------------------------------------------------------------------------- run time


def _steps_of_10_ms(parameters, digits, monkeypatch):
    """The run config and split table of ``parameters``, with every training step timed at
    10 ms and every forward pass at 0."""
    probe = run_time.Probe(step=0.01, sample=0.0, samia_step=0.0)
    monkeypatch.setattr(run_time, "time_work", lambda *_: probe)
    config = validate_parameters(parameters)
    return config, split_table(digits.is_test, config.split, config.seed)


def test_the_estimate_counts_the_work_the_pipelines_imply(
    base_parameters, digits, outputs, monkeypatch
):
    def pruning_parts(workers: int) -> dict[str, float]:
        base_parameters["workers"] = workers
        config, splits = _steps_of_10_ms(base_parameters, digits, monkeypatch)
        estimate = run_time.estimate_run_time(
            base_parameters, config, digits, splits, outputs["pruning"]
        )
        assert not estimate.is_long
        return {part.what: part.seconds for part in estimate.parts}

    # 6 models of 364 members, batches of 64: 6 steps an epoch; 5 rounds of 21 epochs each;
    # two workers train 3 models each.
    one_process = 6 * 6 * 105 * 0.01
    assert pruning_parts(1) == pytest.approx(
        {"iterative pruning": one_process, "one-shot pruning": one_process}
    )
    assert pruning_parts(2) == pytest.approx(
        {"iterative pruning": one_process / 2, "one-shot pruning": one_process / 2}
    )
    base_parameters["pruning"]["rounds"] = 1000
    base_parameters["split"]["num_shadows"] = 100
    config = validate_parameters(base_parameters)
    splits = split_table(digits.is_test, config.split, config.seed)
    estimate = run_time.estimate_run_time(
        base_parameters, config, digits, splits, outputs["__default__"]
    )
    assert estimate.is_long
    sentence = estimate.sentence()
    assert sentence.startswith("This run may take about ")
    assert "pruning.rounds=1000" in sentence and "split.num_shadows=100" in sentence


def test_the_estimate_counts_the_audit_models_shared_among_its_workers(
    base_parameters, digits, outputs, monkeypatch
):
    config, splits = _steps_of_10_ms(base_parameters, digits, monkeypatch)
    victim = roles_of(splits, VICTIM)
    records = len(victim["member"]) + len(victim["test"])
    pruning, training = config.pruning, config.training
    # Dense, then each of the four audited defenses' pruning, on half of the records.
    epochs = training.max_epochs + 4 * pruning.rounds * pruning.epochs_per_round
    models = math.ceil(records / 2 / training.batch_size) * epochs * 0.01
    memorability = config.memorability
    subset = memorability.subset_fraction * len(pool_samples(splits, VICTIM))
    mem_epochs = memorability.epochs or training.max_epochs
    mem_scores = memorability.num_models * math.ceil(subset / training.batch_size) * mem_epochs
    mem_scores *= 0.01

    def audit_seconds(workers: int) -> float:
        base_parameters["audit"]["workers"] = workers
        estimate = run_time.estimate_run_time(
            base_parameters, config, digits, splits, outputs["audit"]
        )
        return {part.what: part.seconds for part in estimate.parts}["audit"]

    assert audit_seconds(1) == pytest.approx(16 * models + mem_scores)  # 16 models
    # Two workers share the models and the mem-score ensemble's two chunks of 16.
    assert audit_seconds(2) == pytest.approx((16 * models + mem_scores) / 2)
    base_parameters["compare"]["audit"] = True
    estimate = run_time.estimate_run_time(
        base_parameters, config, digits, splits, outputs["compare"]
    )
    assert "audit" in {part.what for part in estimate.parts}


def test_a_run_that_trains_nothing_is_not_probed(base_parameters, digits, outputs, monkeypatch):
    monkeypatch.setattr(run_time, "time_work", lambda *_: pytest.fail("probed"))
    config = validate_parameters(base_parameters)
    splits = split_table(digits.is_test, config.split, config.seed)
    estimate = run_time.estimate_run_time(
        base_parameters, config, digits, splits, outputs["data_split"]
    )
    assert estimate.parts == () and not estimate.is_long


def test_a_long_run_is_announced_before_the_first_node(
    base_parameters, digits, outputs, monkeypatch, caplog
):
    monkeypatch.setattr(run_time, "LONG_SECONDS", 0)
    config = validate_parameters(base_parameters)
    with caplog.at_level(logging.WARNING):
        check_run_on_data(base_parameters, config, digits, outputs["scenario3"])
    assert any(r.message.startswith("This run may take about") for r in caplog.records)


def test_the_probe_times_real_steps_quickly(base_parameters, digits, one_thread):
    config = validate_parameters(base_parameters)  # an MLP: one thread, as the run gives it
    start = time.perf_counter()
    probe = run_time.time_work(config, digits, run_time.SAMIA())
    # 0.08 s on a quiet machine; each kind of work stops after 0.2 s, whatever the load.
    assert time.perf_counter() - start < 3.0
    assert 0 < probe.sample < probe.step and probe.samia_step > 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30 seconds"), (150, "2 minutes"), (5 * 3600, "5 hours"), (3 * 86400, "3 days")],
)
def test_durations_read_as_an_order_of_magnitude(seconds, text):
    assert run_time.duration(seconds) == text


# ----------------------------------------------------------------------------- chance


def test_chance_is_the_majority_class_rate_with_an_interval():
    chance = ChanceLevel.of(np.r_[np.zeros(60), np.ones(140)].astype(np.int64))
    assert (chance.majority_rate, chance.samples) == (0.7, 200)
    low, high = chance.interval(0.75)
    assert low < 0.75 < high and high - low == pytest.approx(0.12, abs=0.01)
    assert not chance.above(0.7) and not chance.above(0.75)  # within the interval's reach
    assert chance.above(0.85)
    sentence = chance.sentence("Base", 0.7)
    assert sentence.startswith("Base is at chance: test accuracy 0.700 [")
    assert "majority-class rate 0.700 of its 200 test samples" in sentence
    assert ChanceLevel.of(np.array([], dtype=np.int64)).above(0.0)  # nothing to compare


def test_the_victims_chance_level_is_that_of_its_test_samples(digits):
    splits = split_table(digits.is_test, SplitConfig(), seed=0)
    chance = victim_chance_level(digits.labels, splits)
    test = digits.labels[roles_of(splits, VICTIM)["test"]]
    assert chance.samples == len(test)
    assert math.isclose(chance.majority_rate, np.bincount(test).max() / len(test))


# ----------------------------------------------------------------------------- DP-SGD


def test_dpsgd_settings_the_accountant_cannot_bound_are_refused_by_section(
    base_parameters, digits, outputs
):
    config = validate_parameters(base_parameters)
    splits = split_table(digits.is_test, config.split, config.seed)
    base_parameters["compare"]["defenses"]["dpsgd"] = {"noise_multiplier": [0.02, 1.0]}
    base_parameters["audit"]["defenses"]["dpsgd"] = {"noise_multiplier": 0.05, "scope": "whole"}
    settings = dp_sgd_settings(base_parameters, {}, set(outputs["compare"]))
    assert list(settings) == [
        "compare.defenses.dpsgd (DP-SGD noise_multiplier=0.02)",
        "compare.defenses.dpsgd (DP-SGD noise_multiplier=1.0)",
    ]  # the audit's only when the run audits
    (refused,) = privacy_findings(settings, config, splits)
    assert refused.refuse and refused.message.startswith(
        "compare.defenses.dpsgd (DP-SGD noise_multiplier=0.02): noise_multiplier=0.02 gives "
        "no epsilon"
    )
    assert "raise noise_multiplier" in refused.hint
    audited = dp_sgd_settings(base_parameters, {}, set(outputs["audit"]))
    assert list(audited) == ["audit.defenses.dpsgd"]
    assert privacy_findings(audited, config, splits)[0].refuse
    fine = privacy_findings({"dpsgd": {"noise_multiplier": 1.0, "scope": "whole"}}, config, splits)
    assert fine == []


def test_the_estimate_counts_the_dense_training_dpsgd_does_itself(
    base_parameters, digits, outputs, monkeypatch
):
    base_parameters["workers"] = 1
    base_parameters["compare"]["only"] = "dpsgd"  # its 3 runs, scope whole as shipped

    def compare_seconds(scope: str) -> float:
        base_parameters["compare"]["defenses"]["dpsgd"]["scope"] = scope
        config, splits = _steps_of_10_ms(base_parameters, digits, monkeypatch)
        estimate = run_time.estimate_run_time(
            base_parameters, config, digits, splits, outputs["compare"]
        )
        return {part.what: part.seconds for part in estimate.parts}["compare"]

    config = validate_parameters(base_parameters)
    # 3 runs, each training 6 models of 364 members (6 steps an epoch) for max_epochs.
    dense = 3 * 6 * 6 * config.training.max_epochs * 0.01
    assert compare_seconds("whole") - compare_seconds("finetune") == pytest.approx(dense)
