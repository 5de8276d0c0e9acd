"""An ensemble of trained routers (`task=ensemble runs=[<run folder>, ...]`): each run's router is rebuilt from
its saved config with its best checkpoint (or its probabilities read from the run's predictions.parquet, where
it holds these queries), and the ensemble routes each query by a Borda count over the experts:
each member ranks the experts by its probabilities, the ensemble routes to the best mean rank (ties to the
higher mean probability). It is evaluated as a router of its own (calibration, confidence fallback, quality-cost
curve, all read from its Borda shares) beside every baseline; its validation routed score is what chooses
between it and its members.

Ranks rather than averaged probabilities, because routers of different kinds put their probabilities on
different scales: averaged, the sharpest member decides (on RouterDC's data the five frozen routers averaged
route at 53.9 ID, ranked at 57.7). Members weigh the same: weights fitted on a few hundred validation queries
would mostly fit their noise.

    python run.py experiment=routerdc task=ensemble "runs=['outputs/a','outputs/b']"
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def ensemble(cfg: DictConfig) -> float | None:
    """Returns the ensemble's validation routed score (scaled as the reports; None without validation queries)."""
    from rewardroute.cache import write_files
    from rewardroute.data.load import load_matrix
    from rewardroute.evaluation.router_analysis import Validation
    from rewardroute.pipeline.loggers import build_loggers
    from rewardroute.pipeline.predictions import routed_with
    from rewardroute.pipeline.train import checked_reporting, predict, report, restored, start

    if len(cfg.runs) < 2:
        raise ValueError(f"task=ensemble needs runs=[<folder of a task=train run>, ...] with two or more runs, got "
                         f"{list(cfg.runs)}")
    members = [member(cfg, Path(run)) for run in cfg.runs]  # every folder checked before any prediction
    start(cfg)
    matrix = load_matrix(cfg)
    baselines, choices = checked_reporting(cfg, matrix)
    val_rows, scale = matrix.mask("val"), cfg.data.report_scale
    test_probs, val_probs, rows = [], [], []
    for run, (member_cfg, ckpt) in zip(cfg.runs, members):
        probs = routed_with(ckpt, matrix)  # what the run routed, where it routed these queries
        source = "predictions.parquet" if probs else f"{ckpt.name}, predicted again"
        log.info("ensemble member %s: router=%s, %s", run, member_cfg.router.name, source)
        if probs is None:
            parts = restored(member_cfg, matrix, str(ckpt))
            probs = {s: predict(parts.module, parts.datamodule, cfg.trainer, None, s)[1]
                     for s in ("test", "val") if matrix.mask(s).any()}
        test_probs.append(probs["test"])
        val_probs.append(probs.get("val"))
        rows.append({"run": str(run), "router": member_cfg.router.name, "probabilities": source,
                     "val_routed": routed(val_probs[-1], matrix.metric[val_rows], scale)})
    probs = borda(test_probs)
    val = None
    if val_rows.any():
        bma = np.full(val_rows.sum(), list(matrix.experts).index(choices["bma"]))
        val = Validation(borda(val_probs), matrix.metric[val_rows], bma)
    best_val = None if val is None else routed(val.probs, val.metric, 1.0)
    record = json.dumps({"members": rows, "val_routed": None if best_val is None else best_val * scale}, indent=2)
    write_files(cfg.paths.output_dir, {"ensemble": ("ensemble.json", lambda p: p.write_text(record + "\n"))})
    notes = [f"ensemble of {len(rows)} routers by Borda count; validation routed score per member: "
             + ", ".join(f"{r['router']} {fmt(r['val_routed'])} ({r['run']})" for r in rows)]
    return report(cfg, matrix, probs, probs, val, baselines, choices, build_loggers(cfg.logger), best_val, None,
                  notes, method="ensemble")


SAME_DATA = ("name", "root", "source", "experts", "subsets", "null_scores", "test_fraction", "val_fraction",
             "split_seed", "cross_fit_folds")


def trained_run(run: Path) -> tuple[DictConfig, Path]:
    """The config a finished task=train run saved (unresolved) and its best checkpoint."""
    saved = run / ".hydra" / "config.yaml"
    checkpoints = sorted((run / "checkpoints").glob("best-epoch*.ckpt"))
    if not saved.is_file() or len(checkpoints) != 1:
        raise FileNotFoundError(f"runs: {run} is not the folder of a finished task=train run: expected "
                                f".hydra/config.yaml and one checkpoints/best-epoch*.ckpt, found "
                                f"{'the config' if saved.is_file() else 'no config'} and {len(checkpoints)} "
                                "checkpoints (cross-fitted and fast_dev_run runs keep none)")
    return OmegaConf.load(saved), checkpoints[0]


def member(cfg: DictConfig, run: Path) -> tuple[DictConfig, Path]:
    """The config a run was trained with (its router, backbone and labels; data, paths and trainer from `cfg`)
    and its best checkpoint."""
    member_cfg, checkpoint = trained_run(run)
    # what decides the rows, the columns and the splits: a member trained otherwise would route queries it trained on
    theirs, ours = OmegaConf.to_container(member_cfg.data), OmegaConf.to_container(cfg.data)
    for key in SAME_DATA:
        if theirs.get(key) != ours.get(key):
            raise ValueError(f"runs: {run} was trained with data.{key}={theirs.get(key)}, this ensemble routes "
                             f"data.{key}={ours.get(key)}: its splits or experts would not be this ensemble's")
    for key in ("data", "paths", "trainer"):  # this run's, resolved: the member's may name another machine
        member_cfg[key] = OmegaConf.create(OmegaConf.to_container(cfg[key], resolve=True))
    return member_cfg, checkpoint


def borda(probs: list[np.ndarray]) -> np.ndarray:
    """[queries, experts] shares summing to 1 from the members' probabilities: each expert's mean rank + 1 (1 is
    every member's last choice), normalised, nudged by the mean probability so that ties go to the likelier.
    In float64: in float32 the nudge between two tied experts is lost where their mean probabilities differ by
    less than about 1e-3."""
    ranks = np.mean([tied_ranks(p) for p in probs], axis=0)
    points = ranks + 1 + 1e-3 * np.mean(probs, axis=0, dtype=np.float64)  # the nudge (< 1e-3) is below any rank step
    return points / points.sum(axis=1, keepdims=True)


def tied_ranks(p: np.ndarray) -> np.ndarray:
    """Each expert's rank in its row, 0 for the lowest; tied experts share their mean rank."""
    below = (p[:, None, :] < p[:, :, None]).sum(-1)
    equal = (p[:, None, :] == p[:, :, None]).sum(-1)
    return below + (equal - 1) / 2


def routed(probs: np.ndarray | None, metric: np.ndarray, scale: float) -> float | None:
    """The mean metric of the experts the probabilities route to."""
    if probs is None:
        return None
    return float(metric[np.arange(len(metric)), probs.argmax(axis=1)].mean()) * scale


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
