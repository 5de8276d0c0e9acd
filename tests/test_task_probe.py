"""router=task_probe (a task classifier, each task's best expert, ridge probes chosen by cross-validation) and
backbone=tfidf (the query's words): by hand, against scikit-learn, and through run.py."""

import numpy as np
import pytest
import torch
from conftest import TINY, read_results, run_entry

from rewardroute.pipeline.tasks import run_task
from rewardroute.routers.backbones import TfIdf
from rewardroute.routers.task_probe import TaskProbeRouter, one_se_choice, ridge


@pytest.mark.parametrize("features", [3, 40])  # fewer features than queries (primal) and more (dual)
def test_ridge_is_scikit_learns_for_every_alpha(features):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, features)), rng.normal(size=(20, 2))
    for alpha, (coef, intercept) in ridge(x, y, [0.1, 10.0]).items():
        theirs = Ridge(alpha=alpha).fit(x, y)
        np.testing.assert_allclose(coef, theirs.coef_.T, atol=1e-8)
        np.testing.assert_allclose(intercept, theirs.intercept_, atol=1e-8)


def test_the_one_standard_error_rule():
    # The best mean gain (alpha 1) is past its standard error; alpha 10 is within one s.e. of it and shrinks more.
    assert one_se_choice({1.0: (3.0, 1.0), 10.0: (2.5, 0.5), 100.0: (1.0, 0.2)}) == 10.0
    assert one_se_choice({1.0: (0.5, 0.8), 10.0: (0.1, 0.1)}) is None  # no gain beyond its noise: no probe
    assert one_se_choice({1.0: (-2.0, 0.3), 10.0: (0.0, 0.0)}) is None


def test_cross_validation_repeats_steady_the_gain_without_shrinking_its_standard_error():
    """Features unrelated to the rewards: more shuffles of the same queries leave the error about as it is."""
    from rewardroute.routers.task_probe import cv_gains

    rng = np.random.default_rng(0)
    x, metric = rng.normal(size=(100, 5)), rng.integers(0, 2, size=(100, 3)).astype(float)
    errors = [cv_gains(x, metric, metric, [10.0], 5, repeats)[10.0][1] for repeats in (1, 10)]
    assert errors[1] == pytest.approx(errors[0], rel=0.3)  # pooled over repeats x folds it fell by sqrt(10)


def planted(n: int, seed: int):
    """Two tasks told apart by feature 0. In task 0 expert 2 is best whatever the query; in task 1 feature 1
    says which of experts 0 and 1 is right (expert 0 for two queries in three: the task's best expert)."""
    rng = np.random.default_rng(seed)
    task = np.arange(n) % 2
    signal = (rng.random(n) < 1 / 3).astype(float)
    x = np.c_[2.0 * task - 1, signal, rng.normal(scale=0.3, size=(n, 2))]
    rewards = np.zeros((n, 3))
    rewards[task == 0, 2] = (rng.random((task == 0).sum()) < 0.8)
    rewards[task == 0, :2] = (rng.random(((task == 0).sum(), 2)) < 0.3)
    rewards[task == 1, 0], rewards[task == 1, 1] = 1 - signal[task == 1], signal[task == 1]
    return {"features": torch.tensor(x, dtype=torch.float32), "rewards": torch.tensor(rewards),
            "metric": torch.tensor(rewards), "task": torch.tensor(task)}


def test_task_probe_leaves_a_tasks_best_expert_only_where_cross_validation_shows_it_knows_better():
    router = TaskProbeRouter(n_experts=3, feature_dim=4, alphas=[0.1, 10.0], folds=5, repeats=2)
    unfitted = router.scores(torch.zeros(2, 4))  # Lightning's sanity check runs before the fit: no preference
    assert unfitted.shape == (2, 3) and not unfitted.any()
    router.fit(planted(200, seed=0))
    assert router.choices[0]["alpha"] is None  # nothing to learn in task 0: its best expert
    assert router.choices[1]["alpha"] is not None and router.choices[1]["cv_gains"]["0.1"][0] > 0.2
    test = planted(100, seed=1)
    routes = router.scores(test["features"]).argmax(-1)
    truth = test["rewards"].argmax(-1)
    assert (routes[test["task"] == 0] == 2).all()
    assert (routes[test["task"] == 1] == truth[test["task"] == 1]).float().mean() > 0.95
    assert torch.allclose(router.probabilities(router.scores(test["features"])).sum(-1), torch.ones(100))
    fresh = TaskProbeRouter(n_experts=3, feature_dim=4)  # a checkpoint carries the fit, whatever its sizes
    fresh.load_state_dict(router.state_dict())
    assert torch.equal(fresh.scores(test["features"]), router.scores(test["features"]))
    assert fresh.choices == router.choices  # and what each task chose, for the report
    older = {k: v for k, v in router.state_dict().items() if k != "_extra_state"}  # saved before the choices were
    fresh = TaskProbeRouter(n_experts=3, feature_dim=4)
    fresh.load_state_dict(older)
    assert fresh.choices == {} and torch.equal(fresh.scores(test["features"]), router.scores(test["features"]))


def test_soft_assignment_weighs_every_tasks_estimates_by_the_tasks_probability():
    hard = TaskProbeRouter(n_experts=3, feature_dim=4, alphas=[0.1, 10.0], folds=5, repeats=2)
    hard.fit(planted(200, seed=0))
    soft = TaskProbeRouter(n_experts=3, feature_dim=4, assignment="soft")
    soft.load_state_dict(hard.state_dict())
    x = torch.cat([planted(100, seed=1)["features"], torch.tensor([[0.0, 0.0, 0.0, 0.0]])])  # the last: between
    tasks = (x @ hard.classifier_weight.T + hard.classifier_bias).softmax(-1)
    each = torch.stack([x @ hard.coef[i] + hard.intercept[i] for i in range(2)], 1)
    assert torch.allclose(soft.scores(x), (tasks[..., None] * each).sum(1), atol=1e-5)
    sure = tasks.max(-1).values > 0.99
    assert sure.sum() > 50 and torch.equal(soft.scores(x[sure]).argmax(-1), hard.scores(x[sure]).argmax(-1))


