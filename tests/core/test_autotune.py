"""Tests for wemem_pipeline.core.autotune and core.search_space: the study sees only the
defender's data, resumes where it stopped, prunes what falls behind, and refuses bad input.

The toy dataset (240 samples, 3 classes; see conftest.py) and a tiny MLP keep a trial to a
fraction of a second.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import optuna
import pandas as pd
import pytest

from wemem_pipeline.core import autotune
from wemem_pipeline.core.autotune import AutotuneConfig, DefenderStudy
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.errors import DataError, ParameterError
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.pruning import PruningConfig
from wemem_pipeline.core.reports.autotune import doubts
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.search_space import nested_settings, parse_search_space
from wemem_pipeline.core.splits import VICTIM, model_names, pool_samples, roles_of
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.validation import from_mapping

pytestmark = pytest.mark.usefixtures("one_thread")

RUN = RunConfig(
    seed=0,
    device="cpu",
    model=ModelSpec("mlp", hidden=(8,)),
    training=TrainConfig(batch_size=32, patience=2, max_epochs=4),
    pruning=PruningConfig(sparsity=0.5, rounds=3, epochs_per_round=2),
)
# Models trained long enough to be well ahead of chance, so that a defense can cost accuracy.
TRAINED = dataclasses.replace(
    RUN,
    training=TrainConfig(batch_size=16, lr=0.01, max_epochs=10, patience=3),
    pruning=PruningConfig(sparsity=0.5, rounds=3, epochs_per_round=5),
)
# A small space that builds fast: RSW's width and order.
SPACE = {
    "width": {"low": 0.3, "high": 1.0},
    "stride": 0.1,
    "order": {"choices": ["low_to_high", "high_to_low"]},
}


def config(**changes) -> AutotuneConfig:
    values = {"defense": "rsw", "n_trials": 3, "search_space": SPACE, "max_accuracy_loss": 0.5}
    return AutotuneConfig(**(values | changes))


@pytest.fixture(scope="module")
def victim_scores(toy_splits, score_table) -> pd.DataFrame:
    pool = pool_samples(toy_splits, "victim")
    return score_table(pool, np.random.default_rng(1).random(len(pool)))


def scored_samples(splits: pd.DataFrame) -> np.ndarray:
    """Every sample an attack scores or calibrates on: the victim's test non-members and
    everything of the shadows."""
    shadows = splits.loc[splits["model"] != VICTIM, "sample_index"].to_numpy()
    return np.union1d(roles_of(splits, VICTIM)["test"], shadows)


# ----------------------------------------------------------------------------- index sets


@pytest.mark.parametrize("num_models", [2, 4, 5])
def test_tuning_sets_use_only_members_and_dev(toy_splits, num_models):
    table = autotune.tuning_splits(toy_splits, config(num_models=num_models), seed=0)
    victim = roles_of(toy_splits, VICTIM)
    assert model_names(table) == [f"tune_{k}" for k in range(num_models)]
    for name in model_names(table):
        roles = roles_of(table, name)
        # Disjoint from every scored sample, and drawn from the defender's own data only.
        for role, indices in roles.items():
            assert not np.intersect1d(indices, scored_samples(toy_splits)).size, role
        assert np.array_equal(np.sort(roles["dev"]), np.sort(victim["dev"]))
        # IN and OUT partition the members.
        assert np.array_equal(np.union1d(roles["member"], roles["test"]), np.sort(victim["member"]))
        assert not np.intersect1d(roles["member"], roles["test"]).size
    # Every member is IN for exactly num_models // 2 tuning models.
    members = table[table["role"] == "member"]
    counts = members.groupby("sample_index")["model"].count()
    assert len(counts) == len(victim["member"])
    assert (counts == num_models // 2).all()


def test_pool_fraction_subsamples_members_and_dev(toy_splits):
    table = autotune.tuning_splits(toy_splits, config(pool_fraction=0.5), seed=0)
    victim = roles_of(toy_splits, VICTIM)
    roles = roles_of(table, "tune_0")
    assert len(roles["member"]) + len(roles["test"]) == round(0.5 * len(victim["member"]))
    assert len(roles["dev"]) == round(0.5 * len(victim["dev"]))


def test_a_scored_sample_in_the_study_is_refused(toy_splits):
    table = autotune.tuning_splits(toy_splits, config(), seed=0)
    leaked = table.copy()
    leaked.loc[0, "sample_index"] = roles_of(toy_splits, VICTIM)["test"][0]
    with pytest.raises(AssertionError, match="outside the victim's members"):
        autotune.check_tuning_disjoint(leaked, toy_splits)


def test_tuning_targets_attack_without_themselves_as_reference(toy_dataset, toy_splits):
    """Target tune_0: its shadows' references and its own exclude it; the population is
    what it neither trained on nor is scored on (dev non-members here)."""
    table = autotune.tuning_splits(toy_splits, config(num_models=4), seed=0)
    samples = np.unique(table["sample_index"])
    outputs = ModelOutputs(samples)
    for k, name in enumerate(model_names(table)):
        outputs.logits[name] = np.full((len(samples), 3), float(k), dtype=np.float32)
    shadows, target = outputs.attack_sets(table, toy_dataset.labels, seed=0, target="tune_0")
    assert len(shadows) == 3 and target.references.logits.shape[0] == 3
    assert (target.references.logits != 0).all()  # tune_0's logits are all 0
    for shadow in shadows:
        assert (shadow.references.logits != 0).all()
    tune_0 = roles_of(table, "tune_0")
    assert len(target.references.population_labels) == len(tune_0["dev"]) + (
        len(tune_0["test"]) - int((~target.is_member).sum())
    )


@pytest.mark.parametrize("num_models", [1, 2, 3])
def test_victim_size_models_train_on_the_members_and_score_half_the_dev(toy_splits, num_models):
    table = autotune.victim_size_table(toy_splits, num_models, seed=0)
    victim = roles_of(toy_splits, VICTIM)
    assert model_names(table) == [f"check_{k}" for k in range(num_models)]
    scored = []
    for name in model_names(table):
        roles = roles_of(table, name)
        assert np.array_equal(np.sort(roles["member"]), np.sort(victim["member"]))
        assert not np.intersect1d(roles["dev"], roles["test"]).size
        assert np.array_equal(np.union1d(roles["dev"], roles["test"]), np.sort(victim["dev"]))
        assert abs(len(roles["dev"]) - len(roles["test"])) <= 1
        scored.append(roles["test"])
    if num_models >= 2:  # the second model scores what the first early-stopped on
        assert np.array_equal(np.union1d(scored[0], scored[1]), np.sort(victim["dev"]))


def checked_trials(checked_loss) -> pd.DataFrame:
    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3],
            "state": ["complete"] * 4,
            "leakage": [0.60, 0.55, 0.52, 0.50],
            "accuracy": [0.95, 0.94, 0.93, 0.80],
            "accuracy_loss": [0.0, 0.005, 0.01, 0.15],
        }
    )
    trials["feasible"] = trials["accuracy_loss"] <= 0.01
    trials["checked_loss"] = checked_loss
    trials["checked_feasible"] = trials["checked_loss"] <= 0.01
    return trials


def test_checks_take_the_least_leaky_in_budget_then_the_least_loss():
    trials = checked_trials(np.nan)
    assert autotune.check_order(trials, 3) == [2, 1, 0]
    assert autotune.check_order(trials, 1) == [2, 0]  # then the trial that lost least


def test_a_trial_in_budget_only_on_the_tuning_models_is_not_chosen():
    # Trial 2 is within budget on the tuning models, not at the victim's size; trial 1 is.
    trials = checked_trials([np.nan, 0.008, 0.03, np.nan])
    assert autotune.chosen_trial(trials) == 1
    # No checked trial keeps the budget: the one that lost least at the victim's size.
    trials = checked_trials([0.02, 0.025, 0.03, np.nan])
    assert autotune.chosen_trial(trials) == 0


def test_the_chosen_setting_is_checked_at_the_victims_size(
    toy_dataset, toy_splits, victim_scores, tmp_path
):
    tuning = config(check_models=2, check_candidates=2)
    storage = autotune.open_storage(tmp_path / "study.journal")
    study = autotune.open_study(storage, autotune.study_identity(toy_dataset, RUN, tuning), tuning)
    defender = DefenderStudy(toy_dataset, toy_splits, RUN, victim_scores, tuning)
    lines = []
    autotune.run_study(study, defender, lines.append)
    autotune.check_at_victim_size(study, defender, lines.append)
    checks = study.user_attrs[autotune.CHECKS]
    assert checks["base"]["members"] == len(roles_of(toy_splits, VICTIM)["member"])
    assert checks["base"]["scored"] == len(roles_of(toy_splits, VICTIM)["dev"])
    trials = autotune.trials_table(study)
    checked = trials[trials["checked_loss"].notna()]
    assert 1 <= len(checked) <= 3 and any("at the victim's size" in line for line in lines)
    tuned = autotune.tuned_settings(study, trials)
    assert tuned["estimate"]["loss_measured_on"] == "victim_size"
    chosen = trials.set_index("trial").loc[tuned["trial"]]
    assert tuned["estimate"]["accuracy_loss"] == chosen["checked_loss"]
    assert tuned["estimate"]["tuning_accuracy_loss"] == chosen["accuracy_loss"]
    assert tuned["estimate"]["accuracy_noise"] == chosen["checked_noise"] >= 0
    assert "correct" not in tuned["victim_size"]  # Base's record-wise hits stay in the study
    assert len(checks["base"]["correct"]) == checks["base"]["scored"]
    assert tuned["feasible"] == (chosen["checked_loss"] <= tuning.max_accuracy_loss)
    # A second pass (a resumed study) reuses the checks instead of pruning again.
    again = []
    autotune.check_at_victim_size(study, defender, again.append)
    assert study.user_attrs[autotune.CHECKS] == checks
    # check_models: 0 trusts the tuning models again.
    unchecked = DefenderStudy(
        toy_dataset, toy_splits, RUN, victim_scores, dataclasses.replace(tuning, check_models=0)
    )
    autotune.check_at_victim_size(study, unchecked, again.append)
    trials = autotune.trials_table(study)
    assert trials["checked_loss"].isna().all()
    assert autotune.tuned_settings(study, trials)["estimate"]["loss_measured_on"] == "tuning"


# ----------------------------------------------------------------------------- the study


def run_study(dataset, splits, scores, tmp_path, run=RUN, **changes):
    tuning = config(**changes)
    storage = autotune.open_storage(tmp_path / "study.journal")
    identity = autotune.study_identity(dataset, run, tuning)
    study = autotune.open_study(storage, identity, tuning)
    lines = []
    autotune.run_study(study, DefenderStudy(dataset, splits, run, scores, tuning), lines.append)
    return study, autotune.trials_table(study), lines


@pytest.fixture(scope="module")
def finished_study(toy_dataset, toy_splits, victim_scores, tmp_path_factory):
    return run_study(toy_dataset, toy_splits, victim_scores, tmp_path_factory.mktemp("study"))


def test_study_reports_one_line_per_trial_and_a_chosen_setting(finished_study):
    study, trials, lines = finished_study
    assert lines[0].startswith("Base: accuracy")
    assert len(lines) == 1 + 3 and all(line.startswith("trial ") for line in lines[1:])
    assert len(trials) == 3 and trials["chosen"].sum() == 1
    tuned = autotune.tuned_settings(study, trials)
    assert tuned["defense"] == "rsw" and tuned["settings"]["stride"] == 0.1
    assert 0.3 <= tuned["settings"]["width"] <= 1.0
    chosen = trials.set_index("trial").loc[tuned["trial"]]
    assert tuned["estimate"]["leakage"] == chosen["leakage"]
    assert 0.0 <= chosen["leakage"] <= 1.0 and chosen["attack"] in autotune.CHEAP_ATTACKS
    assert tuned["dataset_fingerprint"] and tuned["seed"] == 0
    snapshot = autotune.study_snapshot(study, study._storage)
    assert study.study_name in snapshot and json.loads(snapshot.splitlines()[0])


def test_study_ignores_the_scored_non_members(
    toy_dataset, toy_splits, victim_scores, finished_study, tmp_path
):
    """Replace every scored sample (victim test non-members, shadows) by noise: the study,
    which must never read them, makes the same trials and picks the same setting."""
    scored = scored_samples(toy_splits)
    features = toy_dataset.features.copy()
    features[scored] = np.random.default_rng(5).normal(size=features[scored].shape) * 10
    labels = toy_dataset.labels.copy()
    labels[scored] = (labels[scored] + 1) % 3
    other = Dataset("toy", features, labels, toy_dataset.is_test, toy_dataset.class_names)
    assert other.fingerprint() != toy_dataset.fingerprint()
    _, trials, _ = run_study(other, toy_splits, victim_scores, tmp_path)
    _, before, _ = finished_study
    columns = ["settings", "accuracy", "leakage", "chosen"]
    pd.testing.assert_frame_equal(trials[columns], before[columns])


def test_a_killed_study_resumes(toy_dataset, toy_splits, victim_scores, tmp_path):
    study, trials, _ = run_study(toy_dataset, toy_splits, victim_scores, tmp_path, n_trials=2)
    study.ask()  # a trial left running, as by a killed run
    resumed, trials, lines = run_study(toy_dataset, toy_splits, victim_scores, tmp_path, n_trials=3)
    assert resumed.study_name == study.study_name
    assert lines[0].startswith("Resuming study") and "2 trials already done" in lines[0]
    states = [t.state for t in resumed.get_trials()]
    assert states.count(optuna.trial.TrialState.FAIL) == 1  # the killed one
    assert len(trials) == 3  # Base was kept, one more trial ran
    fresh, _, _ = run_study(
        toy_dataset, toy_splits, victim_scores, tmp_path, n_trials=1, resume=False
    )
    assert fresh.study_name != study.study_name


def narrow_windows_study(toy_dataset, toy_splits, victim_scores, tmp_path):
    """Trials of windows of 2% of a class (one member per class: behind Base), of the
    whole class, and of 2% again; the trials table and the study's log lines."""
    tuning = config(
        search_space={"width": {"choices": [1.0, 0.02]}, "stride": 0.01}, max_accuracy_loss=0.02
    )
    storage = autotune.open_storage(tmp_path / "study.journal")
    study = autotune.open_study(
        storage, autotune.study_identity(toy_dataset, TRAINED, tuning), tuning
    )
    for width in (0.02, 1.0, 0.02):
        study.enqueue_trial({"width": width})
    defender = DefenderStudy(toy_dataset, toy_splits, TRAINED, victim_scores, tuning)
    lines = []
    autotune.run_study(study, defender, lines.append)
    return autotune.trials_table(study), study.user_attrs["base"], lines


