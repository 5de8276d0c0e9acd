"""Reward models (task=train_rm): preference data, loss and metrics, the MoE layer, ARLISS's adapters, every
architecture through run.py on trivially separable pairs, the saved model's scoring API, the sweep's table."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs_shared_data, run_entry

from rewardroute.data.matrix import DataError
from rewardroute.data.pair_datamodule import PairEncoding
from rewardroute.data.pairs import GOOD, load_pairs, prepare_pairs, synthetic_pairs
from rewardroute.pipeline.tasks import run_task
from rewardroute.reward_models import load_trained
from rewardroute.reward_models.bradley_terry import PairMetrics, bradley_terry, centring
from rewardroute.reward_models.more import MoRE, TopKMoE, balance_loss

ARCHS = ["single", "more", "rodos", "arliss"]
# Seconds per architecture: tiny encoder, 3 synthetic domains of 30 pairs, no loggers.
TINY_RM = [
    "experiment=rm_routers",
    "data=synthetic_pairs",
    "data.source.n_per_domain=30",
    "backbone=tiny",
    "router.backbone.hidden_size=32",
    "rm.optimizer.lr=2e-3",
    "rm.max_length=24",
    "rm.prompt_max_length=12",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "~logger",
]


IN_PROCESS = "hydra.mode=RUN"  # one run, not the sweep experiment=rm_routers starts from run.py


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models run fastest on one thread, and a second one stalls when other processes share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for run.py subprocesses
    yield
    torch.set_num_threads(threads)


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def pair_rows(n=6):
    return [{"pair_id": f"p{i}", "domain": "a" if i % 2 else "b", "prompt": f"q{i}", "chosen": "good", "rejected": "bad",
             "tie": i == 0} for i in range(n)]


# --- data


def test_synthetic_pairs_are_seeded_and_separable():
    table = synthetic_pairs(n_per_domain=10, n_ties_per_domain=2, domains=["math", "coding"], seed=3)
    assert table.equals(synthetic_pairs(n_per_domain=10, n_ties_per_domain=2, domains=["math", "coding"], seed=3))
    assert len(table) == 24 and table["tie"].sum() == 4 and set(table["domain"]) == {"math", "coding"}
    strict = table[~table["tie"]]
    assert strict["chosen"].map(lambda t: any(w in t for w in GOOD)).all()
    assert not strict["rejected"].map(lambda t: any(w in t.split() for w in GOOD)).any()


@pytest.mark.parametrize("edit, message", [
    (lambda r: r[1].pop("chosen"), r"pairs.jsonl, row 2: 'chosen' must be a string, got None"),
    (lambda r: r[2].update(rejected=3), r"pairs.jsonl, row 3: 'rejected' must be a string, got 3"),
    (lambda r: r[3].update(domain=" "), r"pairs.jsonl, row 4: empty domain \('domain' field\)"),
    (lambda r: r[4].update(tie="no"), r"pairs.jsonl, row 5: 'tie' must be true or false, got 'no'"),
], ids=["missing-chosen", "non-text-rejected", "empty-domain", "bad-tie"])
def test_bad_pair_files_name_file_row_and_key(tmp_path, edit, message):
    rows = pair_rows()
    edit(rows)
    with pytest.raises(DataError, match=message):
        load_pairs(write_jsonl(tmp_path / "pairs.jsonl", rows))


def test_bad_config_or_splits_are_clear_errors(tmp_path):
    table = load_pairs(write_jsonl(tmp_path / "pairs.jsonl", pair_rows()))
    with pytest.raises(DataError, match=r"data.subsets names \['c'\], not found in .*pairs.jsonl: the domains are \['a', 'b'\]"):
        prepare_pairs(table, subsets=["a", "c"])
    with pytest.raises(DataError, match="no training pairs in .*pairs.jsonl: 5 pairs after the domain filter and 1 ties"):
        prepare_pairs(table, test_fraction=0.99, val_fraction=0.99)
    doubled = pd.concat([table, table.iloc[[2]]])
    with pytest.raises(DataError, match=r"duplicate pair_id 'p2' in .*pairs.jsonl, row 3, .*pairs.jsonl, row 3"):
        prepare_pairs(doubled)
    with pytest.raises(DataError, match="data.test_fraction must be in"):
        prepare_pairs(table, test_fraction=1.5)
    with pytest.raises(DataError, match="data.source.files names no file"):
        load_pairs([])


def test_ties_are_dropped_by_default_and_the_split_is_stable():
    table = synthetic_pairs(n_per_domain=100, n_ties_per_domain=10, seed=0)
    pairs = prepare_pairs(table, test_fraction=0.3, val_fraction=0.2, seed=5)
    assert pairs.ties_dropped == 60 and not pairs.pairs["tie"].any()
    kept = prepare_pairs(table, drop_ties=False, test_fraction=0.3, val_fraction=0.2, seed=5)
    assert kept.counts()["ties_kept"] == 60 and kept.ties_dropped == 0
    shuffled = prepare_pairs(table.sample(frac=1.0, random_state=1), test_fraction=0.3, val_fraction=0.2, seed=5)
    split = pairs.pairs.set_index("pair_id")["split"]
    assert split.to_dict() == shuffled.pairs.set_index("pair_id")["split"].to_dict()
    assert 0.22 < (split == "test").mean() < 0.38
    subset = prepare_pairs(table, subsets=["writing", "math"], test_fraction=0.3, val_fraction=0.2, seed=5)
    assert subset.domains == ("writing", "math") and list(np.unique(subset.domain_ids)) == [0, 1]
    assert (subset.pairs.set_index("pair_id")["split"] == split[subset.pairs["pair_id"]]).all()


@needs_shared_data
@pytest.mark.parametrize("data, pairs, ties, domains", [
    ("autoj", 1392, 373, 8), ("llmbar", 885, 0, 8), ("hh_rlhf", 2312, 0, 1), ("preference_pairs", 4589, 373, 11),
])
def test_real_preference_sets_load(compose_cfg, data, pairs, ties, domains):
    from rewardroute.data.pairs import load_pair_set

    loaded = load_pair_set(compose_cfg("experiment=rm_routers", f"data={data}").data)
    counts = loaded.counts()
    assert counts["train"] + counts["val"] + counts["test"] + counts["ties_dropped"] == pairs
    assert counts["ties_dropped"] == ties and len(loaded.domains) == domains
    if data == "autoj":  # README: strict pairs per scenario group
        strict = loaded.pairs["domain"].value_counts()
        assert strict["General Communication"] == 203 and strict["Exam Questions"] == 42 and strict["Code"] == 84


# --- loss and metrics


def test_bradley_terry_with_margin_ties_and_centring():
    chosen, rejected = torch.tensor([2.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 1.0])
    plain = bradley_terry(chosen, rejected)
    assert plain.item() == pytest.approx(-np.mean(np.log(1 / (1 + np.exp(-np.array([1.0, -1.0, 0.0]))))))
    margin = bradley_terry(chosen, rejected, margin=0.5)
    assert margin.item() == pytest.approx(-np.mean(np.log(1 / (1 + np.exp(-np.array([0.5, -1.5, -0.5]))))))
    # a tie (third pair) is pulled towards equal rewards, without the margin: BCE(sigmoid(d), 1/2)
    tied = bradley_terry(chosen, rejected, torch.tensor([0.0, 0.0, 1.0]), margin=0.5)
    d = np.array([0.5, -1.5]); tie_term = -np.log(0.5)  # sigmoid(0) = 1/2 against target 1/2
    assert tied.item() == pytest.approx((-np.log(1 / (1 + np.exp(-d))).sum() + tie_term) / 3)
    assert centring(chosen, rejected).item() == pytest.approx((9 + 1 + 4) / 3)


def test_pair_metrics_per_domain_ignore_ties():
    metrics = PairMetrics(["a", "b", "c"])
    metrics.update(torch.tensor([1.0, 0.0, 2.0, 5.0]), torch.tensor([0.0, 1.0, 1.0, 0.0]), torch.tensor([0, 0, 1, 1]),
                   torch.tensor([0.0, 0.0, 0.0, 1.0]))
    values = metrics.compute()
    assert values["acc/a"].item() == 0.5 and values["acc/b"].item() == 1.0 and "acc/c" not in values
    assert values["acc"].item() == pytest.approx(0.75)
    assert values["reward_mean"].item() == pytest.approx(10 / 8)

    metrics.update(torch.tensor([3.0]), torch.tensor([3.0]), torch.tensor([2]), torch.tensor([0.0]))
    assert metrics.compute()["acc/c"].item() == 0.5  # equal rewards: half right, as a coin would be


def test_pair_metrics_of_ranks_that_saw_other_domains_are_the_metrics_of_all_pairs():
    """Under DDP each rank sees some domains: counts are summed before any ratio (as torchmetrics syncs them)."""
    chosen, rejected = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 0.0]), torch.zeros(6) + 0.5
    domain, tie = torch.tensor([0, 0, 1, 1, 1, 2]), torch.zeros(6)
    whole, rank0, rank1 = PairMetrics(["a", "b", "c"]), PairMetrics(["a", "b", "c"]), PairMetrics(["a", "b", "c"])
    whole.update(chosen, rejected, domain, tie)
    rank0.update(chosen[:3], rejected[:3], domain[:3], tie[:3])
    rank1.update(chosen[3:], rejected[3:], domain[3:], tie[3:])
    rank0.merge_state(rank1)
    assert {k: v.item() for k, v in rank0.compute().items()} == pytest.approx(
        {k: v.item() for k, v in whole.compute().items()})
    assert whole.compute()["acc/b"].item() == pytest.approx(2 / 3)


def test_pairs_of_one_prompt_share_a_split():
    table = synthetic_pairs(n_per_domain=60, seed=0)
    table["prompt"] = table["prompt"].str.replace(r"Question \d+ on", "Question on", regex=True)  # 3-5 per prompt
    split = prepare_pairs(table, test_fraction=0.3, val_fraction=0.2, seed=5).pairs
    assert split.groupby("prompt")["split"].nunique().max() == 1
    assert set(split["split"]) == {"train", "val", "test"}


def test_a_routed_reward_model_on_one_domain_is_a_clear_error():
    from rewardroute.reward_models.rodos import RODOS
    from rewardroute.routers.backbones import Tiny

    encoder = Tiny(hidden_size=16, num_layers=1, vocab_size=100).build(["a few words"])[0]
    with pytest.raises(ValueError, match=r"RODOS routes each pair .* has 1 domain \(\['harmless'\]\): use rm=single"):
        RODOS(["harmless"], encoder)


# --- MoRE


def test_moe_top2_dispatch_matches_a_hand_computed_case():
    moe = TopKMoE(dim=2, n_experts=3, top_k=2, hidden=None)
    calls = [0, 0, 0]
    with torch.no_grad():
        moe.gate.weight.copy_(torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]]))
        for e, expert in enumerate(moe.experts):  # expert e: x -> (e + 1) x + e
            expert[1].weight.copy_((e + 1) * torch.eye(2))
            expert[1].bias.fill_(e)
            expert.register_forward_hook(lambda m, inp, out, e=e: calls.__setitem__(e, calls[e] + len(inp[0])))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out, probs, chosen = moe(x)
    # x1: gate logits (2, 1, 0) -> experts 0 and 1, weights renormalised over the two: sigmoid(1), 1 - sigmoid(1)
    w = 1 / (1 + np.exp(-1.0))
    expected1 = w * np.array([1.0, 0.0]) + (1 - w) * np.array([3.0, 1.0])
    # x2: gate logits (0, 1, 3) -> experts 2 and 1: sigmoid(2), 1 - sigmoid(2)
    v = 1 / (1 + np.exp(-2.0))
    expected2 = v * np.array([2.0, 5.0]) + (1 - v) * np.array([1.0, 3.0])
    np.testing.assert_allclose(out.detach().numpy(), [expected1, expected2], rtol=1e-5)
    assert chosen.tolist() == [[0, 1], [2, 1]] and calls == [1, 2, 1]  # only the chosen experts ran
    share = np.array([0.25, 0.5, 0.25])
    expected_balance = 3 * (share * probs.detach().numpy().mean(0)).sum()
    assert balance_loss(probs, chosen).item() == pytest.approx(expected_balance)
    with pytest.raises(ValueError, match="top_k must be between 1 and n_experts=3, got 4"):
        TopKMoE(dim=2, n_experts=3, top_k=4)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_more_collapse_alarm(caplog):
    from rewardroute.routers.backbones import Tiny

    encoder, _ = Tiny(hidden_size=16, num_layers=1, vocab_size=100).build(["a few words for the tokenizer"])
    module = MoRE(["a"], encoder, n_experts=4, top_k=2, collapse_load=0.9)
    module.load_train.copy_(torch.tensor([10.0, 10.0, 0.0, 0.0, 10.0]))  # experts 0 and 1 serve every input
    with caplog.at_level("WARNING"):
        module._report_load("train")
    assert "MoRE collapse alarm (train): expert 0 serves 100% of inputs" in caplog.text
    assert module.load_train.sum() == 0


# --- ARLISS


def test_arliss_adapters_round_trip_with_their_heads(tmp_path):
    from safetensors.torch import load_file

    from rewardroute.reward_models.arliss import ARLISS
    from rewardroute.routers.backbones import Tiny

    corpus = ["tell me about the sun", "a clear answer", "a wrong answer"]

    def build(seed):
        torch.manual_seed(seed)
        encoder, tokenizer = Tiny(hidden_size=16, num_layers=1, vocab_size=100).build(corpus)  # same base weights
        return ARLISS(["x", "y"], encoder, rank=2).eval(), len(tokenizer)

    trained, vocab = build(0)
    ids, mask = torch.randint(5, vocab, (4, 6)), torch.ones(4, 6, dtype=torch.long)

    with torch.no_grad():  # as after training: adapters away from their zero start
        for name, p in trained.named_parameters():
            if "lora_B" in name:
                p.normal_()

    def scores(model):
        return [model.rewards(ids, mask, torch.full((4,), d))[0] for d in (0, 1)] + [model.route_logits(ids, mask)]

    trained.save_adapters(tmp_path)
    fresh = build(1)[0]
    assert not torch.allclose(scores(fresh)[0], scores(trained)[0])
    fresh.load_adapters(tmp_path)
    for a, b in zip(scores(fresh), scores(trained)):
        torch.testing.assert_close(a, b)
    saved = load_file(tmp_path / trained.adapters[1] / "adapter_model.safetensors")
    assert any("reward_head" in k for k in saved) and any("lora_A" in k for k in saved)
    assert any("router_head" in k for k in load_file(tmp_path / "router" / "adapter_model.safetensors"))
    assert json.loads((tmp_path / "domains.json").read_text()) == {"reward_0_x": "x", "reward_1_y": "y"}


def test_spreading_the_shared_reward_model_gives_every_domain_its_weights():
    """After the shared phase (one reward model on every domain) each domain's reward model starts as a copy."""
    from rewardroute.reward_models.arliss import ARLISS
    from rewardroute.reward_models.rodos import RODOS
    from rewardroute.routers.backbones import Tiny

    def encoder():
        return Tiny(hidden_size=16, num_layers=1, vocab_size=100).build(["a few words for the tokenizer"])

    ids, mask = torch.randint(5, len(encoder()[1]), (3, 5)), torch.ones(3, 5, dtype=torch.long)
    for model in (ARLISS(["x", "y", "z"], encoder()[0], rank=2), RODOS(["x", "y", "z"], encoder()[0])):
        model.eval()
        with torch.no_grad():
            for name, p in model.named_parameters():  # as after training: every domain's model different
                p.add_(0.1 * torch.randn_like(p)) if "lora_B" in name or "rms" in name or "head" in name else None

        def rewards(d, model=model):
            return model.rewards(ids, mask, torch.full((3,), d))[0]

        assert not torch.allclose(rewards(0), rewards(2))
        first = rewards(0)
        model.spread_shared()
        for d in range(3):
            torch.testing.assert_close(rewards(d), first)


