"""Quality–cost curves, frontiers and their AUC; calibration, ECE and the confidence fallback, against hand
computations on tiny arrays."""

import numpy as np
import pytest

from rewardroute.evaluation.calibration import (
    calibration,
    choose_threshold,
    fallback_routes,
    plot_reliability,
    routed_correct,
)
from rewardroute.evaluation.cost import hull_auc, plot_quality_cost, quality_cost_curve, upper_hull

# Expert 0 is cheap (1 per query) and right on queries 0 and 1; expert 1 costs 3 and is right on 0, 1 and 2.
METRIC = np.array([[1, 1], [1, 1], [0, 1], [0, 0]], dtype=float)
COST = np.array([[1, 3]] * 4, dtype=float)
# The router knows where the cheap expert is right: cheap on 0 and 1, expensive on 2 and 3.
PROBS = np.array([[0.8, 0.2], [0.8, 0.2], [0.2, 0.8], [0.2, 0.8]])


def test_curve_routes_by_lambda_and_summarises_the_frontier():
    # Costs normalised by 3: the expensive expert wins on queries 2, 3 while 0.8 - λ > 0.2 - λ/3, i.e. λ < 0.9.
    curve = quality_cost_curve(PROBS, METRIC, COST, experts=["cheap", "dear"])
    points = {p["lambda"]: (p["cost"], p["quality"]) for p in curve["points"]}
    grid = [lam for lam in points if lam is not None]
    assert len(points) == 26 and min(grid) == 0.0 and max(grid) == pytest.approx(1e3)
    assert points[0.0] == pytest.approx((2.0, 0.75))  # the router's own routing
    assert points[max(grid)] == pytest.approx((1.0, 0.5)) == points[None]  # all to the cheap expert; None: λ = ∞
    assert np.allclose(curve["hull"], [[1.0, 0.5], [2.0, 0.75]])
    assert curve["singles"] == {"cheap": {"cost": 1.0, "quality": 0.5}, "dear": {"cost": 3.0, "quality": 0.75}}
    # Over [1, 3]: mean 0.625 on [1, 2], flat 0.75 on [2, 3]; the singles' frontier is the chord, mean 0.625.
    assert curve["auc"] == pytest.approx(0.6875)
    assert curve["auc_singles"] == pytest.approx(0.625)
    assert curve["auc"] >= curve["auc_singles"]


def test_curve_breaks_ties_toward_the_cheaper_expert_and_names_singles_by_index():
    curve = quality_cost_curve(np.full((4, 2), 0.5), METRIC, COST[:, ::-1], lambdas=[0.0])
    assert curve["points"][0] == {"lambda": 0.0, "cost": 1.0, "quality": 0.75}  # expert 1 is now the cheap one
    assert set(curve["singles"]) == {0, 1}


def test_curve_averages_over_subsets_as_the_results_table():
    """900 queries of a subset where expert 0 is right, 100 of one where expert 1 is: in the table every expert
    and the router (always expert 0) score 0.5, the mean of the two subsets; so does the curve."""
    from rewardroute.evaluation.metrics import subset_weights

    subsets = np.array(["a"] * 900 + ["b"] * 100)
    metric = np.zeros((1000, 2))
    metric[:900, 0] = metric[900:, 1] = 1
    probs = np.tile([0.9, 0.1], (1000, 1))
    curve = quality_cost_curve(probs, metric, np.tile([1.0, 2.0], (1000, 1)), subset_weights(subsets), lambdas=[0.0])
    assert curve["points"][0]["quality"] == pytest.approx(0.5)
    assert [s["quality"] for s in curve["singles"].values()] == pytest.approx([0.5, 0.5])
    assert curve["auc"] == pytest.approx(0.5)


def test_the_frontier_reaches_the_cheapest_expert_however_close_the_costs():
    """Costs 1 and 1.0001: no λ of the grid makes the cheaper expert worth it, λ = ∞ does."""
    cost = np.array([[1.0, 1.0001]] * 4)
    curve = quality_cost_curve(PROBS[:, ::-1], METRIC[:, ::-1], cost)
    assert curve["points"][-1] == {"lambda": None, "cost": 1.0, "quality": pytest.approx(0.75)}
    assert curve["hull"][0] == [1.0, pytest.approx(0.75)]
    assert curve["auc"] >= curve["auc_singles"]


def test_upper_hull_drops_dominated_and_concave_points():
    points = [[2, 0.6], [1, 0.5], [2, 0.7], [3, 0.72], [4, 0.9], [5, 0.85]]
    hull = upper_hull(points)
    assert np.allclose(hull, [[1, 0.5], [2, 0.7], [4, 0.9]])
    xs, ys = np.array(hull).T
    slopes = np.diff(ys) / np.diff(xs)
    assert (slopes >= 0).all() and (np.diff(slopes) <= 0).all()  # non-decreasing and concave from below


