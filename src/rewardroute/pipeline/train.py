"""The router recipe (`task=train`): response matrix -> silver labels -> router training -> evaluation.

    seed -> load the response matrix (data; the upstream stages where the data gives queries only)
         -> silver labels from the training rewards (labels) -> encoder and tokenizer (router.backbone)
         -> DataModule -> router module (router.module) -> loggers, trainer
         -> fit, keeping the epoch with the best validation routed score
         -> route the test queries -> evaluate beside every baseline -> results.{json,md,csv,png}

With `data.cross_fit_folds=k` every query is a test query once: k routers are trained, each on the other folds,
and each routes its own fold (for data without a training set of its own, e.g. AlpacaEval). The baselines that
choose on training data (BMA, dataset oracle) choose on the same other folds.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float | None:
    """Returns the best validation routed score (what a sweeper optimises); None on non-zero DDP ranks."""
    from rewardroute.data.load import load_matrix
    from rewardroute.pipeline.loggers import build_loggers
    from rewardroute.pipeline.resume import resuming

    if cfg.router.module is None:
        raise ValueError(f"router={cfg.router.name} is a baseline, a method of task=benchmark sweeps; task=train trains "
                         "a router (e.g. router=zooter) and reports every baseline beside it")
    if cfg.get("ckpt_path"):
        raise ValueError(f"ckpt_path={cfg.ckpt_path} is read by task=evaluate; task=train goes on with a killed run "
                         "by resume=<its folder>: leave ckpt_path out, or add task=evaluate")
    start(cfg)
    matrix = load_matrix(cfg)
    baselines, choices = checked_reporting(cfg, matrix)
    if cfg.data.cross_fit_folds:
        return cross_fit(cfg, matrix)
    fitted = fit(cfg, matrix, Path(cfg.paths.output_dir), build_loggers(cfg.logger, resuming=resuming(cfg)))
    if fitted is None:
        return None
    scores, probs = predict(fitted.module, fitted.datamodule, cfg.trainer, fitted.checkpoint)
    val = validation(fitted.module, fitted.datamodule, cfg.trainer, matrix, choices["bma"])
    return report(cfg, matrix, scores, probs, val, baselines, choices, fitted.loggers, fitted.best_val,
                  fitted.checkpoint, fitted.notes)


def cross_fit(cfg: DictConfig, matrix) -> float | None:
    from dataclasses import replace

    from rewardroute.data.splits import fold_splits
    from rewardroute.evaluation.baselines import baseline_routes
    from rewardroute.evaluation.router_analysis import FoldedValidation
    from rewardroute.pipeline.loggers import build_loggers, log_config
    from rewardroute.pipeline.upstream import fits_tags, refit_tags

    k, n, e = cfg.data.cross_fit_folds, len(matrix.queries), len(matrix.experts)
    scores, probs = np.zeros((n, e), np.float32), np.zeros((n, e), np.float32)
    baselines, choices, best_vals, vals = {}, {"bma": [], "dataset_oracle": []}, [], []
    test_fold, rank_zero = np.zeros(n, dtype=int), True
    refit = fits_tags(cfg, matrix)
    for f in range(k):
        fold = fold_splits(matrix, k, f, cfg.data.val_fraction, cfg.data.split_seed)
        if refit:  # clusters fitted without this fold's test queries
            fold = refit_tags(cfg, fold)
        log.info("cross-fitting: fold %d of %d, %s queries", f + 1, k, fold.queries["split"].value_counts().to_dict())
        fitted = fit(cfg, fold, Path(cfg.paths.output_dir) / f"fold{f}", loggers=[])
        if fitted is None:  # another DDP rank: it trains every fold beside rank zero (each fit is collective)
            rank_zero = False
            continue
        test = fold.mask("test")
        test_fold[test] = f
        scores[test], probs[test] = predict(fitted.module, fitted.datamodule, cfg.trainer, fitted.checkpoint)
        routes, chosen = baseline_routes(fold, OmegaConf.to_container(cfg.data.proxy_train))
        vals.append(validation(fitted.module, fitted.datamodule, cfg.trainer, fold, chosen["bma"]))
        for name, route in routes.items():
            baselines.setdefault(name, np.zeros((n, len(matrix.experts))))[test] = route
        choices["bma"].append(chosen["bma"])
        choices["dataset_oracle"].append(chosen["dataset_oracle"])
        best_vals.append(fitted.best_val)
    if not rank_zero:
        return None
    everything = replace(matrix, queries=matrix.queries.assign(split="test"))
    known = [v for v in best_vals if v is not None]
    val = FoldedValidation(vals, test_fold)  # each fold's fallback threshold, for its own test queries
    notes = [(f"cross-fitted over {k} folds: each query routed by a router trained on the other folds; BMA and the "
              f"dataset oracle chosen on the other folds (BMA per fold: {', '.join(choices['bma'])})")]
    out = Path(cfg.paths.output_dir)
    folds = [json.loads((out / f"fold{f}" / "timing.json").read_text()) for f in range(k)]
    (out / "timing.json").write_text(json.dumps({"train_seconds": sum(t["train_seconds"] for t in folds),
                                                 "folds": folds}, indent=2) + "\n")
    loggers = build_loggers(cfg.logger)
    log_config(loggers, cfg)
    return report(cfg, everything, scores, probs, val, baselines, choices, loggers,
                  float(np.mean(known)) if known else None, None, notes)


def evaluate_checkpoint(cfg: DictConfig) -> None:
    """`task=evaluate ckpt_path=...`: route the test queries with a trained router's checkpoint and report, as at
    the end of `task=train` (the config must build the same router: same data, backbone and router). Where the
    checkpoint's run routed these queries with it, and the router as this config builds it gives the same
    probabilities on a sample of them, they are read from the run's predictions.parquet instead of predicted
    again. Routes are then their argmax: where a router's probabilities saturate (a sigmoid past about 17),
    experts the run's scores told apart tie, and the first of them is taken."""
    from rewardroute.data.load import load_matrix
    from rewardroute.evaluation.router_analysis import Validation
    from rewardroute.pipeline.loggers import build_loggers, log_config
    from rewardroute.pipeline.predictions import routed_with

    if not cfg.ckpt_path or not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(f"task=evaluate needs ckpt_path=<a checkpoint written by task=train>, got {cfg.ckpt_path!r}")
    check_same_split(cfg)
    start(cfg)
    matrix = load_matrix(cfg)
    baselines, choices = checked_reporting(cfg, matrix)
    parts = restored(cfg, matrix, cfg.ckpt_path)
    routed = routed_with(cfg.ckpt_path, matrix)
    if routed is not None and routes_as_saved(parts, matrix, routed["test"], cfg.trainer):
        scores = probs = routed["test"]
        bma = np.full(matrix.mask("val").sum(), list(matrix.experts).index(choices["bma"]))
        val = Validation(routed["val"], matrix.metric[matrix.mask("val")], bma) if "val" in routed else None
        source = f"read from {Path(cfg.ckpt_path).parent.parent / 'predictions.parquet'}, as the run routed them"
    else:
        scores, probs = predict(parts.module, parts.datamodule, cfg.trainer, None)
        val = validation(parts.module, parts.datamodule, cfg.trainer, matrix, choices["bma"])
        source = "predicted again"
    log.info("task=evaluate: the probabilities %s", source)
    loggers = build_loggers(cfg.logger)
    log_config(loggers, cfg)
    report(cfg, matrix, scores, probs, val, baselines, choices, loggers, None, cfg.ckpt_path,
           [*parts.module.fit_notes(matrix.subsets), f"probabilities {source}"])


