"""Shared fixtures: compose the real configs (shrunk for CPU), run the real entry point, build small tables."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")

from rewardroute.main import compose_config
from rewardroute.schema import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"the real data folder {SHARED_DATA} is absent (it sits beside the project in CI)"
)

# A run of seconds: tiny random encoder, small synthetic benchmark, no loggers.
TINY = [
    "backbone=tiny",
    "router.optimizer.lr=1e-3",
    "router.max_length=32",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.source.n_train_per_domain=60",
    "data.source.n_test_per_domain=20",
    "~logger",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture
def compose_cfg(tmp_path, cache_dir, artifact_dir):
    """Compose conf/config.yaml with overrides, as run.py would, writing into tmp_path (or tmp_path / out)."""

    def make(*overrides: str, out: str = ""):
        paths = [f"paths.cache_dir={cache_dir}", f"paths.artifact_dir={artifact_dir}"]
        return compose_config([*paths, *overrides], str(tmp_path / out))

    return make


def run_entry(args: list[str], tmp_path: Path, cache_dir: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python run.py ...args` in a subprocess, outputs under tmp_path; fails the test with the log on error.
    Stage artifacts go to tmp_path/artifacts unless args name paths.artifact_dir."""
    cmd = [sys.executable, "run.py", *args, f"paths.cache_dir={cache_dir}"]
    if not any(a.startswith("paths.artifact_dir=") for a in args):
        cmd.append(f"paths.artifact_dir={tmp_path / 'artifacts'}")
    if "-m" in args:
        cmd.append(f"hydra.sweep.dir={tmp_path}")
    else:
        cmd.append(f"hydra.run.dir={tmp_path}")
    proc = subprocess.run(cmd, check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    return proc


def bench_module(name: str):
    """bench/<name>.py imported as a module, with its sibling `common` importable as when it is run."""
    if str(PROJECT_ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    return importlib.import_module(name)


def read_results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def long_table(scores: dict[str, list[float]], subsets: list[str], splits: list[str], **extra) -> pd.DataFrame:
    """A long response table from {expert: score per query}."""
    rows = []
    for i, (subset, split) in enumerate(zip(subsets, splits)):
        for expert, values in scores.items():
            rows.append({"query_id": f"q{i}", "subset": subset, "split": split, "query": f"query {i}",
                         "expert": expert, "score": values[i], **{k: v[i] for k, v in extra.items()}})
    return pd.DataFrame(rows)


# A planted file in the format of ../shared/data/routerdc_7llm: its experts, each task's best expert, and the
# in-distribution task each out-of-distribution task resembles.
ROUTERDC_EXPERTS = ["mistralai/Mistral-7B-v0.1", "meta-math/MetaMath-Mistral-7B", "itpossible/Chinese-Mistral-7B-v0.1",
                    "HuggingFaceH4/zephyr-7b-beta", "cognitivecomputations/dolphin-2.6-mistral-7b",
                    "meta-llama/Meta-Llama-3-8B", "cognitivecomputations/dolphin-2.9-llama3-8b"]
ROUTERDC_TASKS = {"mmlu": 5, "gsm8k": 1, "cmmlu": 5, "arc_challenge": 3, "humaneval": 6}
ROUTERDC_OOD = {"math_prealgebra": "gsm8k", "mbpp": "humaneval", "ceval": "cmmlu"}


def write_routerdc_data(root: Path, n_train=80, n_test=40, n_ood=20) -> None:
    """root/queries_scores.jsonl.gz, RouterDC-format. Every task has its own words and a best expert; within
    humaneval, the queries with the word `sorted` (one in three) are solved by dolphin-2.6 (expert 4) alone, the
    others by dolphin-2.9 (expert 6) alone."""
    rng, rows = np.random.default_rng(0), []
    filler = [f"w{i}" for i in range(30)]

    def row(task, like, split, i):
        planted = like == "humaneval" and i % 3 == 0
        words = [f"{like}_word"] * 3 + list(rng.choice(filler, 6)) + (["sorted"] if planted else [])
        scores = {e: float(rng.random() < 0.3) for e in ROUTERDC_EXPERTS}
        scores[ROUTERDC_EXPERTS[ROUTERDC_TASKS[like]]] = float(rng.random() < 0.8)
        if like == "humaneval":
            scores.update({ROUTERDC_EXPERTS[4]: float(planted), ROUTERDC_EXPERTS[6]: float(not planted)})
        return {"query_id": f"{task}/{split}/{i}", "subset": task, "split": split, "query": " ".join(words),
                "scores": scores, "score_kind": "frac_of_10_samples_correct",
                **({"cluster_id": i % 3} if split == "train" else {})}

    for task in ROUTERDC_TASKS:
        rows += [row(task, task, "train", i) for i in range(n_train)] + [row(task, task, "test", i) for i in range(n_test)]
    for task, like in ROUTERDC_OOD.items():
        rows += [row(task, like, "ood", i) for i in range(n_ood)]
    root.mkdir(parents=True, exist_ok=True)
    with gzip.open(root / "queries_scores.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
