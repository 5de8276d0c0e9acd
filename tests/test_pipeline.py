"""The upstream stages with tiny models: generate -> score -> judge -> tag -> router, the artifact cache,
kill-and-resume, and the rules for inputs that do not fit."""

import json
import signal
import subprocess
import sys
import time
from collections import Counter
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


def test_a_stage_with_fewer_batches_than_ddp_processes(tmp_path):
    """One batch for two ranks: the idle rank repeats it (Lightning refuses an empty loader), its part is kept once."""
    subprocess.run([*generate_cmd(tmp_path, ["trainer=ddp_cpu"]), "expert_pool.batch_size=128"], cwd=PROJECT_ROOT,
                   check=True, capture_output=True, timeout=300)
    [path] = tmp_path.glob("generate/*/data.parquet")
    assert len(pd.read_parquet(path)) == 96


class Echo:
    """A stand-in stage model for run_sharded: each item's output names its query."""

    def __new__(cls):
        import lightning as L

        class EchoModule(L.LightningModule):
            def collate(self, items):
                return {"queries": [it["query"] for it in items]}

            def predict_step(self, batch, batch_idx):
                return [{"echo": q} for q in batch["queries"]]

        return EchoModule()


def test_a_stage_resumed_with_another_batch_size_keeps_its_answers_on_their_queries(tmp_path):
    """After running out of memory one lowers the batch size: every answer written stays with its own query."""
    from omegaconf import OmegaConf

    from rewardroute.pipeline.sharded import run_sharded

    items = [{"query": "q" * n} for n in (3, 1, 4, 1, 5, 9, 2, 6)]
    lengths = [len(it["query"]) for it in items]
    trainer = OmegaConf.create({"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto",
                                "precision": "32-true"})
    parts = tmp_path / "parts"
    run_sharded(items, lengths, 4, Echo, parts, trainer, desc="first")
    next(iter(sorted(parts.glob("*.jsonl")))).unlink()  # killed before its last batch was written
    outputs = run_sharded(items, lengths, 3, Echo, parts, trainer, desc="resumed")
    assert [o["echo"] for o in outputs] == [it["query"] for it in items]


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


def test_recorded_answers_and_scores_name_the_row_of_a_misnamed_field_a_repeated_query_or_a_bad_value(tmp_path):
    from rewardroute.data.matrix import DataError
    from rewardroute.experts.models import Recorded
    from rewardroute.rewards.models import Recorded as RecordedScores

    def recorded(name: str, *rows: dict) -> str:
        (tmp_path / name).write_text("".join(json.dumps({"query_id": f"q{i}", "model": "m", **r}) + "\n"
                                             for i, r in enumerate(rows)))
        return str(tmp_path / name)

    cases = [
        (recorded("a.jsonl", {"response": "x"}, {"output": "y"}), (r"a.jsonl, row 2: no 'response' field; the row has "
                                                                 r"\['model', 'output', 'query_id'\]")),
        (recorded("b.jsonl", {"response": None}), r"b.jsonl, row 1: response None of query 'q0'; expected a string"),
        (recorded("c.jsonl", {"response": "x"}, {"response": "y", "query_id": "q0"}),
         r"c.jsonl, row 2: query_id 'q0' of model 'm' again \(first in row 1\)"),
    ]
    for path, error in cases:
        with pytest.raises(DataError, match=error):
            Recorded(path, "m").responses()
    scores = recorded("s.jsonl", {"score": 0.5}, {"score": None}, {"score": "0.7"})
    with pytest.raises(DataError, match=r"s.jsonl, row 3: score '0.7' of query 'q2'; expected a finite number, or null"):
        RecordedScores(scores).scores("m")
    recorded("s.jsonl", {"score": 0.5}, {"score": None})  # mended in place: read again in the same process
    assert RecordedScores(scores).scores("m") == {"q0": 0.5, "q1": None}


