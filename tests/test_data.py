"""Loaders and validation on good and bad files; splits; the synthetic benchmark."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, long_table, needs_shared_data

from rewardroute.data.jsonl import load_long, load_queries, load_wide
from rewardroute.data.matrix import DataError, ResponseMatrix
from rewardroute.data.splits import assign_splits, split_labels
from rewardroute.data.synthetic import generate


def write_jsonl(path, rows, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def long_rows(n=4, experts=("a", "b")):
    return [{"query_id": i, "subset": "s", "split": "train" if i < n - 1 else "test", "query": f"q{i}",
             "expert": e, "score": 0.1 * i + (e == "b") * 0.05} for i in range(n) for e in experts]


def test_long_and_wide_files_give_the_same_matrix(tmp_path):
    long_path = write_jsonl(tmp_path / "long.jsonl", long_rows())
    wide = [{"query_id": i, "subset": "s", "split": "train" if i < 3 else "test", "query": f"q{i}",
             "scores": {"a": 0.1 * i, "b": 0.1 * i + 0.05}} for i in range(4)]
    wide_path = write_jsonl(tmp_path / "wide.jsonl.gz", wide, gz=True)
    m1 = ResponseMatrix.from_long(load_long(long_path))
    m2 = ResponseMatrix.from_long(load_wide(wide_path))
    assert m1.experts == m2.experts == ("a", "b")
    np.testing.assert_allclose(m1.scores, m2.scores)
    assert m1.queries["query"].tolist() == ["q0", "q1", "q2", "q3"]


def test_export_task_round_trips_through_the_long_loader(compose_cfg, tmp_path):
    from rewardroute.data.load import load_matrix
    from rewardroute.pipeline.tasks import run_task

    cfg = compose_cfg("task=export", "data.source.n_train_per_domain=20", "data.source.n_test_per_domain=5")
    path = run_task(cfg)
    again = load_matrix(compose_cfg("data=jsonl", f"data.source.scores={path}"))
    original = load_matrix(cfg)
    assert again.experts == original.experts
    np.testing.assert_allclose(again.scores, original.scores)
    assert again.queries[["query_id", "split", "tags"]].equals(original.queries[["query_id", "split", "tags"]])


def test_long_file_with_separate_queries_file(tmp_path):
    queries = write_jsonl(tmp_path / "q.jsonl", [{"query_id": i, "subset": "s", "query": f"q{i}"} for i in range(3)])
    scores = write_jsonl(tmp_path / "s.jsonl", [{"query_id": i, "model": m, "score": 1.0} for i in range(3) for m in "xy"])
    long = load_long(scores, queries=queries, expert_field="model")
    assert long["query"].tolist()[:2] == ["q0", "q0"] and set(long["expert"]) == {"x", "y"}
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"query_id": 9, "model": "x", "score": 1.0}])
    with pytest.raises(DataError, match=r"bad.jsonl, row 1: query_id 9 is not in"):
        load_long(bad, queries=queries, expert_field="model")
    # the score rows' split stands where the queries file has none; the two disagreeing is an error
    split = write_jsonl(tmp_path / "split.jsonl", [{"query_id": i, "model": m, "score": 1.0, "split": "test" if i else "train"}
                                                   for i in range(3) for m in "xy"])
    assert load_long(split, queries=queries, expert_field="model")["split"].tolist() == ["train"] * 2 + ["test"] * 4
    twice = write_jsonl(tmp_path / "twice.jsonl", [{"query_id": 0, "subset": "s", "query": "q0"},
                                                   {"query_id": 0, "subset": "t", "query": "another text"}])
    with pytest.raises(DataError, match=r"twice.jsonl, row 2: query_id 0 again \(first in row 1\)"):
        load_long(scores, queries=twice, expert_field="model")
    with pytest.raises(DataError, match=r"twice.jsonl, row 2: query_id 0 again \(first in row 1\)"):
        load_queries(twice)
    other = write_jsonl(tmp_path / "other.jsonl", [{"query_id": 0, "model": "x", "score": 1.0, "subset": "t"}])
    with pytest.raises(DataError, match=r"other.jsonl, row 1: subset 't' of query 0 differs from 's' in .*q.jsonl, row 1"):
        load_long(other, queries=queries, expert_field="model")


def test_the_datas_own_validation_split_is_the_validation_split():
    queries = pd.DataFrame({"query_id": [f"q{i}" for i in range(6)],
                            "split": ["train", "train", "dev", "validation", "test", "ood"]})
    assert split_labels(queries, 0.2, 0.5, seed=0).tolist() == ["train", "train", "val", "val", "test", "test"]


def test_routellm_mt_bench_needs_both_turns_and_keeps_a_null_turn_null(tmp_path):
    from rewardroute.data.routellm import load

    queries = write_jsonl(tmp_path / "q.jsonl", [{"query_id": i, "subset": "mt_bench_math", "query": f"q{i}",
                                                  "split": "test"} for i in (1, 2)])
    rows = [{"query_id": 1, "model": m, "turn": t, "score": s} for m, t, s in
            (("A", 1, 9.0), ("A", 2, None), ("B", 1, 6.0), ("B", 2, 4.0))]
    scores = write_jsonl(tmp_path / "s.jsonl", rows)
    long = load(queries, scores, merge_mmlu=False)
    assert long["score"].isna().tolist() == [True, False] and long["score"].iloc[1] == 5.0
    one_turn = write_jsonl(tmp_path / "one.jsonl", rows + [{"query_id": 2, "model": "A", "turn": 1, "score": 3.0}])
    with pytest.raises(DataError, match=r"one.jsonl, row 5: MT-Bench query '2' of 'A' has score rows of turns \[1\]; it needs one of turn 1"):
        load(queries, one_turn, merge_mmlu=False)
    twice_turn_1 = write_jsonl(tmp_path / "twice.jsonl", [{**r, "turn": 1} if r["model"] == "B" else r for r in rows])
    with pytest.raises(DataError, match=r"twice.jsonl, row 3: MT-Bench query '1' of 'B' has score rows of turns "
                                        r"\[1, 1\]; it needs one of turn 1 and one of turn 2"):
        load(queries, twice_turn_1, merge_mmlu=False)


def bad_file(tmp_path, edit) -> str:
    rows = long_rows()
    edit(rows)
    return write_jsonl(tmp_path / "scores.jsonl", rows)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r[3].update(score="high"), r"scores.jsonl, row 4: score 'high' for query '1', expert 'b' is not a finite number"),
        (lambda r: r[2].update(score=None), r"scores.jsonl, row 3: null score or metric for query '1', expert 'a'"),
        (lambda r: r[2].pop("score"), r"scores.jsonl, row 3: no 'score' field; the row has \['expert', 'query'"),
        (lambda r: r.append(dict(r[0])), r"scores.jsonl: duplicate query id '0' for expert 'a' in rows \[1, 9\]"),
        (lambda r: r[4].update(subset=""), r"scores.jsonl, row 5: empty subset for query '2'"),
        (lambda r: r.pop(7), r"query '3' \(split 'test'\) has no score from \['b'\]"),
        (lambda r: r[3].update(score=float("inf")), r"row 4: score inf for query '1', expert 'b' is not a finite number"),
        (lambda r: r[3].update(split="test"), (r"query '1' has two splits: 'train' \(.*scores.jsonl, row 3\) and "
                                               r"'test' \(.*scores.jsonl, row 4\)")),
        (lambda r: r[3].pop("query"), r"scores.jsonl, row 4: query of query '1' is missing; expected the query's text"),
        (lambda r: r[3].update(expert=None), r"scores.jsonl, row 4: expert of query '1' is missing; expected the expert's name"),
        (lambda r: r[3].update(tags=["math"]), (r"query '1' has two tag lists: \[\] \(.*scores.jsonl, row 3\) and "
                                                r"\['math'\] \(.*scores.jsonl, row 4\)")),
    ],
    ids=["non-numeric", "null", "missing", "duplicate", "empty-subset", "missing-expert", "infinite", "two-splits",
         "no-query-text", "null-expert", "two-tag-lists"],
)
def test_bad_score_files_name_file_and_row(tmp_path, edit, message):
    with pytest.raises(DataError, match=message):
        ResponseMatrix.from_long(load_long(bad_file(tmp_path, edit), tags_field="tags"))


def test_a_wrong_score_field_is_an_error_not_every_query_dropped(tmp_path):
    path = write_jsonl(tmp_path / "scores.jsonl", long_rows())
    fields = r"\['expert', 'query', 'query_id', 'score', 'split', 'subset'\]"
    with pytest.raises(DataError, match=rf"scores.jsonl, row 1: no 'reward' field; the row has {fields}"):
        load_long(path, score_field="reward")


def test_a_null_metric_among_values_is_a_missing_evaluation_not_the_score(tmp_path):
    rows = long_rows()
    for i, r in enumerate(rows):
        r["metric"] = None if i == 5 else 1.0
    path = write_jsonl(tmp_path / "scores.jsonl", rows)
    with pytest.raises(DataError, match=r"row 6: null score or metric"):
        ResponseMatrix.from_long(load_long(path))
    assert ResponseMatrix.from_long(load_long(path), null_scores="drop").dropped == 1


def test_null_policy_drop_counts_the_dropped_queries(tmp_path):
    path = bad_file(tmp_path, lambda r: r[2].update(score=None))
    m = ResponseMatrix.from_long(load_long(path), null_scores="drop")
    assert m.dropped == 1 and m.queries["query_id"].tolist() == ["0", "2", "3"]


def test_unknown_expert_and_subset_in_config_name_the_key(tmp_path):
    long = load_long(write_jsonl(tmp_path / "s.jsonl", long_rows()))
    with pytest.raises(DataError, match=r"data.experts names \['zz'\], not found in .*s.jsonl"):
        ResponseMatrix.from_long(long, experts=["a", "zz"])
    with pytest.raises(DataError, match=r"data.subsets names \['t'\]"):
        ResponseMatrix.from_long(long, subsets=["t"])


def test_experts_differing_between_train_and_test_is_an_error(tmp_path):
    rows = [r for r in long_rows(4, ("a", "b", "c")) if not (r["split"] == "test" and r["expert"] == "c")]
    with pytest.raises(DataError, match=r"Experts differ between splits: test: \['a', 'b'\]; train: \['a', 'b', 'c'\]"):
        ResponseMatrix.from_long(load_long(write_jsonl(tmp_path / "s.jsonl", rows)))


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"query_id": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"broken.jsonl, row 2: not valid JSON"):
        load_long(str(path))
    with pytest.raises(DataError, match="no such file"):
        load_long(str(tmp_path / "absent.jsonl"))


def test_a_split_without_training_queries_is_an_error():
    m = ResponseMatrix.from_long(long_table({"a": [0.1, 0.2]}, ["s", "s"], ["test", "ood"]))
    with pytest.raises(DataError, match=r"no training queries: the data's splits are \['ood', 'test'\]"):
        assign_splits(m, 0.2, 0.1, 0)


def test_splits_on_some_queries_only_name_the_file_and_row_of_one_without(tmp_path):
    rows = [{"query_id": i, "subset": "s", "split": None if i == 2 else "train", "query": f"q{i}"} for i in range(4)]
    queries = load_queries(write_jsonl(tmp_path / "queries.jsonl", rows))
    with pytest.raises(DataError, match=r"some have none, e.g. .*queries.jsonl, row 3: query '2' has none"):
        split_labels(queries, 0.2, 0.1, 0)
    scores = [dict(r, split=None) if r["query_id"] == 2 else r for r in long_rows()]  # rows 5 and 6: query 2
    matrix = ResponseMatrix.from_long(load_long(write_jsonl(tmp_path / "scores.jsonl", scores)))
    with pytest.raises(DataError, match=r"some have none, e.g. .*scores.jsonl, row 5: query '2' has none"):
        assign_splits(matrix, 0.2, 0.1, 0)


def test_seeded_split_is_stable_across_runs_and_row_order():
    n = 400
    long = long_table({"a": list(np.linspace(0, 1, n))}, ["s"] * n, [None] * n)
    a = assign_splits(ResponseMatrix.from_long(long), 0.25, 0.1, seed=3).queries.set_index("query_id")["split"]
    shuffled = long.sample(frac=1.0, random_state=1)
    b = assign_splits(ResponseMatrix.from_long(shuffled), 0.25, 0.1, seed=3).queries.set_index("query_id")["split"]
    assert a.to_dict() == b.to_dict()
    assert 0.18 < (a == "test").mean() < 0.32
    c = assign_splits(ResponseMatrix.from_long(long), 0.25, 0.1, seed=4).queries.set_index("query_id")["split"]
    assert (a != c).any()


def test_synthetic_benchmark_is_seeded_and_has_headroom():
    assert generate(seed=1).equals(generate(seed=1))
    assert not generate(seed=1).equals(generate(seed=2))
    m = ResponseMatrix.from_long(generate())
    test = m.mask("test")
    best_single = m.metric[test].mean(axis=0).max()
    oracle = m.metric[test].max(axis=1).mean()
    assert oracle - best_single > 0.2
    assert m.queries["tags"].map(len).eq(2).all() and set(m.subsets) == {"math", "coding", "writing", "science", "history", "health"}


@needs_shared_data
def test_routerdc_loader_reads_the_real_matrix():
    from rewardroute.data.routerdc import load

    long = load(str(SHARED_DATA / "routerdc_7llm" / "queries_scores.jsonl.gz"))
    m = ResponseMatrix.from_long(long, subsets=["mmlu", "gsm8k", "ceval"])
    assert len(m.experts) == 7
    counts = m.queries.groupby(["subset", "split"]).size().to_dict()
    assert counts == {("ceval", "ood"): 1346, ("gsm8k", "test"): 1319, ("gsm8k", "train"): 1000,
                      ("mmlu", "test"): 4213, ("mmlu", "train"): 2000}
    # accuracy: multiple choice counts as correct when score > 0; gsm8k keeps the fraction of samples correct
    mmlu = (m.queries["subset"] == "mmlu").to_numpy()
    assert set(np.unique(m.metric[mmlu])) <= {0.0, 1.0}
    np.testing.assert_array_equal(m.metric[~mmlu & (m.queries["subset"] == "gsm8k").to_numpy()],
                                  m.scores[(m.queries["subset"] == "gsm8k").to_numpy()])
    test = (m.queries["subset"] == "gsm8k").to_numpy() & (m.queries["split"] == "test").to_numpy()
    dolphin = m.experts.index("cognitivecomputations/dolphin-2.9-llama3-8b")
    assert m.metric[test, dolphin].mean() * 100 == pytest.approx(69.81, abs=0.01)  # README of the data
    assert m.queries.loc[mmlu & (m.queries["split"] == "train").to_numpy(), "tags"].map(len).eq(1).all()


@needs_shared_data
def test_alpaca_eval_loader_with_null_scores_dropped():
    from rewardroute.data.jsonl import load_long as load

    root = SHARED_DATA / "alpaca_eval"
    long = load(str(root / "scores_ae1_gpt4_vs_text_davinci_003.jsonl"), queries=str(root / "queries.jsonl"),
                expert_field="model")
    pool = ["wizardlm-13b", "vicuna-13b", "llama-2-13b-chat-hf"]
    with pytest.raises(DataError, match="null score"):
        ResponseMatrix.from_long(long, experts=pool)
    m = ResponseMatrix.from_long(long, experts=pool, null_scores="drop")
    assert len(m.queries) + m.dropped == 805 and len(m.queries) == 803  # README: 803 queries fully covered
    assert m.metric.mean(axis=0).max() == pytest.approx(0.812, abs=0.002)  # best single on those queries


@needs_shared_data
def test_routellm_loader_averages_mt_bench_turns():
    from rewardroute.data.routellm import load

    root = SHARED_DATA / "routellm_gpt4_vs_mixtral"
    m = ResponseMatrix.from_long(load(str(root / "queries.jsonl.gz"), str(root / "scores.jsonl")))
    assert len(m.experts) == 2
    sizes = m.queries["subset"].value_counts()
    assert sizes["mmlu"] == 14042 and sizes["gsm8k"] == 1319 and sizes["mt_bench_writing"] == 10
    bench = m.queries["subset"].str.startswith("mt_bench").to_numpy()
    gpt4 = m.experts.index("gpt-4-1106-preview")
    assert m.scores[bench, gpt4].mean() == pytest.approx(9.23, abs=0.05)  # README: per-turn mean


def test_under_ddp_each_validation_query_is_routed_once_across_the_ranks():
    """Lightning's own DistributedSampler repeats queries to even out the ranks; the checkpoint criterion must not."""
    from types import SimpleNamespace

    import datasets

    from rewardroute.data.datamodule import RouterDataModule

    split = np.array(["train"] * 4 + ["val"] * 7 + ["test"] * 2)
    features = datasets.Dataset.from_dict({"features": np.zeros((len(split), 3), dtype=np.float32).tolist()})
    dm = RouterDataModule(lambda: features, {"metric": np.zeros((len(split), 2))}, split, eval_batch_size=2)
    dm.setup()
    seen = []
    for rank in (0, 1):
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        seen += [int(i) for batch in dm.val_dataloader() for i in batch["idx"]]
    assert sorted(seen) == list(range(4, 11))
