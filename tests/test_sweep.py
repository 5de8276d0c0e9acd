"""Benchmark sweeps through run.py -m (tiny models, 3 subsets x 3 methods) and the report that rebuilds the table."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_entry

from rewardroute.pipeline.tasks import run_task

QUIET = ["~logger", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, cache_dir):
    """The tiny sweep with the basic launcher; its artifact store is shared with the other sweeps here."""
    root = tmp_path_factory.mktemp("sweeps")
    run_entry(["-m", "experiment=tiny_sweep", *QUIET, f"paths.artifact_dir={root / 'artifacts'}"], root / "basic",
              cache_dir)
    return root


def hand_computed(folder):
    """Group means, MTR and uplift from the jobs' results.json, by hand."""
    jobs = [json.loads(p.read_text()) for p in sorted(folder.glob("*/results.json"))]
    subsets = sorted({j["benchmark"] for j in jobs})
    experts = jobs[0]["experts"]
    out = {}
    for method in sorted({j["method"] for j in jobs}):
        scores, ranks = [], []
        for s in subsets:
            [job] = [j for j in jobs if j["benchmark"] == s and j["method"] == method]
            scores.append(job["score"])
            ranks.append(1 + sum(v > job["score"] + 1e-9 for v in job["experts"].values()))
        out[method] = {"Tiny": np.mean(scores), "mtr": np.mean(ranks), "uplift": np.mean([r == 1 for r in ranks])}
    return out, experts


def test_tiny_sweep_report_matches_a_hand_computation(swept, compose_cfg):
    folder = swept / "basic"
    assert len(list(folder.glob("*/results.json"))) == 9
    report = run_task(compose_cfg("task=report", f"dir={folder}"))
    expected, experts = hand_computed(folder)
    for method, values in expected.items():
        got = report["methods"][method]
        assert got["groups"]["Tiny"] == pytest.approx(values["Tiny"])
        assert got["mtr"] == pytest.approx(values["mtr"]) and got["uplift"] == pytest.approx(values["uplift"])
    assert set(experts) <= set(report["methods"]) and report["missing"] == []
    oracle = report["methods"]["dataset_oracle"]  # each subset's best single expert
    for subset, value in oracle["subsets"].items():
        assert value == pytest.approx(max(report["methods"][e]["subsets"][subset] for e in experts))
    assert oracle["mtr"] == 1 and oracle["uplift"] == 1
    for name in ("report.md", "report.csv", "report.tex", "report.json", "ranks.png", "groups.png"):
        assert (folder / name).stat().st_size > 0
    assert json.loads((folder / "report.json").read_text())["methods"]["zooter"]["mtr"] == pytest.approx(
        expected["zooter"]["mtr"])


def test_the_same_sweep_with_joblib_skips_what_is_complete(swept, compose_cfg, cache_dir):
    folder = swept / "joblib"
    run_entry(["-m", "experiment=tiny_sweep", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *QUIET,
                      f"paths.artifact_dir={swept / 'artifacts'}"], folder, cache_dir)
    logs = "".join(p.read_text() for p in folder.glob("*/*.log"))
    assert logs.count("complete in the artifact store") == 9
    basic = run_task(compose_cfg("task=report", f"dir={swept / 'basic'}"))
    again = run_task(compose_cfg("task=report", f"dir={folder}"))
    assert again["methods"] == basic["methods"]


def test_a_failing_job_does_not_stop_the_sweep_and_is_marked_missing(swept, compose_cfg, cache_dir):
    folder = swept / "failing"
    # rmr needs a reward model: without one its job fails, the random job beside it completes
    run_entry(["-m", "experiment=tiny_sweep", "benchmark=tiny/math", "router=random,rmr", "~reward_model", *QUIET,
               f"paths.artifact_dir={swept / 'artifacts'}"], folder, cache_dir)
    [failure] = folder.glob("*/failure.json")
    assert "needs reward_model" in json.loads(failure.read_text())["error"]
    report = run_task(compose_cfg("task=report", f"dir={folder}"))
    assert [(m["method"], m["status"]) for m in report["missing"]] == [("rmr", "failed")]
    assert report["methods"]["random"]["subsets_done"] == 1 and report["methods"]["rmr"]["subsets_done"] == 0
    assert "rmr (job" in (folder / "report.md").read_text()