SPLIT_KEYS = ("name", "test_fraction", "val_fraction", "split_seed", "cross_fit_folds")  # what draws the split


def check_same_split(cfg: DictConfig) -> None:
    """task=evaluate scores the test split this config draws: the checkpoint's run (its .hydra/config.yaml, in
    the checkpoint's folder or up to two above) must have drawn the same one, or its router would be scored on
    queries it trained on. A cross-fitted run's folds each had a test fold of their own: not one split."""
    if cfg.data.cross_fit_folds:
        raise ValueError("task=evaluate routes one test split with one checkpoint; data.cross_fit_folds trains a "
                         "router per fold, each with its own test fold (the cross-fitted run's results.md reports "
                         "them): leave out data.cross_fit_folds")
    saved = next((p / ".hydra" / "config.yaml" for p in Path(cfg.ckpt_path).resolve().parents[:3]
                  if (p / ".hydra" / "config.yaml").is_file()), None)
    if saved is None:
        log.warning("task=evaluate: no .hydra/config.yaml beside %s, so whether its run drew this test split is not "
                    "checked", cfg.ckpt_path)
        return
    run = OmegaConf.load(saved).get("data") or {}
    differ = [f"data.{k}: {run[k]!r} in {saved}, {cfg.data.get(k)!r} here" for k in SPLIT_KEYS
              if k in run and run[k] != cfg.data.get(k)]
    if run.get("cross_fit_folds"):
        differ.append(f"the run was cross-fitted ({run['cross_fit_folds']} folds): each fold's router trained on "
                      "the queries of the other folds")
    if differ:
        raise ValueError(f"task=evaluate ckpt_path={cfg.ckpt_path}: its run drew another split, so its router would "
                         "be scored on queries it may have trained on: " + "; ".join(differ))


