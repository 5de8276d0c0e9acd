"""Scores per subset and group, ranks against the single experts, MTR, %uplift, gain over BMA and the share of
the oracle gap closed (DESIGN.md section 3, "Metrics").

The rank of a method on a subset is its rank among {the N single experts + the method}; a single expert is
ranked among the N experts. Ties take the minimum rank. MTR is the mean rank over subsets; %uplift is the
fraction of subsets where the method ranks first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL = "all"


def groups_within(groups: dict[str, list[str]], subsets) -> dict[str, list[str]]:
    """The groups with only their members among `subsets` (all where None); groups left empty are dropped."""
    kept = {g: [s for s in members if subsets is None or s in subsets] for g, members in groups.items()}
    return {g: members for g, members in kept.items() if members}


def subset_scores(metric: np.ndarray, subsets: np.ndarray, routes: dict[str, np.ndarray]) -> pd.DataFrame:
    """Mean metric of the routed answers: methods x subsets (in order of first appearance)."""
    order = list(dict.fromkeys(subsets))
    return pd.DataFrame(
        {s: {name: float((p[subsets == s] * metric[subsets == s]).sum(axis=1).mean()) for name, p in routes.items()}
         for s in order}
    )


def subset_weights(subsets: np.ndarray) -> np.ndarray:
    """Per query 1 / (subsets x the queries of its subset): a weighted sum is the mean over subsets of the
    subsets' means, the convention of every score reported."""
    names, index, counts = np.unique(subsets, return_inverse=True, return_counts=True)
    return 1.0 / (len(names) * counts[index])


def ranks(scores: pd.DataFrame, experts: list[str]) -> pd.DataFrame:
    single = scores.loc[experts].to_numpy()
    out = {}
    for name, row in scores.iterrows():
        value = row.to_numpy()
        better = single > value + 1e-9 * np.maximum(1.0, np.abs(value))
        out[name] = 1 + better.sum(axis=0)
    return pd.DataFrame(out, index=scores.columns).T.astype(int)


def summarize(scores: pd.DataFrame, experts: list[str], groups: dict[str, list[str]], scale: float = 1.0) -> dict:
    """Everything results.json reports per method; `scores` are methods x subsets and include bma and oracle."""
    groups = {**groups, ALL: list(scores.columns)}
    rank = ranks(scores, experts)
    scores = scores * scale

    def by_group(frame: pd.DataFrame) -> dict[str, pd.Series]:
        return {g: frame[subsets].mean(axis=1) for g, subsets in groups.items()}

    mean = by_group(scores)
    gain = scores - scores.loc["bma"]
    gap = (scores.loc["oracle"] - scores.loc["bma"]).replace(0, np.nan)
    methods = {}
    for name in scores.index:
        def closed(num, den):  # None where the oracle gains nothing over BMA (a gap of 0, as NaN)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = num / den
            return float(ratio) if np.isfinite(ratio) else None

        methods[name] = {
            "subsets": scores.loc[name].to_dict(),
            "groups": {g: float(m[name]) for g, m in mean.items()},
            "mean": float(mean[ALL][name]),
            "ranks": rank.loc[name].to_dict(),
            "mtr": float(rank.loc[name].mean()),
            "mtr_groups": {g: float(rank.loc[name, s].mean()) for g, s in groups.items()},
            "uplift": float((rank.loc[name] == 1).mean()),
            "uplift_groups": {g: float((rank.loc[name, s] == 1).mean()) for g, s in groups.items()},
            "gain_over_bma": {
                "subsets": gain.loc[name].to_dict(),
                "groups": {g: float(m[name] - m["bma"]) for g, m in mean.items()},
                "mean": float(mean[ALL][name] - mean[ALL]["bma"]),
            },
            "oracle_gap_closed": {
                "subsets": {s: closed(gain.loc[name, s], gap[s]) for s in scores.columns},
                "groups": {g: closed(m[name] - m["bma"], m["oracle"] - m["bma"]) for g, m in mean.items()},
                "mean": closed(mean[ALL][name] - mean[ALL]["bma"], mean[ALL]["oracle"] - mean[ALL]["bma"]),
            },
        }
    return methods


def routing_counts(subsets: np.ndarray, route: np.ndarray, experts: list[str]) -> dict[str, dict[str, float]]:
    """How many test queries of each subset went to each expert (expected counts for a random router)."""
    return {
        s: {e: round(float(c), 4) for e, c in zip(experts, route[subsets == s].sum(axis=0))}
        for s in dict.fromkeys(subsets)
    }
