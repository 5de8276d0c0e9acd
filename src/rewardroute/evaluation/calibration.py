"""Calibration of a router's confidence (its largest probability) against whether the routed expert was a best
one, and a confidence fallback: below a threshold chosen on validation data, send the query to the BMA expert."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def routed_correct(probs, metric) -> np.ndarray:
    """Whether the argmax expert attains the query's best metric (within 1e-9 relative); with ties (several
    experts right) any of them counts."""
    probs, metric = np.asarray(probs, dtype=float), np.asarray(metric, dtype=float)
    routed = metric[np.arange(len(metric)), probs.argmax(axis=1)]
    best = metric.max(axis=1)
    return routed >= best - 1e-9 * np.maximum(1.0, np.abs(best))


def calibration(probs, metric, bins: int = 10) -> dict:
    """ECE (l1) of the confidence against routed_correct, the mean confidence, the accuracy and the reliability
    diagram's non-empty bins."""
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    confidence = np.asarray(probs, dtype=float).max(axis=1)
    correct = routed_correct(probs, metric)
    # torchmetrics keeps a confidence of exactly 1 in an eleventh bin of its own (torchmetrics#3510): just below
    # 1, it is in the last bin, as in the diagram
    below_one = np.minimum(confidence, np.nextafter(1.0, 0.0))
    ece = binary_calibration_error(torch.as_tensor(below_one), torch.as_tensor(correct.astype(np.int64)),
                                   n_bins=bins, norm="l1")
    # torchmetrics' own edges, so the bars bin as the ECE does
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64).numpy()
    index = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, bins - 1)
    reliability = [
        {"lo": float(edges[b]), "hi": float(edges[b + 1]), "confidence": float(confidence[index == b].mean()),
         "accuracy": float(correct[index == b].mean()), "count": int((index == b).sum())}
        for b in np.unique(index)
    ]
    return {"ece": float(ece), "mean_confidence": float(confidence.mean()), "accuracy": float(correct.mean()),
            "reliability": reliability}


def fallback_routes(probs, bma, threshold) -> tuple[np.ndarray, float]:
    """One-hot routes [n, E]: the argmax expert, or the BMA expert (`bma`: its index, or one per query, as BMA
    differs between cross-fitting folds) where the confidence is below `threshold` (one, or one per query: each
    cross-fitting fold's own); and the share of queries that fell back."""
    probs = np.asarray(probs, dtype=float)
    back = probs.max(axis=1) < threshold
    return np.eye(probs.shape[1])[np.where(back, bma, probs.argmax(axis=1))], float(back.mean())


def choose_threshold(probs, metric, bma, grid=None) -> float:
    """The threshold of `grid` (default 0 and the 5%, 10%, ..., 95% quantiles of the confidence) whose fallback
    routes score best on these (validation) queries; ties go to the lowest one, which falls back least."""
    probs, metric = np.asarray(probs, dtype=float), np.asarray(metric, dtype=float)
    if grid is None:
        grid = np.concatenate([[0.0], np.quantile(probs.max(axis=1), np.arange(1, 20) / 20)])
    grid = np.asarray(grid, dtype=float)
    score = np.array([(fallback_routes(probs, bma, t)[0] * metric).sum(axis=1).mean() for t in grid])
    best = score.max()
    return float(grid[score >= best - 1e-9 * max(1.0, abs(best))].min())


def plot_reliability(cal: dict, path, title: str) -> Path:
    """The reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = cal["reliability"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar([b["lo"] for b in bins], [b["accuracy"] for b in bins], width=[b["hi"] - b["lo"] for b in bins],
           align="edge", edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (largest probability)")
    ax.set_ylabel("share routed to a best expert")
    ax.set_title(f"{title} (ECE {cal['ece']:.3f})")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
    return Path(path)