def test_the_accuracy_noise_is_the_binomial_error_of_a_difference(
    toy_dataset, toy_splits, victim_scores
):
    defender = DefenderStudy(toy_dataset, toy_splits, TRAINED, victim_scores, config())
    scored = int((defender.table["role"] == "test").sum())  # every tuning model's OUT members
    assert defender.accuracy_noise(0.9) == pytest.approx(math.sqrt(2 * 0.9 * 0.1 / scored))
    assert defender.accuracy_noise(1.0) == 0.0


def test_a_trial_behind_base_by_less_than_budget_and_noise_runs_to_the_end(
    toy_dataset, toy_splits, victim_scores, tmp_path
):
    trials, base, _ = narrow_windows_study(toy_dataset, toy_splits, victim_scores, tmp_path)
    # On the toy data a difference of accuracies is uncertain by ±0.05; the narrow windows'
    # 0.035 behind Base is within the budget of 0.02 plus that.
    assert base["accuracy_noise"] > 0.03
    behind = base["accuracy"] - trials.loc[2, "accuracy"]
    assert 0.02 < behind < 0.02 + base["accuracy_noise"]
    assert trials["state"].tolist() == ["complete", "complete", "complete"]


def test_trials_behind_base_are_pruned_once_one_meets_the_budget(
    toy_dataset, toy_splits, victim_scores, tmp_path, monkeypatch
):
    monkeypatch.setattr(DefenderStudy, "accuracy_noise", lambda self, accuracy: 0.0)
    trials, _, lines = narrow_windows_study(toy_dataset, toy_splits, victim_scores, tmp_path)
    # The first falls behind but runs to the end: until a trial meets the budget, it may be
    # the one that loses least. Once one has, the same setting is pruned after a round.
    assert trials["state"].tolist() == ["complete", "complete", "pruned"]
    assert trials["feasible"].tolist() == [False, True, False]
    pruned_after = int(trials.loc[2, "pruned_after_round"])
    assert trials.loc[2, f"round_{pruned_after}"] > 0  # the value it was pruned on
    assert f"pruned after round {pruned_after}" in lines[-1]


