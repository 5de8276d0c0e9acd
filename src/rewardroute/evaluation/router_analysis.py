"""What a trained router's report adds to its routes: the calibration of its probabilities, a fallback to BMA
below a confidence threshold chosen on validation (a method of its own in the results table), and, where the
experts have costs, its quality–cost curve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rewardroute.evaluation.calibration import calibration, choose_threshold, fallback_routes
from rewardroute.evaluation.cost import quality_cost_curve
from rewardroute.evaluation.metrics import subset_weights


@dataclass
class Validation:
    """The router's probabilities on validation queries, their metric, and the BMA expert's index per query."""

    probs: np.ndarray
    metric: np.ndarray
    bma: np.ndarray


def analyse(name: str, probs: np.ndarray, metric: np.ndarray, bma: np.ndarray, val: Validation | None,
            cost: np.ndarray | None, experts: list[str], subsets: np.ndarray,
            scale: float = 1.0) -> tuple[dict[str, np.ndarray], dict]:
    """`probs`, `metric`, `cost`: [test queries, experts]; `bma`: the BMA expert's index per test query;
    `subsets`: each test query's subset (the quality–cost curve averages over subsets, as the table).
    Returns ({"<name>+fallback": one-hot routes} where there is validation data, the analysis for results.json)."""
    routes, out = {}, {"calibration": calibration(probs, metric)}
    if val is not None and len(val.probs):
        threshold = choose_threshold(val.probs, val.metric, val.bma)
        routes[f"{name}+fallback"], share = fallback_routes(probs, bma, threshold)
        out["fallback"] = {"method": f"{name}+fallback", "threshold": threshold, "share": share}
    if cost is not None:
        out["quality_cost"] = quality_cost_curve(probs, metric * scale, cost, subset_weights(subsets), experts=experts)
    return routes, out
