"""The LightningDataModule of router training: features of every query (token ids or frozen embeddings, from
a `datasets` cache) plus per-query arrays (silver labels, rewards, evaluation metric, ...), split into
train / val / test."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader


class RouterDataModule(L.LightningDataModule):
    def __init__(
        self,
        featurize: Callable[[], object],
        columns: dict[str, np.ndarray],
        split: np.ndarray,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        num_workers: int = 0,
        pad_id: int = 0,
    ):
        """`featurize()` returns a `datasets.Dataset` with one row per query (cached: the first call computes,
        later calls load). `columns` are arrays with one row per query that every batch carries under their
        names (see routers/base.py); `split` gives each query's split: train / val / test."""
        super().__init__()
        self.featurize, self.split = featurize, np.asarray(split)
        self.columns = {k: torch.from_numpy(np.asarray(v, dtype=np.int64 if v.dtype.kind == "i" else np.float32))
                        for k, v in columns.items()}
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.pad_id = num_workers, pad_id
        self.data = None

    def prepare_data(self) -> None:
        self.featurize()  # rank zero only: fills the cache

    def setup(self, stage: str | None = None) -> None:
        if self.data is None:
            data = self.featurize().add_column("idx", list(range(len(self.split))))
            self.data = data.with_format("numpy")

    def _rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def _loader(self, rows: np.ndarray, batch_size: int, shuffle: bool, sampler=None) -> DataLoader:
        return DataLoader(
            self.data.select(rows),
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=self.collate,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._rows("train"), self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        rows, sampler = self._rows("val"), None
        if self.trainer is not None and self.trainer.world_size > 1:
            # Lightning's DistributedSampler repeats queries to even out the ranks, and the checkpoint criterion
            # would count them twice; this one gives each rank its share, each query once
            from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

            sampler = UnrepeatedDistributedSampler(range(len(rows)), num_replicas=self.trainer.world_size,
                                                   rank=self.trainer.global_rank, shuffle=False)
        return self._loader(rows, self.eval_batch_size, shuffle=False, sampler=sampler)

    def predict_dataloader(self, split: str = "test") -> DataLoader:
        rows = self._rows(split)
        if "length" in self.data.column_names:  # longest first: little padding, memory peak found early
            rows = rows[np.argsort(-np.asarray(self.data.select(rows)["length"]), kind="stable")]
        return self._loader(rows, self.eval_batch_size, shuffle=False)

    def collate(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        idx = torch.tensor([int(e["idx"]) for e in examples])
        batch = {"idx": idx, **{name: values[idx] for name, values in self.columns.items()}}
        if "features" in examples[0]:
            batch["features"] = torch.from_numpy(np.stack([e["features"] for e in examples]))
            return batch
        ids, mask = pad([e["input_ids"] for e in examples], self.pad_id)
        batch.update(input_ids=ids, attention_mask=mask)
        return batch


def pad(sequences: list, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [n, longest] and their attention mask."""
    from torch.nn.utils.rnn import pad_sequence

    ids = [torch.tensor(np.asarray(s), dtype=torch.long) for s in sequences]
    return (pad_sequence(ids, batch_first=True, padding_value=pad_id),
            pad_sequence([torch.ones_like(i) for i in ids], batch_first=True))
