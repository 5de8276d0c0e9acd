"""The stages before routing, for data whose source gives queries only: every expert answers (generate), the
reward model scores the answers (score: what routers learn from and RMR picks with), the judge scores them
(judge: the evaluation signal), the tagger tags the queries (tag). Each stage's output is a cached artifact, so
a run computes only what no earlier run with the same config subtree has computed.
"""

from __future__ import annotations

import logging

import pandas as pd
from omegaconf import DictConfig

from rewardroute.data.matrix import DataError
from rewardroute.data.splits import split_labels

log = logging.getLogger(__name__)
STAGE_GROUPS = ("expert_pool", "reward_model", "judge")


def check_stage_configs(cfg: DictConfig, needed=STAGE_GROUPS) -> None:
    # a pool without experts (e.g. the quickstart's, which states costs only) cannot answer either
    missing = [g for g in needed if cfg.get(g) is None or (g == "expert_pool" and not cfg[g].experts)]
    if missing:
        raise DataError(
            f"data={cfg.data.name} gives queries only, so the stages must make the rest: choose "
            + ", ".join(f"{g}=..." for g in missing) + " (e.g. experiment=tiny_pipeline)"
        )


def used_subsets(cfg: DictConfig, queries: pd.DataFrame) -> pd.DataFrame:
    """The data's queries in the subsets the run uses (data.subsets; all where unset): answer only those."""
    if not cfg.data.subsets:
        return queries
    return queries[queries["subset"].isin(cfg.data.subsets)].reset_index(drop=True)


def stage_queries(cfg: DictConfig, queries: pd.DataFrame, tag_them: bool = True) -> pd.DataFrame:
    """Queries as the stages see them, once each, with the tagger's tags where a tagger is configured (and tag_them)."""
    from rewardroute.tags.tagging import tag

    queries = queries.drop_duplicates("query_id").reset_index(drop=True)
    queries["query_id"] = queries["query_id"].astype(str)
    if "tags" not in queries.columns:
        queries["tags"] = None
    if tag_them and cfg.get("tagger") is not None:
        split = split_labels(queries, cfg.data.test_fraction, cfg.data.val_fraction, cfg.data.split_seed)
        queries["tags"] = tag(cfg, queries, split)["tags"].tolist()
    return queries


def upstream_long(cfg: DictConfig, queries: pd.DataFrame) -> pd.DataFrame:
    """The long response table from the stages: score = reward model, metric = judge, new_tokens per answer."""
    from rewardroute.experts.generation import generate
    from rewardroute.rewards.scoring import score

    check_stage_configs(cfg)
    queries = stage_queries(cfg, used_subsets(cfg, queries))
    frames = []
    for name in cfg.expert_pool.experts:
        answers = generate(cfg, queries, name)
        reward = score(cfg, cfg.reward_model, "score", queries, name, answers)
        judged = score(cfg, cfg.judge, "judge", queries, name, answers)
        if judged["reward"].isna().all():  # else the matrix would read "no metric" and evaluate by the reward model
            raise DataError(f"judge {cfg.judge.name}: none of the {len(judged)} answers of {name} got a score (every "
                            "rating null; see the judge stage's counts of unrated replies)")
        frames.append(queries.assign(expert=name, score=reward["reward"].to_numpy(), metric=judged["reward"].to_numpy(),
                                     new_tokens=answers[1]["new_tokens"].to_numpy()))
    return pd.concat(frames, ignore_index=True)


def fits_tags(cfg: DictConfig, matrix) -> bool:
    """Whether the matrix's tags come from a tagger that fits on the training queries (clusters): the tag stage
    made them (the data gave queries only)."""
    from hydra.utils import instantiate

    from rewardroute.tags.clusters import EmbeddingClusters

    return matrix.stage_tags and isinstance(instantiate(cfg.tagger.tagger), EmbeddingClusters)


def refit_tags(cfg: DictConfig, matrix):
    """The matrix with its tags fitted again on its own queries outside test: under cross-fitting, each fold's
    tags are fitted without that fold's test queries (their text; scores never reach a tagger)."""
    from dataclasses import replace

    from rewardroute.tags.tagging import tag

    tags = tag(cfg, matrix.queries[["query_id", "query"]], matrix.queries["split"].to_numpy())["tags"]
    return replace(matrix, queries=matrix.queries.assign(tags=tags.tolist()))
