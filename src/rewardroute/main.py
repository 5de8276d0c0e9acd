"""The entry point of every run, baseline and sweep: `python run.py [overrides]` or `rewardroute [overrides]`.

Hydra composes conf/config.yaml with the overrides; the task the config names runs (see pipeline/tasks.py).
Nothing heavy is imported before composition, so `--help` and `--cfg job` answer at once.
"""

import hydra
from omegaconf import DictConfig

from rewardroute.schema import PROJECT_ROOT, register_configs

register_configs()


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig):
    from rewardroute.pipeline.tasks import run_task

    return run_task(cfg)
