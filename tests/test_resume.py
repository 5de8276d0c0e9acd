"""Going on with a killed run (`resume=<its folder>`): it ends as the unbroken run would have."""

import pandas as pd
import pytest
from conftest import TINY, read_results, run_entry
from hydra import compose, initialize_config_dir

from rewardroute.pipeline.tasks import run_task
from rewardroute.routers.base import Router
from rewardroute.schema import PROJECT_ROOT


class Killed(Exception):
    pass


@pytest.fixture
def kill(monkeypatch):
    """kill(epoch, at=n): the n-th fit from now that starts `epoch` raises there, as a run killed in that epoch."""
    def arm(epoch: int, at: int = 1):
        seen = []

        def on_train_epoch_start(self):
            if self.current_epoch == epoch:
                seen.append(epoch)
                if len(seen) == at:
                    raise Killed(f"killed at the start of epoch {epoch}")

        monkeypatch.setattr(Router, "on_train_epoch_start", on_train_epoch_start)
    return arm


def same_run(a, b):
    assert (a / "results.json").read_text() == (b / "results.json").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(a / "predictions.parquet"), pd.read_parquet(b / "predictions.parquet"))


@pytest.mark.parametrize("how", ["resume", "requeued"])
def test_a_killed_run_resumed_ends_as_the_unbroken_run(compose_cfg, tmp_path, kill, monkeypatch, how):
    epochs = ["trainer.max_epochs=3"]
    run_task(compose_cfg(*TINY, *epochs, out="unbroken"))
    kill(epoch=2)
    with pytest.raises(Killed):
        run_task(compose_cfg(*TINY, *epochs, out="killed"))
    killed = tmp_path / "killed"
    assert (killed / "checkpoints" / "last.ckpt").is_file() and not (killed / "results.json").exists()
    kill(epoch=0)  # a run that trained again from its start would be killed
    if how == "requeued":  # SLURM runs the job again in its folder, as it was
        monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    run_task(compose_cfg(*TINY, *epochs, *([f"resume={killed}"] if how == "resume" else []), out="killed"))
    same_run(tmp_path / "unbroken", killed)
    names = [sorted(p.name for p in (run / "checkpoints").iterdir()) for run in (killed, tmp_path / "unbroken")]
    assert names[0] == names[1]  # the best epoch's weights, and last.ckpt


def test_a_killed_cross_fit_trains_only_the_folds_it_had_not_finished(compose_cfg, tmp_path, kill):
    overrides = [*TINY, "data.cross_fit_folds=2"]
    run_task(compose_cfg(*overrides, out="unbroken"))
    kill(epoch=1, at=2)  # in the second fold
    with pytest.raises(Killed):
        run_task(compose_cfg(*overrides, out="killed"))
    killed = tmp_path / "killed"
    kill(epoch=0)  # a fold that trained again from its start would be killed
    run_task(compose_cfg(*overrides, f"resume={killed}", out="killed"))
    same_run(tmp_path / "unbroken", killed)


def test_a_finished_run_goes_on_for_more_epochs(compose_cfg, tmp_path):
    run = tmp_path / "run"
    run_task(compose_cfg(*TINY, "trainer.max_epochs=1", out="run"))
    run_task(compose_cfg(*TINY, "trainer.max_epochs=2", f"resume={run}", out="run"))
    assert (run / "timing.json").read_text().count('"epochs": 2') == 1


def test_resume_refuses_another_config_a_folder_without_last_ckpt_and_other_tasks(compose_cfg, tmp_path):
    run = tmp_path / "run"
    run_task(compose_cfg(*TINY, "trainer.max_epochs=1", out="run"))
    with pytest.raises(ValueError, match=r"these keys differ: router\.optimizer\.lr"):
        run_task(compose_cfg(*TINY, "router.optimizer.lr=2e-3", f"resume={run}", out="run"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no last.ckpt under that folder"):
        run_task(compose_cfg(*TINY, f"resume={tmp_path / 'empty'}", out="empty"))
    with pytest.raises(ValueError, match="goes on in that run's folder"):
        run_task(compose_cfg(*TINY, f"resume={run}", out="elsewhere"))
    with pytest.raises(ValueError, match="task=evaluate trains nothing"):
        run_task(compose_cfg(*TINY, "task=evaluate", f"resume={run}", out="run"))


def test_the_run_folder_follows_resume():
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        assert compose("config", overrides=["resume=/runs/killed"], return_hydra_config=True).hydra.run.dir == "/runs/killed"
        assert "/outputs/quickstart/runs/" in compose("config", return_hydra_config=True).hydra.run.dir


def test_a_ddp_run_resumes_through_run_py(tmp_path, cache_dir):
    run_entry(["trainer=ddp_cpu", *TINY, "trainer.max_epochs=1"], tmp_path, cache_dir)
    proc = run_entry(["trainer=ddp_cpu", *TINY, "trainer.max_epochs=2", f"resume={tmp_path}"], tmp_path, cache_dir)
    assert "resuming: going on from" in proc.stdout + proc.stderr
    assert read_results(tmp_path)["counts"]["test"] == 120
    assert '"epochs": 2' in (tmp_path / "timing.json").read_text()


def test_a_killed_reward_model_run_resumed_ends_as_the_unbroken_run(compose_cfg, tmp_path, monkeypatch):
    from test_reward_models import IN_PROCESS, TINY_RM

    from rewardroute.reward_models.base import RewardModel

    seen = []

    def on_train_epoch_start(self):  # ARLISS fits its router, its shared model, then its reward models
        seen.append((self.phase, self.current_epoch))
        if seen[-1] == ("reward", 1) and seen.count(("reward", 1)) == 1:
            raise Killed("killed in the reward phase's second epoch")

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
