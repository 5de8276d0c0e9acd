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


@dataclass
class FoldedValidation:
    """Cross-fitting: each fold's Validation (None where a fold has no validation queries) and the fold of each
    test query. A fold's fallback threshold applies to its own test queries only: every query is a validation
    query of other folds, so one threshold chosen on all folds' validation would have seen its own outcome."""

    folds: list[Validation | None]
    test_fold: np.ndarray


def analyse(name: str, probs: np.ndarray, metric: np.ndarray, bma: np.ndarray,
            val: Validation | FoldedValidation | None,
            cost: np.ndarray | None, experts: list[str], subsets: np.ndarray,
            scale: float = 1.0) -> tuple[dict[str, np.ndarray], dict]:
    """`probs`, `metric`, `cost`: [test queries, experts]; `bma`: the BMA expert's index per test query;
    `subsets`: each test query's subset (the quality–cost curve averages over subsets, as the table).
    Returns ({"<name>+fallback": one-hot routes} where there is validation data, the analysis for results.json)."""
    routes, out = {}, {"calibration": calibration(probs, metric)}
    if isinstance(val, FoldedValidation):  # one threshold per fold, for that fold's test queries (0: none)
        threshold = [choose_threshold(v.probs, v.metric, v.bma) if v is not None and len(v.probs) else 0.0
                     for v in val.folds]
        routes[f"{name}+fallback"], share = fallback_routes(probs, bma, np.array(threshold)[val.test_fold])
        out["fallback"] = {"method": f"{name}+fallback", "threshold": threshold, "share": share}
    elif val is not None and len(val.probs):
        threshold = choose_threshold(val.probs, val.metric, val.bma)
        routes[f"{name}+fallback"], share = fallback_routes(probs, bma, threshold)
        out["fallback"] = {"method": f"{name}+fallback", "threshold": threshold, "share": share}
    if cost is not None:
        out["quality_cost"] = quality_cost_curve(probs, metric * scale, cost, subset_weights(subsets), experts=experts)
    return routes, out
