"""Evaluate routers and every baseline on the test split in one pass."""

from __future__ import annotations

import numpy as np

from rewardroute.data.matrix import DataError, ResponseMatrix
from rewardroute.evaluation.metrics import routing_counts, subset_scores, summarize


def inference_cost(test: ResponseMatrix, routes: dict[str, np.ndarray], routers: list[str], rankers: list[str]) -> dict:
    """Per test query: answers generated, reward-model passes, router passes, and the tokens generated where the
    generate stage counted them. A ranker (RMR) has every expert answer and scores every answer, as the oracle
    needs every answer; a router runs once and only its expert answers; the other baselines run one expert."""
    n = len(test.experts)
    out = {}
    for name, route in routes.items():
        every = name in rankers or name == "oracle"
        cost = {"generations": n if every else 1, "reward_model_passes": n if name in rankers else 0,
                "router_passes": int(name in routers)}
        if test.new_tokens is not None and not np.isnan(test.new_tokens).any():
            tokens = test.new_tokens.sum(axis=1) if every else (route * test.new_tokens).sum(axis=1)
            cost["generated_tokens"] = float(tokens.mean())
        out[name] = cost
    return out


def evaluate(
    matrix: ResponseMatrix,
    routers: dict[str, np.ndarray],
    baselines: dict[str, np.ndarray],
    choices: dict,
    groups: dict[str, list[str]] | None = None,
    scale: float = 1.0,
    rankers: dict[str, np.ndarray] | None = None,
) -> dict:
    """Every method's routing distribution over the test queries ([test queries, experts], one-hot for an argmax
    router): `routers` (trained), `baselines` and `choices` (from baselines.baseline_routes: BMA, random, oracles,
    each expert), `rankers` (reward-model ranking: a baseline that needs every expert's answer). Returns the
    content of results.json (without run metadata)."""
    test = matrix.select(matrix.mask("test"))
    subsets = test.queries["subset"].to_numpy()
    groups = dict(groups or {})
    check_groups(groups, matrix)
    baselines = {**(rankers or {}), **baselines}
    for name, route in {**routers, **baselines}.items():
        if name in routers and name in baselines:
            raise ValueError(f"router name {name!r} clashes with a baseline or expert name")
        if route.shape != (len(test.queries), len(matrix.experts)):
            raise ValueError(f"{name}: routes of shape {route.shape}, expected {(len(test.queries), len(matrix.experts))}")
    routes = {**routers, **baselines}
    experts = list(matrix.experts)
    methods = summarize(subset_scores(test.metric, subsets, routes), experts, groups, scale)
    for name, route in routes.items():
        methods[name]["kind"] = "router" if name in routers else "expert" if name in experts else "baseline"
        methods[name]["routing"] = routing_counts(subsets, route, experts)
    return {
        "cost": inference_cost(test, routes, list(routers), list(rankers or {})),
        "subsets": test.subsets,
        "groups": {**groups, "all": test.subsets},
        "experts": experts,
        "bma": choices["bma"],
        "dataset_oracle": choices["dataset_oracle"],
        "methods": methods,
    }


def check_groups(groups: dict[str, list[str]] | None, matrix: ResponseMatrix) -> None:
    """Every subset a report group names has test queries."""
    test = matrix.select(matrix.mask("test"))
    for group, members in (groups or {}).items():
        unknown = [s for s in members if s not in set(test.subsets)]
        if unknown:
            raise DataError(f"data.groups.{group} names {unknown}, which have no test queries; test subsets: {test.subsets}")
