"""Silver labels against hand-computed values (DESIGN.md section 3)."""

import numpy as np
import pytest

from rewardroute.data.matrix import DataError
from rewardroute.labels.silver import silver_labels

REWARDS = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 1.0]])


def test_soft_labels_are_softmax_of_reward_over_temperature():
    e = np.exp(1.0)
    labels = silver_labels(REWARDS, [[]] * 3, np.ones(3, bool))
    np.testing.assert_allclose(labels[0], [e / (e + 1), 1 / (e + 1)])
    np.testing.assert_allclose(labels[1], [0.5, 0.5])
    e2 = np.exp(2.0)  # temperature 0.5 doubles the logits
    np.testing.assert_allclose(silver_labels(REWARDS, [[]] * 3, np.ones(3, bool), temperature=0.5)[0],
                               [e2 / (e2 + 1), 1 / (e2 + 1)])


def test_hard_labels_are_one_hot_argmax_and_ties_share_it():
    np.testing.assert_array_equal(silver_labels(REWARDS, [[]] * 3, np.ones(3, bool), kind="hard"),
                                  [[1, 0], [0.5, 0.5], [1, 0]])  # query 1: both experts score 0


def test_tag_enhancement_uses_training_tag_means_only():
    rewards = np.log(np.array([[3.0, 1.0], [1.0, 1.0], [1.0, 3.0], [1.0, 1.0]]))  # soft labels .75/.25 and .5/.5
    tags = [["a"], ["a", "b"], ["b"], ["a"]]
    train = np.array([True, True, False, False])  # query 2 (tag b only) and 3 are not training queries
    out = silver_labels(rewards, tags, train, beta=0.3)
    s_a = np.array([0.625, 0.375])  # mean of queries 0 and 1
    s_b = np.array([0.5, 0.5])  # query 1 only: query 2 is not training
    np.testing.assert_allclose(out[0], 0.3 * np.array([0.75, 0.25]) + 0.7 * s_a)
    np.testing.assert_allclose(out[1], 0.3 * np.array([0.5, 0.5]) + 0.7 * (s_a + s_b) / 2)
    np.testing.assert_allclose(out[2], 0.3 * np.array([0.25, 0.75]) + 0.7 * s_b)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_beta_one_is_plain_soft_labels_and_beta_zero_is_tag_means():
    rewards = np.log(np.array([[3.0, 1.0], [1.0, 3.0]]))
    tags = [["a"], ["a"]]
    train = np.ones(2, bool)
    np.testing.assert_allclose(silver_labels(rewards, tags, train, beta=1.0), [[0.75, 0.25], [0.25, 0.75]])
    np.testing.assert_allclose(silver_labels(rewards, tags, train, beta=0.0), [[0.5, 0.5], [0.5, 0.5]])


def test_tag_enhancement_without_tags_is_a_clear_error():
    with pytest.raises(DataError, match="carry no tags"):
        silver_labels(REWARDS, [[]] * 3, np.ones(3, bool), beta=0.3)


@pytest.mark.parametrize("bad", [{"kind": "sharp"}, {"temperature": 0.0}, {"beta": 1.5}])
def test_bad_label_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        silver_labels(REWARDS, [["a"]] * 3, np.ones(3, bool), **bad)
