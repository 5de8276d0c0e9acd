"""The Hydra callback of experiment=rm_routers: when a sweep of task=train_rm jobs ends, one table of them all.
Imported when Hydra starts, so it imports nothing heavy until the sweep is over."""

from __future__ import annotations

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class CollectRewardModels(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from rewardroute.reward_models.report import collect

        collect(config.hydra.sweep.dir)