def test_without_a_trial_in_budget_the_least_loss_is_chosen(
    toy_dataset, toy_splits, victim_scores, tmp_path
):
    tuning = config(
        search_space={"width": {"low": 0.01, "high": 0.05}, "stride": 0.01},
        max_accuracy_loss=0.0,
        n_trials=3,
    )
    study = autotune.open_study(
        autotune.open_storage(tmp_path / "study.journal"),
        autotune.study_identity(toy_dataset, TRAINED, tuning),
        tuning,
    )
    for width in (0.05, 0.01, 0.01):
        study.enqueue_trial({"width": width})
    defender = DefenderStudy(toy_dataset, toy_splits, TRAINED, victim_scores, tuning)
    autotune.run_study(study, defender, lambda line: None)
    trials = autotune.trials_table(study)
    assert not trials["feasible"].any() and trials.loc[0, "state"] == "complete"
    # Without a trial in the budget, a trial is pruned only once it is also behind the
    # fallback (the completed trial that lost least) in the same round.
    for _, trial in trials[trials["state"] == "pruned"].iterrows():
        round_ = int(trial["pruned_after_round"])
        best = trials[trials["state"] == "complete"].sort_values("accuracy_loss").iloc[0]
        assert trial[f"round_{round_}"] < best[f"round_{round_}"]
    tuned = autotune.tuned_settings(study, trials)
    assert not tuned["feasible"]
    complete = trials[trials["state"] == "complete"]
    assert tuned["estimate"]["accuracy_loss"] == complete["accuracy_loss"].min()


