"""Per-expert score regression: a head (linear or MLP) predicts every expert's reward for the query
(binary cross-entropy on rewards in [0, 1], scores are then logits; or mean squared error); it routes to the
highest prediction."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardroute.routers.base import Router, mlp, normalized


class ScoreRegressionRouter(Router):
    def __init__(self, n_experts: int, feature_dim: int, loss: str = "bce", dropout: float = 0.1,
                 hidden: list[int] = (), **kwargs):
        super().__init__(n_experts, feature_dim, **kwargs)
        if loss not in ("bce", "mse"):
            raise ValueError(f"router.module.loss must be 'bce' (rewards in [0, 1]) or 'mse', got {loss!r}")
        self.head = mlp(feature_dim, n_experts, list(hidden), dropout)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features).float()

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        rewards = batch["rewards"].float()
        if self.hparams.loss == "mse":
            return F.mse_loss(scores, rewards)
        if rewards.min() < 0 or rewards.max() > 1:
            raise ValueError("router.module.loss=bce needs rewards in [0, 1] (e.g. data.reward=metric on accuracy "
                             f"data); got values in [{rewards.min():.3g}, {rewards.max():.3g}]: use loss=mse")
        return F.binary_cross_entropy_with_logits(scores, rewards)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return normalized(scores.sigmoid() if self.hparams.loss == "bce" else scores)
