"""The router recipe end to end, in process: composed configs shrunk for CPU (tiny encoder, small data)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, read_results

from rewardroute.pipeline.tasks import run_task


def test_train_writes_every_output_with_all_methods(compose_cfg, tmp_path):
    best_val = run_task(compose_cfg(*TINY))
    results = read_results(tmp_path)
    methods = results["methods"]
    experts = results["experts"]
    assert {"zooter", "zooter+fallback", "bma", "random", "oracle", "dataset_oracle", *experts} == set(methods)
    for m in methods.values():
        assert set(m["subsets"]) == set(results["subsets"]) and {"mean", "mtr", "uplift"} <= set(m)
    assert results["selection"]["val_routed_best"] == pytest.approx(best_val)
    assert sum(sum(c.values()) for c in methods["zooter"]["routing"].values()) == results["counts"]["test"]
    for name in ("results.md", "results.csv", "results.png", "routing.png", "reliability.png", "timing.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert list((tmp_path / "checkpoints").glob("best-epoch*.ckpt"))
    assert "| **zooter**" in (tmp_path / "results.md").read_text()


def test_quickstart_router_beats_bma_and_closes_half_the_oracle_gap(compose_cfg, tmp_path):
    # the quickstart experiment with the tiny encoder in place of MiniLM (seconds instead of a minute)
    cfg = compose_cfg("experiment=quickstart", "backbone=tiny", "router.optimizer.lr=1e-3", "trainer.max_epochs=3",
                      "~logger", "trainer.enable_progress_bar=false")
    run_task(cfg)
    zooter = read_results(tmp_path)["methods"]["zooter"]
    assert zooter["gain_over_bma"]["mean"] > 0
    assert zooter["oracle_gap_closed"]["mean"] >= 0.5


def test_same_seed_same_results(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, "seed=7", out="a"))
    run_task(compose_cfg(*TINY, "seed=7", out="b"))
    assert (tmp_path / "a" / "results.json").read_text() == (tmp_path / "b" / "results.json").read_text()


@pytest.mark.parametrize("overrides", [
    ["labels=hard"],
    ["labels=tag_enhanced", "labels.beta=0.3"],
    ["router.freeze_encoder=true", "router.optimizer.lr=1e-2"],
    ["trainer.fast_dev_run=true"],
], ids=["hard", "tag-enhanced", "frozen-encoder", "fast-dev-run"])
def test_variants_train_and_route_every_test_query(compose_cfg, tmp_path, overrides):
    run_task(compose_cfg(*TINY, *overrides))
    results = read_results(tmp_path)
    routed = sum(sum(c.values()) for c in results["methods"]["zooter"]["routing"].values())
    assert routed == results["counts"]["test"]
    assert results["labels"]["kind"] == ("hard" if "labels=hard" in overrides else "soft")


def test_validation_score_is_the_routed_metric(compose_cfg, tmp_path):
    """The checkpoint criterion equals the mean metric of the argmax expert on the validation split."""
    import torch

    from rewardroute.routers.zooter import ZooterRouter

    module = ZooterRouter(n_experts=3, feature_dim=2, dropout=0.0)
    with torch.no_grad():
        module.head[1].weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [0, 0]]))
        module.head[1].bias.zero_()
    batch = {"features": torch.tensor([[2.0, 0.0], [0.0, 2.0]]), "targets": torch.full((2, 3), 1 / 3),
             "metric": torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.7, 0.2]]), "idx": torch.arange(2)}
    module.validation_step(batch, 0)
    assert module.val_routed.compute().item() == pytest.approx((0.1 + 0.7) / 2)
    expected = torch.nn.functional.kl_div(torch.log_softmax(module(batch), -1), batch["targets"], reduction="batchmean")
    assert module.val_loss.compute().item() == pytest.approx(expected.item())


def test_wandb_run_is_finished_even_when_the_job_fails(compose_cfg, tmp_path, monkeypatch):
    import wandb

    def broken(*args, **kwargs):
        raise ValueError("the report failed")

    monkeypatch.setattr("rewardroute.pipeline.train.report", broken)  # after training, with the W&B run open
    tiny = [o for o in TINY if o != "~logger"]
    cfg = compose_cfg(*tiny, "logger=wandb", "trainer.max_epochs=1")
    with pytest.raises(ValueError, match="the report failed"):
        run_task(cfg)
    assert wandb.run is None
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_evaluate_task_reproduces_the_trained_routers_results(compose_cfg, tmp_path):
    """Read from the run's predictions.parquet where the router as configured gives the saved probabilities
    (another eval batch size does), predicted again where it does not (queries cut to 4 tokens)."""
    run_task(compose_cfg(*TINY, out="train"))
    [ckpt] = (tmp_path / "train" / "checkpoints").glob("best-epoch*.ckpt")
    run_task(compose_cfg(*TINY, "task=evaluate", f"ckpt_path={ckpt}", "router.eval_batch_size=7", out="eval"))
    trained, evaluated = read_results(tmp_path / "train"), read_results(tmp_path / "eval")
    assert evaluated["methods"] == trained["methods"] and evaluated["analysis"] == trained["analysis"]
    assert "probabilities read from" in (tmp_path / "eval" / "results.md").read_text()
    run_task(compose_cfg(*TINY, "task=evaluate", f"ckpt_path={ckpt}", "router.max_length=4", out="cut"))
    assert "probabilities predicted again" in (tmp_path / "cut" / "results.md").read_text()
    with pytest.raises(ValueError, match=r"its run drew another split.*data.split_seed: 0 in .*config.yaml, 1 here"):
        run_task(compose_cfg(*TINY, "task=evaluate", f"ckpt_path={ckpt}", "data.split_seed=1", out="other"))


def test_proxies_that_choose_nothing_are_named_before_training(compose_cfg, tmp_path, caplog):
    """RouterDC's OOD proxies in a run of its ID tasks are not used, and said so as such; a proxy for a subset
    with training queries of its own, or for none of the data's, is named."""
    from conftest import ROUTERDC_TASKS, write_routerdc_data

    from rewardroute.data.load import load_matrix
    from rewardroute.pipeline.train import checked_reporting

    write_routerdc_data(tmp_path / "routerdc_7llm")
    data = ["experiment=routerdc_frozen", f"data.root={tmp_path / 'routerdc_7llm'}"]
    in_distribution = compose_cfg(*data, f"data.subsets=[{','.join(ROUTERDC_TASKS)}]")
    checked_reporting(in_distribution, load_matrix(in_distribution))
    assert "names ['ceval', 'math_prealgebra', 'mbpp'], which data.subsets leaves out: not used" in caplog.text
    assert "so ignored" not in caplog.text
    caplog.clear()
    misplaced = compose_cfg(*data, "+data.proxy_train.gsm8k=mmlu", "+data.proxy_train.mpbb=humaneval")
    checked_reporting(misplaced, load_matrix(misplaced))
    assert "names ['mpbb'], which data.subsets leaves out" in caplog.text
    assert "names ['gsm8k']: not test subsets without training queries, so ignored" in caplog.text


