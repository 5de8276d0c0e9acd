"""Going on with a killed run: `python run.py <its overrides> resume=<its folder>`, or by itself in a SLURM job
that SLURM requeued (after preemption: submitit requeues Hydra's jobs in their folders).

Every fit keeps the full state of its last finished epoch in `checkpoints/last.ckpt` (a cross-fit fold in
`fold<k>/checkpoints/`, a reward model's phases in `<phase>_checkpoints/`): weights, optimiser, scheduler, loops,
the record of the best epoch, the timer, the random generators, and the config that made it. A resumed run
works in the same folder (`hydra.run.dir` follows `resume`; Hydra's record of the resumed run goes to
`.hydra/resumed/<date-time>/`, so the run's own `.hydra/` stays as it trained), each fit goes on from its
last.ckpt (a finished fit returns at once, a fold not started trains from its start), and it ends as the
unbroken run would have.
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
# What a resumed run may change: where things are, what it shows and logs, how long it may train (max_epochs
# only under a schedule that does not depend on the run's length: LENGTH_FREE).
MAY_DIFFER = ("resume", "paths", "logger", "trainer.max_epochs", "trainer.max_time", "trainer.enable_progress_bar",
              "trainer.enable_model_summary", "trainer.default_root_dir")
LENGTH_FREE = (None, "constant")


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
                         "without hydra.run.dir; a job of a sweeping experiment (experiment=rm_routers) with "
                         "hydra.mode=RUN and the job's own overrides")
    lasts = sorted(folder.glob("**/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not lasts:
        raise FileNotFoundError(f"resume={cfg.resume}: no last.ckpt under that folder (a fit keeps one from the end of "
                                "its first epoch on): run it again from its start, without resume")
    check_same_config(cfg, lasts[-1])  # before anything is built or logged (each fit checks its own again)


def resume_point(cfg: DictConfig, checkpoint_dir: Path) -> Path | None:
    """The last.ckpt that a fit into `checkpoint_dir` goes on from: there is one, the fit works in the run's own
    folder (not a stage's store, which other runs share), and the run resumes (resume=...) or is a requeued SLURM
    job (SLURM_RESTART_COUNT > 0). Checked against the config that made it before anything is loaded."""
    last = (checkpoint_dir / "last.ckpt").resolve()
    own = Path(cfg.paths.output_dir).resolve() in last.parents
    if not (last.is_file() and own and resuming(cfg)):
        return None
    check_same_config(cfg, last)
    return last


def resuming(cfg: DictConfig) -> bool:
    """The run goes on with a killed one in its folder: resume=..., or a SLURM job that SLURM requeued."""
    return bool(cfg.get("resume")) or int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0


def check_same_config(cfg: DictConfig, last: Path) -> None:
    """The config `last` was made with (its LastCheckpoint state) must be this one but for MAY_DIFFER."""
    checkpoint = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
    state = next(v for k, v in checkpoint["callbacks"].items() if k.startswith(LastCheckpoint.__qualname__))
    saved, current = flat(state["config"]), flat(OmegaConf.to_container(cfg, resolve=False))
    differ = sorted(k for k in saved.keys() | current.keys() if saved.get(k, "<absent>") != current.get(k, "<absent>"))
    refused = [k for k in differ if not any(k == m or k.startswith(m + ".") for m in MAY_DIFFER)]
    trained = "rm" if cfg.task == "train_rm" else "router"
    schedule = saved.get(f"{trained}.scheduler.name")
    optimised = saved.get(f"{trained}.optimizer._target_") is not None  # one-pass routers have no optimizer
    if "trainer.max_epochs" in differ and optimised and schedule not in LENGTH_FREE:
        refused.append(f"trainer.max_epochs (its learning rate follows a {schedule!r} schedule over the run's "
                       "length, which another length would change mid-way)")
    if refused:
        overrides = " ".join(state.get("overrides") or []) or "(not recorded)"
        raise ValueError(f"resume: {last} was made with another config; these keys differ: {', '.join(refused)}. "
                         f"Resume with the run's own overrides: {overrides}")


def global_step(last: Path) -> int:
    """The optimiser steps a last.ckpt had taken: the step its fit's loggers had reached."""
    return torch.load(last, map_location="cpu", weights_only=True, mmap=True)["global_step"]


def flat(node, prefix: str = "") -> dict:
    """{dotted key: value} of a nested dict."""
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}


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


class FollowsMovedFolder:
    """A checkpoint callback that, restored in another folder than it saved in (the run folder was moved),
    takes its record of saved files along, instead of Lightning's forgetting which epoch was best."""

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("dirpath")
        if saved and self.dirpath and saved != self.dirpath:
            def moved(path):
                return path.replace(saved, self.dirpath, 1) if isinstance(path, str) and path else path

            state_dict = {**{k: moved(v) for k, v in state_dict.items()},
                          "best_k_models": {moved(k): v for k, v in state_dict.get("best_k_models", {}).items()}}
        super().load_state_dict(state_dict)


class BestCheckpoint(FollowsMovedFolder, ModelCheckpoint):
    """The weights of the epoch best on validation."""


class LastCheckpoint(FollowsMovedFolder, ModelCheckpoint):
    """The full state of the last finished epoch, as `last.ckpt` beside the best epoch's weights, saved when the
    epoch ends (not at a validation within it). It also holds the random generators, so that the epochs after a
    resume shuffle and drop out as the unbroken run's, the run's config (unresolved), which a resumed run must
    repeat but for MAY_DIFFER, and the command-line overrides that made it."""

    def __init__(self, dirpath: Path, cfg: DictConfig):
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1, enable_version_counter=False,
                         save_on_train_epoch_end=True)
        self.config = OmegaConf.to_container(cfg, resolve=False)
        self.restored: dict | None = None

    def state_dict(self) -> dict:
        from hydra.core.hydra_config import HydraConfig

        overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")] \
            if HydraConfig.initialized() else None
        return {**super().state_dict(), "config": self.config, "overrides": overrides, "random": random_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.restored = state_dict["random"]
        set_random_state(self.restored)  # the fit loop draws nothing more before the next epoch starts

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.restored = None  # an epoch runs: its draws are the unbroken run's
        for logger in trainer.loggers:  # what the epochs up to last.ckpt logged is on disk with it
            logger.save()

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.restored is not None:  # a finished fit, restored: leave the generators as the unbroken fit did
            set_random_state(self.restored)
