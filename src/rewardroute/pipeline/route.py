"""Routing new queries with trained routers: `task=route`, or `load_router` from Python.

    python run.py task=route "runs=['outputs/routerdc/runs/<date-time>']" queries=my_queries.jsonl

    from rewardroute.pipeline.route import load_router
    router = load_router("outputs/routerdc/runs/<date-time>")
    router.route(["What is 7 * 8?"])          # the expert for each query
    router.probabilities(["What is 7 * 8?"])  # a DataFrame, one column per expert

Each router is rebuilt as its run trained it (the run's .hydra/config.yaml, with this command's paths and
trainer, and its `data.` keys that say where the data are now) and given its best checkpoint's weights. Its
response matrix is read again: the router's experts and some featurisations (a bag of words' vocabulary) come
from its training queries. Several runs route by their Borda count, as `task=ensemble` does; `cost_lambda=λ`
routes by probability − λ·cost, as the points of the run's quality–cost curve. The queries (read_queries): a
.jsonl(.gz) file whose rows hold a `query` string, or a .txt file with one query a line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass
class TrainedRouter:
    run: Path
    experts: list[str]
    parts: object  # pipeline.train.RouterParts, with the checkpoint's weights
    trainer: DictConfig
    costs: np.ndarray | None  # [experts]: an answer's cost (expert_pool.costs), None where the run's pool has none

    def probabilities(self, queries: list[str]):
        """A DataFrame [queries, experts] of the router's probabilities."""
        import pandas as pd

        from rewardroute.pipeline.train import probabilities_of

        return pd.DataFrame(probabilities_of(self.parts, list(queries), self.trainer), columns=self.experts)

    def route(self, queries: list[str], cost_lambda: float = 0.0) -> list[str]:
        """The expert each query goes to; with `cost_lambda`, by probability − λ·cost as the quality–cost curve."""
        probs = self.probabilities(queries).to_numpy()
        return [self.experts[i] for i in routes_with_costs(probs, self.costs, cost_lambda, self.run)]


def routes_with_costs(probs: np.ndarray, costs: np.ndarray | None, cost_lambda: float, run: Path) -> np.ndarray:
    """The argmax of the probabilities, or at λ > 0 of probability − λ·cost, costs relative to the dearest
    expert's (evaluation/cost.py, as each point of the run's quality–cost curve)."""
    from rewardroute.evaluation.cost import routes_at

    if not cost_lambda:
        return probs.argmax(axis=1)
    if costs is None:
        raise ValueError(f"cost_lambda={cost_lambda}: the expert pool of {run} states no costs (expert_pool.costs) "
                         "to weigh against quality")
    return routes_at(probs, np.tile(costs / costs.max(), (len(probs), 1)), cost_lambda)


def trained_router(run: Path, cfg: DictConfig, overrides: list[str]) -> TrainedRouter:
    """The router of a finished task=train run, with `cfg`'s paths and trainer, and the `data.` keys among the
    command's `overrides` (where the run's data are now, e.g. data.root=... or data.source.scores=...)."""
    from rewardroute.data.load import load_matrix
    from rewardroute.pipeline.ensemble import trained_run
    from rewardroute.pipeline.train import build_router, load_weights

    run_cfg, checkpoint = trained_run(run)
    for key in ("paths", "trainer"):  # this machine's, resolved: the run's may name another one
        run_cfg[key] = OmegaConf.create(OmegaConf.to_container(cfg[key], resolve=True))
    run_cfg = OmegaConf.merge(run_cfg, OmegaConf.from_dotlist(moved_data(run, run_cfg, overrides)))
    matrix = load_matrix(run_cfg)
    parts = build_router(run_cfg, matrix)
    load_weights(parts.module, str(checkpoint))
    return TrainedRouter(run, list(matrix.experts), parts, run_cfg.trainer, expected_costs(run_cfg, matrix))


def expected_costs(cfg: DictConfig, matrix) -> np.ndarray | None:
    """[experts]: what an answer of each expert costs, from the pool's costs, per answer or, where the generate
    stage counted tokens, per token times the expert's mean answer length on the training queries."""
    from rewardroute.evaluation.cost import answer_costs

    pool, experts, train = cfg.get("expert_pool"), list(matrix.experts), matrix.mask("train")
    if not (pool and pool.costs and set(experts) <= set(pool.costs)):
        return None
    tokens = None if matrix.new_tokens is None else matrix.new_tokens[train]
    return answer_costs(pool.costs, experts, tokens, int(train.sum())).mean(axis=0)


