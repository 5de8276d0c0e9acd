"""The reward-model recipe (`task=train_rm`): domain-labelled preference pairs -> one architecture -> evaluation.

    seed -> pairs: load, keep data.subsets, drop ties, split by prompt (data)
         -> encoder and tokenizer (backbone) -> token ids (cached) and DataModule -> the architecture (rm.module)
         -> routed architectures: fit the router alone, keeping its epoch with the best validation routing accuracy
            (and with rm.shared_epochs, one reward model on every domain, copied to every domain as its start)
         -> loggers, trainer -> fit, keeping the epoch with the best validation accuracy (mean over domains)
         -> score the validation and test pairs (accuracy per domain, cost per pair) -> save the reward model
            (reward_model/) and time loading it back -> results.{json,md,csv,png}, logged, table printed
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def train_rm(cfg: DictConfig) -> float | None:
    """Returns the best validation accuracy (what a sweeper optimises); None on non-zero DDP ranks."""
    from rewardroute.data.pairs import load_pair_set
    from rewardroute.pipeline.ddp import distributed
    from rewardroute.pipeline.loggers import build_loggers
    from rewardroute.pipeline.resume import resuming
    from rewardroute.pipeline.train import epoch_timing, fit_keeping_best, load_weights, start

    if cfg.rm is None:
        raise ValueError("task=train_rm needs a reward-model architecture: experiment=rm_routers, "
                         "or +rm=single (more, rodos, arliss) with a preference data set (data=autoj, ...)")
    start(cfg)
    out_dir = Path(cfg.paths.output_dir)
    pairs = load_pair_set(cfg.data)
    datamodule, module, encoder, tokenizer, encoding = build_reward_model(cfg, pairs)

    if distributed(cfg) and "find_unused_parameters_true" not in str(cfg.trainer.strategy) and not module.dense:
        raise ValueError(f"rm={cfg.rm.name} leaves parameters unused in a step (experts, domain models or adapters "
                         "not routed to), which DDP refuses: add trainer.strategy=ddp_find_unused_parameters_true")
    router = fit_phase(cfg, module, datamodule, "router", cfg.rm.router_epochs) if module.routed else None
    shared = None
    if module.routed and cfg.rm.shared_epochs:
        shared = fit_phase(cfg, module, datamodule, "shared", cfg.rm.shared_epochs)
        module.spread_shared()
    module.phase = "reward"
    trainer, checkpoint, timer, params = fit_keeping_best(cfg, module, datamodule, "val/acc",
                                                          build_loggers(cfg.logger, resuming=resuming(cfg)),
                                                          out_dir / "checkpoints")
    if not trainer.is_global_zero:
        return None

    load_weights(module, checkpoint.best_model_path)
    val = evaluate(module, datamodule, cfg.trainer, "val")[0] if (datamodule.split == "val").any() else None
    test, seconds = evaluate(module, datamodule, cfg.trainer, "test")
    saved, load_seconds = save_and_reload(module, encoder, tokenizer, encoding, out_dir / "reward_model")
    n_test = int((datamodule.split == "test").sum())
    best_val = None if checkpoint.best_model_score is None else float(checkpoint.best_model_score)
    summary = module.summary()  # what the architecture adds, e.g. MoRE's expert load on the test pairs
    record = {
        "kind": "reward_model",
        "name": cfg.name,
        "arch": cfg.rm.name,
        "data": cfg.data.name,
        "backbone": OmegaConf.to_container(cfg.router.backbone),
        "job": job_overrides(),
        "domains": list(pairs.domains),
        "counts": pairs.counts(),
        "test": test,
        "val": val,
        "router": router,
        "shared": shared,
        "params": {"total": params["params/total"], "trainable": params["params/trainable"]},
        "cost": {"encoder_passes_per_pair": 2 + int(module.routed), "ms_per_pair": 1000 * seconds / max(1, n_test),
                 "load_seconds": load_seconds,
                 # the model's weights (adapters/ holds ARLISS's again, in peft's format)
                 "weights_mb": sum(f.stat().st_size for f in saved.glob("*.safetensors")) / 2**20},
        "selection": {"val_acc_best": best_val, "checkpoint": Path(checkpoint.best_model_path).name or None},
        "timing": epoch_timing(trainer, timer),
        "reward_model": str(saved),
        **summary,
    }
    report(cfg, record, summary, trainer.loggers, out_dir)
    return best_val


PHASE_MONITOR = {"router": "val/router_acc", "shared": "val/acc"}


def fit_phase(cfg: DictConfig, module, datamodule, phase: str, epochs: int) -> dict:
    """A phase before the reward models of a routed architecture: its router alone, or one reward model on every
    domain (base.py), for `epochs`, keeping the epoch with the best validation score of the phase (not logged:
    the loggers' steps start again with the reward phase)."""
    from rewardroute.pipeline.train import epoch_timing, fit_keeping_best, load_weights

    module.phase = phase
    trainer, checkpoint, timer, _ = fit_keeping_best(cfg, module, datamodule, PHASE_MONITOR[phase], [],
                                                     Path(cfg.paths.output_dir) / f"{phase}_checkpoints",
                                                     max_epochs=epochs)
    load_weights(module, checkpoint.best_model_path)
    timing = epoch_timing(trainer, timer)
    return {"epochs": timing["epochs"], "seconds_per_epoch": timing["seconds_per_epoch"],
            "val_best": None if checkpoint.best_model_score is None else float(checkpoint.best_model_score),
            "checkpoint": Path(checkpoint.best_model_path).name or None}


def build_reward_model(cfg: DictConfig, pairs):
    """The DataModule (token ids of every pair, cached), the architecture's module, the encoder it started
    from, the tokenizer and how pairs become token ids."""
    from functools import partial

    from hydra.utils import instantiate

    from rewardroute.data.pair_datamodule import PairDataModule, PairEncoding, pair_tokens

    train = pairs.pairs[pairs.pairs["split"] == "train"]
    corpus = [*train["prompt"], *train["chosen"], *train["rejected"]]  # builds backbone=tiny's tokenizer
    backbone = instantiate(cfg.router.backbone)
    encoder, tokenizer = backbone.build(corpus)
    if not hasattr(encoder, "model"):  # found now, not when the trained model is exported after training
        raise ValueError(f"task=train_rm needs a transformer backbone (backbone=minilm, tiny, ...): "
                         f"{cfg.router.backbone._target_} has no network to train, adapt or export")
    encoding = PairEncoding(cfg.rm.max_length, cfg.rm.truncation_side, cfg.rm.prompt_max_length,
                            cfg.rm.prompt_truncation_side)
    featurize = partial(pair_tokens, pairs, tokenizer, encoding, cfg.paths.cache_dir, backbone.key(corpus))
    datamodule = PairDataModule(featurize, pairs, tokenizer.pad_token_id or 0, cfg.rm.batch_size,
                                cfg.rm.eval_batch_size, cfg.rm.num_workers)
    module = instantiate(
        cfg.rm.module,
        _convert_="all",  # plain containers in the module's saved hyper-parameters
        domains=list(pairs.domains),
        encoder=encoder,
        optimizer=instantiate(cfg.rm.optimizer),
        scheduler=OmegaConf.to_container(cfg.rm.scheduler),
        margin=cfg.rm.loss.margin,
        center_weight=cfg.rm.loss.center_weight,
    )
    return datamodule, module, encoder, tokenizer, encoding


def evaluate(module, datamodule, trainer_cfg: DictConfig, split: str) -> tuple[dict, float]:
    """Metrics on the pairs of `split` (accuracy per domain and its mean, reward mean and spread, the router's
    accuracy) and the seconds its predict steps took, on one device."""
    import lightning as L
    import torch
    from torchmetrics.functional.classification import multiclass_accuracy

    from rewardroute.pipeline.train import predictor
    from rewardroute.reward_models.bradley_terry import PairMetrics

    class StepTimer(L.Callback):  # the predict steps alone: scoring, not the trainer's and the loader's setup
        seconds = 0.0

        def on_predict_batch_start(self, trainer, module, *args) -> None:
            self.sync(module)
            self.started = time.perf_counter()

        def on_predict_batch_end(self, trainer, module, *args) -> None:
            self.sync(module)  # a GPU runs on after the step returns: time it to its end, for every architecture
            self.seconds += time.perf_counter() - self.started

        @staticmethod
        def sync(module) -> None:
            if module.device.type == "cuda":
                torch.cuda.synchronize(module.device)

    timer = StepTimer()
    batches = predictor(trainer_cfg, [timer]).predict(module, dataloaders=datamodule.predict_dataloader(split))
    out = {k: torch.cat([b[k] for b in batches]).cpu() for k in batches[0]}
    domain, tie = datamodule.columns["domain"][out["idx"]], datamodule.columns["tie"][out["idx"]]
    metrics = PairMetrics(module.domains)
    metrics.update(out["chosen"], out["rejected"], domain, tie)
    values = {k: float(v) for k, v in metrics.compute().items()}
    router = multiclass_accuracy(out["route"], domain, len(module.domains), average="micro") if module.routed else None
    result = {
        "acc": values.pop("acc"),
        "domains": {k.removeprefix("acc/"): v for k, v in values.items() if k.startswith("acc/")},
        "pairs": {d: int(((domain == i) & (tie == 0)).sum()) for i, d in enumerate(module.domains)},
        "ties": int((tie != 0).sum()),  # kept ties (data.drop_ties=false) are not counted in accuracy
        "reward_mean": values["reward_mean"],
        "reward_std": values["reward_std"],
        "router_acc": None if router is None else float(router),
    }
    return result, timer.seconds


def save_and_reload(module, encoder, tokenizer, encoding, folder: Path) -> tuple[Path, float]:
    """Save the trained reward model (reward_models/trained.py) and time loading it back: the cost of holding
    its models in memory (K + 1 whole encoders for RODOS)."""
    from rewardroute.reward_models.trained import export, load_trained

    saved = export(module, encoder.model.config, tokenizer, encoder.pooling, encoding, folder)
    started = time.perf_counter()
    load_trained(saved)
    return saved, time.perf_counter() - started


def job_overrides() -> list[str]:
    """The overrides of this Hydra job (names the rows of a sweep's table); none outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def report(cfg: DictConfig, record: dict, summary: dict, loggers: list, out_dir: Path) -> None:
    """results.{json,md,csv,png}; test metrics to every logger, the table and plot to W&B; the table printed."""
    from rewardroute.pipeline.loggers import log_report
    from rewardroute.reward_models.report import results_table, write_report

    timing = record["timing"]
    (out_dir / "timing.json").write_text(json.dumps({**timing, "params": record["params"]}, indent=2) + "\n")
    notes = [
        f"pairs: {record['counts']}",
        f"checkpoint: {record['selection']['checkpoint']} (best validation accuracy {record['selection']['val_acc_best']})",
        f"training: {timing['epochs']} epochs, {timing['seconds_per_epoch']:.1f} s per epoch (validation included)",
        f"reward model: {record['reward_model']} (rewardroute.reward_models.load_trained)",
    ] + [f"{k}: {v}" for k, v in summary.items()]
    for phase, what in (("shared", "one reward model on every domain, copied to each as its start"),
                        ("router", "router, trained first")):
        if record[phase]:
            p = record[phase]
            notes.insert(1, f"{what}: {p['epochs']} epochs, {p['seconds_per_epoch']:.1f} s per epoch, checkpoint "
                            f"{p['checkpoint']} (best validation {PHASE_MONITOR[phase]} {p['val_best']})")
    runs = {record["arch"]: record}
    files = write_report(record, runs, out_dir, f"Reward model: {cfg.rm.name} on {cfg.data.name}", notes)
    test = record["test"]
    metrics = {"test/acc": test["acc"], **{f"test/acc/{d}": v for d, v in test["domains"].items()},
               **{f"test/{k}": v for k, v in test.items() if k in ("reward_mean", "reward_std", "router_acc") and v is not None},
               **{f"cost/{k}": v for k, v in record["cost"].items()}}
    log_report(loggers, metrics, results_table(runs).reset_index(names="reward model").astype(str),
               {"pairwise accuracy per domain": files["png"]}, files["csv"])
    print(files["md"].read_text())
