"""Going on with a killed run: `python run.py <its overrides> resume=<its folder>`, or by itself in a SLURM job
that SLURM requeued (after preemption: submitit requeues Hydra's jobs in their folders).

Every fit keeps the full state of its last finished epoch in `checkpoints/last.ckpt` (a cross-fit fold in
`fold<k>/checkpoints/`, a reward model's phases in `<phase>_checkpoints/`): weights, optimiser, scheduler, loops,
the record of the best epoch, the timer, the random generators, and the config that made it. A resumed run
works in the same folder (`hydra.run.dir` follows `resume`), each fit goes on from its last.ckpt (a finished fit
returns at once, a fold not started trains from its start), and it ends as the unbroken run would have.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

RESUMABLE = ("train", "train_rm")
# What a resumed run may change: where things are, what it shows and logs, and how many epochs it trains.
MAY_DIFFER = ("resume", "paths", "logger", "trainer.max_epochs", "trainer.enable_progress_bar",
              "trainer.enable_model_summary")


def check_resume(cfg: DictConfig) -> None:
    """`resume=<folder>`: a run of a task that trains, in the folder it names, with a last.ckpt there."""
    folder = Path(cfg.resume)
    if cfg.task not in RESUMABLE:
        raise ValueError(f"resume={cfg.resume} goes on with a killed training run (task={' or task='.join(RESUMABLE)}); "
                         f"task={cfg.task} trains nothing: leave resume out")
    if not folder.is_dir():
        raise FileNotFoundError(f"resume={cfg.resume}: no such run folder")
    if folder.resolve() != Path(cfg.paths.output_dir).resolve():
        raise ValueError(f"resume={cfg.resume} goes on in that run's folder, but this run writes to "
                         f"{cfg.paths.output_dir} (a multirun, or hydra.run.dir given too): resume one run at a time, "
                         "without hydra.run.dir")
    if not any(folder.glob("**/last.ckpt")):
        raise FileNotFoundError(f"resume={cfg.resume}: no last.ckpt under that folder (a fit keeps one from the end of "
                                "its first epoch on): run it again from its start, without resume")


def resume_point(cfg: DictConfig, checkpoint_dir: Path) -> Path | None:
    """The last.ckpt that a fit into `checkpoint_dir` goes on from: there is one, the fit works in the run's own
    folder (not a stage's store, which other runs share), and the run resumes (resume=...) or is a requeued SLURM
    job (SLURM_RESTART_COUNT > 0)."""
    last = (checkpoint_dir / "last.ckpt").resolve()
    own = Path(cfg.paths.output_dir).resolve() in last.parents
    requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
    return last if last.is_file() and own and (cfg.get("resume") or requeued) else None


def config_differences(saved: dict, current: dict) -> list[str]:
    """The keys (dotted) whose values differ between two configs, but for MAY_DIFFER."""
    def flat(node, prefix=""):
        if not isinstance(node, dict):
            return {prefix[:-1]: node}
        return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}

    old, new = flat(saved), flat(current)
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, "<absent>") != new.get(k, "<absent>"))
    return [k for k in keys if not any(k == m or k.startswith(m + ".") for m in MAY_DIFFER)]


def random_state() -> dict:
    """The generators' states in types that a weights-only load reads (no numpy arrays)."""
    numpy = np.random.get_state(legacy=False)
    numpy["state"]["key"] = numpy["state"]["key"].tolist()
    state = {"python": random.getstate(), "numpy": numpy, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict) -> None:
    random.setstate(state["python"])
    numpy = {**state["numpy"], "state": {**state["numpy"]["state"]}}
    numpy["state"]["key"] = np.array(numpy["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class LastCheckpoint(ModelCheckpoint):
    """The full state of the last finished epoch, as `last.ckpt` beside the best epoch's weights. It also holds
    the random generators (so the epochs after a resume shuffle and drop out as the unbroken run's) and the run's
    config (unresolved), which a resumed run must repeat but for MAY_DIFFER."""

    def __init__(self, dirpath: Path, cfg: DictConfig):
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1, enable_version_counter=False)
        self.config = OmegaConf.to_container(cfg, resolve=False)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "config": self.config, "random": random_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        differ = config_differences(state_dict["config"], self.config)
        if differ:
            raise ValueError(f"resume: {self.dirpath}/last.ckpt was made with another config; these keys differ: "
                             f"{', '.join(differ)}. Resume with the run's own overrides (its .hydra/overrides.yaml "
                             f"names them); only {', '.join(MAY_DIFFER[1:])} may change")
        super().load_state_dict(state_dict)
        set_random_state(state_dict["random"])  # the fit loop draws nothing more before the next epoch starts