def test_chosen_trial_is_the_least_leaky_within_budget():
    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3],
            "state": ["complete", "complete", "complete", "pruned"],
            "leakage": [0.60, 0.55, 0.52, np.nan],
            "accuracy": [0.95, 0.94, 0.80, 0.5],
            "accuracy_loss": [0.0, 0.01, 0.15, 0.45],
        }
    )
    trials["feasible"] = trials["accuracy_loss"] <= 0.01
    assert autotune.chosen_trial(trials) == 1
    trials["feasible"] = False
    assert autotune.chosen_trial(trials) == 0  # none within budget: the least loss


def test_a_changed_default_space_starts_a_new_study(toy_dataset, monkeypatch):
    tuning = config(search_space=None)
    before = autotune.study_name(autotune.study_identity(toy_dataset, RUN, tuning))
    wider = {**autotune.DEFENSES["rsw"].search_space, "stride": {"low": 0.001, "high": 0.5}}
    monkeypatch.setattr(autotune.DEFENSES["rsw"], "search_space", wider)
    assert autotune.study_name(autotune.study_identity(toy_dataset, RUN, tuning)) != before


def test_tuned_settings_fit_only_their_setup(finished_study, toy_dataset):
    study, trials, _ = finished_study
    tuned = autotune.tuned_settings(study, trials)
    fingerprint = toy_dataset.fingerprint()
    assert autotune.tuned_for_differences(tuned, fingerprint, RUN) == []
    other = dataclasses.replace(
        RUN, pruning=PruningConfig(sparsity=0.7, rounds=3, epochs_per_round=2)
    )
    assert autotune.tuned_for_differences(tuned, fingerprint, other) == [
        "pruning.sparsity=0.5 (this run: 0.7)"
    ]
    assert "seed=0 (this run: 1)" in autotune.tuned_for_differences(
        tuned, fingerprint, dataclasses.replace(RUN, seed=1)
    )
    assert "other data: toy" in autotune.tuned_for_differences(tuned, "0" * 16, RUN)[0]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"defense": "nope"}, "autotune.defense"),
        ({"defense": "base"}, "autotune.defense"),
        ({"n_trials": 0}, "autotune.n_trials"),
        ({"num_models": 1}, "autotune.num_models"),
        ({"max_accuracy_loss": 1.0}, "autotune.max_accuracy_loss"),
        ({"max_accuracy_loss": -0.1}, "autotune.max_accuracy_loss"),
        ({"pool_fraction": 0}, "autotune.pool_fraction"),
        ({"metric": "accuracy"}, "autotune.metric"),
        ({"attacks": ["nope"]}, "autotune.attacks"),
        ({"attacks": ["lira_online"]}, "autotune.attacks"),  # the audit only
        ({"search_space": {}}, "autotune.search_space has nothing to search"),
        ({"search_space": {"width": 0.5}}, "autotune.search_space has nothing to search"),
        (
            {"defense": "rsw", "search_space": {"width": {"low": 0.5}}},
            "autotune.search_space.width",
        ),
        ({"defense": "rsw", "search_space": {"width": {"low": 0.5, "high": 0.1}}}, "low < high"),
        (
            {"defense": "rsw", "search_space": {"width": {"low": 0.5, "high": 1.5}}},
            "width as a fraction",
        ),
        (
            {"defense": "rsw", "search_space": {"widht": {"low": 0.1, "high": 0.5}}},
            "unknown keys ['widht']",
        ),
        ({"defense": "swmr", "search_space": {"window.order": {"choices": ["up"]}}}, "order"),
        ({"typo": 1}, "autotune has unknown keys ['typo']"),
    ],
)
def test_bad_autotune_parameters_are_refused(values, named):
    with pytest.raises(ParameterError) as error:
        from_mapping(AutotuneConfig, "autotune", values)
    assert named in str(error.value) + str(error.value.hint)