def routes_as_saved(parts: RouterParts, matrix, saved: np.ndarray, trainer_cfg: DictConfig, n: int = 32) -> bool:
    """Whether the restored router gives the saved test probabilities on a sample of the test queries, the first
    `n` and the `n` longest (where another max_length shows): else this config builds another router than the
    run's (another backbone, max_length, ...)."""
    texts = matrix.queries.loc[matrix.mask("test"), "query"].reset_index(drop=True)
    rows = np.union1d(np.arange(min(n, len(texts))), texts.str.len().nlargest(n).index.to_numpy())
    return bool(np.allclose(probabilities_of(parts, texts[rows].tolist(), trainer_cfg), saved[rows], atol=1e-5))


def probabilities_of(parts: RouterParts, texts: list[str], trainer_cfg: DictConfig) -> np.ndarray:
    """The router's probabilities [texts, experts] for any queries, featurised as its training queries were."""
    queries = parts.datamodule_for(texts, {}, np.array(["test"] * len(texts)))
    queries.prepare_data()
    queries.setup("predict")
    return predict(parts.module, queries, trainer_cfg, None)[1]


def restored(cfg: DictConfig, matrix, ckpt_path: str) -> RouterParts:
    """The router `cfg` builds over the matrix, with the weights of `ckpt_path`, ready to predict."""
    parts = build_router(cfg, matrix)
    parts.datamodule.prepare_data()
    parts.datamodule.setup("predict")
    load_weights(parts.module, ckpt_path)
    return parts


def start(cfg: DictConfig) -> None:
    import lightning as L

    from rewardroute.pipeline.loggers import lightning_logs_through_hydra

    lightning_logs_through_hydra()
    L.seed_everything(cfg.seed, workers=True)


@dataclass
class Fitted:
    module: object
    datamodule: object
    checkpoint: str | None  # the best epoch's weights (none under fast_dev_run: the last weights are used)
    best_val: float | None
    loggers: list
    notes: list[str]