def test_routed_models_train_each_pair_on_its_labelled_domain_and_score_it_by_the_routers_pick():
    from rewardroute.reward_models.arliss import ARLISS
    from rewardroute.reward_models.rodos import RODOS
    from rewardroute.routers.backbones import Tiny

    torch.manual_seed(0)
    encoder, tokenizer = Tiny(hidden_size=16, num_layers=1, vocab_size=100).build(["a few words for the tokenizer"])
    ids, mask = torch.randint(5, len(tokenizer), (4, 5)), torch.ones(4, 5, dtype=torch.long)
    labelled = torch.tensor([0, 1, 2, 1])
    for model in (ARLISS(["x", "y", "z"], encoder, rank=2), RODOS(["x", "y", "z"], encoder)):
        picks = model.eval().route_logits(ids, mask).argmax(-1)
        assert not torch.equal(picks, labelled)  # so that the two rules differ here
        model.phase = "reward"
        model.train()
        route, logits = model.route(ids, mask, labelled)
        assert torch.equal(route, labelled) and logits is None
        model.eval()  # validation, test and use: the router's pick, the label unread
        for given in (labelled, None):
            route, logits = model.route(ids, mask, given)
            torch.testing.assert_close(logits, model.route_logits(ids, mask))
            assert torch.equal(route, logits.argmax(-1))
        model.phase = "shared"  # one reward model for every domain
        assert torch.equal(model.route(ids, mask, labelled)[0], torch.zeros(4, dtype=torch.long))


