"""task=ensemble: trained routers rebuilt from their run folders, combined by a Borda count, reported as a router."""

import json

import numpy as np
import pytest
import yaml
from conftest import TINY, read_results, run_entry

from rewardroute.pipeline.ensemble import borda
from rewardroute.pipeline.tasks import run_task


def test_borda_routes_to_the_best_mean_rank_and_breaks_ties_by_probability():
    first, second = np.array([[0.5, 0.3, 0.2]]), np.array([[0.1, 0.6, 0.3]])  # ranks [2, 1, 0] and [0, 2, 1]
    shares = borda([first, second])
    assert shares.argmax() == 1 and shares.sum() == pytest.approx(1)
    assert shares[0] == pytest.approx(np.array([2, 2.5, 1.5]) / 6, abs=1e-3)  # mean rank + 1, normalised
    tied = borda([np.array([[0.6, 0.4]]), np.array([[0.3, 0.7]])])  # mean ranks equal; mean probs 0.45 vs 0.55
    assert tied.argmax() == 1


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
    with pytest.raises(ValueError, match="trained on data=routerdc_7llm, this ensemble routes data=synthetic"):
        run_task(compose_cfg(*TINY, "task=ensemble", f"runs=['{run}','{other}']", out="other_data"))