def test_a_query_the_recorded_scores_leave_out_is_an_error_naming_the_file_and_the_expert(compose_cfg, tmp_path):
    from rewardroute.data.matrix import DataError

    queries = [{"query_id": f"q{i}", "subset": "s", "split": "train" if i < 4 else "test", "query": f"question {i}"}
               for i in range(6)]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    for name, field, value, answered in (("a.jsonl", "response", "an answer", queries),
                                         ("s.jsonl", "score", 0.5, queries[:5])):  # q5 has an answer, but no score
        (tmp_path / name).write_text("".join(json.dumps({"query_id": q["query_id"], "model": "m", field: value}) + "\n"
                                             for q in answered))
    others = [f"~expert_pool.experts.{e}" for e in ("vicuna-13b", "llama-2-13b-chat-hf", "tulu-2-dpo-13b", "ultralm-13b-v2")]
    cfg = compose_cfg("task=score", "data=alpaca_eval_queries", f"data.source.path={tmp_path / 'q.jsonl'}",
                      "expert_pool=alpaca_eval_13b", *others, f"expert_pool.experts.wizardlm-13b.path={tmp_path / 'a.jsonl'}",
                      "expert_pool.experts.wizardlm-13b.model=m", "reward_model=alpaca_eval_ae1",
                      f"reward_model.model.path={tmp_path / 's.jsonl'}", "~judge")
    with pytest.raises(DataError, match=r"s.jsonl has no 'score' of 'm' for 1 queries, e.g. \['q5'\] \(write null"):
        run_task(cfg)


def test_answers_and_scores_made_in_another_precision_are_not_taken_from_the_cache(compose_cfg):
    from rewardroute.experts.generation import generate
    from rewardroute.rewards.scoring import score

    queries = pd.DataFrame({"query_id": ["a", "b"], "subset": "s", "split": "test",
                            "query": ["asked in one precision", "then in another"]})
    fp32, bf16 = (compose_cfg("experiment=tiny_pipeline", *ONE_EXPERT, f"trainer.precision={precision}")
                  for precision in ("32-true", "bf16-mixed"))
    before = {m["key"] for m in list_artifacts(fp32.paths.artifact_dir)}  # other tests' artifacts share the store
    answers = generate(fp32, queries, "tiny_a")
    assert generate(bf16, queries, "tiny_a")[0].key != answers[0].key
    for cfg in (fp32, bf16):  # the same answers, scored in each precision
        score(cfg, cfg.reward_model, "score", queries, "tiny_a", answers)
    new = [m for m in list_artifacts(fp32.paths.artifact_dir) if m["key"] not in before]
    assert Counter(m["stage"] for m in new) == {"generate": 2, "score": 2}


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


def test_a_format_string_prompt_starts_with_the_bos_a_llama_tokenizer_adds():
    from tokenizers import processors

    from rewardroute.experts.generation import GenerateModule
    from rewardroute.experts.models import TinyCausalLM
    from rewardroute.experts.tiny import lm_tokenizer

    model, _ = TinyCausalLM(seed=1).load()
    tokenizer = lm_tokenizer.__wrapped__(400, True)
    tokenizer.add_special_tokens({"bos_token": "<s>"})
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(  # as Llama's tokenizer: BOS first
        single="<s> $A", special_tokens=[("<s>", tokenizer.bos_token_id)])
    module = GenerateModule("llama2", model, tokenizer, "[INST] {query} [/INST]", 256, {"max_new_tokens": 4}, 0)
    ids = module.collate([{"query": "what is the capital"}, {"query": "why"}])["input_ids"]
    first = ids.gather(1, ids.ne(tokenizer.pad_token_id).int().argmax(1, keepdim=True))  # after the left padding
    assert first.flatten().tolist() == [tokenizer.bos_token_id] * 2
    assert ids.eq(tokenizer.bos_token_id).sum() == 2  # once each


def test_generation_stops_at_the_models_own_end_of_turn_token_and_counts_up_to_it():
    import torch

    from rewardroute.experts.generation import GenerateModule
    from rewardroute.experts.models import TinyCausalLM

    model, tokenizer = TinyCausalLM(seed=1).load()
    greedy = {"max_new_tokens": 12, "do_sample": False}
    module = GenerateModule("x", model, tokenizer, "chat", 256, greedy, 0)
    batch = {**module.collate([{"query": "what is the capital"}]), "batch_id": 0}
    with torch.no_grad():
        first = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=1,
                               do_sample=False, pad_token_id=tokenizer.pad_token_id)[0, -1].item()
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, first]  # its first token ends the turn
    module = GenerateModule("x", model, tokenizer, "chat", 256, greedy, 0)
    with torch.no_grad():
        assert module.predict_step(batch, 0)[0]["new_tokens"] == 1


