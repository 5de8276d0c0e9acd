"""What every reward model shares, as a LightningModule: Bradley-Terry training on preference pairs, pairwise
accuracy per domain on validation (the checkpoint criterion: its mean over domains), prediction of both rewards.

An architecture implements `rewards` (token ids of prompt + response -> one reward per row, plus an auxiliary
loss) and, when a domain router picks its reward model (`routed = True`), `route_logits` (the prompt's ids ->
one logit per domain). A routed model trains in phases, as separate models would (pipeline/train_rm.py):
`phase = "router"` fits the router to the domain labels (cross-entropy, checkpoint by validation routing
accuracy); optionally `phase = "shared"` fits the first reward model on every pair, and `spread_shared` copies it
to every domain as its start; then `phase = "reward"` fits the reward models, each pair going to the reward model
of its labelled domain. In validation, test and use every pair goes to the router's pick. Batches:
data/pair_datamodule.py.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric
from torchmetrics.classification import MulticlassAccuracy

from rewardroute.reward_models.bradley_terry import PairMetrics, bradley_terry, centring
from rewardroute.routers.base import Router, check_scheduler, mlp


class EncoderHead(nn.Module):
    """An encoder and a linear head: token ids -> [rows, out_dim] (a reward model with out_dim 1, a domain
    classifier with one output per domain)."""

    def __init__(self, encoder: nn.Module, out_dim: int, dropout: float = 0.1):
        super().__init__()
        self.encoder, self.head = encoder, mlp(encoder.dim, out_dim, [], dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask))


def per_route(route: torch.Tensor, score: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """One reward per row when each route (domain) has its own reward model: `score(d, rows)` scores the rows
    routed to d, as a group; the rewards come back in row order."""
    out = torch.zeros(len(route), device=route.device)
    for d in route.unique().tolist():
        rows = route == d
        out[rows] = score(d, rows).float()
    return out


class RewardModel(L.LightningModule):
    routed = False  # True: a domain router picks the reward model of each pair (an extra encoder pass per pair)
    dense = True  # False: a step leaves some parameters unused (experts, domain models, adapters not picked)

    def __init__(
        self,
        domains: list[str],
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: dict | None = None,
        margin: float = 0.0,
        center_weight: float = 0.0,
    ):
        """`domains` names the domain indices of the batches; `optimizer` is a partial taking the parameters;
        `scheduler` is {name, warmup_ratio} for transformers.get_scheduler; `margin` and `center_weight` shape
        the loss (bradley_terry.py)."""
        super().__init__()
        check_scheduler(scheduler)
        self.save_hyperparameters(ignore=["encoder", "optimizer"])
        self.domains = list(domains)
        if self.routed and len(self.domains) < 2:
            raise ValueError(f"{type(self).__name__} routes each pair to one of its domains' reward models, and the "
                             f"data has {len(self.domains)} domain ({self.domains}): use rm=single or rm=more, or "
                             "data with several domains")
        self.phase = "reward"
        self.optimizer_factory = optimizer or torch.optim.AdamW
        self.val_metrics, self.val_best = PairMetrics(self.domains), MaxMetric()
        self.val_router = MulticlassAccuracy(len(self.domains), average="micro") if self.routed else None

    def rewards(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                route: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[rows] rewards (route: each row's domain index, for routed models) and an auxiliary loss (scalar)."""
        raise NotImplementedError

    def route_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[pairs, domains] router logits from the prompt's ids (routed models only)."""
        raise NotImplementedError

    def spread_shared(self) -> None:
        """Copy the first domain's reward model (trained on every domain in the shared phase) to every domain."""
        raise NotImplementedError

    def route(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
              domain: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each pair's domain index for the reward models, and the router's logits: in training the labelled
        domain (no logits); else the router's pick; zeros and no logits for models without a router."""
        if not self.routed or self.phase == "shared":
            return torch.zeros(len(prompt_ids), dtype=torch.long, device=prompt_ids.device), None
        if self.training and domain is not None:
            return domain, None
        logits = self.route_logits(prompt_ids, prompt_mask)
        return logits.argmax(-1), logits

    def pair_rewards(self, batch: dict[str, torch.Tensor]):
        route, logits = self.route(batch["prompt_ids"], batch["prompt_mask"], batch["domain"])
        rewards, aux = self.rewards(batch["input_ids"], batch["attention_mask"], route.repeat(2))
        chosen, rejected = rewards.float().chunk(2)
        return chosen, rejected, aux, route, logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        n = len(batch["idx"])
        if self.phase == "router":
            loss = F.cross_entropy(self.route_logits(batch["prompt_ids"], batch["prompt_mask"]).float(), batch["domain"])
            self.log("train/router_loss", loss, prog_bar=True, batch_size=n)
            return loss
        chosen, rejected, aux, _, _ = self.pair_rewards(batch)
        bt = bradley_terry(chosen, rejected, batch["tie"], self.hparams.margin)
        loss = bt + self.hparams.center_weight * centring(chosen, rejected) + aux
        self.log_dict({"train/loss": loss, "train/bt": bt, "train/aux": aux}, batch_size=n)
        self.log("train/acc", (chosen > rejected).float().mean(), prog_bar=True, batch_size=n)
        return loss

    def on_train_start(self) -> None:
        self.val_best.reset()  # forget the sanity-check batches

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if self.phase == "router":
            self.val_router.update(self.route_logits(batch["prompt_ids"], batch["prompt_mask"]), batch["domain"])
            return
        chosen, rejected, _, _, logits = self.pair_rewards(batch)
        self.val_metrics.update(chosen, rejected, batch["domain"], batch["tie"])
        if logits is not None:
            self.val_router.update(logits, batch["domain"])

    def on_validation_epoch_end(self) -> None:
        if self.val_router is not None and self.val_router.update_count:
            self.log("val/router_acc", self.val_router.compute())  # the router phase's checkpoint criterion
            self.val_router.reset()
        if self.phase == "router":
            return
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.val_best.update(values["acc"])
        self.log("val/acc", values.pop("acc"), prog_bar=True)  # mean over domains: the checkpoint criterion
        self.log("val/acc_best", self.val_best.compute())
        self.log_dict({f"val/{k}": v for k, v in values.items()})

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        chosen, rejected, _, route, _ = self.pair_rewards(batch)
        return {"idx": batch["idx"], "chosen": chosen, "rejected": rejected, "route": route}

    def summary(self) -> dict:
        """What the architecture adds to results.json after the test predictions (e.g. MoRE's expert load)."""
        return {}

    def save_extra(self, folder) -> None:
        """Files the exported reward model carries beside its weights (ARLISS: its adapters in peft's format)."""

    configure_optimizers = Router.configure_optimizers  # the routers' optimizer and warm-up schedule