def test_a_corrupt_study_file_is_refused(tmp_path):
    path = tmp_path / "study.journal"
    path.write_text("this is not a journal\n")
    with pytest.raises(DataError, match="autotune.storage=.*not a readable Optuna journal"):
        autotune.open_storage(path)


def journal_with_studies(path, names):
    """A journal file holding this project's studies ``names``, one trial each."""
    storage = autotune.open_storage(path)
    for name in names:
        study = optuna.create_study(storage=storage, study_name=name)
        study.set_user_attr("made_by", autotune.MADE_BY)
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    return path


# A write cut short: the start of an operation without its newline, as a killed run leaves it.
CUT = b'{"op_code":5,"worker_id":"w","study_id":1,"datetime_st'


def test_optuna_skips_a_cut_last_line_and_loses_the_next_write_with_it(tmp_path):
    """Why a cut line is refused rather than left to Optuna: it reads the file without it,
    but appends its next operation to the same line, where that operation is lost too
    (Optuna 5.1 then fails an internal assertion)."""
    path = journal_with_studies(tmp_path / "study.journal", ["a"])
    with path.open("ab") as file:
        file.write(CUT)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    assert [s.study_name for s in storage.get_all_studies()] == ["a"]
    with pytest.raises(AssertionError):
        optuna.create_study(storage=storage, study_name="b")
    again = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    assert [s.study_name for s in again.get_all_studies()] == ["a"]
    assert path.read_bytes().splitlines()[-1].startswith(CUT + b'{"op_code":0')


