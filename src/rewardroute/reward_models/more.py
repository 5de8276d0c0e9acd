"""MoRE: one reward model with a sparse mixture-of-experts layer inside. The layer sits between the encoder's
pooled output and the scalar head: a gate scores K experts per response, the top k (2) run and are mixed,
the rest are skipped; a residual connection and a layer norm follow, as around a transformer's FFN.

Collapse onto few experts (the gate sending everything to one) is countered by Switch Transformer's
load-balancing loss (`balance_weight`) and watched: each epoch logs every expert's load (the share of inputs
that use it, `moe/<stage>/load/<e>`), and a load above `collapse_load` raises a logged alarm.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from rewardroute.reward_models.base import RewardModel
from rewardroute.routers.base import mlp

log = logging.getLogger(__name__)


class TopKMoE(nn.Module):
    """x [n, dim] -> sum over the top-k experts of renormalised gate probability x expert(x); only those run."""

    def __init__(self, dim: int, n_experts: int = 8, top_k: int = 2, hidden: int | None = None, dropout: float = 0.0):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"rm.module.top_k must be between 1 and n_experts={n_experts}, got {top_k}")
        self.top_k = top_k
        self.gate = nn.Linear(dim, n_experts, bias=False)
        self.experts = nn.ModuleList(mlp(dim, dim, [hidden] if hidden else [], dropout) for _ in range(n_experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The mixture [n, dim], the gate probabilities [n, K] and the chosen experts [n, k]."""
        probs = self.gate(x).float().softmax(-1)
        weights, chosen = probs.topk(self.top_k, dim=-1)
        weights = (weights / weights.sum(-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if len(rows):
                out = out.index_add(0, rows, weights[rows, slot].unsqueeze(-1) * expert(x[rows]))
        return out, probs, chosen


def balance_loss(probs: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """K * sum_e f_e * P_e (Switch Transformer): f_e the share of top-k slots given to expert e, P_e its mean gate
    probability. 1 when both are uniform; it grows as the gate concentrates."""
    n_experts = probs.shape[-1]
    share = F.one_hot(chosen, n_experts).float().mean((0, 1))
    return n_experts * (share * probs.mean(0)).sum()


class MoRE(RewardModel):
    dense = False

    def __init__(self, domains: list[str], encoder: nn.Module, n_experts: int = 8, top_k: int = 2,
                 expert_hidden: int | None = None, dropout: float = 0.1, balance_weight: float = 0.01,
                 collapse_load: float = 0.9, **kwargs):
        """`expert_hidden`: each expert's hidden width (None: the encoder's width). `collapse_load`: the alarm
        threshold on the share of inputs that one expert serves (top-k of K experts: k/K when balanced)."""
        super().__init__(domains, **kwargs)
        self.encoder = encoder
        self.moe = TopKMoE(encoder.dim, n_experts, top_k, expert_hidden or encoder.dim, dropout)
        self.norm = nn.LayerNorm(encoder.dim)
        self.head = mlp(encoder.dim, 1, [], dropout)
        # inputs per expert and inputs seen, [K + 1], for training and for evaluation (validation, prediction)
        self.register_buffer("load_train", torch.zeros(n_experts + 1), persistent=False)
        self.register_buffer("load_eval", torch.zeros(n_experts + 1), persistent=False)

    def rewards(self, input_ids, attention_mask, route):
        h = self.encoder(input_ids, attention_mask)
        mixed, probs, chosen = self.moe(h)
        load = self.load_train if self.training else self.load_eval
        load[:-1] += F.one_hot(chosen, len(self.moe.experts)).sum((0, 1)).to(load.dtype)
        load[-1] += len(h)
        reward = self.head(self.norm(h + mixed)).squeeze(-1)
        return reward, self.hparams.balance_weight * balance_loss(probs, chosen)

    def expert_load(self, stage: str) -> list[float]:
        load = getattr(self, f"load_{stage}")
        return (load[:-1] / load[-1].clamp(min=1)).tolist()

    def _report_load(self, stage: str) -> None:
        shares = self.expert_load(stage)
        getattr(self, f"load_{stage}").zero_()
        busiest = max(range(len(shares)), key=shares.__getitem__)
        collapsed = shares[busiest] > self.hparams.collapse_load
        if collapsed:
            log.warning("MoRE collapse alarm (%s): expert %d serves %.0f%% of inputs (alarm above %.0f%%); raise "
                        "rm.module.balance_weight (now %g)", stage, busiest, 100 * shares[busiest],
                        100 * self.hparams.collapse_load, self.hparams.balance_weight)
        self.log_dict({**{f"moe/{stage}/load/{e}": s for e, s in enumerate(shares)},
                       f"moe/{stage}/max_load": max(shares), f"moe/{stage}/collapsed": float(collapsed)})

    def on_train_epoch_end(self) -> None:
        self._report_load("train")

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._report_load("eval")

    def on_predict_epoch_start(self) -> None:
        self.load_eval.zero_()

    def summary(self) -> dict:
        return {"expert_load": [round(s, 4) for s in self.expert_load("eval")]}