def fit(cfg: DictConfig, matrix, out_dir: Path, loggers: list) -> Fitted | None:
    """Train a router on the matrix's train split, keeping the epoch with the best validation routed score.
    None on non-zero DDP ranks."""
    from rewardroute.pipeline.ddp import distributed
    from rewardroute.routers.base import FittedInOnePass

    parts = build_router(cfg, matrix)
    datamodule, module = parts.datamodule, parts.module
    if distributed(cfg) and not any(p.requires_grad for p in module.parameters()):
        raise ValueError(f"router={cfg.router.name} has nothing to train here (a fit in one pass over frozen "
                         "features), and DDP refuses a model without gradients: use trainer=cpu or trainer=gpu")
    one_pass = {"max_epochs": 1} if isinstance(module, FittedInOnePass) else {}  # its fit, then its validation
    trainer, checkpoint, timer, params = fit_keeping_best(cfg, module, datamodule, "val/routed", loggers,
                                                          out_dir / "checkpoints", **one_pass)
    if not trainer.is_global_zero:
        return None

    out_dir.mkdir(parents=True, exist_ok=True)  # under fast_dev_run no checkpoint has made it
    timing = {**epoch_timing(trainer, timer), **params}
    (out_dir / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    notes = [
        (f"training: {timing['epochs']} epoch{'s' * (timing['epochs'] != 1)}, {timing['seconds_per_epoch']:.1f} s "
         "per epoch (validation included)"),
        f"parameters: {params['params/total']:,} ({params['params/trainable']:,} trainable)",
        *module.fit_notes(matrix.subsets),
    ]
    best_val = None if checkpoint.best_model_score is None else float(checkpoint.best_model_score)
    return Fitted(module, datamodule, checkpoint.best_model_path or None, best_val, trainer.loggers, notes)


def fit_keeping_best(cfg: DictConfig, module, datamodule, monitor: str, loggers: list, checkpoint_dir: Path,
                     **trainer_overrides):
    """A trainer from the config (with `trainer_overrides`) and `loggers`; the config and parameter counts
    logged; fit, checkpointing the epoch with the highest `monitor` on validation into `checkpoint_dir` (weights
    only; the last epoch's without a validation split; none under fast_dev_run) beside the last epoch's full
    state (`last.ckpt`, which `resume=<run folder>` goes on from), and timing the fit loop.
    Returns (trainer, checkpoint callback, timer, parameter counts {"params/total", "params/trainable"}).
    Routers and reward models (train_rm.py) train here."""
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import Timer

    from rewardroute.pipeline.loggers import keep_logged, log_config
    from rewardroute.pipeline.resume import BestCheckpoint, LastCheckpoint, global_step, resume_point

    checkpoint = BestCheckpoint(
        dirpath=checkpoint_dir, filename="best-epoch{epoch}", auto_insert_metric_name=False,
        monitor=monitor if (datamodule.split == "val").any() else None, mode="max", save_top_k=1,
        save_weights_only=True,
    )
    # The timer keeps trainer.max_time (Lightning ignores the trainer's once a Timer is given); what Lightning
    # saves by itself (a SLURM hpc_ckpt, which it would load into the next fit) stays with this fit.
    timer, last = Timer(duration=cfg.trainer.get("max_time")), LastCheckpoint(checkpoint_dir, cfg)
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[checkpoint, last, timer],
                          **{"default_root_dir": str(checkpoint_dir), **trainer_overrides})
    params = {"params/total": sum(p.numel() for p in module.parameters()),
              "params/trainable": sum(p.numel() for p in module.parameters() if p.requires_grad)}
    resume_from = resume_point(cfg, checkpoint_dir)
    if resume_from:
        log.info("resuming: going on from %s", resume_from)
        keep_logged(trainer.loggers, global_step(resume_from))
    log_config(trainer.loggers, cfg, **params)
    with warnings.catch_warnings():
        if resume_from:  # the folder holds the killed fit's checkpoints, as it should
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    return trainer, checkpoint, timer, params


def epoch_timing(trainer, timer) -> dict:
    """{"train_seconds" (the fit loop, validation included), "epochs", "seconds_per_epoch"} of a fit, resumed
    epochs included. Epochs as the epoch loop's processed count: a fit that its max_time stops at once after a
    resume has not yet counted its last epoch as completed (`current_epoch`)."""
    seconds, epochs = timer.time_elapsed("train"), trainer.fit_loop.epoch_progress.current.processed
    return {"train_seconds": seconds, "epochs": epochs, "seconds_per_epoch": seconds / max(1, epochs)}


def load_weights(module, ckpt_path: str | None) -> None:
    """The weights of a checkpoint written by `fit_keeping_best` (none, e.g. under fast_dev_run: keep the last)."""
    import torch

    if ckpt_path:
        module.load_state_dict(torch.load(ckpt_path, map_location="cpu", weights_only=True)["state_dict"])


def predictor(trainer_cfg: DictConfig, callbacks: list | None = None):
    """A Lightning trainer for predictions on one device, so each item is predicted once (also after DDP)."""
    import lightning as L

    return L.Trainer(
        accelerator=trainer_cfg.accelerator, devices=1, precision=trainer_cfg.precision, logger=False,
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=trainer_cfg.enable_progress_bar,
        callbacks=callbacks,
    )


@dataclass
class RouterParts:
    datamodule: object  # the matrix's queries: features, silver labels, rewards, metric, splits
    module: object  # the router
    datamodule_for: object  # (texts, columns, split) -> a DataModule of other queries, featurised the same way


