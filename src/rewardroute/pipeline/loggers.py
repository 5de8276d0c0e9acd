"""Loggers from the `logger` config group, and what a finished evaluation sends to them."""

from __future__ import annotations

import re
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


def build_loggers(cfg: DictConfig | None, tags: list[str] = (), resuming: bool = False) -> list:
    """The configured loggers; `tags` are added to those that take tags (W&B). In a resumed run (`resuming`) they
    go on with the killed run's record in its folder (`continuing`)."""
    from hydra.utils import instantiate

    loggers = []
    for c in (cfg or {}).values():
        if c is None:
            continue
        if str(c.get("_target_", "")).endswith("WandbLogger") and c.get("save_dir"):
            wandb_folders(Path(c.save_dir) / "wandb")
        extra = {"tags": [*c.tags, *tags]} if tags and "tags" in c else {}
        loggers.append(instantiate(c, **extra, **(continuing(c) if resuming else {})))
    return loggers


def continuing(c: DictConfig) -> dict:
    """What makes a logger of a resumed run go on with the killed run's: the CSV logger writes into its last
    version (`keep_logged` keeps the rows), W&B logs under its run id with `resume="allow"` (offline, where W&B
    does not resume, the two local runs share the id, and `wandb sync --id <id> <folder>/wandb/offline-run-*`
    uploads them into one run, in the order they started). A version or id that the config names is kept."""
    target = str(c.get("_target_", ""))
    if target.endswith("CSVLogger") and c.get("version") is None:
        versions = [p.name.removeprefix("version_") for p in (Path(c.save_dir) / c.get("name", "lightning_logs"))
                    .glob("version_*")]
        numbered = sorted(int(v) for v in versions if v.isdigit())
        return {"version": numbered[-1]} if numbered else {}
    if target.endswith("WandbLogger") and c.get("id") is None:
        # W&B's folders: <mode>-<date>_<time>-<run id>, "-1" etc. added to a second one in the same second
        named = (re.fullmatch(r"(?:offline-)?run-(\d{8}_\d{6})-(.+?)(?:-\d+)?", p.name)
                 for p in (Path(c.save_dir) / "wandb").glob("*run-*"))
        runs = sorted(m.groups() for m in named if m)
        return {"id": runs[-1][1], "resume": "allow"} if runs else {}
    return {}


def keep_logged(loggers: list, step: int) -> None:
    """A resumed fit's CSV logger keeps the killed run's rows up to `step` (its last.ckpt's): Lightning's CSV
    writer starts its file again, and the rows after that step are of the epoch the kill broke off, which the
    resumed fit logs again."""
    import csv
    import warnings

    from lightning.pytorch.loggers import CSVLogger

    def number(text: str) -> int | float:
        return int(text) if text.lstrip("-").isdigit() else float(text)

    for logger in loggers:
        metrics = Path(logger.log_dir) / "metrics.csv" if isinstance(logger, CSVLogger) else None
        if metrics is None or not metrics.is_file():
            continue
        with metrics.open(newline="") as f:
            rows = [{k: number(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
        with warnings.catch_warnings():  # it is the killed run's file, kept below
            warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
            writer = logger.experiment
        for row in rows:
            if row["step"] <= step:
                writer.log_metrics({k: v for k, v in row.items() if k != "step"}, row["step"])
        logger.save()


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