# --- end to end


@pytest.mark.parametrize("arch", ARCHS)
def test_each_architecture_learns_separable_pairs_and_its_saved_model_scores(compose_cfg, tmp_path, arch):
    extra = ["rm.loss.margin=0.1", "rm.loss.center_weight=0.01"] if arch == "single" else []
    best_val = run_task(compose_cfg(*TINY_RM, IN_PROCESS, f"rm={arch}", *extra))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["arch"] == arch and results["selection"]["val_acc_best"] == pytest.approx(best_val)
    assert results["test"]["acc"] >= 0.9, results["test"]  # chance is 0.5
    assert set(results["test"]["domains"]) == {"math", "coding", "writing"}
    assert (results["test"]["router_acc"] is None) == (arch in ("single", "more"))
    assert (results["shared"] is not None) == (arch == "arliss")  # conf/rm/arliss.yaml: rm.shared_epochs=2
    assert results["cost"]["encoder_passes_per_pair"] == (3 if arch in ("rodos", "arliss") else 2)
    for name in ("results.md", "results.csv", "results.png", "timing.json"):
        assert (tmp_path / name).stat().st_size > 0
    if arch == "more":
        assert len(results["expert_load"]) == 8 and sum(results["expert_load"]) == pytest.approx(2.0)
    if arch == "arliss":
        assert results["params"]["trainable"] < 0.5 * results["params"]["total"]
        assert (tmp_path / "reward_model" / "adapters" / "router" / "adapter_model.safetensors").is_file()

    rm = load_trained(tmp_path)  # the public API, as the score stage uses it
    test = synthetic_pairs(n_per_domain=8, domains=["math", "coding", "writing"], seed=99)
    chosen = rm.score(test["prompt"].tolist(), test["chosen"].tolist(), batch_size=5)
    rejected = rm.score(test["prompt"].tolist(), test["rejected"].tolist(), batch_size=7)
    assert chosen.shape == (24,) and chosen.dtype == np.float32
    assert (chosen > rejected).mean() >= 0.8  # 24 fresh pairs: chance is 0.5, and 0.8 or more has p < 0.002
    np.testing.assert_allclose(rm.score(test["prompt"].tolist()[:3], test["chosen"].tolist()[:3]), chosen[:3], rtol=1e-4)
    assert rm.domains == ["coding", "math", "writing"]
    assert rm.encoding == PairEncoding(max_length=24, truncation_side="left", prompt_max_length=12,
                                       prompt_truncation_side="right")


