"""The Bradley-Terry loss of reward models and the metrics of preference pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.aggregation import CatMetric
from torchmetrics.classification import BinaryAccuracy


def bradley_terry(chosen: torch.Tensor, rejected: torch.Tensor, tie: torch.Tensor | None = None,
                  margin: float = 0.0) -> torch.Tensor:
    """Mean over all pairs of -log sigmoid(r_chosen - r_rejected - margin) for a strict pair; a tie (tie = 1)
    pulls its two rewards together instead: binary cross-entropy of sigmoid(r_chosen - r_rejected) against 1/2,
    no margin."""
    tie = torch.zeros_like(chosen) if tie is None else tie.to(chosen.dtype)
    return F.binary_cross_entropy_with_logits(chosen - rejected - margin * (1 - tie), 1 - tie / 2)


def centring(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Reward centring (Eisenstein et al. 2023): mean((r_chosen + r_rejected)^2) keeps rewards near zero, which
    Bradley-Terry alone leaves free."""
    return ((chosen + rejected) ** 2).mean()


class PairMetrics(nn.Module):
    """Pairwise accuracy per domain (right when r_chosen > r_rejected; ties are not counted), its mean over the
    domains seen (`acc`), and the mean and spread of the rewards."""

    def __init__(self, domains: list[str]):
        super().__init__()
        self.domains = list(domains)
        self.acc = nn.ModuleList([BinaryAccuracy() for _ in self.domains])
        self.rewards = CatMetric()

    def update(self, chosen: torch.Tensor, rejected: torch.Tensor, domain: torch.Tensor, tie: torch.Tensor) -> None:
        strict = tie == 0
        correct = (chosen > rejected).long()
        for d in domain[strict].unique().tolist():
            rows = strict & (domain == d)
            self.acc[d].update(correct[rows], torch.ones_like(correct[rows]))
        self.rewards.update(torch.cat([chosen, rejected]).detach().float())

    def compute(self) -> dict[str, torch.Tensor]:
        per_domain = {f"acc/{name}": m.compute() for name, m in zip(self.domains, self.acc) if m.update_count}
        rewards = self.rewards.compute() if self.rewards.update_count else torch.zeros(2)
        mean = torch.stack(list(per_domain.values())).mean() if per_domain else torch.tensor(float("nan"))
        return {"acc": mean, **per_domain, "reward_mean": rewards.mean(), "reward_std": rewards.std()}

    def reset(self) -> None:
        for m in [*self.acc, self.rewards]:
            m.reset()