def moved_data(run: Path, run_cfg: DictConfig, overrides: list[str]) -> list[str]:
    """The `data.` overrides that say where the run's data are now: data.root and data.source's file names
    (its string values). One that would change what the router learnt from is an error; a `data=` choice or a
    removal is not used (the run's own data config is)."""
    moved = []
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")  # a removal (~data...) has no value
        if override.startswith(("data=", "~data")):
            log.warning("task=route: %s is not used: the router routes with its run's data config (only data.root "
                        "and data.source's file names may say where those data are now)", override)
        elif key.startswith("data."):
            old = OmegaConf.select(run_cfg, key)
            location = key == "data.root" or (key.startswith("data.source.") and isinstance(old, str)
                                               and not key.endswith("_target_"))
            if not location and OmegaConf.select(OmegaConf.from_dotlist([f"{key}={value}"]), key) != old:
                raise ValueError(f"task=route: {override} would change the data that the router of {run} learnt "
                                 f"from (its {key} is {old!r}); only where the data are may change: data.root, or "
                                 "a file name under data.source")
            moved.append(override.lstrip("+"))
    return moved


def load_router(run: str | Path, *overrides: str) -> TrainedRouter:
    """The router of a finished task=train run folder, ready to route; `overrides` are run.py's, for this
    machine's paths, trainer and data location (e.g. "trainer=gpu", "paths.data_dir=/data", "data.root=...")."""
    import tempfile

    from rewardroute.main import compose_config

    return trained_router(Path(run), compose_config(list(overrides), tempfile.mkdtemp()), list(overrides))


def read_queries(path: str) -> list[dict]:
    """[{query_id, query}] from a .jsonl(.gz) file (a `query` string per row, a unique `query_id` where given,
    else the row number) or a .txt file (a query a line, blank lines skipped)."""
    from rewardroute.data.jsonl import read_rows
    from rewardroute.data.matrix import DataError

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"queries={path}: no such file")
    if file.name.endswith((".jsonl", ".jsonl.gz")):
        rows = read_rows(file)
    elif file.suffix == ".txt":
        rows = [{"query": line.strip(), "row": n} for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1)
                if line.strip()]
    else:
        raise DataError(f"queries={path}: expected a .jsonl, .jsonl.gz or .txt file")
    queries, first = [], {}
    for row in rows:
        if not isinstance(row.get("query"), str):
            raise DataError(f"{path}, row {row['row']}: expected a 'query' string, got {row.get('query')!r}")
        query_id = str(row.get("query_id", row["row"]))
        if first.setdefault(query_id, row["row"]) != row["row"]:
            raise DataError(f"{path}, row {row['row']}: query_id {query_id!r} again (first in row {first[query_id]})")
        queries.append({"query_id": query_id, "query": row["query"]})
    if not queries:
        raise DataError(f"queries={path}: no queries in the file")
    return queries


def route(cfg: DictConfig) -> Path:
    """`task=route`: routes.jsonl in the run folder (query_id, query, expert, each expert's probability, or
    Borda share for several runs; by probability − λ·cost with cost_lambda, costs from the first run's expert
    pool); logs how many queries each expert got. Returns the file's path."""
    from hydra.core.hydra_config import HydraConfig

    from rewardroute.cache import write_files
    from rewardroute.pipeline.ensemble import borda
    from rewardroute.pipeline.train import probabilities_of, start

    if not cfg.runs or not cfg.get("queries"):
        raise ValueError("task=route needs runs=[<folder of a task=train run>] (several route by their Borda count) "
                         f"and queries=<a .jsonl or .txt file of queries>; got runs={list(cfg.runs)}, "
                         f"queries={cfg.get('queries')!r}")
    queries = read_queries(cfg.queries)
    start(cfg)
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    routers = [trained_router(Path(run), cfg, overrides) for run in cfg.runs]
    for other in routers[1:]:
        if other.experts != routers[0].experts:
            raise ValueError(f"runs: {other.run} routes among {other.experts}, {routers[0].run} among "
                             f"{routers[0].experts}: an ensemble's routers share their experts")
    texts, experts = [q["query"] for q in queries], routers[0].experts
    probs = [probabilities_of(r.parts, texts, r.trainer) for r in routers]
    probs = probs[0] if len(probs) == 1 else borda(probs)
    chosen = routes_with_costs(probs, routers[0].costs, cfg.cost_lambda, routers[0].run)
    lines = [json.dumps({**q, "expert": experts[c], "probabilities": dict(zip(experts, map(float, p)))})
             for q, c, p in zip(queries, chosen, probs)]
    path = write_files(cfg.paths.output_dir, {"routes": ("routes.jsonl", lambda p: p.write_text(
        "\n".join(lines) + "\n"))})["routes"]
    counts = np.bincount(chosen, minlength=len(experts))
    log.info("routed %d queries (%s%s): %s; written to %s", len(queries), "one router" if len(routers) == 1 else
             f"Borda count of {len(routers)} routers", f", cost_lambda {cfg.cost_lambda}" if cfg.cost_lambda else "",
             ", ".join(f"{e} {n}" for e, n in zip(experts, counts) if n), path)
    return path
