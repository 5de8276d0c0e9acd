"""task=ensemble: trained routers rebuilt from their run folders, combined by a Borda count, reported as a router."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, read_results, run_entry

from rewardroute.pipeline.ensemble import borda
from rewardroute.pipeline.predictions import read_predictions, write_predictions
from rewardroute.pipeline.tasks import run_task


def test_borda_routes_to_the_best_mean_rank_and_breaks_ties_by_probability():
    first, second = np.array([[0.5, 0.3, 0.2]]), np.array([[0.1, 0.6, 0.3]])  # ranks [2, 1, 0] and [0, 2, 1]
    shares = borda([first, second])
    assert shares.argmax() == 1 and shares.sum() == pytest.approx(1)
    assert shares[0] == pytest.approx(np.array([2, 2.5, 1.5]) / 6, abs=1e-3)  # mean rank + 1, normalised
    tied = borda([np.array([[0.6, 0.4]]), np.array([[0.3, 0.7]])])  # mean ranks equal; mean probs 0.45 vs 0.55
    assert tied.argmax() == 1
    # a member that cannot choose gives its tied experts the same rank: the other member decides
    undecided = borda([np.full((1, 4), 0.25), np.array([[0.4, 0.2, 0.2, 0.2]])])
    assert undecided.argmax() == 0
    # tied mean ranks whose mean probabilities differ by 5e-5 (0.40005 against 0.4): still the likelier
    close = borda([np.array([[0.3, 0.5001, 0.1999]], np.float32), np.array([[0.5, 0.3, 0.2]], np.float32)])
    assert close.argmax() == 1


def test_a_run_ensembled_with_itself_routes_as_the_run(compose_cfg, tmp_path):
    best_val = run_task(compose_cfg(*TINY, out="a"))
    run = tmp_path / "a"
    val = run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}','{run}']", out="ens"))
    single, ensemble = read_results(run)["methods"], read_results(tmp_path / "ens")["methods"]
    assert ensemble["ensemble"]["subsets"] == single["zooter"]["subsets"]
    assert ensemble["ensemble"]["routing"] == single["zooter"]["routing"]
    assert val == pytest.approx(best_val)
    members = json.loads((tmp_path / "ens" / "ensemble.json").read_text())["members"]
    assert [m["val_routed"] for m in members] == pytest.approx([best_val, best_val])


def test_ensemble_of_two_router_kinds_through_run_py(compose_cfg, tmp_path, cache_dir):
    run_task(compose_cfg(*TINY, out="zooter"))
    run_task(compose_cfg(*TINY, "router=regression", out="regression"))
    runs = f"runs=['{tmp_path / 'zooter'}','{tmp_path / 'regression'}']"
    run_entry([*TINY, "task=ensemble", runs], tmp_path / "ens", cache_dir)
    results = read_results(tmp_path / "ens")
    assert {"ensemble", "ensemble+fallback", "bma", "oracle"} <= set(results["methods"])
    routed = sum(sum(c.values()) for c in results["methods"]["ensemble"]["routing"].values())
    assert routed == results["counts"]["test"]
    record = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert [m["router"] for m in record["members"]] == ["zooter", "regression"]
    assert record["val_routed"] == pytest.approx(results["selection"]["val_routed_best"])
    assert "ensemble of 2 routers by Borda count" in (tmp_path / "ens" / "results.md").read_text()


def test_a_run_saves_the_probabilities_it_routed_by(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, out="a"))
    results = read_results(tmp_path / "a")
    rows = pd.read_parquet(tmp_path / "a" / "predictions.parquet")
    experts = list(rows.columns[2:])
    assert rows["split"].value_counts().to_dict() == {s: results["counts"][s] for s in ("test", "val")}
    assert np.allclose(rows[experts].sum(axis=1), 1, atol=1e-5)
    routed = rows[rows["split"] == "test"][experts].idxmax(axis=1).value_counts().to_dict()
    counts = {}
    for per_subset in results["methods"]["zooter"]["routing"].values():
        for expert, n in per_subset.items():
            counts[expert] = counts.get(expert, 0) + n
    assert routed == {e: n for e, n in counts.items() if n}


def test_read_predictions_refuses_other_queries_or_experts(tmp_path):
    probs = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)
    write_predictions(tmp_path, ["a", "b"], {"test": (["q1", "q2"], probs)})
    assert read_predictions(tmp_path, ["a", "b"], {"test": ["q2", "q1"]})["test"] == pytest.approx(probs[::-1])
    assert read_predictions(tmp_path, ["a", "b"], {"test": ["q1", "q3"]}) is None  # a query it never routed
    assert read_predictions(tmp_path, ["b", "a"], {"test": ["q1"]}) is None  # another pool (or order)
    assert read_predictions(tmp_path, ["a", "b"], {"val": ["q1"]}) is None  # no validation rows
    assert read_predictions(tmp_path / "none", ["a", "b"], {"test": ["q1"]}) is None


def test_members_read_from_their_runs_route_as_members_predicted_again(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, out="zooter"))
    run_task(compose_cfg(*TINY, "router=regression", out="regression"))
    runs = f"runs=['{tmp_path / 'zooter'}','{tmp_path / 'regression'}']"
    run_task(compose_cfg(*TINY, "task=ensemble", runs, out="read"))
    for name in ("zooter", "regression"):
        (tmp_path / name / "predictions.parquet").unlink()
    run_task(compose_cfg(*TINY, "task=ensemble", runs, out="predicted"))
    read, predicted = (json.loads((tmp_path / f / "ensemble.json").read_text()) for f in ("read", "predicted"))
    assert [m["probabilities"] for m in read["members"]] == ["predictions.parquet"] * 2
    assert all(m["probabilities"].endswith("predicted again") for m in predicted["members"])
    assert read["val_routed"] == pytest.approx(predicted["val_routed"])
    methods = [read_results(tmp_path / f)["methods"]["ensemble"] for f in ("read", "predicted")]
    assert methods[0]["routing"] == methods[1]["routing"]


def test_bad_runs_are_named(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, out="a"))
    run = tmp_path / "a"
    with pytest.raises(ValueError, match="two or more runs"):
        run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}']", out="one"))
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'none'} is not the folder of a finished task=train"):
        run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}','{tmp_path / 'none'}']", out="missing"))
    other = tmp_path / "other"
    (other / ".hydra").mkdir(parents=True)
    (other / "checkpoints").mkdir()
    saved = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    saved["data"]["name"] = "routerdc_7llm"
    (other / ".hydra" / "config.yaml").write_text(yaml.safe_dump(saved))
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        (other / "checkpoints" / ckpt.name).write_bytes(ckpt.read_bytes())
    with pytest.raises(ValueError, match="trained with data.name=routerdc_7llm, this ensemble routes data.name=synthetic"):
        run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}','{other}']", out="other_data"))
    saved["data"]["name"], saved["data"]["split_seed"] = "synthetic", 7  # its test queries are not the ensemble's
    (other / ".hydra" / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ValueError, match="trained with data.split_seed=7, this ensemble routes data.split_seed=0: its"):
        run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}','{other}']", out="other_split"))
    saved["data"]["split_seed"], saved["data"]["source"]["seed"] = 0, 1  # other queries under the same ids
    (other / ".hydra" / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ValueError, match=r"trained with data.source=\{.*'seed': 1.*\}, this ensemble routes"):
        run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}','{other}']", out="other_source"))
