"""RouterDC (Chen et al., NeurIPS 2024): dual contrastive learning. The query embedding (the encoder's, or a
projection of frozen features) and one learned embedding per expert meet by cosine similarity / temperature;
routing takes the most similar expert.

- sample–LLM loss: for every query, each of its `top_k` best experts (by reward) against its `bottom_k` worst:
  -log e^{s+} / (e^{s+} + sum e^{s-}); a negative counts only when it scored lower than the positive, so ties
  (several experts right) are never pushed apart, and queries every expert scores alike teach nothing. Which of
  several tied experts make the top or bottom k is drawn at random for each batch, so that no expert is favoured
  by its place in the pool. k is at most the number of experts less one.
- sample–sample loss (weight `sample_weight`): a query against a random in-batch query of its cluster (the
  batch's `cluster`, from the first tag; RouterDC clusters the training queries) and every in-batch query of
  another cluster. Queries without a cluster (-1) sit it out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rewardroute.routers.base import Router, mlp


class RouterDCRouter(Router):
    def __init__(self, n_experts: int, feature_dim: int, top_k: int = 3, bottom_k: int = 3,
                 temperature: float = 0.2, sample_weight: float = 1.0, projection: list[int] | None = (256,),
                 dropout: float = 0.1, **kwargs):
        """`projection`: MLP sizes from the features to the routing space (the last is its dimension); null
        keeps the features as they are (fine-tuning the encoder does the work then)."""
        super().__init__(n_experts, feature_dim, **kwargs)
        if temperature <= 0:
            raise ValueError(f"router.module.temperature must be > 0, got {temperature}")
        if top_k < 1 or bottom_k < 1:
            raise ValueError(f"router.module.top_k and bottom_k must be >= 1, got {top_k} and {bottom_k}")
        self.top_k, self.bottom_k = min(top_k, n_experts - 1), min(bottom_k, n_experts - 1)  # a pool of 2 or 3
        sizes = list(projection or [])
        self.project = mlp(feature_dim, sizes[-1], sizes[:-1], dropout) if sizes else nn.Identity()
        self.experts = nn.Parameter(torch.randn(n_experts, sizes[-1] if sizes else feature_dim) * 0.02)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.project(features).float(), dim=-1)
        self._embedded = z  # the sample-sample loss of this batch reads the query embeddings
        return z @ F.normalize(self.experts.float(), dim=-1).T / self.hparams.temperature

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return sample_llm_loss(scores, batch["rewards"].float(), self.top_k, self.bottom_k) + (
            self.hparams.sample_weight * sample_sample_loss(self._embedded, batch["cluster"], self.hparams.temperature)
            if self.hparams.sample_weight else 0.0)


def sample_llm_loss(scores: torch.Tensor, rewards: torch.Tensor, top_k: int, bottom_k: int) -> torch.Tensor:
    n = rewards.shape[1]
    shuffle = torch.rand_like(rewards).argsort(dim=-1)  # tied experts in a random order, others by reward
    best_first = shuffle.gather(-1, rewards.gather(-1, shuffle).argsort(dim=-1, descending=True, stable=True))
    rank = best_first.argsort(dim=-1)  # 0 = best
    positive, negative = rank < top_k, rank >= n - bottom_k
    pairs = positive[:, :, None] & negative[:, None, :] & (rewards[:, :, None] > rewards[:, None, :])  # [b, +, -]
    others = scores[:, None, :].expand(-1, n, -1).masked_fill(~pairs, float("-inf"))
    terms = torch.logsumexp(torch.cat([scores[:, :, None], others], -1), -1) - scores  # -log softmax of the positive
    used = pairs.any(-1)
    return terms[used].mean() if used.any() else scores.sum() * 0.0


def sample_sample_loss(z: torch.Tensor, cluster: torch.Tensor, temperature: float) -> torch.Tensor:
    sim = z @ z.T / temperature
    same = (cluster[:, None] == cluster[None, :]) & (cluster[:, None] >= 0)
    same.fill_diagonal_(False)
    other = (cluster[:, None] != cluster[None, :]) & (cluster[:, None] >= 0) & (cluster[None, :] >= 0)
    anchors = same.any(-1) & other.any(-1)
    if not anchors.any():
        return sim.sum() * 0.0
    pick = torch.rand_like(sim).masked_fill(~same, -1.0).argmax(-1)  # one random same-cluster positive each
    positive = sim.gather(1, pick[:, None])
    logits = torch.cat([positive, sim.masked_fill(~other, float("-inf"))], -1)
    return (torch.logsumexp(logits, -1) - positive.squeeze(1))[anchors].mean()
