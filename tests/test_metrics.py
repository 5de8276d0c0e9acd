"""Ranks, MTR, uplift, gains and baselines against hand computations (DESIGN.md section 3, "Metrics")."""

import numpy as np
import pandas as pd
import pytest
from conftest import long_table

from rewardroute.data.matrix import ResponseMatrix
from rewardroute.data.splits import assign_splits
from rewardroute.evaluation.baselines import baseline_routes
from rewardroute.evaluation.evaluate import evaluate
from rewardroute.evaluation.metrics import ranks, summarize

SCORES = pd.DataFrame(
    {"s1": {"A": 0.5, "B": 0.5, "C": 0.3, "bma": 0.5, "oracle": 0.8, "zooter": 0.5},
     "s2": {"A": 0.7, "B": 0.6, "C": 0.9, "bma": 0.7, "oracle": 0.95, "zooter": 0.8}}
)
EXPERTS = ["A", "B", "C"]


def test_ranks_among_single_experts_ties_take_the_minimum():
    r = ranks(SCORES, EXPERTS)
    assert r.loc["zooter"].tolist() == [1, 2]  # ties A and B on s1; C beats it on s2
    assert r.loc["A"].tolist() == [1, 2]  # an expert is ranked among the experts; tie with B
    assert r.loc["B"].tolist() == [1, 3]
    assert r.loc["C"].tolist() == [3, 1]


def test_mtr_uplift_gain_and_oracle_gap():
    m = summarize(SCORES, EXPERTS, {"G": ["s2"]})
    z = m["zooter"]
    assert z["mtr"] == 1.5 and z["uplift"] == 0.5
    assert z["mtr_groups"] == {"G": 2.0, "all": 1.5}
    assert z["mean"] == pytest.approx(0.65)
    assert z["groups"]["G"] == pytest.approx(0.8)
    assert z["gain_over_bma"]["mean"] == pytest.approx(0.05)
    assert z["gain_over_bma"]["subsets"] == pytest.approx({"s1": 0.0, "s2": 0.1})
    assert z["oracle_gap_closed"]["mean"] == pytest.approx(0.05 / 0.275)
    assert z["oracle_gap_closed"]["subsets"] == pytest.approx({"s1": 0.0, "s2": 0.4})
    assert m["C"]["mtr"] == 2.0 and m["C"]["uplift"] == 0.5


def test_report_scale_multiplies_scores_not_ranks_or_fractions():
    m = summarize(SCORES, EXPERTS, {}, scale=100)
    assert m["zooter"]["mean"] == pytest.approx(65.0)
    assert m["zooter"]["mtr"] == 1.5
    assert m["zooter"]["oracle_gap_closed"]["mean"] == pytest.approx(0.05 / 0.275)


def matrix_with_shift() -> ResponseMatrix:
    """A is best on train, B on test; subset t2 has no train split (t1 is its proxy)."""
    scores = {"A": [0.9, 0.8, 0.2, 0.1, 0.2], "B": [0.1, 0.2, 0.6, 0.9, 0.3], "C": [0.5, 0.5, 0.5, 0.5, 0.8]}
    long = long_table(scores, ["t1", "t1", "t1", "t2", "t2"], ["train", "train", "test", "test", "test"])
    return assign_splits(ResponseMatrix.from_long(long), 0.2, 0.0, 0)


def test_bma_and_dataset_oracle_are_chosen_on_train_never_test():
    matrix = matrix_with_shift()
    routes, chosen = baseline_routes(matrix, {"t2": "t1"})
    assert chosen["bma"] == "A"  # best on train although B is best on test
    assert chosen["dataset_oracle"] == {"t1": {"expert": "A", "chosen_on": "t1"}, "t2": {"expert": "A", "chosen_on": "t1"}}
    _, no_proxy = baseline_routes(matrix, {})
    assert no_proxy["dataset_oracle"]["t2"] == {"expert": "A", "chosen_on": "bma"}
    np.testing.assert_allclose(routes["random"], 1 / 3)
    np.testing.assert_array_equal(routes["oracle"].argmax(1), [1, 1, 2])


def test_proxies_that_choose_nothing_are_named():
    """Only a test subset without training queries is chosen on a proxy: a misspelt one, or t1 (which has
    training queries), choose nothing."""
    from rewardroute.evaluation.baselines import ignored_proxies

    matrix = matrix_with_shift()
    assert ignored_proxies(matrix, {"t2": "t1"}) == ([], ["t2"])
    assert ignored_proxies(matrix, {"t3": "t1", "t1": "t1", "t2": "t1"}) == (["t1", "t3"], ["t2"])


def test_evaluate_reports_every_method_with_routing_counts():
    matrix = matrix_with_shift()
    router = np.eye(3)[[1, 1, 2]]  # routes like the oracle
    res = evaluate(matrix, {"zooter": router}, *baseline_routes(matrix, {"t2": "t1"}), {"T2": ["t2"]})
    methods = res["methods"]
    assert set(methods) == {"zooter", "bma", "random", "oracle", "dataset_oracle", "A", "B", "C"}
    assert methods["zooter"]["subsets"] == pytest.approx({"t1": 0.6, "t2": 0.85})
    assert methods["random"]["subsets"]["t2"] == pytest.approx((0.1 + 0.9 + 0.5 + 0.2 + 0.3 + 0.8) / 6)
    assert methods["zooter"]["routing"] == {"t1": {"A": 0.0, "B": 1.0, "C": 0.0}, "t2": {"A": 0.0, "B": 1.0, "C": 1.0}}
    assert methods["zooter"]["kind"] == "router" and methods["bma"]["kind"] == "baseline" and methods["A"]["kind"] == "expert"
    assert res["groups"] == {"T2": ["t2"], "all": ["t1", "t2"]}


def test_evaluate_rejects_groups_naming_unknown_subsets():
    with pytest.raises(ValueError, match=r"data.groups.X names \['nope'\]"):
        evaluate(matrix_with_shift(), {}, *baseline_routes(matrix_with_shift(), {}), {"X": ["nope"]})