def test_a_cut_last_line_is_refused_with_the_command_that_keeps_the_other_studies(tmp_path):
    path = journal_with_studies(tmp_path / "study.journal", ["swmr-seed-0", "ppb-seed-0"])
    intact = path.stat().st_size
    lines = len(path.read_bytes().splitlines())
    with path.open("ab") as file:
        file.write(CUT)
    with pytest.raises(DataError) as refused:
        autotune.open_storage(path)
    assert f"its last line (line {lines + 1}) is cut off" in str(refused.value)
    hint = refused.value.hint
    assert f"truncate -s {intact} {path}" in hint and "another autotune.storage" in hint
    assert "remove" not in hint and "delete" not in hint
    os.truncate(path, intact)  # what the hint says to do
    storage = autotune.open_storage(path)
    assert {s.study_name for s in storage.get_all_studies()} == {"swmr-seed-0", "ppb-seed-0"}


def test_a_damaged_line_inside_the_journal_never_asks_to_remove_it(tmp_path):
    path = journal_with_studies(tmp_path / "study.journal", ["a", "b"])
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:2], b"{garbled\n", *lines[2:]]))
    with pytest.raises(DataError, match="line 3 of .* is not a journal operation") as refused:
        autotune.open_storage(path)
    assert "another autotune.storage" in refused.value.hint and "keep" in refused.value.hint
    assert "remove" not in refused.value.hint


