"""The tasks run.py can run (`task=...`), and the wrapper every task runs in."""

from __future__ import annotations

import importlib
import logging
import sys

from omegaconf import DictConfig

log = logging.getLogger(__name__)

TASKS = {
    "train": "rewardroute.pipeline.train:train",  # train a router, evaluate it and every baseline
    "export": "rewardroute.pipeline.export:export",  # write the response matrix as long jsonl
}


def run_task(cfg: DictConfig):
    """Run `cfg.task`; whatever happens, the W&B run is finished, so the next job of a sweep starts its own."""
    if cfg.task not in TASKS:
        raise ValueError(f"task={cfg.task!r} is not a task; choose one of {sorted(TASKS)}")
    module, name = TASKS[cfg.task].split(":")
    failed = True
    try:
        result = getattr(importlib.import_module(module), name)(cfg)
        failed = False
        return result
    finally:
        if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
            sys.modules["wandb"].finish(exit_code=1 if failed else 0)
