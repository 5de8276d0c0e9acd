"""bench/beyond_per_task.py: trained routers made to defer to the per-task choice unless sure, from what the runs
wrote."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY, bench_module, read_results

from rewardroute.pipeline.tasks import run_task
from rewardroute.schema import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "beyond_per_task.py"


def test_a_query_leaves_the_per_task_expert_only_past_the_margin():
    bench = bench_module("beyond_per_task")
    probs = np.array([[0.5, 0.4, 0.1], [0.3, 0.3, 0.4], [0.2, 0.7, 0.1]])
    per_task = np.array([1, 0, 1])
    assert bench.deferring_routes(probs, per_task, 0.0).tolist() == [0, 2, 1]
    assert bench.deferring_routes(probs, per_task, 0.3).tolist() == [1, 2, 1]  # 0.5 < 1.3 * 0.4; 0.4 > 1.3 * 0.3
    assert bench.deferring_routes(probs, per_task, 0.5).tolist() == [1, 0, 1]


def test_margins_of_a_run_span_the_router_and_the_per_task_choice(compose_cfg, tmp_path):
    run = tmp_path / "zooter"
    run_task(compose_cfg(*TINY, out="zooter"))
    out = tmp_path / "beyond.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(run), "--margins", "0", "0.1", "--out", str(out)],
                          check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    results, rows = read_results(run), json.loads(out.read_text())["runs"][str(run)]["margins"]
    assert list(rows) == ["0.0", "0.1", "inf"]
    # Margin 0 is the router itself, inf the per-task choice (the evaluation's dataset oracle), on test and validation.
    assert rows["0.0"]["all"] == pytest.approx(results["methods"]["zooter"]["groups"]["all"], abs=1e-6)
    assert rows["0.0"]["val"] == pytest.approx(results["selection"]["val_routed_best"], abs=1e-6)
    assert rows["inf"]["all"] == pytest.approx(results["methods"]["dataset_oracle"]["groups"]["all"], abs=1e-6)
    assert rows["inf"]["deviate"] == 0 and rows["0.0"]["deviate"] >= rows["0.1"]["deviate"]
    assert last["target"] == "all" and last["per_task"]["all"] == pytest.approx(rows["inf"]["all"])
    assert last["chosen"]["val"] == max(r["val"] for m, r in rows.items() if m != "inf")


def test_negative_margins_are_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--margins", "-0.1"], check=False,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--margins must be >= 0, got [-0.1]" in proc.stderr
