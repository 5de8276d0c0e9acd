"""Per-task probes: a router that starts from each task's best expert and leaves it only where the query's
features have shown, on the task's own training queries, that they know better.

A classifier (multinomial logistic regression) names the query's task: the data's subsets, learned from the
training queries, so out-of-distribution queries go to the task they look like. Each task has a ridge probe
that predicts every expert's reward from the features; it routes the task's queries only where repeated k-fold
cross-validation on the task's training queries shows it beating the task's best expert, with its ridge
penalty chosen by the one-standard-error rule (the largest penalty within one standard error of the best mean
gain; no probe where that gain is within one standard error of zero). Elsewhere the task's best expert.

Everything is closed form, fitted from one read of the training queries (routers/base.py, FittedInOnePass).
On RouterDC's protocol the per-task best expert is the bar the other routers here fall short of (bench/README.md).
"""

from __future__ import annotations

import numpy as np
import torch

from rewardroute.routers.base import FittedInOnePass

ASSIGNMENTS = ("hard", "soft")  # the named task's probe, or every task's weighted by the classifier's probability


def ridge(x: np.ndarray, y: np.ndarray, alphas: list[float]) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """{alpha: (coef [features, targets], intercept [targets])} of ridge regression of y on x (intercept
    unpenalised), for every alpha from one eigendecomposition (of the smaller Gram matrix)."""
    mean_x, mean_y = x.mean(0), y.mean(0)
    xc, yc = x - mean_x, y - mean_y
    if xc.shape[1] <= xc.shape[0]:
        s, v = np.linalg.eigh(xc.T @ xc)
        projected = v.T @ (xc.T @ yc)
        coefs = {a: v @ (projected / (s + a)[:, None]) for a in alphas}
    else:  # more features than queries (e.g. TF-IDF): the dual form
        s, v = np.linalg.eigh(xc @ xc.T)
        projected = v.T @ yc
        coefs = {a: xc.T @ (v @ (projected / (s + a)[:, None])) for a in alphas}
    return {a: (c, mean_y - mean_x @ c) for a, c in coefs.items()}


def cv_gains(x: np.ndarray, rewards: np.ndarray, metric: np.ndarray, alphas: list[float], folds: int,
             repeats: int) -> dict[float, tuple[float, float]]:
    """{alpha: (mean, standard error)} of the probe's gain in the metric of the routed expert over the best expert
    (by reward) of the training folds: the mean over `repeats` shuffles x `folds` folds; the standard error of
    one k-fold pass (the folds' standard deviation / sqrt(folds)), averaged over the repeats. Repeats reuse the
    same queries, so they steady the estimate without making it surer: pooled over repeats x folds, the
    error would shrink with every repeat."""
    gains = np.zeros((len(alphas), repeats, folds))
    for r in range(repeats):
        order = np.random.default_rng(r).permutation(len(x)) % folds
        for f in range(folds):
            a, b = order != f, order == f
            base = metric[b, rewards[a].mean(0).argmax()].mean()
            for i, (coef, intercept) in enumerate(ridge(x[a], rewards[a], alphas).values()):
                gains[i, r, f] = metric[b, (x[b] @ coef + intercept).argmax(1)].mean() - base
    se = gains.std(axis=2, ddof=1).mean(axis=1) / np.sqrt(folds)
    return {alpha: (float(gains[i].mean()), float(se[i])) for i, alpha in enumerate(alphas)}


def one_se_choice(gains: dict[float, tuple[float, float]]) -> float | None:
    """The largest alpha whose mean gain is within one standard error of the best; None (no probe: the task's
    best expert) where the best mean gain is within one standard error of zero."""
    best = max(gains, key=lambda alpha: gains[alpha][0])
    mean, se = gains[best]
    return None if mean <= se else max(alpha for alpha, (m, _) in gains.items() if m >= mean - se)


def fit_task_probes(x: np.ndarray, rewards: np.ndarray, metric: np.ndarray, tasks: np.ndarray, alphas: list[float],
                    folds: int, repeats: int, classifier_c: float) -> dict:
    """The router's parameters from training queries: "tasks" (the task ids, sorted), "classifier" (weight
    [tasks, features], bias [tasks]; None for one task), "coef" [tasks, features, experts], "intercept" [tasks,
    experts], and per task "alpha" (None: no probe) and "gains" ({alpha: (mean, s.e.)}; empty where the task has
    too few queries to cross-validate, or no alphas are given: no probes)."""
    from sklearn.linear_model import LogisticRegression

    ids = np.unique(tasks)
    classifier = None
    if len(ids) > 1:
        fitted = LogisticRegression(C=classifier_c, max_iter=2000).fit(x, tasks)
        weight, bias = fitted.coef_, fitted.intercept_
        if len(ids) == 2:  # scikit-learn keeps one row for two classes: its score is the second class's
            weight, bias = np.stack([np.zeros_like(weight[0]), weight[0]]), np.array([0.0, bias[0]])
        classifier = (weight, bias)
    coef = np.zeros((len(ids), x.shape[1], rewards.shape[1]))
    intercept, alpha, gains = np.zeros((len(ids), rewards.shape[1])), [], []
    for i, task in enumerate(ids):
        rows = np.flatnonzero(tasks == task)
        xt = x[rows].astype(np.float64)
        enough = bool(alphas) and len(rows) >= 2 * folds  # probes asked for, and queries to cross-validate them
        gains.append(cv_gains(xt, rewards[rows], metric[rows], alphas, folds, repeats) if enough else {})
        alpha.append(one_se_choice(gains[-1]) if gains[-1] else None)
        if alpha[-1] is None:  # the task's mean rewards: its best expert, with the others' estimates
            intercept[i] = rewards[rows].mean(0)
        else:
            coef[i], intercept[i] = ridge(xt, rewards[rows], [alpha[-1]])[alpha[-1]]
    return {"tasks": ids, "classifier": classifier, "coef": coef, "intercept": intercept, "alpha": alpha,
            "gains": gains}


