"""The label-only noise-robustness attack: the shares it queries and the scale it keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch import nn

from wemem_pipeline.core.attacks import MembershipSet, build_attack, check_attack_names
from wemem_pipeline.core.attacks.label_noise import LabelNoise, label_robustness
from wemem_pipeline.core.validation import ParameterError


def sign_classifier() -> nn.Module:
    """Class 0 where the one feature is positive, class 1 where it is negative."""
    model = nn.Linear(1, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model.bias.zero_()
    return model


def test_the_share_is_the_chance_a_noisy_copy_stays_on_the_label_side() -> None:
    """At ``x`` with label 0 the share is ``P(x + s u > 0) = Phi(x / s)``."""
    positions = np.array([-1.0, -0.2, 0.0, 0.3, 2.0], dtype=np.float32)
    features = torch.from_numpy(positions[:, None])
    labels = torch.zeros(len(positions), dtype=torch.int64)
    scales = (0.5, 1.0)
    shares = label_robustness(
        sign_classifier(), features, labels, np.arange(5), scales, draws=4000, seed=0
    )
    expected = norm.cdf(positions[:, None] / np.array(scales)[None])
    np.testing.assert_allclose(shares, expected, atol=0.03)
    again = label_robustness(
        sign_classifier(), features, labels, np.arange(5), scales, draws=4000, seed=0
    )
    np.testing.assert_array_equal(shares, again)  # seeded


def labelled(robustness: np.ndarray, is_member: np.ndarray) -> MembershipSet:
    n = len(is_member)
    return MembershipSet(
        np.arange(n),
        np.zeros((n, 2)),
        np.zeros(n, dtype=np.int64),
        is_member,
        robustness=robustness,
    )


def test_the_attack_keeps_the_scale_that_separates_the_shadows_and_scores_with_it() -> None:
    rng = np.random.default_rng(0)
    is_member = np.arange(400) % 2 == 0
    useless = rng.uniform(size=400)
    telling = np.where(is_member, 0.9, 0.4) + rng.uniform(-0.05, 0.05, size=400)
    attack = LabelNoise(scales=(0.1, 0.5), draws=8).fit(
        [labelled(np.stack([useless, telling], axis=1), is_member)]
    )
    assert attack.scale_index == 1
    target = labelled(np.array([[0.0, 0.95], [1.0, 0.35]]), np.array([True, False]))
    output = attack.score(target)
    assert output.predicted_member.tolist() == [True, False]
    np.testing.assert_allclose(output.scores, np.array([0.95, 0.35]) - attack.threshold)


def test_outputs_recorded_without_noisy_queries_are_refused() -> None:
    no_queries = MembershipSet(
        np.arange(4), np.zeros((4, 2)), np.zeros(4, dtype=np.int64), np.arange(4) < 2
    )
    with pytest.raises(ValueError, match="run it in the audit, which records them"):
        LabelNoise().fit([no_queries])


def test_label_noise_is_kept_out_of_the_main_pipelines() -> None:
    with pytest.raises(ParameterError, match="label_noise, which queries the models on noisy"):
        check_attack_names(["conf", "label_noise"])
    assert check_attack_names(["label_noise"], audit=True) == ["label_noise"]


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"scales": []}, "attacks.label_noise.scales must be a list"),
        ({"scales": 0.3}, "attacks.label_noise.scales must be a list"),
        ({"scales": [0.3, -1]}, r"attacks.label_noise.scales\[\] must be a number"),
        ({"draws": 0}, "attacks.label_noise.draws"),
        ({"noise": 1}, "attacks.label_noise"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict, phrase: str) -> None:
    with pytest.raises(ParameterError, match=phrase):
        build_attack("label_noise", options)
