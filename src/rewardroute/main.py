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


def compose_config(overrides: list[str], output_dir: str):
    """The config `python run.py <overrides>` would run, composed in process and writing into `output_dir`
    (for tests, benchmarks and notebooks: `run_task(compose_config([...], "outputs/x"))`). Saved as
    `output_dir/.hydra/config.yaml` (`.hydra/resumed/<date-time>/` with resume=..., nowhere with
    hydra.output_subdir=null), where a Hydra run saves it (task=ensemble and task=route rebuild routers from it)."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    HydraConfig().set_config(cfg)  # resolves ${hydra:...} as in a run
    subdir = cfg.hydra.output_subdir  # .hydra, or .hydra/resumed/<date-time> for resume=...; null: none
    with open_dict(cfg):
        del cfg["hydra"]  # a task never sees it, as under @hydra.main
        cfg.paths.output_dir = str(output_dir)
    if subdir is not None:
        (Path(output_dir) / subdir).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, Path(output_dir) / subdir / "config.yaml")
    return cfg
