"""The upstream stages with tiny models: generate -> score -> judge -> tag -> router, the artifact cache,
kill-and-resume, and the rules for inputs that do not fit."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import SHARED_DATA, needs_shared_data, read_results, run_entry

from rewardroute.pipeline.artifacts import list_artifacts
from rewardroute.pipeline.tasks import run_task
from rewardroute.schema import PROJECT_ROOT
from rewardroute.tags.instag import parse_tags

QUIET = ["~logger", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
ONE_EXPERT = ["~expert_pool.experts.tiny_b", "~expert_pool.experts.tiny_c"]  # tiny_a only


def test_tiny_pipeline_end_to_end_then_from_the_cache(tmp_path, cache_dir, compose_cfg, monkeypatch):
    """run.py runs the chain; a second run reuses every stage's artifact and loads no model."""
    art = tmp_path / "artifacts"
    small = ["data.source.n_train_per_domain=20", "data.source.n_test_per_domain=6"]
    run_entry(["experiment=tiny_pipeline", *QUIET, *small, f"paths.artifact_dir={art}"], tmp_path / "first", cache_dir)
    results = read_results(tmp_path / "first")
    assert {"zooter", "rmr", "bma", "oracle", "tiny_a", "tiny_b", "tiny_c"} <= set(results["methods"])
    assert results["methods"]["rmr"]["kind"] == "baseline"
    assert results["cost"]["rmr"]["generations"] == 3 and results["cost"]["zooter"]["router_passes"] == 1
    stages = sorted(m["stage"] for m in list_artifacts(art))
    assert stages == ["generate"] * 3 + ["judge"] * 3 + ["score"] * 3 + ["tag"]

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded although every stage is cached")

    monkeypatch.setattr("rewardroute.experts.models.TinyCausalLM.load", no_model)
    monkeypatch.setattr("rewardroute.rewards.models.Tiny.load", no_model)
    monkeypatch.setattr("rewardroute.tags.clusters.EmbeddingClusters.tag", no_model)
    run_task(compose_cfg("experiment=tiny_pipeline", *QUIET, *small, f"paths.artifact_dir={art}", out="second"))
    assert read_results(tmp_path / "second")["methods"]["rmr"] == results["methods"]["rmr"]


def generate_cmd(art, extra=()):
    """task=generate for one tiny expert on 96 queries in batches of 2 (48 parts)."""
    return [sys.executable, "run.py", "task=generate", "experiment=tiny_pipeline", "expert_pool.batch_size=2",
            "data.source.n_train_per_domain=12", "data.source.n_test_per_domain=4", *ONE_EXPERT,
            f"paths.artifact_dir={art}", "hydra.run.dir=" + str(art / "run"), *extra]


@pytest.fixture(scope="module")
def whole_generation(tmp_path_factory) -> pd.DataFrame:
    """The answers of an uninterrupted single-process run, to compare others with."""
    art = tmp_path_factory.mktemp("whole")
    subprocess.run(generate_cmd(art), cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300)
    [path] = art.glob("generate/*/data.parquet")
    return pd.read_parquet(path)