def test_without_a_validation_split_a_routed_model_keeps_its_last_epochs_and_saves(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY_RM, IN_PROCESS, "rm=rodos", "data.val_fraction=0", "rm.router_epochs=1",
                         "trainer.max_epochs=1"))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["val"] is None and "val" not in results["counts"] and results["test"]["acc"] is not None
    assert results["cost"]["weights_mb"] > 0
    assert load_trained(tmp_path / "reward_model").score(["q"], ["a"]).shape == (1,)


def test_smoke_run_with_ties_kept(compose_cfg, tmp_path):
    """debug=fast (one batch, no checkpoint: the last weights are evaluated and saved), ties trained towards
    equal rewards and left out of accuracy."""
    run_task(compose_cfg(*TINY_RM, IN_PROCESS, "rm=more", "debug=fast", "data.drop_ties=false",
                         "data.source.n_ties_per_domain=6"))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"]["ties_kept"] == 18 and results["counts"]["ties_dropped"] == 0
    assert results["selection"]["checkpoint"] is None
    assert sum(results["test"]["pairs"].values()) == results["counts"]["test"] - results["test"]["ties"]
    assert load_trained(tmp_path / "reward_model").score(["q"], ["a"]).shape == (1,)


def test_rm_routers_runs_the_four_architectures_and_prints_one_table(tmp_path, cache_dir):
    """`python run.py experiment=rm_routers` (a sweep over rm, in a subprocess), shrunk for CPU."""
    overrides = [o for o in TINY_RM if o not in ("trainer.max_epochs=3",)] + ["trainer.max_epochs=1"]
    proc = run_entry(["-m", *overrides], tmp_path, cache_dir)
    table = (tmp_path / "results.md").read_text()
    for arch in ARCHS:
        assert f"| {arch} " in table or f"| **{arch}** " in table
        assert f"{arch}" in proc.stdout
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert set(runs) == set(ARCHS)
    assert runs["rodos"]["params"]["total"] > 2 * runs["arliss"]["params"]["total"]
    saving = 1 - runs["arliss"]["params"]["total"] / runs["rodos"]["params"]["total"]
    assert f"arliss {-100 * saving:+.0f}%" in table  # the parameter saving against RODOS, in the table's notes
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "results.png").is_file()


