"""bench/within_task_signal.py: probes for what a router could learn within a task, and the router of
classified tasks built from them, on a small RouterDC-format file with a signal planted in one task's words."""

import json
import subprocess
import sys

import pytest
from conftest import ROUTERDC_TASKS, write_routerdc_data

from rewardroute.schema import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "within_task_signal.py"
def test_task_probe_finds_the_words_planted_in_one_task(tmp_path):
    root, out = tmp_path / "routerdc_7llm", tmp_path / "signal.json"
    write_routerdc_data(root)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data-root", str(root), "--features", "tfidf",
                           "--alphas", "0.1", "1", "--out", str(out)],
                          check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads(out.read_text())
    routed, test = record["routed"], record["routed"]["test"]
    assert record["features"] == "tfidf" and set(record["subsets"]) == {*ROUTERDC_TASKS, "average"}
    assert routed["task_accuracy"] == 1.0  # each task's own words name it
    assert routed["ood_named_as"]["mbpp"] == {"humaneval": 20}
    assert routed["choices"]["humaneval"]["alpha"] is not None
    # Within humaneval the words say which dolphin is right: the probe routes every test query right, where
    # the task's best expert is right for two in three.
    assert test["task_probe_hard"]["humaneval"] == pytest.approx(100.0)
    assert test["per_task_choice"]["humaneval"] == pytest.approx(100 * 26 / 40)
    assert test["named_task_best"]["ID"] == pytest.approx(test["per_task_choice"]["ID"])
    low, high = routed["probe_minus_per_task_95"]["hard"]["ID"]
    assert 0 < low <= high
    assert "router=task_probe fitted on train and validation (tfidf" in proc.stdout


@pytest.mark.parametrize("features", ["tfidf", "both"])
def test_layers_need_the_encoder_alone(tmp_path, features):
    """Refused up front: with both, the words' half would fail after MiniLM's half was embedded."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--features", features, "--layers", "2"], check=False,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--layers keeps MiniLM's first layers: use it with --features minilm" in proc.stderr
