"""The Bradley-Terry loss of reward models and the metrics of preference pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


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


class PairMetrics(Metric):
    """Pairwise accuracy per domain (right when r_chosen > r_rejected, half right when the two are equal; ties
    are not counted), its mean over the domains seen (`acc`), and the mean and spread of the rewards. Counts are
    summed over DDP ranks before any ratio, so ranks that saw different domains agree."""

    full_state_update = False  # an update needs only its own batch

    def __init__(self, domains: list[str]):
        super().__init__()
        self.domains = list(domains)
        self.add_state("right", torch.zeros(len(self.domains)), dist_reduce_fx="sum")
        self.add_state("pairs", torch.zeros(len(self.domains)), dist_reduce_fx="sum")
        self.add_state("rewards", [], dist_reduce_fx="cat")

    def update(self, chosen: torch.Tensor, rejected: torch.Tensor, domain: torch.Tensor, tie: torch.Tensor) -> None:
        strict = tie == 0
        right = (chosen > rejected).float() + 0.5 * (chosen == rejected).float()
        self.right.index_add_(0, domain[strict], right[strict])
        self.pairs.index_add_(0, domain[strict], torch.ones_like(right[strict]))
        self.rewards.append(torch.cat([chosen, rejected]).detach().float())

    def compute(self) -> dict[str, torch.Tensor]:
        seen = self.pairs > 0
        accuracy = self.right / self.pairs.clamp(min=1)
        per_domain = {f"acc/{name}": accuracy[d] for d, name in enumerate(self.domains) if seen[d]}
        rewards = dim_zero_cat(self.rewards) if len(self.rewards) else torch.zeros(2)
        mean = accuracy[seen].mean() if seen.any() else torch.tensor(float("nan"))
        return {"acc": mean, **per_domain, "reward_mean": rewards.mean(), "reward_std": rewards.std()}