@pytest.mark.parametrize("config_pad", [None, "unk"])
def test_a_decoder_reward_model_scores_a_batch_as_each_alone(config_pad):
    """A Llama reward model ships without a pad token (or with unk as its config's pad): the stage pads with EOS,
    and the score is read at each answer's own last token."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from rewardroute.experts.tiny import lm_tokenizer
    from rewardroute.rewards.scoring import ScoreModule

    items = [{"query": "what is the capital", "answer": "paris"},
             {"query": "tell me a long story about a cat and a dog please", "answer": "once upon a time there was a cat"}]
    tokenizer = lm_tokenizer.__wrapped__(400, False)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, num_labels=1,
                         pad_token_id=tokenizer.unk_token_id if config_pad else None)
    torch.manual_seed(0)
    module = ScoreModule("rm", LlamaForSequenceClassification(config).eval(), tokenizer,
                         "Human: {query}\nAssistant: {answer}", 128, None)
    with torch.no_grad():
        together = [r["reward"] for r in module.predict_step(module.collate(items), 0)]
        alone = [module.predict_step(module.collate([it]), 0)[0]["reward"] for it in items]
    assert together == pytest.approx(alone, abs=1e-5)


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
    ('{"tag": "regex \\d+", "explanation": "digits"', ["regex \\d+"]),  # not JSON's escape: kept as written
    ('{"tag": "say \\"hi\\"", "explanation": "cut off', ['say "hi"']),
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


def test_cache_keys_follow_what_changes_the_result(tmp_path):
    """A recorded file edited in place, or other later turns, or other references, make a new key."""
    from rewardroute.experts.generation import queries_spec
    from rewardroute.experts.models import Recorded
    from rewardroute.rewards.scoring import EVALUATOR_INPUTS

    path = tmp_path / "answers.jsonl"
    path.write_text('{"query_id": "q0", "model": "m", "response": "yes"}\n')
    before = Recorded(str(path), "m").spec()
    path.write_text('{"query_id": "q0", "model": "m", "response": "no"}\n')
    assert Recorded(str(path), "m").spec() != before
    from rewardroute.experts.models import CausalLM
    from rewardroute.rewards.models import SequenceClassifier

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    before = CausalLM(str(folder)).spec(), SequenceClassifier(str(folder)).spec()
    (folder / "model.safetensors").write_bytes(b"trained")  # retrained into the same folder
    after = CausalLM(str(folder)).spec(), SequenceClassifier(str(folder)).spec()
    assert before[0] != after[0] and before[1] != after[1]
    queries = pd.DataFrame({"query_id": ["q0"], "query": ["hi"], "turns": [["hi", "and?"]], "reference": ["1"]})
    other_turn = queries.assign(turns=[["hi", "why?"]])
    assert queries_spec(queries) != queries_spec(other_turn)
    assert queries_spec(queries.drop(columns="turns")) == {k: v for k, v in queries_spec(queries).items() if k != "turns"}
    assert queries_spec(queries, EVALUATOR_INPUTS) != queries_spec(queries.assign(reference=["2"]), EVALUATOR_INPUTS)


def test_a_judge_that_rates_no_answer_is_an_error_not_the_reward_model_as_metric(compose_cfg, monkeypatch):
    from rewardroute.data.load import load_matrix
    from rewardroute.data.matrix import DataError
    from rewardroute.rewards import scoring

    real = scoring.score

    def unrated(cfg, scorer_cfg, stage, queries, expert, answers):
        rows = real(cfg, scorer_cfg, stage, queries, expert, answers)
        return rows.assign(reward=None) if stage == "judge" else rows

    monkeypatch.setattr(scoring, "score", unrated)
    cfg = compose_cfg("experiment=tiny_pipeline", "data.source.n_train_per_domain=5", *ONE_EXPERT, *QUIET)
    with pytest.raises(DataError, match=r"judge tiny_judge: none of the \d+ answers of tiny_a got a score"):
        load_matrix(cfg)


def test_cross_fitted_clusters_are_fitted_without_each_folds_test_queries(compose_cfg, tmp_path):
    art = tmp_path / "artifacts"
    cfg = compose_cfg("experiment=tiny_pipeline", *QUIET, *ONE_EXPERT, "data.source.n_train_per_domain=10",
                      "data.source.n_test_per_domain=4", "data.cross_fit_folds=3", "trainer.max_epochs=1",
                      f"paths.artifact_dir={art}")
    run_task(cfg)
    fits = [m for m in list_artifacts(art) if m["stage"] == "tag"]
    assert len(fits) == 1 + 3  # the load's, then one per fold
    assert read_results(tmp_path)["cross_fit_folds"] == 3