class TaskProbeRouter(FittedInOnePass):
    fitted = ("task_ids", "classifier_weight", "classifier_bias", "coef", "intercept")

    def __init__(self, n_experts: int, feature_dim: int, alphas: list[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
                 folds: int = 5, repeats: int = 3, classifier_c: float = 10.0, assignment: str = "hard", **kwargs):
        super().__init__(n_experts, feature_dim, **kwargs)
        if assignment not in ASSIGNMENTS:
            raise ValueError(f"router.module.assignment must be one of {ASSIGNMENTS}, got {assignment!r}")
        if alphas and min(alphas) <= 0:  # none: no probes, each named task's best expert
            raise ValueError(f"router.module.alphas must be ridge penalties > 0, got {list(alphas)}")
        if folds < 2 or repeats < 1:
            raise ValueError(f"router.module.folds must be >= 2 and repeats >= 1, got {folds} and {repeats}")
        self.register_buffer("task_ids", torch.zeros(0, dtype=torch.long))
        self.register_buffer("classifier_weight", torch.zeros(0, feature_dim))
        self.register_buffer("classifier_bias", torch.zeros(0))
        self.register_buffer("coef", torch.zeros(0, feature_dim, n_experts))
        self.register_buffer("intercept", torch.zeros(0, n_experts))
        self.choices: dict[int, dict] = {}  # per task id, after the fit: its alpha (None: no probe) and CV gains

    def fit(self, data: dict[str, torch.Tensor]) -> None:
        h = self.hparams
        tasks = data["task"].cpu().numpy()
        fitted = fit_task_probes(data["features"].double().cpu().numpy(), data["rewards"].double().cpu().numpy(),
                                 data["metric"].double().cpu().numpy(), tasks, list(h.alphas), h.folds, h.repeats,
                                 h.classifier_c)

        def as_tensor(a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)

        weight, bias = fitted["classifier"] or (np.zeros((1, data["features"].shape[1])), np.zeros(1))
        self.task_ids = torch.as_tensor(fitted["tasks"], device=self.device)
        self.classifier_weight, self.classifier_bias = as_tensor(weight), as_tensor(bias)
        self.coef, self.intercept = as_tensor(fitted["coef"]), as_tensor(fitted["intercept"])
        self.choices = {int(t): {"alpha": a, "cv_gains": {f"{alpha:g}": list(mean_se) for alpha, mean_se in g.items()}}
                        for t, a, g in zip(fitted["tasks"], fitted["alpha"], fitted["gains"])}

    def get_extra_state(self) -> dict:
        return self.choices  # in the checkpoint, so a restored router (task=evaluate) reports them too

    def set_extra_state(self, state: dict) -> None:
        self.choices = state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "_extra_state", {})  # checkpoints from before the choices were saved
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def fit_notes(self, subsets: list[str]) -> list[str]:
        notes = []
        for task, choice in self.choices.items():
            chosen = "its best expert" if choice["alpha"] is None else f"its probe, alpha {choice['alpha']:g}"
            gains = ", ".join(f"{a}: {m:+.4f} ± {se:.4f}" for a, (m, se) in choice["cv_gains"].items())
            why = ("too few queries to cross-validate" if self.hparams.alphas
                   else "no probes asked for, router.module.alphas is empty")
            notes.append(f"task_probe, {subsets[task]}: {chosen} (cross-validated gain over its best expert per "
                         f"alpha: {gains or why})")
        return notes

    def task_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The classifier's logit of each task (the columns follow task_ids) for each query."""
        return features.float() @ self.classifier_weight.T + self.classifier_bias

    def named_tasks(self, features: torch.Tensor) -> torch.Tensor:
        """The index (into task_ids) of the task the classifier names for each query."""
        return self.task_logits(features).argmax(-1)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        if not len(self.task_ids):  # before the fit (Lightning's sanity check): no preference
            return torch.zeros(len(features), self.hparams.n_experts, device=features.device)
        features = features.float()
        if self.hparams.assignment == "soft":  # each task's estimates, weighted by the task's probability
            tasks = self.task_logits(features).softmax(-1)
            return torch.einsum("nt,nte->ne", tasks, torch.einsum("nd,tde->nte", features, self.coef) + self.intercept)
        named = self.named_tasks(features)
        out = torch.empty(len(features), self.hparams.n_experts, device=features.device)
        for i in named.unique():
            rows = named == i
            out[rows] = features[rows] @ self.coef[i] + self.intercept[i]
        return out
