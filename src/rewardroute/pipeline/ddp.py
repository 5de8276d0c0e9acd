"""DDP started by Lightning from within a Hydra job.

Lightning starts the other ranks by re-running this script with its argv, and leaves rendezvous variables in
the environment. In a Hydra multirun (basic launcher) that argv is the whole sweep, and the variables make the
next job believe its ranks already exist. `ddp_job` hands the ranks this job's overrides and folder, and
restores argv, the environment and the process group when the job ends, so the next job starts clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig

RENDEZVOUS = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def ddp_job(cfg: DictConfig) -> Iterator[None]:
    from hydra.core.hydra_config import HydraConfig

    saved_argv, saved_env = list(sys.argv), {k: os.environ.get(k) for k in RENDEZVOUS}
    if HydraConfig.initialized():
        _ranks_run_this_job_only(HydraConfig.get(), cfg)
    try:
        yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        sys.argv = saved_argv
        for key, value in saved_env.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def distributed(cfg: DictConfig) -> bool:
    """Whether the run's trainer works in several processes (DDP over several devices or nodes), from its config:
    any strategy but single_device on more than one device (Lightning makes `auto` DDP there)."""
    trainer = cfg.trainer
    several = device_count(trainer) > 1 or int(trainer.get("num_nodes") or 1) > 1
    return str(trainer.strategy) != "single_device" and several


def device_count(trainer: DictConfig) -> int:
    """Devices per node as Lightning reads trainer.devices: a count, a list or "0,1" of ids, or -1 / "auto" for
    every GPU (one process on a CPU)."""
    devices = trainer.devices
    if not isinstance(devices, (int, str)):
        return len(devices)
    if str(devices).strip() in ("-1", "auto"):
        if str(trainer.get("accelerator")) == "cpu":
            return 1
        import torch

        return max(1, torch.cuda.device_count())
    if "," in str(devices):
        return len([d for d in str(devices).split(",") if d.strip()])
    return int(devices)


def _ranks_run_this_job_only(hydra_cfg, cfg: DictConfig) -> None:
    from hydra.types import RunMode
    from omegaconf import read_write

    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    launcher = hydra_cfg.launcher._target_
    if launcher.endswith("SlurmLauncher"):  # SLURM starts the ranks (tasks_per_node); Lightning joins them
        # a DDP job's ranks build an artifact together, without the file lock that keeps parallel jobs apart
        if distributed(cfg) and hydra_cfg.launcher.get("array_parallelism") != 1:
            raise ValueError("DDP jobs under submitit_slurm build shared artifacts without a lock between jobs: "
                             "run them one at a time with hydra.launcher.array_parallelism=1")
        return
    if not launcher.endswith("BasicLauncher"):
        if distributed(cfg):
            raise ValueError(
                f"trainer.strategy={cfg.trainer.strategy} with trainer.devices={cfg.trainer.devices} inside a "
                f"{launcher} job: run one device per job (trainer.devices=1), or DDP sweeps with "
                "the basic launcher or submitit_slurm (tasks_per_node = devices, array_parallelism=1)"
            )
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