def test_a_foreign_study_file_is_refused(tmp_path):
    path = tmp_path / "study.journal"
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    optuna.create_study(storage=optuna.storages.JournalStorage(backend), study_name="theirs")
    with pytest.raises(DataError, match="wemem-pipeline did not make: \\['theirs'\\]"):
        autotune.open_storage(path)


def test_every_tunable_defense_has_a_space_that_builds():
    for defense in autotune.TUNABLE:
        tuning = AutotuneConfig(defense=defense)
        space, pinned = tuning.space()
        assert space and not pinned


def test_search_space_parsing():
    space, pinned = parse_search_space(
        {"a.b": {"low": 1, "high": 4}, "c": {"low": 1e-3, "high": 1.0, "log": True}, "d": 2},
        "autotune.search_space",
    )
    assert space["a.b"].integer and not space["c"].integer and space["c"].log
    assert pinned == {"d": 2}
    assert nested_settings({"a.b": 1, "a.c": 2, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}


def test_a_chosen_value_at_the_end_of_its_range_is_flagged():
    space, _ = parse_search_space(
        {
            "weight_decay_mem": {"low": 0.001, "high": 0.3, "log": True},
            "threshold": {"low": 0.5, "high": 0.99},
            "optimizer": {"choices": ["separate", "shared"]},
        },
        "autotune.search_space",
    )
    trial = pd.Series(
        {"param.weight_decay_mem": 0.288, "param.threshold": 0.7, "param.optimizer": "shared"}
    )
    # 0.288 is at 99% of [0.001, 0.3] on its log scale; 0.7 in the middle; choices have no end.
    assert autotune.settings_at_edge(trial, space) == [
        {"setting": "weight_decay_mem", "value": 0.288, "edge": "high", "range": [0.001, 0.3]}
    ]
    trial["param.threshold"] = 0.505
    assert [e["edge"] for e in autotune.settings_at_edge(trial, space)] == ["high", "low"]


@pytest.mark.parametrize(
    ("leakages", "flat"), [([0.60, 0.61, 0.62], True), ([0.60, 0.61, 0.70], False)]
)
def test_a_study_whose_trials_lie_within_their_noise_is_flat(leakages, flat):
    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3],
            "state": ["complete"] * 3 + ["pruned"],
            "leakage": [*leakages, 0.9],  # a pruned trial does not count
            "leakage_se": [0.01] * 4,
        }
    )
    assert autotune.is_flat(trials, chosen=0) is flat


def test_the_report_says_what_makes_the_choice_doubtful():
    tuned = {
        "at_edge": [
            {"setting": "weight_decay_mem", "value": 0.288, "edge": "high", "range": [0.001, 0.3]}
        ],
        "flat": True,
    }
    edge, flat = doubts(tuned)
    assert edge.startswith("**weight_decay_mem = 0.288 is at the high end of its range")
    assert "autotune.search_space.weight_decay_mem" in edge
    assert flat.startswith("**The study is flat**")
    assert doubts({"at_edge": [], "flat": False}) == []
