"""Build the response matrix a run works on, from the `data` config group."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from rewardroute.data.matrix import ResponseMatrix
from rewardroute.data.splits import assign_splits

log = logging.getLogger(__name__)


def load_matrix(cfg: DictConfig) -> ResponseMatrix:
    from hydra.utils import instantiate

    long = instantiate(cfg.source)
    matrix = ResponseMatrix.from_long(long, experts=cfg.experts, subsets=cfg.subsets, null_scores=cfg.null_scores)
    if matrix.dropped:
        log.warning("%s: dropped %d queries with a null score (data.null_scores=drop)", cfg.name, matrix.dropped)
    matrix = assign_splits(matrix, cfg.test_fraction, cfg.val_fraction, cfg.split_seed)
    counts = matrix.queries["split"].value_counts().to_dict()
    log.info("%s: %d experts, %s queries", cfg.name, len(matrix.experts), counts)
    return matrix
