"""`task=benchmark`: one evaluation subset x one method, the job of a sweep over the 26 subsets.

    python run.py -m task=benchmark benchmark='glob(*)' router=zooter,bma,random,rmr ...

A job: every expert answers the subset's queries (generate stage) and the subset's evaluator scores every answer
(evaluate stage), so the method is ranked among the single experts; then the method routes the queries:
- a trained router (zooter, ...): trained once on the `data` matrix (a cached "router" artifact: the first job
  trains it, the others load it) and applied to the subset's queries;
- bma: the expert best on the training matrix; random: every expert equally (expected value);
- rmr: the reward model scores every answer and picks (N generations + N scorings); oracle: the best answer.
The job's result is itself an artifact keyed by everything that determines it, so running a sweep again skips
what is complete. `task=report dir=<sweep folder>` turns the jobs' results.json into the table.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from rewardroute.cache import content_hash
from rewardroute.data.matrix import DataError
from rewardroute.pipeline.artifacts import Artifact
from rewardroute.pipeline.ddp import distributed
from rewardroute.pipeline.sharded import finish

log = logging.getLogger(__name__)
BASELINES = ("bma", "random", "rmr", "oracle")
SHOWN_ONLY = ("enable_progress_bar", "enable_model_summary", "log_every_n_steps", "profiler", "default_root_dir")


def benchmark(cfg: DictConfig) -> dict:
    from hydra.utils import instantiate

    from rewardroute.experts.generation import queries_spec
    from rewardroute.pipeline.loggers import build_loggers, lightning_logs_through_hydra, log_config
    from rewardroute.pipeline.upstream import stage_queries

    missing = [k for k, v in (("benchmark=<group>/<subset>", cfg.benchmark), ("expert_pool=...", cfg.expert_pool),
                              ("reward_model=... (rmr ranks with it)", cfg.reward_model if cfg.router.name == "rmr" else 1))
               if v is None]
    if missing:
        raise ValueError(f"task=benchmark needs {', '.join(missing)}")
    lightning_logs_through_hydra()
    method, bench = cfg.router.name, cfg.benchmark
    queries = stage_queries(cfg, instantiate(bench.queries), tag_them=False)
    if queries.empty:
        raise DataError(f"benchmark {bench.name}: its query source ({bench.queries._target_}) gave no queries")
    # BMA and trained routers learn from the `data` matrix, so it is part of what determines their result
    matrix = training_matrix(cfg) if method == "bma" or method not in BASELINES else None
    if matrix is not None:
        check_unseen(cfg, queries, matrix)
    spec = {"benchmark": OmegaConf.to_container(bench, resolve=True), "method": method,
            "router": router_spec(cfg, matrix) if method not in BASELINES else None,
            "bma_from": matrix_key(matrix) if method == "bma" else None,
            "reward_model": OmegaConf.to_container(cfg.reward_model, resolve=True) if method == "rmr" else None,
            "experts": OmegaConf.to_container(cfg.expert_pool, resolve=True), **queries_spec(queries)}
    job = Artifact("benchmark", spec, cfg.paths.artifact_dir)
    with job.claimed(distributed(cfg)):
        if job.exists():
            log.info("%s x %s: complete in the artifact store (%s)", bench.name, method_name(cfg), job.path)
        else:
            started = time.time()
            result = run_job(cfg, queries, matrix)
            finish(job, pd.DataFrame({"expert": list(result["experts"])}), started, result=result,
                   label=f"{bench.name} x {method_name(cfg)}")
    result = job.meta()["result"]
    out = Path(cfg.paths.output_dir)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    name = result["method"]
    loggers = build_loggers(cfg.logger, tags=[bench.group, bench.name, name])
    log_config(loggers, cfg)
    for logger in loggers:
        logger.log_metrics({f"benchmark/{name}": result["score"],
                            **{f"benchmark/expert/{e}": v for e, v in result["experts"].items()}})
        logger.save()
    print(f"\n{bench.group} / {bench.name}, {name}: {result['score']:.4f} over {result['n_queries']} queries "
          f"(single experts: " + ", ".join(f"{e} {v:.4f}" for e, v in result["experts"].items()) + ")")
    return result


def run_job(cfg: DictConfig, queries: pd.DataFrame, matrix) -> dict:
    from rewardroute.experts.generation import generate
    from rewardroute.rewards.scoring import score

    bench, method = cfg.benchmark, cfg.router.name
    evaluator = OmegaConf.create({"name": f"{bench.name}-evaluator", "model": bench.evaluator, "batch_size": 16,
                                  "max_length": 512})
    experts = list(cfg.expert_pool.experts)
    overrides = OmegaConf.to_container(bench.generation) if bench.generation else None
    answers = {e: generate(cfg, queries, e, overrides) for e in experts}
    metric = np.column_stack([score(cfg, evaluator, "evaluate", queries, e, answers[e])["reward"].to_numpy(float)
                              for e in experts])
    keep = ~np.isnan(metric).any(axis=1)
    if not keep.all() and cfg.data.null_scores == "fail":
        raise DataError(f"benchmark {bench.name}: {int((~keep).sum())} answers could not be evaluated (null scores); "
                        "set data.null_scores=drop to drop such queries")
    if method == "rmr":
        rewards = np.column_stack([score(cfg, cfg.reward_model, "score", queries, e, answers[e])["reward"].to_numpy(float)
                                   for e in experts])
        route = np.eye(len(experts))[np.nan_to_num(rewards, nan=-np.inf).argmax(axis=1)]  # an unscored answer loses
    elif method == "bma":
        route = np.eye(len(experts))[np.full(len(queries), experts.index(bma_expert(matrix)))]
    elif method == "random":
        route = np.full(metric.shape, 1.0 / len(experts))
    elif method == "oracle":
        route = np.eye(len(experts))[np.nan_to_num(metric, nan=-np.inf).argmax(axis=1)]
    else:
        route = np.eye(len(experts))[trained_router_scores(cfg, queries, matrix).argmax(axis=1)]
    metric, route = metric[keep], route[keep]
    return {
        "benchmark": bench.name, "group": bench.group, "method": method_name(cfg),
        "score": float((route * metric).sum(axis=1).mean()),
        "experts": {e: float(v) for e, v in zip(experts, metric.mean(axis=0))},
        "routing": {e: round(float(c), 4) for e, c in zip(experts, route.sum(axis=0))},
        "n_queries": int(keep.sum()), "dropped": int((~keep).sum()),
    }


def check_unseen(cfg: DictConfig, queries: pd.DataFrame, matrix) -> None:
    """The subset's queries must not be queries the router or BMA learnt from (the `data` matrix's train and
    validation splits, by text up to case and spacing): e.g. AlpacaEval's koala within data=alpaca_eval_queries."""

    def text(q: str) -> str:
        return " ".join(q.split()).casefold()

    learnt = {text(q) for q in matrix.queries["query"][~matrix.mask("test")]}
    seen = [i for i, q in zip(queries["query_id"], queries["query"]) if text(q) in learnt]
    if seen:
        raise DataError(f"benchmark {cfg.benchmark.name}: {len(seen)} of its {len(queries)} queries are training or "
                        f"validation queries of data={cfg.data.name} (the same text), e.g. {seen[:3]}; "
                        f"{method_name(cfg)} would be scored on queries it learnt from. Train on data without them "
                        "(other data, or data.subsets leaving their subset out)")