def test_one_report_over_two_sweeps_keeps_a_row_per_reward_model(swept, compose_cfg, cache_dir):
    """RMR with another reward model, swept on its own, joins the first sweep's table as rmr+<reward model>."""
    run_entry(["-m", "experiment=tiny_sweep", "benchmark=tiny/math", "router=rmr", *QUIET,
               f"paths.artifact_dir={swept / 'artifacts'}"], swept / "rmr", cache_dir)
    report = run_task(compose_cfg("task=report", f"dir=[{swept / 'basic'},{swept / 'rmr'}]"))
    assert report["methods"]["rmr+tiny_rm"]["subsets_done"] == 1 and report["missing"] == []
    job = json.loads((swept / "rmr" / "0" / "results.json").read_text())
    assert job["method"] == "rmr+tiny_rm" and report["methods"]["rmr+tiny_rm"]["subsets"]["tiny_math"] == job["score"]
    assert {"zooter", "bma", "random", "dataset_oracle"} <= set(report["methods"])
    assert (swept / "basic" / "report.md").read_text().count("rmr+tiny_rm") >= 2  # the table and the subsets
    with pytest.raises(ValueError, match=r"jobs \['basic/0', 'basic/0'\] all give"):
        run_task(compose_cfg("task=report", f"dir=[{swept / 'basic'},{swept / 'basic'}]"))


def test_a_report_refuses_jobs_whose_single_experts_differ():
    """Sweeps with other answers (another pool, generation or evaluator) cannot share one table."""
    from rewardroute.pipeline.sweep_report import aggregate

    jobs = pd.DataFrame([
        {"job": "a/0", "benchmark": "math", "group": "G", "method": "zooter", "status": "complete", "score": 0.5,
         "experts": {"x": 0.4, "y": 0.6}, "error": None},
        {"job": "b/0", "benchmark": "math", "group": "G", "method": "rmr+rm", "status": "complete", "score": 0.5,
         "experts": {"x": 0.4, "y": 0.7}, "error": None}])
    with pytest.raises(ValueError, match="jobs a/0 and b/0 score the single experts on math differently"):
        aggregate(jobs)
    jobs.at[1, "experts"] = {"y": 0.6, "x": 0.4}  # the same scores, another order: one table
    assert aggregate(jobs)["methods"]["dataset_oracle"]["subsets"] == {"math": 0.6}


def test_each_subset_is_ranked_among_the_experts_that_answered_it():
    """A subset answered by a smaller pool is ranked among its own experts, and counts in MTR and %Uplift."""
    from rewardroute.pipeline.sweep_report import aggregate

    job = {"group": "G", "method": "zooter", "status": "complete", "score": 0.9, "error": None}
    jobs = pd.DataFrame([{**job, "job": "0", "benchmark": "s1", "experts": {"a": 0.1, "b": 0.2, "c": 0.3}},
                         {**job, "job": "1", "benchmark": "s2", "experts": {"a": 0.1, "b": 0.95}}])
    methods = aggregate(jobs)["methods"]
    assert methods["zooter"]["ranks"] == {"s1": 1.0, "s2": 2.0}
    assert methods["zooter"]["mtr"] == 1.5 and methods["zooter"]["uplift"] == 0.5
    assert methods["dataset_oracle"]["subsets"] == {"s1": 0.3, "s2": 0.95}
    assert methods["c"]["ranks"] == {"s1": 1.0, "s2": None}


def test_report_needs_a_sweep_folder(compose_cfg, tmp_path):
    with pytest.raises(ValueError, match="task=report needs dir="):
        run_task(compose_cfg("task=report"))
    with pytest.raises(FileNotFoundError, match="no task=benchmark jobs"):
        run_task(compose_cfg("task=report", f"dir={tmp_path}"))


def test_the_artifact_store_lists_the_sweeps_jobs(swept, compose_cfg, capsys):
    run_task(compose_cfg("task=artifacts", f"paths.artifact_dir={swept / 'artifacts'}"))
    from rewardroute.pipeline.artifacts import list_artifacts

    jobs = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| benchmark ")]
    stored = [m for m in list_artifacts(swept / "artifacts") if m["stage"] == "benchmark"]
    assert len(jobs) == len(stored) >= 9  # the sweep's 9 and any other test's
    assert all(f" {m['spec']['n']} queries {m['spec']['queries']} " in "".join(jobs) for m in stored)


