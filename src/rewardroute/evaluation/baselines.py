"""Baselines as routing distributions over the experts, one row per test query (a router's is one-hot).

experts: each single expert; bma: the best single expert on average over the training subsets (never the
test data); random: uniform routing (its expected value); oracle: the best expert per query (upper bound);
dataset_oracle: per test subset, the expert best on that subset's training queries (or on its proxy subset's,
data.proxy_train; BMA where there is neither).
"""

from __future__ import annotations

import numpy as np

from rewardroute.data.matrix import DataError, ResponseMatrix


def one_hot(choice: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[choice]


def best_expert(metric: np.ndarray, subsets: np.ndarray) -> int:
    """The expert with the best mean over subsets (each subset weighs the same, as in the reports)."""
    per_subset = np.stack([metric[subsets == s].mean(axis=0) for s in dict.fromkeys(subsets)])
    return int(per_subset.mean(axis=0).argmax())


def ignored_proxies(matrix: ResponseMatrix, proxy_train: dict[str, str]) -> tuple[list[str], list[str]]:
    """The keys of data.proxy_train that choose nothing (only a test subset without training queries of its own
    is chosen on a proxy), and the subsets that would."""
    subsets, test = matrix.queries["subset"].to_numpy(), matrix.mask("test")
    test_only = sorted(set(subsets[test]) - set(subsets[~test]))
    return sorted(set(proxy_train) - set(test_only)), test_only


def baseline_routes(matrix: ResponseMatrix, proxy_train: dict[str, str]) -> tuple[dict[str, np.ndarray], dict]:
    """Routing distributions over the test queries for every baseline, and how BMA and the dataset oracle chose."""
    fit, test = ~matrix.mask("test"), matrix.mask("test")
    subsets = matrix.queries["subset"].to_numpy()
    n = len(matrix.experts)
    bma = best_expert(matrix.metric[fit], subsets[fit])
    routes = {
        "bma": one_hot(np.full(test.sum(), bma), n),
        "random": np.full((test.sum(), n), 1.0 / n),
        "oracle": one_hot(matrix.metric[test].argmax(axis=1), n),
    }
    chosen = {}
    for subset in dict.fromkeys(subsets[test]):
        source = subset if (fit & (subsets == subset)).any() else proxy_train.get(subset)
        if source is None:
            chosen[subset] = {"expert": matrix.experts[bma], "chosen_on": "bma"}
            continue
        rows = fit & (subsets == source)
        if not rows.any():
            raise DataError(f"data.proxy_train.{subset}: subset {source!r} has no training queries")
        chosen[subset] = {"expert": matrix.experts[int(matrix.metric[rows].mean(axis=0).argmax())], "chosen_on": source}
    index = {e: i for i, e in enumerate(matrix.experts)}
    routes["dataset_oracle"] = one_hot(np.array([index[chosen[s]["expert"]] for s in subsets[test]]), n)
    for i, expert in enumerate(matrix.experts):
        routes[expert] = one_hot(np.full(test.sum(), i), n)
    return routes, {"bma": matrix.experts[bma], "dataset_oracle": chosen}
