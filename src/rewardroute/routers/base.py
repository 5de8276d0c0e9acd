"""What every router shares, as a LightningModule: the features of a query (an encoder's pooled output, or
precomputed embeddings when the encoder is frozen), one score per expert (routing takes the argmax), training by
the router's own loss, validation by the metric of the expert it routes to, and prediction of the scores.

A new router subclasses `Router` and implements `scores` and `loss` (and `probabilities` where its scores are
quality estimates rather than logits); a YAML file in conf/router/ names it.
Batches carry, per query: `idx`, `targets` (silver labels), `rewards` (what the labels came from), `metric`
(the evaluation values), `cluster` (an id from the query's first tag, -1 without), `task` (the index of the
query's subset: a router may learn from it on training queries, never read it to route), and `input_ids` /
`attention_mask` or `features`.

A router fitted in closed form from one read of the training queries subclasses `FittedInOnePass` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import lightning as L
import torch
from torch import nn
from torchmetrics import MaxMetric, MeanMetric


def check_scheduler(scheduler: dict | None) -> None:
    """A name transformers.get_scheduler knows and a warm-up share of the run in [0, 1), before training: a
    warm-up past the run's end would never reach the learning rate asked for."""
    if not scheduler:
        return
    from transformers import SchedulerType

    names = [s.value for s in SchedulerType]
    if scheduler["name"] not in names:
        raise ValueError(f"scheduler.name={scheduler['name']!r} (router.scheduler, or rm.scheduler for a reward "
                         f"model) is not one of transformers.get_scheduler's: {names}")
    if not 0 <= scheduler.get("warmup_ratio", 0.0) < 1:
        raise ValueError(f"scheduler.warmup_ratio={scheduler['warmup_ratio']} (router.scheduler, or rm.scheduler "
                         "for a reward model) is the share of the training steps spent warming up: it must be in [0, 1)")


class Router(L.LightningModule):
    def __init__(
        self,
        n_experts: int,
        feature_dim: int,
        encoder: nn.Module | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: dict | None = None,
    ):
        """`encoder` maps (input_ids, attention_mask) to vectors of size `feature_dim`; without one, batches
        carry precomputed `features`. `optimizer` is a partial taking the parameters; `scheduler` is
        {name, warmup_ratio} for transformers.get_scheduler."""
        super().__init__()
        check_scheduler(scheduler)
        self.save_hyperparameters(ignore=["encoder", "optimizer"])
        self.encoder = encoder
        self.optimizer_factory = optimizer or torch.optim.AdamW
        self.val_loss, self.val_routed, self.val_routed_best = MeanMetric(), MeanMetric(), MaxMetric()

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """[batch, experts]: higher means route there."""
        raise NotImplementedError

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        raise NotImplementedError

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        """[batch, experts] summing to 1, argmax as `scores`: what calibration, the confidence fallback and
        cost-aware routing read. Logits by default."""
        return scores.float().softmax(-1)

    def fit_notes(self, subsets: list[str]) -> list[str]:
        """Lines for the run's report on what training chose (`subsets`: the data's, in the order of the batches'
        `task` ids); none by default."""
        return []

    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.encoder is None:
            return batch["features"]
        return self.encoder(batch["input_ids"], batch["attention_mask"])

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.scores(self.features(batch))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        loss = self.loss(self(batch), batch)
        if loss is not None:
            self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["idx"]))
        return loss

    def on_train_start(self) -> None:
        self.val_routed_best.reset()  # forget the sanity-check batches

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        scores = self(batch)
        routed = batch["metric"].gather(1, scores.argmax(-1, keepdim=True)).squeeze(1)
        self.val_routed.update(routed)
        loss = self.loss(scores, batch)
        if loss is not None:
            self.val_loss.update(loss, weight=len(routed))

    def on_validation_epoch_end(self) -> None:
        routed = self.val_routed.compute()
        self.val_routed_best.update(routed)
        self.log("val/routed", routed, prog_bar=True)  # the metric of the routed expert: the checkpoint criterion
        self.log("val/routed_best", self.val_routed_best.compute())
        if self.val_loss.update_count:
            self.log("val/loss", self.val_loss.compute())
        self.val_loss.reset()
        self.val_routed.reset()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        scores = self(batch).float()
        return {"idx": batch["idx"], "scores": scores, "probs": self.probabilities(scores)}

    def configure_optimizers(self):
        from transformers import get_scheduler

        trainable = [p for p in self.parameters() if p.requires_grad]
        if not trainable:
            return None  # a router that only memorises (kNN)
        optimizer = self.optimizer_factory(trainable)
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


class FittedInOnePass(Router):
    """A router without gradient training (kNN, per-task probes): `fit` receives every training query's
    features and batch columns at the start of training (each DDP rank reads them all); it trains for one epoch
    (pipeline/train.py), which gives it its validation. What `fit` sets lives in the buffers named in `fitted`,
    which take the checkpoint's sizes on loading, so a checkpoint routes on its own. Scores are quality estimates."""

    fitted: tuple[str, ...] = ()

    def fit(self, data: dict[str, torch.Tensor]) -> None:
        """Set the `fitted` buffers from {"features": [queries, dim], column: [queries, ...]}."""
        raise NotImplementedError

    @torch.no_grad()
    def on_train_start(self) -> None:
        read: dict[str, list[torch.Tensor]] = {}
        self.eval()  # the features as prediction will see them (no dropout in an encoder that is not frozen)
        for batch in self.trainer.datamodule.train_dataloader():
            batch = self.transfer_batch_to_device(batch, self.device, 0)
            columns = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "features")}
            for name, values in {"features": self.features(batch).float(), **columns}.items():
                read.setdefault(name, []).append(values)
        self.train()
        self.fit({name: torch.cat(values) for name, values in read.items()})
        super().on_train_start()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        return None

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        return None

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return normalized(scores)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.fitted:  # a fitted buffer's size is the checkpoint's, not the empty start's
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def normalized(quality: torch.Tensor) -> torch.Tensor:
    """Quality estimates as shares that sum to 1 (uniform where all are 0): the `probabilities` of routers that
    estimate each expert's score. A query with negative estimates (raw reward-model logits) is shifted to a
    minimum of 0 first, so the largest share stays the expert the router picks."""
    quality = quality.float()
    quality = quality - quality.min(-1, keepdim=True).values.clamp_max(0) + 1e-6
    return quality / quality.sum(-1, keepdim=True)


def mlp(in_dim: int, out_dim: int, hidden: list[int] = (), dropout: float = 0.0) -> nn.Sequential:
    """Dropout, then Linear layers with GELU between them: in_dim -> *hidden -> out_dim."""
    sizes = [in_dim, *hidden, out_dim]
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    for i, (a, b) in enumerate(pairwise(sizes)):
        layers += [nn.Linear(a, b)] + ([nn.GELU(), nn.Dropout(dropout)] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)
