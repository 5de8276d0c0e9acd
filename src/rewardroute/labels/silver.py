"""Zooter's silver labels (DESIGN.md section 3), in numpy.

soft:  s(q)_i = softmax_i(r(q, m_i) / T)
hard:  one-hot on argmax_i r(q, m_i) (with the KL loss this is cross-entropy); experts tied at the maximum share
       it equally (with 0/1 metrics most queries tie, and the first expert must not take them all)
tags:  s*(q) = beta * s(q) + (1 - beta) * mean_{t in T(q)} s_t, where s_t is the mean of s over the *training*
       queries tagged t. A query with no tag seen in training keeps s(q).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rewardroute.data.matrix import DataError

KINDS = ("soft", "hard")


def base_labels(rewards: np.ndarray, kind: str = "soft", temperature: float = 1.0) -> np.ndarray:
    if kind not in KINDS:
        raise ValueError(f"labels.kind must be one of {KINDS}, got {kind!r}")
    if kind == "hard":
        best = rewards == rewards.max(axis=1, keepdims=True)
        return best / best.sum(axis=1, keepdims=True)
    if temperature <= 0:
        raise ValueError(f"labels.temperature must be > 0, got {temperature}")
    z = rewards / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def tag_means(labels: np.ndarray, tags: list[list[str]]) -> dict[str, np.ndarray]:
    """s_t: the mean label of the queries carrying tag t."""
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(labels.shape[1]))
    counts: dict[str, int] = defaultdict(int)
    for label, query_tags in zip(labels, tags):
        for t in set(query_tags):
            sums[t] += label
            counts[t] += 1
    return {t: sums[t] / counts[t] for t in sums}


def enhance(labels: np.ndarray, tags: list[list[str]], means: dict[str, np.ndarray], beta: float) -> np.ndarray:
    out = labels.copy()
    for i, query_tags in enumerate(tags):
        known = [means[t] for t in dict.fromkeys(query_tags) if t in means]
        if known:
            out[i] = beta * labels[i] + (1 - beta) * np.mean(known, axis=0)
    return out


def silver_labels(
    rewards: np.ndarray,
    tags: list[list[str]],
    train: np.ndarray,
    kind: str = "soft",
    temperature: float = 1.0,
    beta: float = 1.0,
) -> np.ndarray:
    """Labels for every query given; tag means come from the rows where `train` is true."""
    if not 0 <= beta <= 1:
        raise ValueError(f"labels.beta must be in [0, 1], got {beta}")
    labels = base_labels(rewards, kind, temperature)
    if beta == 1:
        return labels
    train_tags = [t for t, keep in zip(tags, train) if keep]
    if not any(train_tags):
        raise DataError(
            f"labels.beta={beta} asks for tag-based label enhancement, but the training queries carry no tags: "
            "give the data a tags field (e.g. data.source.tags_field) or set labels.beta=1"
        )
    return enhance(labels, tags, tag_means(labels[train], train_tags), beta)
