"""Routing new queries with trained routers: task=route and load_router."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, run_entry

from rewardroute.data.load import load_matrix
from rewardroute.data.matrix import DataError
from rewardroute.evaluation.cost import routes_at
from rewardroute.main import compose_config
from rewardroute.pipeline.ensemble import borda
from rewardroute.pipeline.route import load_router, routes_with_costs
from rewardroute.pipeline.tasks import run_task


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir, artifact_dir):
    """Two finished runs (seeds 1 and 2) and the test queries of their data, {query_id: text}."""
    runs, cfg = [], None
    for seed in (1, 2):
        runs.append(tmp_path_factory.mktemp(f"run{seed}"))
        cfg = compose_config([f"paths.cache_dir={cache_dir}", f"paths.artifact_dir={artifact_dir}", *TINY,
                              f"seed={seed}"], str(runs[-1]))
        run_task(cfg)
    queries = load_matrix(cfg).queries
    test = queries[queries["split"] == "test"]
    return runs, dict(zip(test["query_id"], test["query"]))


def saved_probs(run, ids):
    saved = pd.read_parquet(run / "predictions.parquet").set_index("query_id")
    return saved.loc[ids].drop(columns="split")


def test_routing_new_queries_gives_what_the_run_routed_for_the_same_texts(trained, compose_cfg, tmp_path, cache_dir):
    runs, test = trained
    ids = list(test)[:40]
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps({"query_id": i, "query": test[i]}) + "\n" for i in ids))
    run_entry(["task=route", f"runs=['{runs[0]}']", f"queries={path}"], tmp_path / "route", cache_dir)
    rows = [json.loads(line) for line in (tmp_path / "route" / "routes.jsonl").read_text().splitlines()]
    assert [r["query_id"] for r in rows] == ids and [r["query"] for r in rows] == [test[i] for i in ids]
    saved = saved_probs(runs[0], ids)
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in rows], saved.to_numpy(), atol=1e-5)
    assert [r["expert"] for r in rows] == saved.idxmax(axis=1).tolist()
    assert list(rows[0]["probabilities"]) == list(saved.columns)  # the experts, in the pool's order

    router = load_router(runs[0], f"paths.cache_dir={cache_dir}", "data.root=/where/the/data/are/now")
    probs = router.probabilities([test[i] for i in ids])
    np.testing.assert_allclose(probs.to_numpy(), saved.to_numpy(), atol=1e-5)
    assert router.route([test[ids[0]]]) == [rows[0]["expert"]] and router.experts == list(saved.columns)


def test_several_runs_route_by_their_borda_count(trained, compose_cfg, tmp_path):
    runs, test = trained
    ids = list(test)[:30]
    path = tmp_path / "queries.txt"
    path.write_text("\n".join(test[i] for i in ids) + "\n\n")  # a text file: a query a line, blank lines skipped
    run_task(compose_cfg(*TINY, "task=route", f"runs=['{runs[0]}','{runs[1]}']", f"queries={path}", out="route"))
    rows = [json.loads(line) for line in (tmp_path / "route" / "routes.jsonl").read_text().splitlines()]
    assert [r["query_id"] for r in rows] == [str(n) for n in range(1, 31)]
    shares = borda([saved_probs(run, ids).to_numpy() for run in runs])
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in rows], shares, atol=1e-5)


def test_bad_route_input_is_a_clear_error(trained, compose_cfg, tmp_path):
    runs, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "fine"}\n{"text": "misnamed"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl, row 2: expected a 'query' string, got None"):
        run_task(compose_cfg(*TINY, "task=route", f"runs=['{runs[0]}']", f"queries={bad}", out="route"))
    with pytest.raises(FileNotFoundError, match="queries=.*missing.jsonl: no such file"):
        run_task(compose_cfg(*TINY, "task=route", f"runs=['{runs[0]}']", f"queries={tmp_path / 'missing.jsonl'}",
                             out="route"))
    with pytest.raises(ValueError, match="task=route needs runs="):
        run_task(compose_cfg(*TINY, "task=route", f"queries={bad}", out="route"))
    with pytest.raises(ValueError, match=r"data.source.n_train_per_domain=30 would change the data that the router"):
        load_router(runs[0], "data.source.n_train_per_domain=30")
    good = tmp_path / "good.jsonl"
    good.write_text('{"query": "fine"}\n')
    with pytest.raises(FileNotFoundError, match="is not the folder of a finished task=train run"):
        run_task(compose_cfg(*TINY, "task=route", f"runs=['{tmp_path}']", f"queries={good}", out="route"))


def test_cost_lambda_trades_the_routers_choice_for_cheaper_experts(trained, compose_cfg, tmp_path, cache_dir):
    runs, test = trained
    ids = list(test)[:40]
    texts = [test[i] for i in ids]
    router = load_router(runs[0], f"paths.cache_dir={cache_dir}")
    sizes = {"generalist": 70, "mathcoder": 13, "wordsmith": 13, "scientist": 13, "lite": 1}  # expert_pool=synthetic
    np.testing.assert_allclose(router.costs, [sizes[e] for e in router.experts])
    probs = saved_probs(runs[0], ids).to_numpy()
    norm = np.tile(router.costs / 70, (len(ids), 1))
    for lam in (0.05, 0.2):
        assert router.route(texts, cost_lambda=lam) == [router.experts[i] for i in routes_at(probs, norm, lam)]
    assert set(router.route(texts, cost_lambda=1000)) == {"lite"}  # the cheapest, whatever the router prefers
    assert router.route(texts) != router.route(texts, cost_lambda=1000)
    path = tmp_path / "q.txt"
    path.write_text("\n".join(texts))
    run_task(compose_cfg(*TINY, "task=route", f"runs=['{runs[0]}']", f"queries={path}", "cost_lambda=0.2", out="r"))
    rows = [json.loads(line) for line in (tmp_path / "r" / "routes.jsonl").read_text().splitlines()]
    assert [r["expert"] for r in rows] == router.route(texts, cost_lambda=0.2)
    with pytest.raises(ValueError, match="states no costs"):
        routes_with_costs(probs, None, 0.2, runs[0])