def test_a_killed_generate_stage_resumes_to_the_same_answers(tmp_path, whole_generation):
    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(generate_cmd(resumed), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(resumed.glob("generate/.*.parts/*.jsonl"))) < 5:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts = list(resumed.glob("generate/.*.parts/*.jsonl"))
    assert 5 <= len(parts) < 48, "the stage was not caught part-way"
    assert not list(resumed.glob("generate/*/meta.json"))  # no half artifact under the final name
    subprocess.run(generate_cmd(resumed), cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300)
    [path] = resumed.glob("generate/*/data.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), whole_generation)
    assert not list(resumed.glob("generate/.*.parts"))


def test_generation_sharded_over_two_ddp_processes_matches_one_process(tmp_path, whole_generation):
    subprocess.run(generate_cmd(tmp_path, ["trainer=ddp_cpu"]), cwd=PROJECT_ROOT, check=True, capture_output=True,
                   timeout=300)
    [path] = tmp_path.glob("generate/*/data.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), whole_generation)


def test_prompts_longer_than_the_context_are_cut_and_counted(compose_cfg):
    cfg = compose_cfg("task=generate", "experiment=tiny_pipeline", "data.source.n_train_per_domain=5", *ONE_EXPERT,
                      "+expert_pool.experts.tiny_a.max_context=24")
    [path] = run_task(cfg)
    meta = json.loads(Path(path, "meta.json").read_text())
    answers = pd.read_parquet(Path(path, "data.parquet"))
    assert meta["truncated_prompts"] == int(answers["truncated"].sum()) > 0
    assert len(answers) == meta["rows"] == 90


def test_a_tokenizer_without_pad_token_pads_with_eos(compose_cfg, caplog):
    cfg = compose_cfg("task=generate", "experiment=tiny_pipeline", "data.source.n_train_per_domain=5", *ONE_EXPERT,
                      "+expert_pool.experts.tiny_a.pad_token=false")
    [path] = run_task(cfg)
    assert len(pd.read_parquet(Path(path, "data.parquet"))) == 90
    assert "has no pad token; padding with its EOS token" in caplog.text


def test_empty_recorded_answers_are_kept_and_counted(compose_cfg, tmp_path):
    queries = [{"query_id": f"q{i}", "subset": "s", "split": "train" if i < 4 else "test", "query": f"question {i}"}
               for i in range(6)]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    answers = [{"query_id": q["query_id"], "model": "m", "response": "" if i == 2 else "an answer"}
               for i, q in enumerate(queries)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    others = [f"~expert_pool.experts.{e}" for e in ("vicuna-13b", "llama-2-13b-chat-hf", "tulu-2-dpo-13b", "ultralm-13b-v2")]
    cfg = compose_cfg("task=generate", "data=alpaca_eval_queries", f"data.source.path={tmp_path / 'q.jsonl'}",
                      "expert_pool=alpaca_eval_13b", *others, f"expert_pool.experts.wizardlm-13b.path={tmp_path / 'a.jsonl'}",
                      "expert_pool.experts.wizardlm-13b.model=m")
    [path] = run_task(cfg)
    assert json.loads(Path(path, "meta.json").read_text())["empty_answers"] == 1
    assert pd.read_parquet(Path(path, "data.parquet"))["response"].tolist()[2] == ""


def test_multi_turn_queries_are_answered_turn_by_turn(compose_cfg):
    from rewardroute.experts.generation import generate
    from rewardroute.experts.prompts import render

    queries = pd.DataFrame({"query_id": ["a", "b"], "subset": "s", "split": "test", "query": ["first one", "only"],
                            "turns": [["first one", "and then?"], ["only"]]})
    cfg = compose_cfg("experiment=tiny_pipeline", *ONE_EXPERT)
    _, answers = generate(cfg, queries, "tiny_a")
    assert isinstance(answers["response_turn2"][0], str) and not isinstance(answers["response_turn2"][1], str)
    assert render("USER: {query} ASSISTANT:", "and then?", history=[("first one", "an answer")]) == (
        "USER: first one ASSISTANT: an answer\nUSER: and then? ASSISTANT:")


def test_a_reward_model_with_two_labels_needs_score_index():
    from transformers import BertConfig, BertForSequenceClassification

    from rewardroute.rewards.scoring import ScoreModule
    from rewardroute.routers.backbones import bert_tokenizer

    tokenizer = bert_tokenizer(["a b c"], 10)
    model = BertForSequenceClassification(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=8, num_labels=2))
    with pytest.raises(ValueError, match="has 2 labels .* set model.score_index"):
        ScoreModule("two-label", model, tokenizer, "pair", 32, None)
    module = ScoreModule("two-label", model.eval(), tokenizer, "pair", 32, 1)
    out = module.predict_step({**module.collate([{"query": "a b", "answer": "c"}]), "batch_id": 0}, 0)
    assert set(out[0]) == {"reward", "truncated"}


@pytest.mark.parametrize("text, tags", [
    ('[{"tag": "Math", "explanation": "x"}, {"tag": "proof", "explanation": "y"}]', ["math", "proof"]),
    ('Sure! {"tag": "coding", "explanation": "z"}', ["coding"]),
    ('[{"tag": "story writing", "explanation": "cut off mid', ["story writing"]),
    ("I cannot tag this.", None),
    ('{"label": "no tag field"}', None),
])
def test_instag_parser_survives_malformed_output(text, tags):
    assert parse_tags(text) == tags


def test_artifacts_task_lists_the_store(compose_cfg, capsys):
    run_task(compose_cfg("task=generate", "experiment=tiny_pipeline", "data.source.n_train_per_domain=5"))
    run_task(compose_cfg("task=artifacts"))
    out = capsys.readouterr().out
    assert "answers of tiny_a" in out and "| generate" in out


def test_atomic_writes_keep_a_cached_result_and_replace_a_run_output(tmp_path):
    from rewardroute.cache import atomic_path

    for final, write in ((tmp_path / "results.md", lambda p, text: p.write_text(text)),
                         (tmp_path / "model", lambda p, text: (p.mkdir(), (p / "weights").write_text(text)))):
        def read(final=final):
            return (final / "weights" if final.is_dir() else final).read_text()

        for text, replace, expected in (("first", False, "first"), ("cached", False, "first"), ("rerun", True, "rerun")):
            with atomic_path(final, replace=replace) as tmp:
                write(tmp, text)
            assert read() == expected, (final, text)
        with pytest.raises(RuntimeError), atomic_path(final, replace=True) as tmp:
            write(tmp, "half")
            raise RuntimeError("killed mid-write")
        assert read() == "rerun"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "results.md"]  # no temporary left


def test_stages_without_their_configs_are_a_clear_error(compose_cfg):
    with pytest.raises(ValueError, match="gives queries only.*expert_pool=.*reward_model=.*judge="):
        run_task(compose_cfg("data=synthetic_queries", "backbone=tiny", *QUIET))


@needs_shared_data
def test_recorded_alpaca_eval_pool_with_a_tiny_reward_model_and_recorded_judge(compose_cfg, tmp_path):
    """The AlpacaEval 13B answers scored by a tiny reward model, evaluated with the recorded GPT-4 judgements."""
    cfg = compose_cfg("data=alpaca_eval_queries", "expert_pool=alpaca_eval_13b", "reward_model=tiny",
                      "judge=alpaca_eval_ae1", "data.subsets=[vicuna,koala]", "backbone=tiny", "router.optimizer.lr=1e-3",
                      "router.max_length=32",
                      "trainer.max_epochs=1", *QUIET)
    run_task(cfg)
    results = read_results(tmp_path)
    assert results["subsets"] == ["koala", "vicuna"] and results["groups"]["AlpacaEval"] == ["koala", "vicuna"]
    assert "rmr" in results["methods"]
    ultralm = results["methods"]["ultralm-13b-v2"]["mean"]
    assert 0.8 < ultralm < 0.95
    assert SHARED_DATA.is_dir()