def method_name(cfg: DictConfig) -> str:
    """The method's name in results and reports: the router's; rmr's names its reward model too (rmr+<name>), so
    that sweeps over several reward models keep one row each."""
    if cfg.router.name == "rmr" and cfg.get("reward_model") is not None:
        return f"rmr+{cfg.reward_model.name}"
    return cfg.router.name


def training_matrix(cfg: DictConfig):
    """The `data` matrix that BMA and trained routers learn from, with the expert pool's experts."""
    from rewardroute.data.load import load_matrix

    matrix, experts = load_matrix(cfg), list(cfg.expert_pool.experts)
    if list(matrix.experts) != experts:
        raise DataError(f"data={cfg.data.name} has experts {list(matrix.experts)}, expert_pool={cfg.expert_pool.name} "
                        f"{experts}: BMA and trained routers learn from the data, so the two must name the same experts")
    return matrix


def matrix_key(matrix) -> str:
    """The matrix's content: queries (ids, text, subsets, tags), experts, scores, metric and splits."""
    q = matrix.queries
    return content_hash(q["query_id"].tolist(), q["query"].tolist(), q["subset"].tolist(),
                        [list(t) if t is not None else None for t in q["tags"]], list(matrix.experts),
                        matrix.scores.round(6).tolist(), matrix.metric.round(6).tolist(), q["split"].tolist())


