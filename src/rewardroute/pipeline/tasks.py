"""The tasks run.py can run (`task=...`), and the wrapper every task runs in."""

from __future__ import annotations

import importlib
import json
import logging
import sys
import traceback
from pathlib import Path

from omegaconf import DictConfig

log = logging.getLogger(__name__)

TASKS = {
    "train": "rewardroute.pipeline.train:train",  # train a router, evaluate it and every baseline
    "evaluate": "rewardroute.pipeline.train:evaluate_checkpoint",  # route and report with a trained checkpoint
    "ensemble": "rewardroute.pipeline.ensemble:ensemble",  # trained routers by Borda count: route, report
    "route": "rewardroute.pipeline.route:route",  # send new queries (a file) to experts with trained routers
    "export": "rewardroute.pipeline.export:export",  # write the response matrix as long jsonl
    "generate": "rewardroute.pipeline.stages:generate_task",  # every expert answers every query
    "score": "rewardroute.pipeline.stages:score_task",  # ... and the reward model (and judge) scores the answers
    "tag": "rewardroute.pipeline.stages:tag_task",  # tag the queries
    "artifacts": "rewardroute.pipeline.stages:artifacts_task",  # list what the stages have stored
    "benchmark": "rewardroute.pipeline.benchmark:benchmark",  # one evaluation subset x one method (sweep job)
    "report": "rewardroute.pipeline.sweep_report:report",  # the table of a sweep's jobs
    "train_rm": "rewardroute.pipeline.train_rm:train_rm",  # train and evaluate a reward model on preference pairs
}


def run_task(cfg: DictConfig):
    """Run `cfg.task`; whatever happens, the W&B run is finished, so the next job of a sweep starts its own, and
    the DDP state of the job is cleared (pipeline/ddp.py). In a sweep a failing job writes failure.json in its
    folder and the sweep goes on (task=report marks it missing); a single run raises."""
    if cfg.task not in TASKS:
        raise ValueError(f"task={cfg.task!r} is not a task; choose one of {sorted(TASKS)}")
    from rewardroute.pipeline.ddp import ddp_job

    if cfg.get("resume"):
        from rewardroute.pipeline.resume import check_resume

        check_resume(cfg)
    module, name = TASKS[cfg.task].split(":")
    failed = True
    try:
        with ddp_job(cfg):
            result = getattr(importlib.import_module(module), name)(cfg)
        failed = False
        return result
    except Exception as error:
        if not in_sweep():
            raise
        log.exception("this job failed; the sweep goes on")
        failure = {"task": cfg.task, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        (Path(cfg.paths.output_dir) / "failure.json").write_text(json.dumps(failure, indent=2) + "\n")
        return None
    finally:
        if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
            sys.modules["wandb"].finish(exit_code=1 if failed else 0)


def in_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
