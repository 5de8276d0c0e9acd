"""bench/selection_criteria.py: both validation criteria of trained runs, read from what the runs wrote."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY, bench_module, read_results

from rewardroute.pipeline.tasks import run_task
from rewardroute.schema import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "selection_criteria.py"


def test_pooled_and_per_subset_scores_also_of_resamples_that_miss_a_subset():
    bench = bench_module("selection_criteria")
    one = bench.scores(np.array([1.0, 0.0, 0.0, 0.0]), np.array(["a", "b", "b", "b"]))
    assert one["pooled"] == pytest.approx(0.25) and one["per_subset"] == pytest.approx(0.5)
    # Two resamples; the second draws subset b only, so its per-subset score is b's mean alone.
    two = bench.scores(np.array([[1.0, 0.0], [0.5, 0.0]]), np.array([["a", "b"], ["b", "b"]]))
    assert two["pooled"].tolist() == pytest.approx([0.5, 0.25])
    assert two["per_subset"].tolist() == pytest.approx([0.5, 0.25])


def test_criteria_of_two_runs_and_the_validation_choice(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, out="zooter"))
    run_task(compose_cfg(*TINY, "router=regression", out="regression"))
    runs = [tmp_path / "zooter", tmp_path / "regression"]
    out = tmp_path / "criteria.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, runs), "--resamples", "50", "--out", str(out)],
                          check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    record = json.loads(out.read_text())
    best_val = {}
    for run, router in zip(runs, ("zooter", "regression")):
        results = read_results(run)
        best_val[str(run)] = results["selection"]["val_routed_best"]
        row = record["runs"][str(run)]
        assert row["pooled"] == pytest.approx(best_val[str(run)], abs=1e-4)  # the checkpoint criterion itself
        assert row["test all"] == pytest.approx(results["methods"][router]["groups"]["all"], abs=1e-4)
    assert last["pooled"]["chosen"] == max(best_val, key=best_val.get)
    for criterion in ("pooled", "per_subset"):
        assert 0 < last[criterion]["chosen_share"] <= 1
        assert set(last[criterion]["spearman"]) == set(read_results(runs[0])["methods"]["zooter"]["groups"])


def test_a_folder_without_predictions_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], check=False, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"expected predictions.parquet, results.json, .hydra/config.yaml): {tmp_path}" in proc.stderr
