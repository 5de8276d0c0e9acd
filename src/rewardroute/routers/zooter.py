"""Zooter's router (DESIGN.md section 3): encoder + pooling + a linear head over the N experts (or an MLP,
`hidden`), trained by KL divergence to the silver labels; it routes each query to its argmax expert."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardroute.routers.base import Router, mlp


class ZooterRouter(Router):
    def __init__(self, n_experts: int, feature_dim: int, dropout: float = 0.1, hidden: list[int] = (), **kwargs):
        super().__init__(n_experts, feature_dim, **kwargs)
        self.head = mlp(feature_dim, n_experts, list(hidden), dropout)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.kl_div(F.log_softmax(scores.float(), dim=-1), batch["targets"], reduction="batchmean")
