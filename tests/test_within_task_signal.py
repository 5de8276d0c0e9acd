"""bench/within_task_signal.py: probes for what a router could learn within a task, and the router of
classified tasks built from them, on a small RouterDC-format file with a signal planted in one task's words."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

from rewardroute.schema import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "within_task_signal.py"
EXPERTS = ["mistralai/Mistral-7B-v0.1", "meta-math/MetaMath-Mistral-7B", "itpossible/Chinese-Mistral-7B-v0.1",
           "HuggingFaceH4/zephyr-7b-beta", "cognitivecomputations/dolphin-2.6-mistral-7b",
           "meta-llama/Meta-Llama-3-8B", "cognitivecomputations/dolphin-2.9-llama3-8b"]
TASKS = {"mmlu": 5, "gsm8k": 1, "cmmlu": 5, "arc_challenge": 3, "humaneval": 6}  # each task's best expert
OOD = {"math_prealgebra": "gsm8k", "mbpp": "humaneval", "ceval": "cmmlu"}  # the ID task each OOD task resembles


def write_data(root, n_train=80, n_test=40, n_ood=20):
    """Every task has its own words and a best expert; within humaneval, the queries with the word `sorted`
    (one in three) are solved by dolphin-2.6 (expert 4) alone, the others by dolphin-2.9 (expert 6) alone."""
    rng, rows = np.random.default_rng(0), []
    filler = [f"w{i}" for i in range(30)]

    def row(task, like, split, i):
        planted = like == "humaneval" and i % 3 == 0
        words = [f"{like}_word"] * 3 + list(rng.choice(filler, 6)) + (["sorted"] if planted else [])
        scores = {e: float(rng.random() < 0.3) for e in EXPERTS}
        scores[EXPERTS[TASKS[like]]] = float(rng.random() < 0.8)
        if like == "humaneval":
            scores.update({EXPERTS[4]: float(planted), EXPERTS[6]: float(not planted)})
        return {"query_id": f"{task}/{split}/{i}", "subset": task, "split": split, "query": " ".join(words),
                "scores": scores, "score_kind": "frac_of_10_samples_correct",
                **({"cluster_id": i % 3} if split == "train" else {})}

    for task in TASKS:
        rows += [row(task, task, "train", i) for i in range(n_train)] + [row(task, task, "test", i) for i in range(n_test)]
    for task, like in OOD.items():
        rows += [row(task, like, "ood", i) for i in range(n_ood)]
    root.mkdir(parents=True, exist_ok=True)
    with gzip.open(root / "queries_scores.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def test_task_probe_finds_the_words_planted_in_one_task(tmp_path):
    root, out = tmp_path / "routerdc_7llm", tmp_path / "signal.json"
    write_data(root)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data-root", str(root), "--features", "tfidf",
                           "--alphas", "0.1", "1", "--out", str(out)],
                          check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads(out.read_text())
    routed, test = record["routed"], record["routed"]["test"]
    assert record["features"] == "tfidf" and set(record["subsets"]) == {*TASKS, "average"}
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


def test_layers_need_the_encoder(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--features", "tfidf", "--layers", "2"], check=False,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--layers keeps the encoder's first layers" in proc.stderr
