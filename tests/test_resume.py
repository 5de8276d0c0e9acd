"""Going on with a killed run (`resume=<its folder>`): it ends as the unbroken run would have."""

import json
import re

import pandas as pd
import pytest
from conftest import TINY, read_results, run_entry
from hydra import compose, initialize_config_dir

from rewardroute.main import compose_config
from rewardroute.pipeline.tasks import run_task
from rewardroute.routers.base import Router
from rewardroute.schema import PROJECT_ROOT


class Killed(Exception):
    pass


@pytest.fixture
def kill(monkeypatch):
    """kill(epoch, at=n): the n-th fit from now that starts `epoch` raises there, as a run killed in that epoch.
    Returns the list of the epochs started from now on."""
    def arm(epoch: int, at: int = 1) -> list[int]:
        started = []

        def on_train_epoch_start(self):
            started.append(self.current_epoch)
            if started.count(epoch) == at:
                raise Killed(f"killed at the start of epoch {epoch}")

        monkeypatch.setattr(Router, "on_train_epoch_start", on_train_epoch_start)
        return started
    return arm


def same_run(a, b):
    assert (a / "results.json").read_text() == (b / "results.json").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(a / "predictions.parquet"), pd.read_parquet(b / "predictions.parquet"))


@pytest.mark.parametrize("how", ["resume", "requeued", "validated twice an epoch", "moved"])
def test_a_killed_run_resumed_ends_as_the_unbroken_run(compose_cfg, tmp_path, kill, monkeypatch, how):
    overrides = [*TINY, "trainer.max_epochs=3"]
    overrides += ["trainer.val_check_interval=0.5"] if how == "validated twice an epoch" else []
    run_task(compose_cfg(*overrides, out="unbroken"))
    kill(epoch=2)
    with pytest.raises(Killed):
        run_task(compose_cfg(*overrides, out="killed"))
    killed = tmp_path / "killed"
    assert (killed / "checkpoints" / "last.ckpt").is_file() and not (killed / "results.json").exists()
    if how == "moved":  # e.g. copied off a scratch disk: the record of the best epoch comes along
        killed = killed.rename(tmp_path / "moved")
    started = kill(epoch=-1)
    if how == "requeued":  # SLURM runs the job again in its folder, as it was
        monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    run_task(compose_cfg(*overrides, *([] if how == "requeued" else [f"resume={killed}"]), out=killed.name))
    assert started == [2]  # it went on where it was killed
    same_run(tmp_path / "unbroken", killed)
    names = [sorted(p.name for p in (run / "checkpoints").iterdir()) for run in (killed, tmp_path / "unbroken")]
    assert names[0] == names[1]  # the best epoch's weights, and last.ckpt


def test_a_resumed_run_goes_on_with_the_killed_runs_logs(compose_cfg, tmp_path, kill):
    """The CSV logger's metrics.csv ends as the unbroken run's, in the killed run's version; W&B logs under the
    killed run's id (offline: a second local run with that id, which `wandb sync --id` appends)."""
    overrides = [*(o for o in TINY if o != "~logger"), "trainer.max_epochs=3", "trainer.log_every_n_steps=1"]
    run_task(compose_cfg(*overrides, out="unbroken"))
    kill(epoch=2)
    with pytest.raises(Killed):
        run_task(compose_cfg(*overrides, out="killed"))
    killed = tmp_path / "killed"
    before = pd.read_csv(killed / "csv" / "version_0" / "metrics.csv")
    assert before["epoch"].max() == 1  # the two finished epochs were on disk when it was killed
    kill(epoch=-1)
    run_task(compose_cfg(*overrides, f"resume={killed}", out="killed"))
    assert [p.name for p in (killed / "csv").iterdir()] == ["version_0"]
    logged = [pd.read_csv(run / "csv" / "version_0" / "metrics.csv") for run in (tmp_path / "unbroken", killed)]
    pd.testing.assert_frame_equal(*logged)
    assert logged[1]["val/routed"].notna().sum() == 3  # one validation an epoch, none twice
    runs = sorted(p.name for p in (killed / "wandb").glob("offline-run-*"))
    ids = {re.fullmatch(r"offline-run-\d{8}_\d{6}-([^-]+)(-\d+)?", name).group(1) for name in runs}
    assert len(runs) == 2 and len(ids) == 1  # two in the same second: W&B adds "-1" to the second folder


@pytest.mark.parametrize("epoch", [0, 1], ids=["before-its-second-fold", "in-its-second-fold"])
def test_a_killed_cross_fit_trains_only_the_folds_it_had_not_finished(compose_cfg, tmp_path, kill, epoch):
    overrides = [*TINY, "data.cross_fit_folds=2"]
    run_task(compose_cfg(*overrides, out="unbroken"))
    kill(epoch=epoch, at=2)  # the second fold, which starts where the first left the random generators
    with pytest.raises(Killed):
        run_task(compose_cfg(*overrides, out="killed"))
    killed = tmp_path / "killed"
    started = kill(epoch=-1)
    run_task(compose_cfg(*overrides, f"resume={killed}", out="killed"))
    assert started == [0, 1][epoch:]  # the first fold did not train again
    same_run(tmp_path / "unbroken", killed)


