"""Build the response matrix a run works on: from the `data` config group, and, when its source gives queries
only, from the upstream stages (expert_pool, reward_model, judge, tagger: see pipeline/upstream.py)."""

from __future__ import annotations

import logging
from dataclasses import replace

from omegaconf import DictConfig

from rewardroute.data.matrix import ResponseMatrix
from rewardroute.data.splits import assign_splits

log = logging.getLogger(__name__)


def load_matrix(cfg: DictConfig) -> ResponseMatrix:
    """`cfg` is the run config."""
    from hydra.utils import instantiate

    from rewardroute.pipeline.upstream import upstream_long

    data = cfg.data
    long = instantiate(data.source)
    from_stages = "expert" not in long.columns
    if from_stages:
        long = upstream_long(cfg, long)
    matrix = ResponseMatrix.from_long(long, experts=data.experts, subsets=data.subsets, null_scores=data.null_scores)
    matrix = replace(matrix, stage_tags=from_stages and cfg.get("tagger") is not None)
    if matrix.dropped:
        log.warning("%s: dropped %d queries with a null score (data.null_scores=drop)", data.name, matrix.dropped)
    matrix = assign_splits(matrix, data.test_fraction, data.val_fraction, data.split_seed)
    counts = matrix.queries["split"].value_counts().to_dict()
    log.info("%s: %d experts, %s queries", data.name, len(matrix.experts), counts)
    return matrix