def test_a_job_learns_from_the_data_it_is_given(swept, compose_cfg):
    """bma and a trained router come from the `data` matrix, and a fast_dev_run router is not a trained one:
    each is a job of its own in the store, never the cached result of other data or a full training."""
    from rewardroute.pipeline.artifacts import list_artifacts

    store = [f"paths.artifact_dir={swept / 'artifacts'}", "benchmark=tiny/math", *QUIET]
    before = {m["key"] for m in list_artifacts(swept / "artifacts")}
    run_task(compose_cfg("experiment=tiny_sweep", "router=bma", "data.split_seed=1", *store, out="bma"))
    run_task(compose_cfg("experiment=tiny_sweep", "router=zooter", "trainer.fast_dev_run=true", *store, out="dev"))
    new = [m for m in list_artifacts(swept / "artifacts") if m["key"] not in before]
    assert sorted(m["stage"] for m in new) == ["benchmark", "benchmark", "router"]
    [router] = [m for m in new if m["stage"] == "router"]
    assert router["spec"]["trainer"]["fast_dev_run"] is True
    assert (swept / "artifacts" / "router" / router["key"] / "router.ckpt").is_file()


def test_a_benchmark_of_queries_the_router_learnt_from_is_an_error(swept, compose_cfg):
    from rewardroute.data.matrix import DataError

    store = [f"paths.artifact_dir={swept / 'artifacts'}", "benchmark=tiny/coding", *QUIET]
    with pytest.raises(DataError, match=r"benchmark tiny_coding: [12] of its 12 queries are training or validation "
                                        r"queries of data=synthetic_queries \(the same text\).*bma would be scored"):
        run_task(compose_cfg("experiment=tiny_sweep", "router=bma", "benchmark.queries.seed=1", *store, out="seen"))


def test_a_benchmark_subset_outside_the_data_subsets_keeps_its_queries(swept, compose_cfg):
    """data.subsets chooses what the router trains on, not which benchmark queries are answered."""
    result = run_task(compose_cfg("experiment=tiny_sweep", "router=random", "benchmark=tiny/coding", "data.subsets=[math]",
                                  f"paths.artifact_dir={swept / 'artifacts'}", *QUIET))
    assert result["n_queries"] > 0 and np.isfinite(result["score"])


def test_a_benchmark_answers_with_its_own_generation_settings(swept, compose_cfg):
    """benchmarks/{mmlu,gsm8k,humaneval} are greedy (benchmark.generation) while the pool samples; a typo is an error."""
    from rewardroute.pipeline.artifacts import list_artifacts

    store = [f"paths.artifact_dir={swept / 'artifacts'}", "router=random", "benchmark=tiny/math", *QUIET]
    run_task(compose_cfg("experiment=tiny_sweep", "benchmark.generation={do_sample:false}", *store, out="greedy"))
    settings = [m["spec"]["generation"] for m in list_artifacts(swept / "artifacts") if m["stage"] == "generate"]
    assert {"do_sample": False, "max_new_tokens": 16} in settings  # greedy: no temperature or top_p
    assert any(s["do_sample"] for s in settings)  # the sweep's answers, sampled as the pool says
    with pytest.raises(ValueError, match=r"benchmark.generation: unknown keys \['do_smaple'\]"):
        run_task(compose_cfg("experiment=tiny_sweep", "benchmark.generation={do_smaple:false}", *store, out="typo"))
    assert compose_cfg("benchmark=benchmarks/gsm8k").benchmark.generation == {"do_sample": False}


def test_a_cached_router_is_keyed_by_the_queries_text_subsets_and_tags():
    """A router learns from the tags (tag enhancement, clusters) and the text: other tags, another router."""
    from dataclasses import replace

    from rewardroute.data.matrix import ResponseMatrix
    from rewardroute.data.synthetic import generate
    from rewardroute.pipeline.benchmark import matrix_key

    matrix = ResponseMatrix.from_long(generate(n_train_per_domain=5, n_test_per_domain=2))
    keys = {matrix_key(matrix)}
    for column, value in (("tags", lambda q: [["other"]] * len(q)), ("query", lambda q: q["query"] + "!"),
                          ("subset", lambda q: ["one"] * len(q))):
        keys.add(matrix_key(replace(matrix, queries=matrix.queries.assign(**{column: value(matrix.queries)}))))
    assert len(keys) == 4