def test_evaluate_predicts_again_where_only_the_longest_queries_are_cut(compose_cfg, tmp_path):
    """max_length 23 cuts none of the first 64 test queries of this data, only some later, longer ones."""
    run_task(compose_cfg(*TINY, "data.val_fraction=0", out="train"))
    [ckpt] = (tmp_path / "train" / "checkpoints").glob("best-epoch*.ckpt")
    run_task(compose_cfg(*TINY, "data.val_fraction=0", "task=evaluate", f"ckpt_path={ckpt}", "router.max_length=23",
                         out="cut"))
    assert "probabilities predicted again" in (tmp_path / "cut" / "results.md").read_text()
    with pytest.raises(FileNotFoundError, match="task=evaluate needs ckpt_path"):
        run_task(compose_cfg(*TINY, "task=evaluate", out="none"))


def test_cross_fitting_routes_every_query_once_with_routers_trained_on_other_folds(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, "data.cross_fit_folds=3", "trainer.max_epochs=3"))
    results = read_results(tmp_path)
    n = 6 * (60 + 20)  # every query of the small synthetic benchmark is a test query once
    assert results["counts"] == {"test": n, "dropped": 0} and results["cross_fit_folds"] == 3
    assert sum(sum(c.values()) for c in results["methods"]["zooter"]["routing"].values()) == n
    assert len(results["bma"]) == 3  # chosen per fold, on the other folds
    assert all((tmp_path / f"fold{f}" / "checkpoints").is_dir() for f in range(3))
    assert "cross-fitted over 3 folds" in (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "timing.json").read_text())["folds"][2]["epochs"] == 3
    # each fold's fallback threshold is chosen on its own validation queries, drawn anew per fold
    assert len(results["analysis"]["zooter"]["fallback"]["threshold"]) == 3
    assert "(per fold, each chosen on its fold's validation)" in (tmp_path / "results.md").read_text()
    [ckpt] = (tmp_path / "fold0" / "checkpoints").glob("best-epoch*.ckpt")
    with pytest.raises(ValueError, match=r"its run drew another split.*the run was cross-fitted \(3 folds\)"):
        run_task(compose_cfg(*TINY, "task=evaluate", f"ckpt_path={ckpt}", out="eval"))
    with pytest.raises(ValueError, match=r"task=evaluate routes one test split with one checkpoint"):
        run_task(compose_cfg(*TINY, "task=evaluate", "data.cross_fit_folds=3", f"ckpt_path={ckpt}", out="eval"))


