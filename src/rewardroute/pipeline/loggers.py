"""Loggers from the `logger` config group, and what a finished evaluation sends to them."""

from __future__ import annotations

import shutil
from pathlib import Path

from omegaconf import DictConfig


def _no_advertisement(record) -> bool:
    return "litlogger" not in record.getMessage()


def lightning_logs_through_hydra() -> None:
    """Lightning prints through its own handlers; hand its records to Hydra's (console and the run's log file)
    so each line appears once, and drop its advertisement for a cloud logger."""
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _no_advertisement not in rank_zero.filters:
        rank_zero.addFilter(_no_advertisement)


def build_loggers(cfg: DictConfig | None, tags: list[str] = ()) -> list:
    """The configured loggers; `tags` are added to those that take tags (W&B)."""
    from hydra.utils import instantiate

    loggers = []
    for c in (cfg or {}).values():
        if c is None:
            continue
        if str(c.get("_target_", "")).endswith("WandbLogger") and c.get("save_dir"):
            wandb_folders(Path(c.save_dir) / "wandb")
        loggers.append(instantiate(c, **({"tags": [*c.tags, *tags]} if tags and "tags" in c else {})))
    return loggers


def log_config(loggers: list, cfg: DictConfig, **extra) -> None:
    """The run's composed config (and `extra`, e.g. parameter counts) as every logger's hyper-parameters: what
    tells the runs of a sweep apart in W&B."""
    from omegaconf import OmegaConf

    for logger in loggers:
        logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), **extra})


WANDB_FOLDERS = {"WANDB_DATA_DIR": "staging", "WANDB_CACHE_DIR": "cache"}
_set_here: dict[str, str] = {}  # the values this process gave them, so that each run moves them to its own folder


def wandb_folders(root: Path) -> None:
    """W&B stages logged tables and keeps its cache and debug logs under the home folder unless told (a cluster's
    home can be read-only or small, and `wandb sync` of a copied run folder would miss what was staged there):
    put them in the run's folder, except where the environment names folders of its own."""
    import os

    for variable, name in WANDB_FOLDERS.items():
        if os.environ.get(variable) in (None, _set_here.get(variable)):
            _set_here[variable] = os.environ[variable] = str(root / name)


def summary_metrics(results: dict) -> dict[str, float]:
    """Flat `test/<method>/<name>` metrics of the routers and baselines (not each expert: they are in the table)."""
    out = {}
    for name, m in results["methods"].items():
        if m["kind"] == "expert":
            continue
        out[f"test/{name}/mean"] = m["mean"]
        out[f"test/{name}/mtr"] = m["mtr"]
        out[f"test/{name}/uplift"] = m["uplift"]
        out.update({f"test/{name}/{g}": v for g, v in m["groups"].items() if g != "all"})
    for name, a in results.get("analysis", {}).items():
        out[f"test/{name}/ece"] = a["calibration"]["ece"]
        if "fallback" in a:
            out[f"test/{name}/fallback_share"] = a["fallback"]["share"]
        if "quality_cost" in a:
            out[f"test/{name}/quality_cost_auc"] = a["quality_cost"]["auc"]
    return out


def log_results(loggers: list, results: dict, files: dict[str, Path]) -> None:
    """A router run's evaluation: its summary metrics, results table and plots (see `log_report`)."""
    from rewardroute.evaluation.report import results_table

    table = results_table(results).reset_index(names="method")
    log_report(loggers, summary_metrics(results), table.astype({c: float for c in table.columns[1:]}),
               {caption: files[kind] for kind, caption in (("png", "per-subset scores"), ("routing", "routing"),
                ("reliability", "reliability"), ("quality_cost", "quality-cost")) if kind in files}, files["csv"])


def log_report(loggers: list, metrics: dict, table, images: dict[str, Path], csv: Path) -> None:
    """Summary metrics to every logger; the results table (a DataFrame) and the images ({caption: PNG}) to W&B;
    the CSV table beside the CSV logger's metrics."""
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    for logger in loggers:
        logger.log_metrics(metrics)
        if isinstance(logger, WandbLogger):
            logger.log_table(key="results", dataframe=table)
            logger.log_image(key="plots", images=[str(p) for p in images.values()], caption=list(images))
        elif isinstance(logger, CSVLogger):
            Path(logger.log_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy(csv, Path(logger.log_dir) / "results.csv")
        logger.save()
