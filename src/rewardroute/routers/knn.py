"""kNN router: remembers the training queries' embeddings and reward vectors; a query's score for each expert
is the mean reward of its k most similar training queries (cosine). Nothing is learned by gradient: the memory
is filled from one read of the training queries (routers/base.py, FittedInOnePass)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardroute.routers.base import FittedInOnePass


class KNNRouter(FittedInOnePass):
    fitted = ("memory", "memory_rewards")

    def __init__(self, n_experts: int, feature_dim: int, k: int = 100, **kwargs):
        super().__init__(n_experts, feature_dim, **kwargs)
        if k < 1:
            raise ValueError(f"router.module.k must be >= 1, got {k}")
        self.register_buffer("memory", torch.zeros(0, feature_dim))
        self.register_buffer("memory_rewards", torch.zeros(0, n_experts))

    def fit(self, data: dict[str, torch.Tensor]) -> None:
        self.memory, self.memory_rewards = F.normalize(data["features"], dim=-1), data["rewards"].float()

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        if not len(self.memory):  # before the fit (Lightning's sanity check): no preference
            return torch.zeros(len(features), self.hparams.n_experts, device=features.device)
        similarity = F.normalize(features.float(), dim=-1) @ self.memory.T
        nearest = similarity.topk(min(self.hparams.k, len(self.memory)), dim=-1).indices
        # a query without features (a bag of words none of which training saw) is like no training query:
        # every training query's mean, not k arbitrary ones
        blank = features.float().abs().sum(-1, keepdim=True) == 0
        return torch.where(blank, self.memory_rewards.mean(0), self.memory_rewards[nearest].mean(1))
