"""run.py end to end in subprocesses: the embedded default, sweeps with the basic and joblib launchers, DDP."""

import pytest
from conftest import TINY, read_results, run_entry

WITH_WANDB = [o for o in TINY if o != "~logger"] + ["logger=wandb"]


@pytest.mark.slow
def test_default_run_trains_zooter_that_beats_bma(tmp_path, cache_dir):
    """`python run.py` as the README gives it: MiniLM Zooter on the synthetic benchmark, W&B offline, CSV."""
    proc = run_entry([], tmp_path, cache_dir)
    results = read_results(tmp_path)
    zooter = results["methods"]["zooter"]
    assert zooter["mean"] > results["methods"]["bma"]["mean"]
    assert zooter["oracle_gap_closed"]["mean"] >= 0.5
    assert "| **zooter**" in proc.stdout  # the table is printed
    assert list((tmp_path / "wandb").glob("offline-run-*"))
    assert (tmp_path / "csv" / "version_0" / "results.csv").is_file()
    assert "test/zooter/mean" in (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()


def test_multirun_basic_launcher_one_wandb_run_per_job(tmp_path, cache_dir):
    run_entry(["-m", *WITH_WANDB, "trainer.max_epochs=1", "labels=tag_enhanced", "labels.beta=0,1"], tmp_path, cache_dir)
    betas = {read_results(tmp_path / job)["labels"]["beta"] for job in ("0", "1")}
    assert betas == {0.0, 1.0}
    runs = [list((tmp_path / job / "wandb").glob("offline-run-*")) for job in ("0", "1")]
    assert [len(r) for r in runs] == [1, 1] and runs[0][0].name != runs[1][0].name
    # what W&B stages (the results table) and caches stays in each job's folder, not the home folder
    assert all((tmp_path / job / "wandb" / "staging").is_dir() for job in ("0", "1"))


def test_multirun_joblib_launcher(tmp_path, cache_dir):
    run_entry(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, "trainer.max_epochs=1", "seed=1,2"],
              tmp_path, cache_dir)
    assert {read_results(tmp_path / j)["name"] for j in ("0", "1")} == {"quickstart"}


def test_ddp_on_cpu_with_two_processes_inside_a_sweep(tmp_path, cache_dir):
    """Two 2-process DDP jobs in one basic-launcher sweep: every rank runs its own job, once."""
    run_entry(["-m", "trainer=ddp_cpu", *TINY, "trainer.max_epochs=1", "seed=1,2"], tmp_path, cache_dir)
    for job in ("0", "1"):
        assert read_results(tmp_path / job)["counts"]["test"] == 120
        assert (tmp_path / job / "train_ddp_process_1.log").is_file()  # rank 1 ran in this job's folder
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0", "1"]


def test_cross_fitting_under_ddp_trains_every_fold_on_both_ranks(tmp_path, cache_dir):
    run_entry(["trainer=ddp_cpu", *TINY, "trainer.max_epochs=1", "data.cross_fit_folds=2"], tmp_path, cache_dir)
    results = read_results(tmp_path)
    assert results["cross_fit_folds"] == 2 and results["counts"]["test"] == 6 * (60 + 20)
    assert all(list((tmp_path / f"fold{f}" / "checkpoints").glob("best-epoch*.ckpt")) for f in range(2))


@pytest.mark.parametrize("trainer, several", [
    ({"strategy": "ddp", "devices": 2}, True), ({"strategy": "ddp", "devices": 1, "num_nodes": 2}, True),
    ({"strategy": "ddp", "devices": "1"}, False), ({"strategy": "ddp", "devices": [0]}, False),
    ({"strategy": "auto", "devices": 4}, True),  # Lightning makes `auto` DDP on several devices
    ({"strategy": "auto", "devices": "0,1"}, True), ({"strategy": "auto", "devices": 1}, False),
    ({"strategy": "auto", "devices": -1, "accelerator": "cpu"}, False), ({"strategy": "fsdp", "devices": 2}, True),
    ({"strategy": "single_device", "devices": 1, "num_nodes": 1}, False)])
def test_distributed_counts_devices_and_nodes(trainer, several):
    from omegaconf import OmegaConf

    from rewardroute.pipeline.ddp import distributed

    assert distributed(OmegaConf.create({"trainer": trainer})) is several


@pytest.mark.parametrize("launcher, parallel, refused", [
    ("JoblibLauncher", None, "inside a plugins.JoblibLauncher job: run one device per job"),
    ("LocalLauncher", None, "inside a plugins.LocalLauncher job: run one device per job"),
    ("SlurmLauncher", 256, "one at a time with hydra.launcher.array_parallelism=1"), ("SlurmLauncher", 1, None)])
def test_ddp_inside_a_launcher_job_only_where_slurm_starts_the_ranks(launcher, parallel, refused):
    """joblib and submitit_local jobs cannot start DDP ranks; under submitit_slurm SLURM starts them, one job at a
    time (a DDP job's ranks build artifacts without the lock that keeps parallel jobs apart)."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from rewardroute.pipeline.ddp import _ranks_run_this_job_only

    hydra_cfg = OmegaConf.create({"mode": RunMode.MULTIRUN,
                                  "launcher": {"_target_": f"plugins.{launcher}", "array_parallelism": parallel}})
    cfg = OmegaConf.create({"trainer": {"strategy": "ddp", "devices": 2}})
    if refused:
        with pytest.raises(ValueError, match=refused):
            _ranks_run_this_job_only(hydra_cfg, cfg)
    else:
        _ranks_run_this_job_only(hydra_cfg, cfg)