def test_cross_fitting_draws_each_folds_validation_anew():
    from rewardroute.data.matrix import ResponseMatrix
    from rewardroute.data.splits import fold_splits

    ids = [f"q{i}" for i in range(400)]
    long = pd.DataFrame({"query_id": ids * 2, "subset": "s", "split": None, "query": ids * 2,
                         "expert": ["a"] * 400 + ["b"] * 400, "score": 0.5})
    matrix = ResponseMatrix.from_long(long)
    folds = [fold_splits(matrix, 4, f, 0.2, seed=0).queries["split"].to_numpy() for f in range(4)]
    never_trained = np.logical_and.reduce([split != "train" for split in folds])
    assert never_trained.sum() < 0.05 * 400  # one draw for every fold would leave out about 20% (its val share)


def test_unknown_task_is_a_clear_error(compose_cfg):
    with pytest.raises(ValueError, match="task='trian' is not a task"):
        run_task(compose_cfg(*TINY, "task=trian"))


def test_a_checkpoint_or_a_schedule_that_training_cannot_follow_is_an_error(compose_cfg):
    from hydra.errors import InstantiationException  # the module's error, with the key it was built from

    with pytest.raises(ValueError, match="ckpt_path=x.ckpt is read by task=evaluate; task=train goes on with a killed run by resume="):
        run_task(compose_cfg(*TINY, "ckpt_path=x.ckpt"))
    with pytest.raises(InstantiationException, match=r"scheduler.warmup_ratio=3.0 .* it must be in \[0, 1\)"):
        run_task(compose_cfg(*TINY, "router.scheduler.warmup_ratio=3"))
    with pytest.raises(InstantiationException, match=r"scheduler.name='cosin' .* is not one of transformers.get_scheduler's"):
        run_task(compose_cfg(*TINY, "router.scheduler.name=cosin"))


def test_a_mistake_only_the_report_reads_fails_before_training(compose_cfg, tmp_path):
    from rewardroute.data.matrix import DataError

    with pytest.raises(DataError, match=r"data.groups.ID names \['mathh'\]"):
        run_task(compose_cfg(*TINY, "~logger", "+data.groups.ID=[math,mathh]"))
    assert not (tmp_path / "checkpoints").exists()  # nothing was trained to be lost


def test_your_own_data_beside_the_default_pools_costs(compose_cfg, tmp_path, caplog):
    """`python run.py data=jsonl ...`: the default experiment's synthetic pool states costs of other experts;
    the run reports without a quality-cost analysis instead of failing after training, and says so once."""
    import json

    rows = [{"query_id": f"q{i}", "subset": "s", "split": "test" if i % 4 == 0 else "train", "query": f"question {i}",
             "expert": e, "score": float((i + j) % 3 == 0)} for i in range(40) for j, e in enumerate(("a", "b"))]
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_task(compose_cfg(*TINY[:5], "~logger", "data=jsonl", f"data.source.scores={scores}", "trainer.max_epochs=1"))
    results = read_results(tmp_path)
    assert "quality_cost" not in results["analysis"]["zooter"] and (tmp_path / "predictions.parquet").is_file()
    assert sum("no quality-cost analysis" in r.getMessage() for r in caplog.records) == 1