def bma_expert(matrix) -> str:
    """The expert with the best mean over the training matrix's subsets (train and validation, never test)."""
    from rewardroute.evaluation.baselines import best_expert

    fit = ~matrix.mask("test")
    return matrix.experts[best_expert(matrix.metric[fit], matrix.queries["subset"].to_numpy()[fit])]


def router_spec(cfg: DictConfig, matrix) -> dict:
    """What determines a trained router: its config, its encoder's version (a local model saved again is
    another), the labels, the trainer (fast_dev_run and epochs included, not what it shows), the seed and the
    matrix (which also holds the texts a tiny encoder's vocabulary comes from)."""
    from hydra.utils import instantiate

    trainer = {k: v for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items() if k not in SHOWN_ONLY}
    return {"router": OmegaConf.to_container(cfg.router, resolve=True), "encoder": instantiate(cfg.router.backbone).key([]),
            "labels": OmegaConf.to_container(cfg.labels), "reward": cfg.data.reward, "trainer": trainer,
            "seed": cfg.seed, "matrix": matrix_key(matrix)}


def trained_router_scores(cfg: DictConfig, queries: pd.DataFrame, matrix) -> np.ndarray:
    """The router's scores for the subset's queries; the router is trained once per spec (a "router" artifact)."""
    from rewardroute.pipeline.train import build_router, predict, start

    start(cfg)
    artifact = Artifact("router", router_spec(cfg, matrix), cfg.paths.artifact_dir)
    with artifact.claimed(distributed(cfg)):
        if not artifact.exists():
            train_router(cfg, matrix, artifact)
    parts = build_router(cfg, matrix)
    subset = parts.datamodule_for(queries["query"].tolist(), {}, np.array(["test"] * len(queries)))
    subset.prepare_data()
    subset.setup("predict")
    return predict(parts.module, subset, cfg.trainer, str(artifact.path / "router.ckpt"))[0]


def train_router(cfg: DictConfig, matrix, artifact: Artifact) -> None:
    """Train the router into the artifact store: its best checkpoint as router.ckpt."""
    import torch

    from rewardroute.pipeline.train import fit

    started = time.time()
    fitted = fit(cfg, matrix, artifact.parts, loggers=[])
    checkpoint = None
    if fitted is not None:  # rank zero
        checkpoint = fitted.checkpoint
        if checkpoint is None:  # no validation epoch to choose by (fast_dev_run): the last weights
            checkpoint = artifact.parts / "last.ckpt"
            torch.save({"state_dict": fitted.module.state_dict()}, checkpoint)
    finish(artifact, pd.DataFrame({"expert": list(matrix.experts)}), started,
           files={"router.ckpt": checkpoint}, label=f"router {cfg.router.name} on {cfg.data.name}",
           best_val=None if fitted is None else fitted.best_val)
