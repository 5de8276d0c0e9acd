"""RODOS: an external router (a domain classifier reading the prompt) picks one of K domain reward models, each
a whole encoder with a scalar head trained on its domain's pairs. All K + 1 models are held in memory: the
parameters and loading cost that ARLISS and MoRE save."""

from __future__ import annotations

import copy

import torch
from torch import nn

from rewardroute.reward_models.base import EncoderHead, RewardModel, per_route


class RODOS(RewardModel):
    routed = True
    dense = False

    def __init__(self, domains: list[str], encoder: nn.Module, dropout: float = 0.1, **kwargs):
        """Every model starts from a copy of `encoder` (the backbone's weights)."""
        super().__init__(domains, **kwargs)
        self.router = EncoderHead(copy.deepcopy(encoder), len(self.domains), dropout)
        self.rms = nn.ModuleList(
            EncoderHead(copy.deepcopy(encoder) if d else encoder, 1, dropout) for d in range(len(self.domains))
        )

    def route_logits(self, input_ids, attention_mask):
        return self.router(input_ids, attention_mask)

    def spread_shared(self):
        for rm in self.rms[1:]:
            rm.load_state_dict(self.rms[0].state_dict())

    def rewards(self, input_ids, attention_mask, route):
        rewards = per_route(route, lambda d, rows: self.rms[d](input_ids[rows], attention_mask[rows]).squeeze(-1))
        return rewards, torch.zeros((), device=input_ids.device)
