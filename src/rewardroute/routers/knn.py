"""kNN router: remembers the training queries' embeddings and reward vectors; a query's score for each expert
is the mean reward of its k most similar training queries (cosine). Nothing is learned by gradient: the fit
starts by reading every training query into the memory (each DDP rank reads them all) and stops after one
epoch. The memory is part of the weights, so a checkpoint routes on its own."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardroute.routers.base import Router, normalized


class KNNRouter(Router):
    def __init__(self, n_experts: int, feature_dim: int, k: int = 100, **kwargs):
        super().__init__(n_experts, feature_dim, **kwargs)
        if k < 1:
            raise ValueError(f"router.module.k must be >= 1, got {k}")
        self.register_buffer("memory", torch.zeros(0, feature_dim))
        self.register_buffer("memory_rewards", torch.zeros(0, n_experts))

    @torch.no_grad()
    def on_train_start(self) -> None:
        features, rewards = [], []
        for batch in self.trainer.datamodule.train_dataloader():
            batch = self.transfer_batch_to_device(batch, self.device, 0)
            features.append(F.normalize(self.features(batch).float(), dim=-1))
            rewards.append(batch["rewards"].float())
        self.memory, self.memory_rewards = torch.cat(features), torch.cat(rewards)
        super().on_train_start()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        return None

    def on_train_epoch_end(self) -> None:
        self.trainer.should_stop = True  # the memory is the whole fit; one epoch gives it its validation

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        if not len(self.memory):  # before the fit (Lightning's sanity check): no preference
            return torch.zeros(len(features), self.hparams.n_experts, device=features.device)
        similarity = F.normalize(features.float(), dim=-1) @ self.memory.T
        nearest = similarity.topk(min(self.hparams.k, len(self.memory)), dim=-1).indices
        return self.memory_rewards[nearest].mean(1)

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        return None

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return normalized(scores)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("memory", "memory_rewards"):  # the memory's size is the checkpoint's, not the empty start's
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
