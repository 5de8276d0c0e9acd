"""Cost-aware routing: trade quality for cost by routing each query to argmax(probs - λ·cost) over a grid of λ,
and summarise the points by their quality–cost frontier and the mean quality under it.

The frontier is the upper, non-decreasing convex hull of the points: sending each query to one routing or another
at random reaches any point on the segment between them, and a point beaten by a cheaper, better one is never
worth buying. Its area over the single experts' cost range, divided by that range, reads as an average quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def upper_hull(points) -> list[list[float]]:
    """The quality–cost frontier of [[cost, quality], ...]: its vertices by increasing cost (and quality)."""
    hull: list[tuple[float, float]] = []
    # Cheapest first, the better of equal costs first, so that a dominated point is never above the running best.
    for c, q in sorted(map(tuple, np.asarray(points, dtype=float).reshape(-1, 2)), key=lambda p: (p[0], -p[1])):
        if hull and q <= hull[-1][1]:
            continue
        # Drop the last vertex while it lies on or under the chord from the one before it to the new point.
        while len(hull) >= 2:
            (ac, aq), (bc, bq) = hull[-2:]
            if (bc - ac) * (q - aq) < (bq - aq) * (c - ac):
                break
            hull.pop()
        hull.append((c, q))
    return [[float(c), float(q)] for c, q in hull]


def hull_auc(points, lo: float, hi: float) -> float:
    """Mean over [lo, hi] of the frontier of `points` (a hull is its own frontier): linear between vertices,
    constant after the last (spending more is never required), 0 before the first (nothing cheaper is reachable)."""
    xs, ys = np.asarray(upper_hull(points)).T
    if hi == lo:
        return float(np.interp(lo, xs, ys, left=0.0, right=ys[-1]))
    # No vertex lies strictly inside a piece, so the frontier is linear there and its midpoint gives the exact mean
    # (also across the jump from 0 at the first vertex, where an end value would be ambiguous).
    cuts = np.unique(np.clip(np.concatenate([[lo, hi], xs]), lo, hi))
    mids = np.interp((cuts[:-1] + cuts[1:]) / 2, xs, ys, left=0.0, right=ys[-1])
    return float((np.diff(cuts) * mids).sum() / (hi - lo))


def routes_at(probs: np.ndarray, norm: np.ndarray, lam: float) -> np.ndarray:
    """Each query's expert at willingness to pay λ: the argmax of probs − λ·norm ([n, E] costs relative to the
    dearest expert), ties to the cheaper."""
    score = probs - lam * norm
    return np.where(score == score.max(axis=1, keepdims=True), norm, np.inf).argmin(axis=1)


def quality_cost_curve(probs, metric, cost, weights=None, lambdas=None, experts: list[str] | None = None) -> dict:
    """Route at each λ, then the frontier and its AUC over the single experts' cost range, beside the single
    experts' own frontier AUC (`auc_singles`), so that what routing adds shows. probs, metric, cost: [n, E];
    `weights` [n] (summing to 1; uniform where None) average both axes: metrics.subset_weights averages them as
    the results table does, over subsets."""
    probs, metric, cost = (np.asarray(a, dtype=float) for a in (probs, metric, cost))
    weights = np.full(len(probs), 1 / len(probs)) if weights is None else np.asarray(weights, dtype=float)
    mean_cost = weights @ cost
    # Relative to the dearest expert, so that λ is unitless and one grid fits any cost unit.
    norm = cost / (mean_cost.max() or 1.0)
    lambdas = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 24)]) if lambdas is None else lambdas
    rows = np.arange(len(probs))
    points = []
    for lam in lambdas:
        choice = routes_at(probs, norm, lam)
        points.append({"lambda": float(lam), "cost": float(weights @ cost[rows, choice]),
                       "quality": float(weights @ metric[rows, choice])})
    # λ = ∞ (lambda null): each query's cheapest expert, the router's best among equals. Where costs differ by
    # less than the grid's top λ can tell apart, the grid alone never gets there and the frontier would start late.
    choice = np.where(norm == norm.min(axis=1, keepdims=True), probs, -np.inf).argmax(axis=1)
    points.append({"lambda": None, "cost": float(weights @ cost[rows, choice]),
                   "quality": float(weights @ metric[rows, choice])})
    names = experts if experts is not None else range(probs.shape[1])
    singles = {e: {"cost": float(c), "quality": float(q)} for e, c, q in zip(names, mean_cost, weights @ metric)}
    lo, hi = float(mean_cost.min()), float(mean_cost.max())
    hull = upper_hull([[p["cost"], p["quality"]] for p in points])
    return {
        "points": points,
        "hull": hull,
        "auc": hull_auc(hull, lo, hi),
        "auc_singles": hull_auc([[s["cost"], s["quality"]] for s in singles.values()], lo, hi),
        "singles": singles,
    }


def answer_costs(costs: dict[str, float], experts: list[str], new_tokens: np.ndarray | None, n: int) -> np.ndarray:
    """[n, experts]: each answer's cost, `costs[expert]` per generated token where the generate stage counted the
    tokens (`new_tokens`), else per answer (expert_pool.costs)."""
    missing = [e for e in experts if e not in costs]
    if missing:
        raise ValueError(f"expert_pool.costs has no cost for {missing}; it needs one per expert of the data: {experts}")
    per = np.array([float(costs[e]) for e in experts])
    if new_tokens is not None and not np.isnan(new_tokens).any():
        return new_tokens * per
    return np.tile(per, (n, 1))


def plot_quality_cost(curves: dict[str, dict], path, cost_unit: str = "cost") -> Path:
    """One PNG: per router its points and frontier (AUC in the legend); the first curve's single experts in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        hull = np.asarray(curve["hull"])
        line, = ax.plot(hull[:, 0], hull[:, 1], label=f"{name} (AUC {curve['auc']:.3f})")
        ax.scatter([p["cost"] for p in curve["points"]], [p["quality"] for p in curve["points"]], s=10,
                   color=line.get_color(), alpha=0.6)
    first = next(iter(curves.values()))
    singles = first["singles"]
    ax.scatter([s["cost"] for s in singles.values()], [s["quality"] for s in singles.values()], color="black",
               zorder=3, label=f"single experts (AUC {first['auc_singles']:.3f})")
    for name, s in singles.items():
        ax.annotate(str(name).split("/")[-1], (s["cost"], s["quality"]), textcoords="offset points", xytext=(4, 4),
                    fontsize=7)
    ax.set_xlabel(f"cost per query ({cost_unit}; mean over subsets)")
    ax.set_ylabel("score of the routed answers (mean over subsets)")
    ax.set_title("Quality–cost")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
    return Path(path)
