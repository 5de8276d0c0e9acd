"""What the benchmarks share: rounds that alternate between the contenders (this machine is noisy: whatever
slows one round slows both sides of it), medians, and the JSON record; for the analyses of trained runs,
reading what the runs wrote and the per-task choice they are measured against; for the analyses of frozen
features, the features and the per-subset scores."""

from __future__ import annotations

import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rewardroute.schema import PROJECT_ROOT

# no loggers or progress bars in a bench's runs
QUIET = ["~logger", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
FEATURES = ("minilm", "tfidf", "both")  # what query_features reads
WORDS = ["backbone=tfidf", "router.max_length=1024"]  # every word of these queries counted (as bench/README.md runs it)


def grid(**axes: list) -> list[list[str]]:
    """Every combination of the axes' values, as override lists."""
    return [[f"{k}={v}" for k, v in zip(axes, values)] for values in itertools.product(*axes.values())]


def alternate(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each contender once per round, in alternating order; each returns its rate (units per second)."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            rates[name].append(contenders[name]())
            print(f"round {r}: {name:9s} {rates[name][-1]:.2f}/s", flush=True)
    return rates


def timed(work: Callable[[], float]) -> Callable[[], float]:
    """A contender from `work`, which does the work and returns how many units it did."""

    def run() -> float:
        start = time.perf_counter()
        units = work()
        return units / (time.perf_counter() - start)

    return run


def record(name: str, ours: list[float], baseline: list[float], **extra) -> dict:
    """Print and write outputs/bench/<name>.json: medians, their ratio (ours / baseline), every round."""
    result = {"ratio": round(statistics.median(ours) / statistics.median(baseline), 3),
              "ours_per_s": round(statistics.median(ours), 2), "baseline_per_s": round(statistics.median(baseline), 2),
              **extra, "rounds": {"ours": [round(x, 2) for x in ours], "baseline": [round(x, 2) for x in baseline]}}
    out = PROJECT_ROOT / "outputs" / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


def read_runs(parser, runs: list[Path], splits=("val", "test")):
    """Finished router runs of one data set and split, from what they wrote (nothing is predicted again).
    Returns (the first run's config, the response matrix, {run: {split: [queries of the split in matrix order,
    experts] probabilities}}, {run: results.json}); refuses (parser.error) folders that are not such runs."""
    from omegaconf import OmegaConf

    from rewardroute.data.load import load_matrix
    from rewardroute.pipeline.predictions import FILE, read_predictions
    from rewardroute.schema import register_configs

    register_configs()  # the resolvers the runs' saved configs use
    wrote = (FILE, "results.json", ".hydra/config.yaml")  # what every finished router run writes
    missing = [str(r) for r in runs if not all((r / f).is_file() for f in wrote)]
    if missing:
        parser.error(f"not a finished router run (expected {', '.join(wrote)}): {', '.join(missing)}")
    cfg = OmegaConf.load(runs[0] / ".hydra" / "config.yaml")
    matrix = load_matrix(cfg)
    ids = {s: list(matrix.queries["query_id"][matrix.mask(s)]) for s in splits}
    for s in splits:
        if not ids[s]:
            parser.error(f"{cfg.data.name} has no {s} queries")
    probs, results = {}, {}
    for run in runs:
        results[str(run)] = json.loads((run / "results.json").read_text())
        if results[str(run)]["data"] != cfg.data.name:
            parser.error(f"{run} routes data={results[str(run)]['data']}, {runs[0]} data={cfg.data.name}: one data set")
        probs[str(run)] = read_predictions(run, list(matrix.experts), ids)
        if probs[str(run)] is None:
            parser.error(f"{run}/{FILE}: not every {'/'.join(splits)} query of {runs[0]}'s split with its experts "
                         f"(runs of one split only)")
    return cfg, matrix, probs, results


def per_task_choice(matrix, proxy_train: dict[str, str], split: str):
    """The per-task choice for the queries of `split` (one-hot [queries, experts]): each subset's best expert on
    the training queries (its proxy subset's where it has none, data.proxy_train). For test, chosen on train and
    validation, as the evaluation's dataset oracle; for validation, on train alone (out of sample)."""
    from dataclasses import replace

    from rewardroute.evaluation.baselines import baseline_routes

    if split != "test":
        matrix = matrix.select(matrix.mask("train") | matrix.mask(split))
        matrix = replace(matrix, queries=matrix.queries.assign(split=matrix.queries["split"].replace(split, "test")))
    return baseline_routes(matrix, proxy_train)[0]["dataset_oracle"]


def query_features(kind: str, overrides: list[str], matrix) -> np.ndarray:
    """[queries, features] for `kind` (FEATURES), as a frozen router of the composed config reads them."""
    from sklearn.preprocessing import normalize

    from rewardroute.main import compose_config
    from rewardroute.pipeline.train import build_router

    def features(extra: list[str]) -> np.ndarray:
        datamodule = build_router(compose_config(overrides + extra, tempfile.mkdtemp()), matrix).datamodule
        datamodule.setup()
        return np.asarray(datamodule.data["features"], dtype=np.float64)

    if kind != "both":
        return features(WORDS if kind == "tfidf" else [])
    return np.hstack([normalize(features([])), features(WORDS)])


def group_scores(metric: np.ndarray, subset: np.ndarray, routes: np.ndarray, groups: dict) -> dict:
    """{subset: metric of the routed expert x100} and each group's mean over its subsets."""
    scores = {s: 100 * float(metric[subset == s, routes[subset == s]].mean())
              for members in groups.values() for s in members}
    return {**scores, **{g: float(np.mean([scores[s] for s in members])) for g, members in groups.items()}}


def fitted_task_probe(x: np.ndarray, matrix, reward: np.ndarray, fit: np.ndarray, **settings) -> dict:
    """`router=task_probe` (TaskProbeRouter with `settings`) fitted once on the queries `fit` (rows of x and of
    the matrix), as {assignment: that fit with the assignment}, for every task assignment."""
    import torch

    from rewardroute.routers.task_probe import ASSIGNMENTS, TaskProbeRouter

    tasks, n_experts = matrix.subset_ids(), len(matrix.experts)
    fitted = TaskProbeRouter(n_experts, x.shape[1], **settings)
    fitted.fit({"features": torch.from_numpy(x[fit]).float(), "rewards": torch.from_numpy(reward[fit]),
                "metric": torch.from_numpy(matrix.metric[fit]), "task": torch.from_numpy(tasks[fit])})
    routers = {}
    for assignment in ASSIGNMENTS:
        routers[assignment] = TaskProbeRouter(n_experts, x.shape[1], **{**settings, "assignment": assignment})
        routers[assignment].load_state_dict(fitted.state_dict())  # the task choices too (its extra state)
    return routers
