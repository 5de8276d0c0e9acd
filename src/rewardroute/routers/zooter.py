"""Zooter's router (DESIGN.md section 3): encoder + pooling + linear head over the N experts, trained by
KL divergence to the silver labels; at inference it routes each query to its argmax expert."""

from __future__ import annotations

from typing import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MeanMetric


class ZooterRouter(L.LightningModule):
    def __init__(
        self,
        n_experts: int,
        feature_dim: int,
        encoder: nn.Module | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: dict | None = None,
        dropout: float = 0.1,
    ):
        """`encoder` maps (input_ids, attention_mask) to vectors of size `feature_dim`; without one, batches
        carry precomputed `features` (a frozen encoder). `optimizer` is a partial taking the parameters;
        `scheduler` is {name, warmup_ratio} for transformers.get_scheduler."""
        super().__init__()
        self.save_hyperparameters(ignore=["encoder", "optimizer"])
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, n_experts))
        self.optimizer_factory = optimizer or torch.optim.AdamW
        self.val_loss, self.val_routed, self.val_routed_best = MeanMetric(), MeanMetric(), MaxMetric()

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.encoder is None:
            features = batch["features"]
        else:
            features = self.encoder(batch["input_ids"], batch["attention_mask"])
        return self.head(features)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(logits.float(), dim=-1), targets, reduction="batchmean")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch), batch["targets"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["idx"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch)
        routed = batch["metric"].gather(1, logits.argmax(-1, keepdim=True)).squeeze(1)
        self.val_loss.update(self.loss(logits, batch["targets"]), weight=len(routed))
        self.val_routed.update(routed)

    def on_train_start(self) -> None:
        self.val_routed_best.reset()  # forget the sanity-check batches

    def on_validation_epoch_end(self) -> None:
        routed = self.val_routed.compute()
        self.val_routed_best.update(routed)
        self.log("val/loss", self.val_loss.compute())
        self.log("val/routed", routed, prog_bar=True)  # the routed expert's metric: the checkpoint criterion
        self.log("val/routed_best", self.val_routed_best.compute())
        self.val_loss.reset()
        self.val_routed.reset()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"idx": batch["idx"], "logits": self(batch).float()}

    def configure_optimizers(self):
        from transformers import get_scheduler

        optimizer = self.optimizer_factory(self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = get_scheduler(
            self.hparams.scheduler["name"],
            optimizer,
            num_warmup_steps=int(self.hparams.scheduler.get("warmup_ratio", 0.0) * total),
            num_training_steps=total,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
