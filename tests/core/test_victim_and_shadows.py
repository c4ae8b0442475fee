"""Tests for wemem_pipeline.core.victim_and_shadows: every model of a split table trained,
pruned and defended the same way, each defense reading its own pool's mem-scores.

The toy dataset (240 samples, 8 features, 3 classes; see conftest.py) and a tiny MLP keep
every training run well under a second on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.pruning import PruningConfig
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.splits import VICTIM, model_names, pool_of, pool_samples, roles_of
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.victim_and_shadows import (
    ModelDefenses,
    TrainedModels,
    prune_with_defense,
    train_victim_and_shadows,
    victim_history,
    with_stored_victim,
)

SPEC = ModelSpec("mlp", hidden=(8,))
PRUNING = PruningConfig(sparsity=0.5, rounds=2, epochs_per_round=3)
TRAINING = TrainConfig(batch_size=32, patience=2)
RUN = RunConfig(seed=0, device="cpu", model=SPEC, training=TRAINING, pruning=PRUNING)

pytestmark = pytest.mark.usefixtures("one_thread")

# ----------------------------------------------------------------------------- ModelDefenses


@pytest.fixture(scope="module")
def opposite_tables(toy_dataset, score_table) -> dict[str, pd.DataFrame]:
    """Both tables score every sample, in opposite orders: the victim's rises with the sample
    index, the shadows' falls. A model given the other pool's table picks other samples."""
    every = np.arange(toy_dataset.num_samples)
    rising = every / toy_dataset.num_samples
    return {"victim": score_table(every, rising), "shadow": score_table(every, 1 - rising)}


def test_model_defenses_give_each_model_its_pools_scores(toy_dataset, toy_splits, opposite_tables):
    settings = {"threshold": 0.25, "scale": "top_fraction"}
    defenses = ModelDefenses("rmr", settings, toy_dataset, opposite_tables, RUN)
    for name in model_names(toy_splits):
        members = roles_of(toy_splits, name)["member"]
        defense = defenses(name, members, pool_of(toy_splits, name))
        assert (
            defenses(name, members, pool_of(toy_splits, name)) is defense
        )  # built once per model, then kept
        count = round(0.25 * len(members))
        ordered = np.sort(members)
        # Victim: the highest sample indices are the riskiest; shadows: the lowest.
        expected = ordered[-count:] if name == VICTIM else ordered[:count]
        assert sorted(defense.risky.tolist()) == sorted(expected.tolist()), name
        assert set(defense.risky.tolist()) <= set(members.tolist())
        # The run's training weight decay is the defense's base decay.
        assert defense.base_weight_decay == TRAINING.weight_decay


def test_model_defenses_refuse_other_members_for_a_built_model(
    toy_dataset, toy_splits, opposite_tables
):
    defenses = ModelDefenses("rmr", {"threshold": 0.5}, toy_dataset, opposite_tables, RUN)
    members = roles_of(toy_splits, VICTIM)["member"]
    defenses(VICTIM, members, "victim")
    with pytest.raises(ValueError, match="other members"):
        defenses(VICTIM, members[1:], "victim")


def test_model_defenses_windows_come_from_the_right_table(toy_dataset, toy_splits, opposite_tables):
    defenses = ModelDefenses("rsw", {"width": 3, "stride": 1}, toy_dataset, opposite_tables, RUN)
    for name in model_names(toy_splits):
        members = roles_of(toy_splits, name)["member"]
        (group,) = defenses(name, members, pool_of(toy_splits, name)).plan_epoch(0)
        expected = set()
        for label in range(toy_dataset.num_classes):
            in_class = np.sort(members[toy_dataset.labels[members] == label])
            # Low to high: the victim starts at its lowest indices, the shadows at their highest.
            expected |= set((in_class[:3] if name == VICTIM else in_class[-3:]).tolist())
        assert set(group.indices.tolist()) == expected, name


def test_model_defenses_swmr_shadows_use_shadow_risky_members(
    toy_dataset, toy_splits, opposite_tables
):
    settings = {"window": {"width": 1.0, "stride": 1}, "risky": {"threshold": 0.6}}
    defenses = ModelDefenses("swmr", settings, toy_dataset, opposite_tables, RUN)
    victim_members = roles_of(toy_splits, VICTIM)["member"]
    shadow_members = roles_of(toy_splits, "shadow_0")["member"]
    victim = defenses(VICTIM, victim_members, "victim")
    shadow = defenses("shadow_0", shadow_members, "shadow")
    # Normalized >= 0.6 over all 240 samples: victim table -> indices >= 143; shadow -> <= 96.
    assert len(victim.regularization.risky) and len(shadow.regularization.risky)
    assert victim.regularization.risky.min() >= 143
    assert shadow.regularization.risky.max() <= 96
    # The whole class is the window: its risky/general groups follow the same tables.
    risky, general = victim.plan_epoch(0)
    assert set(risky.indices.tolist()) == set(victim.regularization.risky.tolist())
    assert general.indices.max() < 143
    summaries = defenses.summaries(toy_splits)
    assert set(summaries) == set(model_names(toy_splits))
    summary = summaries["shadow_0"]
    assert summary["defense"] == "swmr"
    assert summary["risky_total"] == len(shadow.regularization.risky)
    assert set(summary["risky_per_class"]) == {"0", "1", "2"}


def test_a_defense_part_that_will_never_act_on_the_victim_is_logged(
    toy_dataset, toy_splits, opposite_tables, caplog
):
    # The victim's risky members have the highest indices; windows of 3 members from the
    # lowest, sliding by 1 for 3 epochs, never reach them.
    settings = {"window": {"width": 3, "stride": 1}, "risky": {"threshold": 0.6}}
    defenses = ModelDefenses("swmr", settings, toy_dataset, opposite_tables, RUN)
    with caplog.at_level("WARNING"):
        defenses(VICTIM, roles_of(toy_splits, VICTIM)["member"], "victim")
        defenses("shadow_0", roles_of(toy_splits, "shadow_0")["member"], "shadow")
    (record,) = caplog.records  # the victim's, once: the shadows share its settings
    assert record.message.startswith("SWMR on the victim: none of the")
    assert "enters a window in a round of 3 epochs" in record.message


def test_an_idle_defense_part_is_logged_once_for_the_defended_pruning(
    toy_dataset, toy_splits, opposite_tables, caplog
):
    settings = {"window": {"width": 3, "stride": 1}, "risky": {"threshold": 0.6}}
    trained = train_victim_and_shadows(toy_dataset, toy_splits, RUN, "dense")
    with caplog.at_level("WARNING"):
        _, summaries = prune_with_defense(
            toy_dataset, toy_splits, RUN, trained.states, "swmr", settings, opposite_tables
        )
    assert summaries[VICTIM]["risky_in_window_per_round"] == [0, 0]  # as foretold
    (record,) = [r for r in caplog.records if "window" in r.message]
    assert record.message.startswith("SWMR on the victim: none of the")


def test_a_victim_at_chance_is_logged_when_its_training_ends(toy_dataset, toy_splits, caplog):
    # One answer for every input: never above the majority-class rate.
    constant = ModelSpec("custom", class_path="custom_models:IgnoresItsInput")
    stuck = RunConfig(seed=0, device="cpu", model=constant, training=TrainConfig(max_epochs=1))
    with caplog.at_level("WARNING"):
        trained = train_victim_and_shadows(toy_dataset, toy_splits, stuck, "dense")
    accuracy = victim_history(trained.history)["test_accuracy"].iloc[-1]
    (record,) = caplog.records
    assert record.message.startswith(
        f"the victim (dense) is at chance: test accuracy {accuracy:.3f}"
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        train_victim_and_shadows(toy_dataset, toy_splits, RUN, "dense")  # learns: no warning
    assert not caplog.records


def test_model_defenses_with_scores_of_another_split_name_memorability(
    toy_dataset, toy_splits, score_table
):
    victim_pool = pool_samples(toy_splits, "victim")
    tables = {"victim": score_table(victim_pool, np.linspace(0, 1, len(victim_pool)))}
    tables["shadow"] = tables["victim"]  # scores that do not cover the shadow pool
    defenses = ModelDefenses("rsw", {}, toy_dataset, tables, RUN)
    defenses(VICTIM, roles_of(toy_splits, VICTIM)["member"], "victim")
    with pytest.raises(ValueError, match="memorability"):
        defenses("shadow_0", roles_of(toy_splits, "shadow_0")["member"], "shadow")


# ----------------------------------------------------------------------------- every procedure


@pytest.fixture(scope="module")
def dense(toy_dataset, toy_splits) -> TrainedModels:
    return train_victim_and_shadows(toy_dataset, toy_splits, RUN, "dense")


def test_dense_training_records_one_round_of_every_model(dense, toy_dataset, toy_splits):
    names = set(model_names(toy_splits))
    states, history, outputs, uses = dense.artifacts()
    assert set(states) == names
    assert list(outputs) == [0] and isinstance(outputs[0], ModelOutputs)
    assert set(outputs[0].logits) == set(outputs[0].sensitivity) == names
    assert set(history["stage"]) == {"dense"} and set(history["round"]) == {0}
    assert (history["sparsity"] == 0).all() and (history["target_sparsity"] == 0).all()
    assert set(uses["model"]) == names
    epochs = history.set_index("model")["epochs_run"]
    for model, rows in uses.groupby("model"):
        assert (rows["uses"] == epochs[model]).all()
        assert sorted(rows["sample_index"]) == sorted(roles_of(toy_splits, model)["member"])
    # A state dict holds the model: the victim's stored state gives the victim's outputs.
    stored = with_stored_victim(outputs[0], toy_dataset, toy_splits, RUN, states[VICTIM])
    np.testing.assert_allclose(stored.logits[VICTIM], outputs[0].logits[VICTIM], rtol=1e-6)
    np.testing.assert_array_equal(stored.logits["shadow_0"], outputs[0].logits["shadow_0"])


def test_pruning_starts_from_the_dense_states(toy_dataset, toy_splits, dense):
    with pytest.raises(ValueError, match="dense models"):
        train_victim_and_shadows(toy_dataset, toy_splits, RUN, "one_shot")
    one_shot = train_victim_and_shadows(
        toy_dataset, toy_splits, RUN, "one_shot", start_states=dense.states
    )
    assert list(one_shot.outputs) == [0]
    assert set(one_shot.history["stage"]) == {"one_shot"}
    assert (one_shot.history["sparsity"] - PRUNING.sparsity).abs().max() < 0.01
    # The whole iterative budget in one round (early stopping may end it sooner).
    assert (one_shot.history["epochs_run"] <= PRUNING.rounds * PRUNING.epochs_per_round).all()
    for name in model_names(toy_splits):
        assert any(key.endswith("weight_mask") for key in one_shot.states[name]), name


def test_every_round_false_records_only_the_last_round(toy_dataset, toy_splits, dense):
    last = train_victim_and_shadows(
        toy_dataset, toy_splits, RUN, "iterative", start_states=dense.states, every_round=False
    )
    assert list(last.outputs) == [PRUNING.rounds - 1]
    assert sorted(set(last.history["round"])) == list(range(PRUNING.rounds))
    history = victim_history(last.history.iloc[::-1])
    assert history["round"].tolist() == list(range(PRUNING.rounds))
    assert set(history["model"]) == {VICTIM}


# ----------------------------------------------------------------------------- every model defended


@pytest.fixture(scope="module")
def pruned_runs(toy_dataset, toy_splits, score_table):
    """Base and RSW iterative pruning of the victim and both shadows from the same start."""
    start = {
        name: SPEC.build(toy_dataset.input_shape, toy_dataset.num_classes, seed).state_dict()
        for seed, name in enumerate(model_names(toy_splits))
    }
    tables = {}
    for pool in ("victim", "shadow"):
        samples = pool_samples(toy_splits, pool)
        tables[pool] = score_table(samples, np.random.default_rng(1).random(len(samples)))
    rsw = ModelDefenses("rsw", {"width": 0.2, "stride": 0.05}, toy_dataset, tables, RUN)
    runs = {}
    for stage, defenses in (("iterative", None), ("rsw", rsw)):
        torch.manual_seed(0)
        pruned = train_victim_and_shadows(
            toy_dataset, toy_splits, RUN, "iterative", start_states=start, defenses=defenses
        )
        runs[stage] = (pruned.history, pruned.outputs, pruned.sample_uses)
    # prune_with_defense is the same run, with every model's defense summary.
    torch.manual_seed(0)
    again, summaries = prune_with_defense(
        toy_dataset, toy_splits, RUN, start, "rsw", {"width": 0.2, "stride": 0.05}, tables
    )
    runs["again"] = (again.history, again.outputs, again.sample_uses, summaries)
    shared, shared_summaries = prune_with_defense(
        toy_dataset,
        toy_splits,
        RUN,
        start,
        "rsw",
        {"width": 0.2, "stride": 0.05},
        tables,
        workers=2,
    )
    runs["shared"] = (shared.history, shared.outputs, shared.sample_uses, shared_summaries)
    return runs


def _uses_by_model_round(uses: pd.DataFrame) -> pd.DataFrame:
    return uses.groupby(["model", "round"])["uses"].agg(["mean", "max", "size"])


def test_base_uses_every_member_once_per_epoch_run(pruned_runs, toy_splits):
    history, _, uses = pruned_runs["iterative"]
    assert set(history["stage"]) == {"iterative"}
    epochs = history.set_index(["model", "round"])["epochs_run"]
    for (model, round_index), rows in uses.groupby(["model", "round"]):
        assert (rows["uses"] == epochs[(model, round_index)]).all()
        assert sorted(rows["sample_index"]) == sorted(roles_of(toy_splits, model)["member"])


def test_rsw_reduces_the_uses_of_every_model_shadows_included(pruned_runs, toy_splits):
    history, _, uses = pruned_runs["rsw"]
    base_history, _, base_uses = pruned_runs["iterative"]
    assert set(history["stage"]) == {"rsw"}
    assert set(uses["model"]) == set(model_names(toy_splits)) == {VICTIM, "shadow_0", "shadow_1"}
    stats = _uses_by_model_round(uses)
    base_stats = _uses_by_model_round(base_uses)
    epochs = history.set_index(["model", "round"])["epochs_run"]
    for (model, round_index), row in stats.iterrows():
        assert row["size"] == len(roles_of(toy_splits, model)["member"])
        # A window of a fifth of each class (+ a 5% stride) per epoch: far below one use
        # per epoch, which is what Base gives every member.
        assert row["mean"] <= 0.35 * epochs[(model, round_index)], (model, round_index)
    for model in model_names(toy_splits):
        total = uses[uses["model"] == model]["uses"].sum()
        base_total = base_uses[base_uses["model"] == model]["uses"].sum()
        assert total < 0.5 * base_total, model
        assert base_stats.loc[model]["mean"].min() >= 1
    # The history's reuse columns agree with the uses table.
    for _, record in history.iterrows():
        rows = uses[(uses["model"] == record["model"]) & (uses["round"] == record["round"])]
        assert record["mean_uses"] == pytest.approx(rows["uses"].mean())
        assert record["max_uses"] == rows["uses"].max()
        assert record["members_seen"] == (rows["uses"] > 0).sum()
        assert record["members_seen"] < len(rows)
    assert base_history["members_seen"].tolist() == [
        len(roles_of(toy_splits, m)["member"]) for m in base_history["model"]
    ]


def test_defended_outputs_cover_every_round_and_model(pruned_runs, toy_splits):
    _, outputs, _ = pruned_runs["rsw"]
    assert sorted(outputs) == list(range(PRUNING.rounds))
    for round_outputs in outputs.values():
        assert set(round_outputs.logits) == set(model_names(toy_splits))


def test_prune_with_defense_is_the_same_run_with_its_summaries(pruned_runs, toy_splits):
    history, outputs, uses = pruned_runs["rsw"]
    again_history, again_outputs, again_uses, summaries = pruned_runs["again"]
    columns = ["model", "stage", "round", "sparsity", "test_accuracy", "epochs_run", "max_uses"]
    pd.testing.assert_frame_equal(again_history[columns], history[columns])
    pd.testing.assert_frame_equal(again_uses, uses)
    for round_index, round_outputs in outputs.items():
        for name, logits in round_outputs.logits.items():
            np.testing.assert_array_equal(again_outputs[round_index].logits[name], logits)
    assert set(summaries) == set(model_names(toy_splits))
    assert {summary["defense"] for summary in summaries.values()} == {"rsw"}


def test_models_shared_among_two_workers_are_those_of_one_process(pruned_runs):
    """Victim and shadows have other pools (other scored samples, the victim's shift check
    on a shadow): split between two forked workers, they train, record and summarize their
    defenses as in one process."""
    history, outputs, uses, summaries = pruned_runs["again"]
    shared_history, shared_outputs, shared_uses, shared_summaries = pruned_runs["shared"]
    pd.testing.assert_frame_equal(
        shared_history.drop(columns="seconds"), history.drop(columns="seconds")
    )
    pd.testing.assert_frame_equal(shared_uses, uses)
    assert shared_summaries == summaries
    for round_index, round_outputs in outputs.items():
        shared_round = shared_outputs[round_index]
        np.testing.assert_array_equal(shared_round.sample_index, round_outputs.sample_index)
        for kind in ("logits", "sensitivity"):
            mine, theirs = getattr(round_outputs, kind), getattr(shared_round, kind)
            assert list(theirs) == list(mine)
            for name in mine:
                np.testing.assert_array_equal(theirs[name], mine[name])


def test_dpsgd_over_the_whole_training_prunes_a_dense_model_of_its_own(toy_dataset, toy_splits):
    """scope whole: each model trains its dense model with DP-SGD from its initialisation
    (not the dense states it is given) and the accountant counts those steps too."""
    start = {
        name: SPEC.build(toy_dataset.input_shape, toy_dataset.num_classes, 99).state_dict()
        for name in model_names(toy_splits)
    }
    runs = {
        scope: prune_with_defense(
            toy_dataset, toy_splits, RUN, start, "dpsgd", {"scope": scope}, None
        )
        for scope in ("finetune", "whole")
    }
    (finetune, finetune_summaries), (whole, whole_summaries) = runs.values()
    for name in model_names(toy_splits):
        fine, full = finetune_summaries[name], whole_summaries[name]
        assert fine["covers"] == "prune rounds" and "dense_seconds" not in fine
        assert full["covers"] == "dense training and every prune round"
        assert full["dense_seconds"] > 0 and full["sampling"] == "poisson"
        members = len(roles_of(toy_splits, name)["member"])
        steps_per_epoch = max(1, round(members / TRAINING.batch_size))
        fine_epochs = finetune.history.set_index("model").loc[[name], "epochs_run"].sum()
        assert fine["steps"] == fine_epochs * steps_per_epoch
        assert full["steps"] > whole.history.set_index("model").loc[[name], "epochs_run"].sum()
        assert 0 < fine["epsilon"] < full["epsilon"]
    # Another start: the whole-scope run did not prune the given dense states.
    fine_state, full_state = finetune.states[VICTIM], whole.states[VICTIM]
    assert not any(torch.equal(fine_state[key], full_state[key]) for key in fine_state)