def test_hull_auc_extends_flat_to_the_right_and_zero_to_the_left():
    hull = [[1.0, 0.5], [2.0, 0.75]]
    assert hull_auc(hull, 1.0, 2.0) == pytest.approx(0.625)
    assert hull_auc(hull, 0.0, 4.0) == pytest.approx((0 + 0.625 + 2 * 0.75) / 4)
    assert hull_auc(hull, 1.5, 1.5) == pytest.approx(0.625)
    assert hull_auc(hull, 0.5, 0.5) == 0.0
    assert hull_auc(hull, 3.0, 3.0) == 0.75


def test_routed_correct_counts_any_of_several_best_experts():
    metric = np.array([[1, 1, 0], [0.2, 0.5, 0.5], [0.3, 0.1, 0.2]])
    probs = np.array([[0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.1, 0.8, 0.1]])
    assert routed_correct(probs, metric).tolist() == [True, True, False]


def test_calibration_perfect_case_has_zero_ece():
    # Four queries at confidence 0.75, three routed right; two at 0.5, one routed right.
    probs = np.array([[0.75, 0.15, 0.1]] * 4 + [[0.5, 0.3, 0.2]] * 2)
    metric = np.array([[1, 0, 0]] * 3 + [[0, 1, 0]] + [[1, 0, 0]] + [[0, 0, 1]], dtype=float)
    cal = calibration(probs, metric)
    assert cal["ece"] == pytest.approx(0.0, abs=1e-12)
    assert cal["accuracy"] == pytest.approx(4 / 6)
    assert cal["mean_confidence"] == pytest.approx((4 * 0.75 + 2 * 0.5) / 6)


def test_calibration_miscalibrated_case_matches_the_hand_ece():
    # Three queries at 0.95 with one right (gap 0.95 - 1/3), one at 0.65 right (gap 0.35).
    probs = np.array([[0.95, 0.05]] * 3 + [[0.35, 0.65]])
    metric = np.array([[1, 0], [0, 1], [0, 1], [0, 1]], dtype=float)
    cal = calibration(probs, metric)
    assert cal["ece"] == pytest.approx(0.75 * (0.95 - 1 / 3) + 0.25 * 0.35)
    expected = [{"lo": 0.6, "hi": 0.7, "confidence": 0.65, "accuracy": 1.0, "count": 1},
                {"lo": 0.9, "hi": 1.0, "confidence": 0.95, "accuracy": 1 / 3, "count": 3}]
    assert len(cal["reliability"]) == 2
    for got, want in zip(cal["reliability"], expected):
        assert got == pytest.approx(want)


def test_a_confidence_of_one_is_in_the_last_of_ten_bins():
    """0.95 routed right and 1.0 routed wrong share the bin [0.9, 1]: |0.975 - 0.5|, as the diagram draws it."""
    cal = calibration(np.array([[0.95, 0.05], [1.0, 0.0]]), np.array([[1, 0], [0, 1]], dtype=float))
    assert cal["ece"] == pytest.approx(0.475)
    assert cal["reliability"] == [pytest.approx({"lo": 0.9, "hi": 1.0, "confidence": 0.975, "accuracy": 0.5, "count": 2})]


# Confidences 0.7, 0.4, 0.8, 0.45; expert 2 is the BMA. Query 1: only the BMA is right; query 3: argmax and BMA.
FB_PROBS = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.8, 0.1], [0.3, 0.45, 0.25]])
FB_METRIC = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=float)


def test_fallback_routes_send_unconfident_queries_to_the_bma():
    routes, share = fallback_routes(FB_PROBS, bma=2, threshold=0.5)
    assert routes.tolist() == np.eye(3)[[0, 2, 1, 2]].tolist()
    assert share == 0.5
    assert fallback_routes(FB_PROBS, bma=2, threshold=0.0)[1] == 0.0


def test_choose_threshold_takes_the_best_and_the_lowest_on_ties():
    # Mean metric: 0.75 at 0 (no fallback), 1 at 0.42 and at 0.5 (tie: the lower wins), 0.5 at 0.75 (all fall back).
    assert choose_threshold(FB_PROBS, FB_METRIC, 2, grid=[0.75, 0.5, 0.42, 0.0]) == 0.42
    # Default grid: the 5% quantile, 0.4 + 0.15 * 0.05, is the lowest threshold that sends query 1 to the BMA.
    assert choose_threshold(FB_PROBS, FB_METRIC, 2) == pytest.approx(0.4075)
    assert choose_threshold(FB_PROBS, np.ones((4, 3)), 2) == 0.0  # every threshold ties


def test_plots_write_png(tmp_path):
    curve = quality_cost_curve(PROBS, METRIC, COST, experts=["org/cheap", "org/dear"])
    path = plot_quality_cost({"router": curve, "half": quality_cost_curve(PROBS[:, ::-1], METRIC, COST)},
                             tmp_path / "cost.png", cost_unit="USD")
    cal = calibration(FB_PROBS, FB_METRIC)
    rel = plot_reliability(cal, tmp_path / "rel.png", "router")
    for p in (path, rel):
        assert p.stat().st_size > 0 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