def test_a_trained_reward_model_scores_answers_in_the_score_stage(compose_cfg, tmp_path):
    """reward_model=trained closes the loop: a routed reward model from task=train_rm scores the tiny experts'
    answers in Zooter's score stage, with the same rewards as its own `score`, cached under its weights."""
    from hydra.utils import instantiate

    from rewardroute.experts.generation import generate
    from rewardroute.pipeline.artifacts import list_artifacts
    from rewardroute.pipeline.upstream import stage_queries
    from rewardroute.rewards.scoring import score

    run_task(compose_cfg(*TINY_RM, IN_PROCESS, "rm=rodos", out="rm"))
    stage = ["experiment=tiny_pipeline", "~expert_pool.experts.tiny_b", "~expert_pool.experts.tiny_c", "~judge",
             "data.source.n_train_per_domain=4", "data.source.n_test_per_domain=2", "reward_model=trained",
             f"reward_model.model.checkpoint={tmp_path / 'rm'}", "reward_model.max_length=24", "~logger",
             f"paths.artifact_dir={tmp_path / 'artifacts'}"]  # this test's stages only
    run_task(compose_cfg(*stage, "task=score", out="score"))  # as `python run.py task=score ...` runs it

    cfg = compose_cfg(*stage, out="again")
    [meta] = [m for m in list_artifacts(cfg.paths.artifact_dir) if m["stage"] == "score"]
    assert meta["spec"]["scorer"]["kind"] == "Trained"
    assert meta["spec"]["scorer"]["fingerprint"] == load_trained(tmp_path / "rm").fingerprint
    queries = stage_queries(cfg, instantiate(cfg.data.source), tag_them=False)
    answers = generate(cfg, queries, "tiny_a")
    rewards = score(cfg, cfg.reward_model, "score", queries, "tiny_a", answers)  # from the cache
    assert len(rewards) == len(queries) == 36 and rewards["reward"].std() > 0
    text = queries.set_index("query_id").loc[answers[1]["query_id"], "query"].tolist()
    expected = load_trained(tmp_path / "rm").score(text, answers[1]["response"].tolist())
    np.testing.assert_allclose(rewards["reward"].to_numpy(), expected, rtol=1e-4, atol=1e-5)


