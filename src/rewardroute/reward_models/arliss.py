"""ARLISS: one small LM carries LoRA adapters (peft): a router adapter with a domain-classification head, and
one reward adapter per domain with its own scalar head; the adapter in use is switched per input (rows are
grouped by their route). The backbone's weights are frozen and shared: only adapters and heads train.

Each head is a peft `modules_to_save` module of its adapter, so peft switches it with the adapter and saves it
in the adapter's own file (`save_adapters`): a reward adapter never comes back without its head.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from rewardroute.reward_models.base import RewardModel, per_route
from rewardroute.routers.base import mlp

ROUTER = "router"


class AdaptedHeads(nn.Module):
    """What peft adapts: the encoder with a reward head and a router head; `head` picks the one to apply."""

    def __init__(self, encoder: nn.Module, n_domains: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.reward_head = mlp(encoder.dim, 1, [], dropout)
        self.router_head = mlp(encoder.dim, n_domains, [], dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, head: str) -> torch.Tensor:
        return getattr(self, f"{head}_head")(self.encoder(input_ids, attention_mask))


def adapter_names(domains: list[str]) -> list[str]:
    """`reward_<i>_<domain as an identifier>`: unique, and usable as module keys and folder names."""
    return [f"reward_{i}_{re.sub(r'[^0-9a-zA-Z]+', '_', d).strip('_').lower()}" for i, d in enumerate(domains)]


class ARLISS(RewardModel):
    routed = True
    dense = False

    def __init__(self, domains: list[str], encoder: nn.Module, rank: int = 8, alpha: int = 16,
                 lora_dropout: float = 0.1, target_modules: list[str] | None = None, dropout: float = 0.1, **kwargs):
        """`target_modules`: the layers LoRA adapts (None: peft's default for the encoder's model type, e.g. the
        query and value projections of BERT)."""
        from peft import LoraConfig, get_peft_model
        from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULT_TARGETS

        super().__init__(domains, **kwargs)
        model_type = encoder.model.config.model_type
        targets = target_modules or DEFAULT_TARGETS.get(model_type)
        if not targets:
            raise ValueError(f"peft has no default LoRA layers for model type {model_type!r}: "
                             "set rm.module.target_modules (names of its linear layers)")

        def lora(head: str) -> LoraConfig:
            return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=lora_dropout, target_modules=list(targets),
                              modules_to_save=[head])

        self.adapters = adapter_names(self.domains)
        self.model = get_peft_model(AdaptedHeads(encoder, len(self.domains), dropout), lora("router_head"),
                                    adapter_name=ROUTER)
        for name in self.adapters:
            self.model.add_adapter(name, lora("reward_head"))
        self.use(ROUTER)

    def use(self, adapter: str) -> None:
        """Make `adapter` (and its head) the active one. peft's switch freezes every other adapter; all of them
        stay trainable here, since one training step runs the router and several reward adapters."""
        self.model.set_adapter(adapter)
        self.model.set_requires_grad([ROUTER, *self.adapters], True)

    def route_logits(self, input_ids, attention_mask):
        self.use(ROUTER)
        return self.model(input_ids, attention_mask, head=ROUTER)

    def _reward(self, d: int, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.use(self.adapters[d])
        return self.model(input_ids, attention_mask, head="reward").squeeze(-1)

    def spread_shared(self):
        """Every reward adapter and its head become copies of the first's (peft names them by adapter)."""
        params = dict(self.model.named_parameters())
        first = f".{self.adapters[0]}."
        with torch.no_grad():
            for name, p in params.items():
                if first in name:
                    for other in self.adapters[1:]:
                        params[name.replace(first, f".{other}.")].copy_(p)

    def rewards(self, input_ids, attention_mask, route):
        rewards = per_route(route, lambda d, rows: self._reward(d, input_ids[rows], attention_mask[rows]))
        return rewards, torch.zeros((), device=input_ids.device)

    def save_adapters(self, folder: str | Path) -> None:
        """Every adapter with its head, one folder each (peft's format), and which domain each one serves."""
        self.model.save_pretrained(str(folder))
        (Path(folder) / "domains.json").write_text(json.dumps(dict(zip(self.adapters, self.domains)), indent=2) + "\n")

    def load_adapters(self, folder: str | Path) -> None:
        """Load adapters and heads saved by `save_adapters` into this model's adapters of the same names."""
        from peft.utils import load_peft_weights, set_peft_model_state_dict

        for name in [ROUTER, *self.adapters]:
            set_peft_model_state_dict(self.model, load_peft_weights(str(Path(folder) / name)), adapter_name=name)

    def save_extra(self, folder) -> None:
        self.save_adapters(Path(folder) / "adapters")
