"""The baseline: one reward model on every domain, an encoder with a scalar head."""

from __future__ import annotations

import torch
from torch import nn

from rewardroute.reward_models.base import EncoderHead, RewardModel


class SingleRM(RewardModel):
    def __init__(self, domains: list[str], encoder: nn.Module, dropout: float = 0.1, **kwargs):
        super().__init__(domains, **kwargs)
        self.rm = EncoderHead(encoder, 1, dropout)

    def rewards(self, input_ids, attention_mask, route):
        return self.rm(input_ids, attention_mask).squeeze(-1), torch.zeros((), device=input_ids.device)