def test_a_decoder_backbone_by_path(compose_cfg, tmp_path):
    """Any Hugging Face model by config: a tiny random Llama saved locally, pooled at its last token, carries
    ARLISS's LoRA adapters (peft's default layers for llama) and its saved reward model scores again."""
    from transformers import LlamaConfig, LlamaModel

    from rewardroute.routers.backbones import bert_tokenizer

    table = synthetic_pairs(n_per_domain=30, domains=["math", "coding", "writing"])
    tokenizer = bert_tokenizer([*table["prompt"], *table["chosen"], *table["rejected"]], vocab_size=300)
    torch.manual_seed(0)
    llama = LlamaModel(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                   pad_token_id=tokenizer.pad_token_id))
    llama.save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")
    tiny_backbone = ("backbone=tiny", "router.backbone.hidden_size=32")
    run_task(compose_cfg(*(o for o in TINY_RM if o not in tiny_backbone), IN_PROCESS, "rm=arliss", "backbone=minilm",
                         f"router.backbone.name_or_path={tmp_path / 'llama'}", "router.backbone.pooling=last",
                         out="run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["test"]["acc"] >= 0.8, results["test"]  # chance is 0.5
    rm = load_trained(tmp_path / "run")
    assert type(rm.module.model.base_model.model.encoder.model).__name__ == "LlamaModel"
    test = synthetic_pairs(n_per_domain=8, domains=["math", "coding", "writing"], seed=99)
    chosen, rejected = (rm.score(test["prompt"].tolist(), test[k].tolist()) for k in ("chosen", "rejected"))
    assert (chosen > rejected).mean() >= 0.8


# --- configs


def test_rm_configs_compose_and_typos_are_errors(compose_cfg):
    from hydra.errors import ConfigCompositionException

    for arch in ARCHS:
        cfg = compose_cfg("experiment=rm_routers", f"rm={arch}")
        assert cfg.rm.name == arch and cfg.task == "train_rm" and cfg.data.name == "autoj"
    with pytest.raises(ConfigCompositionException, match="batch_sise"):
        compose_cfg("experiment=rm_routers", "rm.batch_sise=4")
    with pytest.raises(ValueError, match="task=train_rm needs a reward-model architecture"):
        run_task(compose_cfg("task=train_rm", "data=synthetic_pairs", IN_PROCESS))
    with pytest.raises(ValueError, match="task=train_rm needs a transformer backbone .*TfIdf has no network"):
        run_task(compose_cfg(*[o for o in TINY_RM if "backbone" not in o], IN_PROCESS, "backbone=tfidf"))
