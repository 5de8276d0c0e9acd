"""A Lightning predict loop that is batched, length-sorted, resumable and sharded over DDP ranks.

The items are sorted by length (longest first, so memory peaks show at once) and cut into batches with stable
ids. Each finished batch is written at once to `<parts>/<batch size>-<id>.jsonl` (atomically), each output with
its item's index; a rerun asks only the batches with an item not yet answered, so a killed stage resumes where
it stopped and, as each batch seeds its own sampling, ends with the same rows as an uninterrupted run. A rerun
with another batch size (after running out of memory) keeps every answer already written and plans the rest anew.
Under DDP each rank takes every world_size-th remaining batch. The model is only built when there is work: a
complete stage loads nothing.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from rewardroute.cache import atomic_path


def plan_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def run_sharded(
    items: list[dict],
    lengths: list[int],
    batch_size: int,
    build_module: Callable[[], L.LightningModule],
    parts: Path,
    trainer_cfg: DictConfig,
    desc: str,
) -> list[dict]:
    """Outputs aligned with `items`. `build_module()` returns a LightningModule with `collate(items) -> batch`
    whose predict_step returns one JSON-serialisable dict per item."""
    batches = plan_batches(lengths, batch_size)
    parts.mkdir(parents=True, exist_ok=True)
    barrier()  # under DDP every rank must see the same finished parts, or the ranks would split the work unevenly
    done = read_parts(parts)
    todo = [b for b, rows in enumerate(batches) if not all(i in done for i in rows)]
    if todo:
        # our batches come whole from the plan, not from a sampler Lightning could read indices from
        warnings.filterwarnings("ignore", message="Couldn't infer the batch indices")
        module = build_module()
        trainer = L.Trainer(
            accelerator=trainer_cfg.accelerator, devices=trainer_cfg.devices, num_nodes=trainer_cfg.num_nodes,
            strategy=trainer_cfg.strategy, precision=trainer_cfg.precision, logger=False, enable_checkpointing=False,
            enable_model_summary=False, enable_progress_bar=False, use_distributed_sampler=False,
            callbacks=[PartWriter(parts, batch_size), Progress(len(batches), len(batches) - len(todo), desc)],
        )
        plan = BatchPlan(items, batches, todo, module.collate)
        trainer.predict(module, datamodule=plan, return_predictions=False)
        trainer.strategy.barrier("parts written")
        done = read_parts(parts)
    return [done[i] for i in range(len(items))]


def read_parts(parts: Path) -> dict[int, dict]:
    """{item index: output} of every part written so far (a later part's output of an item wins)."""
    done = {}
    for path in sorted(parts.glob("*-*.jsonl"), key=lambda p: p.stat().st_mtime_ns):  # <batch size>-<id>.jsonl
        for line in path.read_text().splitlines():
            out = json.loads(line)
            done[out.pop("item")] = out
    return done


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def finish(artifact, rows, started: float, **meta) -> None:
    """Rank zero writes the artifact and drops the parts; the other ranks wait for it."""
    import shutil

    barrier()  # every rank has read the parts
    if rank() == 0:
        artifact.save(rows, started, **meta)
        shutil.rmtree(artifact.parts, ignore_errors=True)
    barrier()


class BatchPlan(L.LightningDataModule):
    """This rank's share of the remaining batches, each collated by the module."""

    def __init__(self, items: list[dict], batches: list[list[int]], todo: list[int], collate: Callable):
        super().__init__()
        self.items, self.batches, self.todo, self.collate = items, batches, todo, collate

    def predict_dataloader(self) -> DataLoader:
        # a rank without a batch of its own (fewer left than ranks) repeats one: Lightning refuses an empty loader,
        # and the part written first is kept
        mine = self.todo[self.trainer.global_rank :: self.trainer.world_size] or self.todo[:1]
        return DataLoader(mine, batch_size=None, collate_fn=self._collate)

    def _collate(self, batch_id: int) -> dict:
        rows = self.batches[batch_id]
        return {"batch_id": batch_id, "items": rows, **self.collate([self.items[i] for i in rows])}


class PartWriter(BasePredictionWriter):
    """Writes each batch's outputs to its part file the moment the batch is done."""

    def __init__(self, parts: Path, batch_size: int):
        super().__init__(write_interval="batch")
        self.parts, self.batch_size = parts, batch_size

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        with atomic_path(self.parts / f"{self.batch_size}-{batch['batch_id']:06d}.jsonl") as tmp:
            tmp.write_text("".join(json.dumps({"item": i, **p}) + "\n" for i, p in zip(batch["items"], prediction)))


class Progress(Callback):
    """A progress bar over batches (rank zero), with generated tokens per second where outputs count them."""

    def __init__(self, total: int, done: int, desc: str):
        self.total, self.done, self.desc = total, done, desc

    def on_predict_start(self, trainer, pl_module) -> None:
        self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit="batch",
                        disable=trainer.global_rank != 0)
        self.tokens, self.start = 0, time.perf_counter()

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.tokens += sum(o.get("new_tokens", 0) for o in outputs)
        if self.tokens:
            self.bar.set_postfix(tok_per_s=f"{self.tokens / (time.perf_counter() - self.start):.0f}")
        self.bar.update(1)

    def on_predict_end(self, trainer, pl_module) -> None:
        self.bar.close()