def build_router(cfg: DictConfig, matrix) -> RouterParts:
    """The DataModule of the matrix, the router module, and a way to feed it other queries."""
    import torch
    from hydra.utils import instantiate

    from rewardroute.data.datamodule import RouterDataModule
    from rewardroute.labels.silver import silver_labels
    from rewardroute.routers.features import embedded, tokenized

    queries, split = matrix.queries, matrix.queries["split"].to_numpy()
    train_rows = split == "train"
    rewards = matrix.rewards(cfg.data.reward)
    targets = silver_labels(
        rewards, queries["tags"].tolist(), train_rows,
        kind=cfg.labels.kind, temperature=cfg.labels.temperature, beta=cfg.labels.beta,
    )

    texts = queries["query"].tolist()
    corpus = [t for t, keep in zip(texts, train_rows) if keep]
    backbone = instantiate(cfg.router.backbone)
    encoder, tokenizer = backbone.build(corpus)
    frozen = cfg.router.freeze_encoder
    if frozen:
        device = "cuda" if cfg.trainer.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu"
        featurize = partial(embedded, encoder=encoder, tokenizer=tokenizer, max_length=cfg.router.max_length,
                            batch_size=cfg.router.eval_batch_size, device=device, cache_dir=cfg.paths.cache_dir,
                            backbone_key=backbone.key(corpus))
    else:
        featurize = partial(tokenized, tokenizer=tokenizer, max_length=cfg.router.max_length,
                            cache_dir=cfg.paths.cache_dir, backbone_key=backbone.key(corpus))

    def datamodule_for(texts: list[str], columns: dict, split) -> RouterDataModule:
        return RouterDataModule(partial(featurize, texts), columns, split, batch_size=cfg.router.batch_size,
                                eval_batch_size=cfg.router.eval_batch_size, num_workers=cfg.router.num_workers,
                                pad_id=tokenizer.pad_token_id or 0)

    columns = {"targets": targets, "rewards": rewards, "metric": matrix.metric, "cluster": tag_ids(queries["tags"]),
               "task": matrix.subset_ids()}
    module = instantiate(
        cfg.router.module,
        _convert_="all",  # plain containers in the module's saved hyper-parameters
        n_experts=len(matrix.experts),
        feature_dim=encoder.dim,
        encoder=None if frozen else encoder,
        optimizer=instantiate(cfg.router.optimizer),
        scheduler=OmegaConf.to_container(cfg.router.scheduler),
    )
    return RouterParts(datamodule_for(texts, columns, split), module, datamodule_for)


def tag_ids(tags) -> np.ndarray:
    """An integer per query from its first tag (-1 without tags): the clusters of contrastive routers."""
    first = [t[0] if t else None for t in tags]
    ids = {t: i for i, t in enumerate(sorted({t for t in first if t is not None}))}
    return np.array([ids.get(t, -1) for t in first], dtype=np.int64)