def test_no_alphas_means_no_probes_each_named_tasks_best_expert():
    router = TaskProbeRouter(n_experts=3, feature_dim=4, alphas=[])
    router.fit(planted(200, seed=0))
    assert all(choice == {"alpha": None, "cv_gains": {}} for choice in router.choices.values())
    assert not router.coef.any()
    test = planted(100, seed=1)
    routes = router.scores(test["features"]).argmax(-1)
    assert (routes[test["task"] == 0] == 2).all() and (routes[test["task"] == 1] == 0).all()
    assert "no probes asked for, router.module.alphas is empty" in router.fit_notes(["a", "b"])[1]


def test_task_probe_with_one_task_needs_no_classifier():
    data = planted(100, seed=0)
    data = {k: v[data["task"] == 1] for k, v in data.items()}
    router = TaskProbeRouter(n_experts=3, feature_dim=4, alphas=[0.1], folds=5, repeats=1)
    router.fit(data)
    assert router.task_ids.tolist() == [1]
    assert router.scores(data["features"]).argmax(-1).eq(data["rewards"].argmax(-1)).float().mean() > 0.95


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"alphas": [0.0, 1.0]}, "router.module.alphas must be ridge penalties > 0"),
    ({"folds": 1}, "router.module.folds must be >= 2"),
    ({"assignment": "mean"}, "router.module.assignment must be one of"),
])
def test_task_probe_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TaskProbeRouter(n_experts=3, feature_dim=4, **kwargs)


def test_tfidf_backbone_is_scikit_learns_sublinear_tfidf_over_whole_words():
    from sklearn.feature_extraction.text import TfidfVectorizer

    corpus = ["def has_close_elements(numbers): return sorted(numbers)", "The cat sat on the mat.",
              "the dog, the cat", "sorted numbers: 3 and 4"]
    encoder, tokenizer = TfIdf(vocab_size=100).build(corpus)
    batch = tokenizer(corpus, padding=True, return_tensors="pt")
    ours = encoder(batch["input_ids"], batch["attention_mask"])
    theirs = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=True).fit(corpus)
    vocab = tokenizer.get_vocab()
    assert "has_close_elements" in vocab and "(" not in vocab  # whole words, no punctuation
    columns = [vocab[w] for w in theirs.get_feature_names_out()]
    np.testing.assert_allclose(ours[:, columns].numpy(), theirs.transform(corpus).toarray(), atol=1e-6)
    assert ours.norm(dim=-1).allclose(torch.ones(4))
    unknown = tokenizer(["zebra"], return_tensors="pt")  # no known word: the zero vector, not NaN
    assert not encoder(unknown["input_ids"], unknown["attention_mask"]).any()
    assert TfIdf(100).key(corpus) != TfIdf(100, punctuation=True).key(corpus)


@pytest.mark.parametrize("probes", [True, False])
def test_task_probe_trains_and_reports_beside_the_baselines(compose_cfg, tmp_path, probes):
    run_task(compose_cfg(*TINY, "router=task_probe", *([] if probes else ["router.module.alphas=[]"])))
    results = read_results(tmp_path)
    assert {"task_probe", "task_probe+fallback", "dataset_oracle"} <= set(results["methods"])
    assert results["methods"]["task_probe"]["kind"] == "router"
    report = (tmp_path / "results.md").read_text()  # what it chose for each task, by name
    subsets = results["methods"]["task_probe"]["subsets"]
    assert all(f"- task_probe, {domain}: its " in report for domain in subsets)
    if not probes:  # every task keeps its best expert, and the report says why
        assert all(f"- task_probe, {domain}: its best expert (" in report for domain in subsets)
        assert "no probes asked for" in report


def test_a_restored_task_probe_reports_its_choices(compose_cfg, tmp_path):
    run_task(compose_cfg(*TINY, "router=task_probe", out="train"))
    [ckpt] = (tmp_path / "train" / "checkpoints").glob("best-epoch*.ckpt")
    run_task(compose_cfg(*TINY, "router=task_probe", "task=evaluate", f"ckpt_path={ckpt}", out="eval"))
    assert read_results(tmp_path / "eval")["methods"] == read_results(tmp_path / "train")["methods"]
    choices = [line for line in (tmp_path / "train" / "results.md").read_text().splitlines() if "task_probe, " in line]
    assert choices and set(choices) <= set((tmp_path / "eval" / "results.md").read_text().splitlines())


@pytest.mark.slow
def test_task_probe_on_words_beats_each_domains_best_expert_from_run_py(tmp_path, cache_dir):
    """The quickstart's topics are words. With topics that matter (a wider topic_spread) they say which expert
    is best within a domain, and the probes beat each domain's best expert (the dataset oracle)."""
    run_entry(["router=task_probe", "backbone=tfidf", "data.source.topic_spread=0.3",
               "trainer.enable_progress_bar=false", "~logger"], tmp_path, cache_dir)
    methods = read_results(tmp_path)["methods"]
    mean = {name: methods[name]["groups"]["all"] for name in ("task_probe", "dataset_oracle", "bma")}
    assert mean["task_probe"] > mean["dataset_oracle"] > mean["bma"]
