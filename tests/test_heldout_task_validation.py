"""bench/heldout_task_validation.py: the task classifier's settings scored on validation, on held-out tasks and
on test, on a small RouterDC-format file whose tasks are told apart by their words."""

import json
import subprocess
import sys

import pytest
from conftest import ROUTERDC_TASKS, write_routerdc_data

from rewardroute.schema import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "heldout_task_validation.py"


def test_every_setting_is_scored_three_ways_and_each_criterion_chooses(tmp_path):
    root, out = tmp_path / "routerdc_7llm", tmp_path / "heldout.json"
    write_routerdc_data(root)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data-root", str(root), "--features", "words",
                           "words+punctuation", "--c", "1", "10", "--out", str(out)],
                          check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads(out.read_text())
    assert record["tasks"] == list(ROUTERDC_TASKS)
    assert set(record["settings"]) == {f"{f}, C={c}, {a}" for f in ("words", "words+punctuation")
                                       for c in (1, 10) for a in ("hard", "soft")}
    for setting in record["settings"].values():
        assert set(setting["heldout_per_task"]) == set(ROUTERDC_TASKS)
        # Each task's words name it, so every trained task goes to its best expert: two in three of humaneval's
        # test queries right (the planted third wants dolphin-2.6), and mbpp goes where humaneval does (13 of 20).
        assert setting["test"]["humaneval"] == pytest.approx(100 * 26 / 40)
        assert setting["test"]["mbpp"] == pytest.approx(100 * 13 / 20)
        # Held out, humaneval's queries go to another task's best expert, which humaneval's scores never favour.
        assert setting["heldout_per_task"]["humaneval"] < 40 < min(setting["validation"], setting["cross_validation"])
    assert set(record["chosen"]) == set(record["spearman"]) == {"validation", "cross_validation", "heldout_task",
                                                                 "mean_of_both"}
    assert all(set(rho) == {"ID", "OOD"} for rho in record["spearman"].values())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"spearman": record["spearman"],
                                                                "chosen": record["chosen"]}


def test_bad_penalties_are_refused():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--c", "0"], check=False, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--c must be inverse penalties > 0" in proc.stderr