def predict(module, datamodule, trainer_cfg: DictConfig, ckpt_path: str | None,
            split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """The router's scores and probabilities for the split's queries, in matrix order. Runs on one device, so
    each query is routed once (also after DDP training) and whatever fast_dev_run limited, every query is routed."""
    load_weights(module, ckpt_path)
    batches = predictor(trainer_cfg).predict(module, dataloaders=datamodule.predict_dataloader(split))
    idx = np.concatenate([b["idx"].numpy() for b in batches])
    rows = np.flatnonzero(datamodule.split == split)
    order = np.searchsorted(rows, idx)
    out = []
    for key in ("scores", "probs"):
        values = np.concatenate([b[key].numpy() for b in batches])
        out.append(np.zeros((len(rows), values.shape[1]), dtype=np.float32))
        out[-1][order] = values
    return out[0], out[1]


def validation(module, datamodule, trainer_cfg: DictConfig, matrix, bma: str):
    """The router's probabilities on the validation queries (its weights as they are), for the confidence
    fallback's threshold; None without validation queries."""
    from rewardroute.evaluation.router_analysis import Validation

    rows = matrix.mask("val")
    if not rows.any():
        return None
    _, probs = predict(module, datamodule, trainer_cfg, None, "val")
    return Validation(probs, matrix.metric[rows], np.full(rows.sum(), list(matrix.experts).index(bma)))


def checked_reporting(cfg: DictConfig, matrix) -> tuple[dict, dict]:
    """The baselines and their choices (data.proxy_train), with data.groups and expert_pool.costs checked (and
    proxies that choose nothing named): before training, so that a mistake in what only the report reads does not
    cost a trained router."""
    from rewardroute.evaluation.baselines import baseline_routes, ignored_proxies
    from rewardroute.evaluation.evaluate import check_groups
    from rewardroute.evaluation.metrics import groups_within

    proxies = OmegaConf.to_container(cfg.data.proxy_train)
    ignored, test_only = ignored_proxies(matrix, proxies)
    outside = [k for k in ignored if cfg.data.subsets and k not in cfg.data.subsets]
    misplaced = [k for k in ignored if k not in outside]
    if outside:  # e.g. RouterDC's OOD proxies in a run of its ID tasks; or a misspelt subset
        log.warning("data.proxy_train names %s, which data.subsets leaves out: not used", outside)
    if misplaced:  # a misspelt subset, or one with training queries of its own (which choose its expert)
        log.warning("data.proxy_train names %s: not test subsets without training queries, so ignored (those "
                    "subsets: %s)", misplaced, test_only or "none")
    baselines, choices = baseline_routes(matrix, proxies)
    check_groups(groups_within(cfg.data.groups, cfg.data.subsets or None), matrix)
    pool = cfg.expert_pool
    if pool_costs(cfg, matrix) is None and pool and pool.costs:  # warned once here, not again at the report
        log.warning("expert_pool=%s states costs of %s, none of the data's experts: no quality-cost analysis",
                    pool.name, sorted(pool.costs))
    return baselines, choices


def pool_costs(cfg: DictConfig, matrix) -> np.ndarray | None:
    """[test queries, experts] answer costs from expert_pool.costs; None where the pool states none, or states
    costs of other experts only (the default experiment's synthetic pool beside another data set: checked_reporting
    warns)."""
    from rewardroute.evaluation.cost import answer_costs

    pool, experts, test = cfg.expert_pool, list(matrix.experts), matrix.mask("test")
    if not (pool and pool.costs and set(experts) & set(pool.costs)):
        return None
    return answer_costs(pool.costs, experts, matrix.select(test).new_tokens, int(test.sum()))


def report(cfg, matrix, scores, probs, val, baselines, choices, loggers, best_val, ckpt_path, notes,
           method: str | None = None) -> float | None:
    """Evaluate the router's routes (argmax of `scores` over the test queries) beside the baselines, with its
    calibration, confidence fallback (threshold chosen on `val`) and quality-cost curve (router_analysis.py);
    write the run's reports and per-query probabilities (predictions.py), log them, print the table; return the
    best validation routed score (scaled as the reports). The router's rows are named `method` (default:
    cfg.router.name)."""
    from rewardroute.evaluation.evaluate import evaluate
    from rewardroute.evaluation.metrics import groups_within
    from rewardroute.evaluation.report import write_report
    from rewardroute.evaluation.router_analysis import Validation, analyse
    from rewardroute.pipeline.loggers import log_results
    from rewardroute.pipeline.predictions import write_predictions

    method = method or cfg.router.name
    test = matrix.mask("test")
    experts = list(matrix.experts)
    out_dir = Path(cfg.paths.output_dir)
    ids = matrix.queries["query_id"]
    splits = {"test": (ids[test], probs)}
    if isinstance(val, Validation) and matrix.mask("val").sum() == len(val.probs):  # not a cross-fit's folds
        splits["val"] = (ids[matrix.mask("val")], val.probs)
    write_predictions(out_dir, experts, splits)  # first: what was routed is kept whatever fails below
    one_hot = np.eye(len(experts))
    pool = cfg.expert_pool
    costs = pool_costs(cfg, matrix)
    fallback, analysis = analyse(method, probs, matrix.metric[test], baselines["bma"].argmax(axis=1), val,
                                 costs, experts, matrix.queries["subset"].to_numpy()[test], cfg.data.report_scale)
    routes = {method: one_hot[scores.argmax(axis=1)], **fallback}
    rankers = {}
    if cfg.reward_model is not None:  # reward-model ranking: every expert answers, the reward model picks
        rankers["rmr"] = one_hot[matrix.scores[test].argmax(axis=1)]
    groups = groups_within(cfg.data.groups, cfg.data.subsets or None)
    scale = cfg.data.report_scale
    results = evaluate(matrix, routes, baselines, choices, groups, scale, rankers)
    best_val = None if best_val is None else best_val * scale
    results = {
        "name": cfg.name,
        "data": cfg.data.name,
        "report_scale": scale,
        "counts": {**matrix.queries["split"].value_counts().to_dict(), "dropped": matrix.dropped},
        "labels": OmegaConf.to_container(cfg.labels),
        "selection": {"val_routed_best": best_val, "checkpoint": Path(ckpt_path).name if ckpt_path else None},
        **({"cross_fit_folds": cfg.data.cross_fit_folds} if cfg.data.cross_fit_folds else {}),
        **results,
        "analysis": {method: {**analysis, **({"cost_unit": pool.cost_unit} if costs is not None else {})}},
    }
    notes = [f"checkpoint: {ckpt_path or 'none'} (best validation routed score "
             + ("–" if best_val is None else f"{best_val:.4g}") + ")", *notes, f"folder: {out_dir}"]
    files = write_report(results, out_dir, reference=OmegaConf.to_container(cfg.reference), notes=notes)
    log_results(loggers, results, files)
    print(files["md"].read_text())
    return best_val
