"""The tag stage: tags for every query from the configured tagger (cached artifact). Without a tagger
(`tagger: null`) the data's own tags are used."""

from __future__ import annotations

import logging
import time

import pandas as pd
from omegaconf import DictConfig

from rewardroute.cache import content_hash
from rewardroute.pipeline.artifacts import Artifact
from rewardroute.pipeline.ddp import distributed
from rewardroute.pipeline.sharded import finish, run_sharded
from rewardroute.tags.clusters import EmbeddingClusters
from rewardroute.tags.instag import InsTagger, parse_tags

log = logging.getLogger(__name__)


def tag(cfg: DictConfig, queries: pd.DataFrame, split) -> pd.DataFrame:
    """query_id, tags (a list; empty where the tagger failed). `split` marks train / val / test per query:
    taggers that fit anything (clusters) fit on the queries outside test (their text only, no scores)."""
    from hydra.utils import instantiate

    from rewardroute.experts.generation import queries_spec

    tagger = instantiate(cfg.tagger.tagger)
    train = split != "test"
    spec = {**queries_spec(queries), "fit_on": content_hash(queries["query_id"][train].tolist()), "tagger": tagger.spec()}
    artifact = Artifact("tag", spec, cfg.paths.artifact_dir)
    with artifact.claimed(distributed(cfg)):
        if not artifact.exists():
            build_tags(cfg, tagger, queries, train, artifact)
    return artifact.load()


def build_tags(cfg: DictConfig, tagger, queries: pd.DataFrame, train, artifact: Artifact) -> None:
    from rewardroute.experts.generation import GenerateModule

    started, texts = time.time(), queries["query"].tolist()
    if isinstance(tagger, EmbeddingClusters):
        tags, failures = tagger.tag(texts, train, cfg.paths.cache_dir), 0
    elif isinstance(tagger, InsTagger):
        generation = {"max_new_tokens": tagger.max_new_tokens, "do_sample": False}

        def build():
            model, tokenizer = tagger.lm.load()
            log.info("tag: loaded %s", tagger.lm.model)
            return GenerateModule(cfg.tagger.name, model, tokenizer, tagger.prompt, tagger.lm.context(model), generation, 0)

        outputs = run_sharded([{"query": t} for t in texts], [len(t) for t in texts], 8, build, artifact.parts,
                              cfg.trainer, desc=f"tag with {cfg.tagger.name}")
        parsed = [parse_tags(o["response"]) for o in outputs]
        failures = sum(p is None for p in parsed)
        tags = [p or [] for p in parsed]
    else:
        raise TypeError(f"tagger.tagger: {type(tagger).__name__} is not a tagger this stage knows")
    if failures:
        log.warning("tag: no tags could be read from %d of %d outputs of %s", failures, len(texts), cfg.tagger.name)
    rows = pd.DataFrame({"query_id": queries["query_id"].tolist(), "tags": tags})
    finish(artifact, rows, started, label=f"tags by {cfg.tagger.name}", parse_failures=failures)