def test_a_finished_run_goes_on_for_more_epochs_under_a_constant_learning_rate(compose_cfg, tmp_path):
    run, constant = tmp_path / "run", "router.scheduler.name=constant"
    run_task(compose_cfg(*TINY, constant, "trainer.max_epochs=1", out="run"))
    run_task(compose_cfg(*TINY, constant, "trainer.max_epochs=2", f"resume={run}", out="run"))
    assert json.loads((run / "timing.json").read_text())["epochs"] == 2
    run_task(compose_cfg(*TINY, "trainer.max_epochs=1", out="linear"))
    with pytest.raises(ValueError, match="trainer.max_epochs .its learning rate follows a 'linear' schedule"):
        run_task(compose_cfg(*TINY, "trainer.max_epochs=2", f"resume={tmp_path / 'linear'}", out="linear"))


def test_a_router_fitted_in_one_pass_resumed_fits_no_more(compose_cfg, tmp_path, kill):
    overrides = [*TINY, "router=knn", "router.freeze_encoder=true"]
    run_task(compose_cfg(*overrides, out="run"))
    before = (tmp_path / "run" / "results.json").read_text()
    started = kill(epoch=-1)
    # its one epoch does not depend on trainer.max_epochs (and it has no learning rate to schedule)
    run_task(compose_cfg(*overrides, "trainer.max_epochs=5", f"resume={tmp_path / 'run'}", out="run"))
    assert started == [] and (tmp_path / "run" / "results.json").read_text() == before


def test_resume_refuses_another_config_a_folder_without_last_ckpt_and_other_tasks(compose_cfg, tmp_path):
    run = tmp_path / "run"
    run_task(compose_cfg(*TINY, "trainer.max_epochs=1", out="run"))
    files = {p: p.stat().st_mtime for p in run.rglob("*") if ".hydra" not in p.parts}
    with pytest.raises(ValueError, match=r"these keys differ: router\.optimizer\.lr. Resume with the run's own overr"):
        run_task(compose_cfg(*TINY, "trainer.max_epochs=1", "router.optimizer.lr=2e-3", f"resume={run}", out="run"))
    with pytest.raises(ValueError, match=r"these keys differ: data\.source\.n_train_per_domain"):  # before any weight
        run_task(compose_cfg(*TINY, "trainer.max_epochs=1", "data.source.n_train_per_domain=50", f"resume={run}",
                             out="run"))
    assert {p: p.stat().st_mtime for p in run.rglob("*") if ".hydra" not in p.parts} == files  # nothing written
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no last.ckpt under that folder"):
        run_task(compose_cfg(*TINY, f"resume={tmp_path / 'empty'}", out="empty"))
    with pytest.raises(ValueError, match="goes on in that run's folder"):
        run_task(compose_cfg(*TINY, f"resume={run}", out="elsewhere"))
    with pytest.raises(ValueError, match="task=evaluate trains nothing"):
        run_task(compose_cfg(*TINY, "task=evaluate", f"resume={run}", out="run"))


def test_the_run_folder_follows_resume(tmp_path):
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        assert compose("config", overrides=["resume=/runs/killed"], return_hydra_config=True).hydra.run.dir == "/runs/killed"
        assert "/outputs/quickstart/runs/" in compose("config", return_hydra_config=True).hydra.run.dir
    compose_config(["hydra.output_subdir=null"], str(tmp_path))  # as Hydra: no record of the config
    assert not (tmp_path / ".hydra").exists()


def test_a_ddp_run_resumes_through_run_py_and_keeps_its_own_config(tmp_path, cache_dir):
    constant = "router.scheduler.name=constant"
    run_entry(["trainer=ddp_cpu", *TINY, constant, "trainer.max_epochs=1"], tmp_path, cache_dir)
    proc = run_entry(["trainer=ddp_cpu", *TINY, constant, "trainer.max_epochs=2", f"resume={tmp_path}"], tmp_path,
                     cache_dir)
    assert "resuming: going on from" in proc.stdout + proc.stderr
    assert read_results(tmp_path)["counts"]["test"] == 120
    assert '"epochs": 2' in (tmp_path / "timing.json").read_text()
    assert "trainer.max_epochs=1" in (tmp_path / ".hydra" / "overrides.yaml").read_text()  # as the run trained
    [resumed] = (tmp_path / ".hydra" / "resumed").iterdir()
    assert "trainer.max_epochs=2" in (resumed / "overrides.yaml").read_text()


def test_a_killed_reward_model_run_resumed_ends_as_the_unbroken_run(compose_cfg, tmp_path, monkeypatch):
    from test_reward_models import IN_PROCESS, TINY_RM

    from rewardroute.reward_models.base import RewardModel

    seen = []

    def on_train_epoch_start(self):  # ARLISS fits its router, its shared model, then its reward models
        seen.append((self.phase, self.current_epoch))
        if seen[-1] == ("reward", 0) and seen.count(("reward", 0)) == 1:
            raise Killed("killed as the reward phase starts")

    overrides = [*TINY_RM, IN_PROCESS, "rm=arliss"]
    run_task(compose_cfg(*overrides, out="unbroken"))
    monkeypatch.setattr(RewardModel, "on_train_epoch_start", on_train_epoch_start)
    with pytest.raises(Killed):
        run_task(compose_cfg(*overrides, out="killed"))
    run_task(compose_cfg(*overrides, f"resume={tmp_path / 'killed'}", out="killed"))
    assert seen.count(("router", 0)) == 1 and seen.count(("shared", 0)) == 1  # its first phases did not train again
    unbroken, resumed = (untimed(read_results(tmp_path / run)) for run in ("unbroken", "killed"))
    assert resumed == unbroken and resumed["test"]["acc"] >= 0.9


def untimed(results: dict) -> dict:
    """The results without what differs between two runs of one fit: seconds, the run's folder and overrides."""
    if not isinstance(results, dict):
        return results
    return {k: untimed(v) for k, v in results.items() if "seconds" not in k and k not in ("cost", "reward_model", "job")}
