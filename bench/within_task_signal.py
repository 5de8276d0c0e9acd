"""Is there anything for a router to learn within a task? On RouterDC's protocol the per-task best model
(chosen on train) is the bar to beat, so a router must pick better than that choice inside tasks. This probes
a query's features for that signal, cheaply (seconds once the embeddings are cached). The features
(`--features`): the frozen encoder's embedding (`minilm`, the default), the query's words (`tfidf`: the
`backbone=tfidf` bag of words, vocabulary and weights from the training queries, every word counted) or both
side by side (`both`, each of unit norm).

- per subset with training queries, 5-fold cross-validation on train (validation included): a ridge probe
  predicts every expert's reward from the features and routes to the highest prediction, against the subset's
  best expert on the other folds (the per-task choice); then both fitted on all of train, scored on test;
- the best constant expert of each subset on test itself: the ceiling of any per-task choice;
- each expert's accuracy on the subset's training queries against its test queries: where they differ, the
  expert was likely trained on that train split (DESIGN.md section 5: MetaMath on gsm8k's), so validation,
  carved from train, rewards it more than test does;
- the router made of these parts, `router=task_probe` (routers/task_probe.py), fitted here on all of train
  (validation included, as the probes above): a classifier names each test query's task, in and out of
  distribution, and the query goes to that task's probe, or to the task's best expert where cross-validation
  (`--repeats` x `--folds`, one-standard-error rule) does not show the probe better (hard assignment; soft:
  every task's estimates weighted by the task's probability). Both are scored beside the per-task choice
  (which is given each test query's task, the OOD tasks by data.proxy_train), with a paired bootstrap
  interval of the difference.

Scores are the evaluation metric of the routed expert (x100); the probe learns the run's reward (data.reward).

    python bench/within_task_signal.py [--data-root ...] [--features minilm|tfidf|both] [--layers N]
                                       [--alphas 0.1 1 10 100 1000] [--repeats 3] [--out FILE]

Prints the tables and, as the last line, {SUBSET: {"cv_task_best", "cv_probe", "test_task_best", "test_probe",
"test_best_constant"}} (the probe at each alpha) with their mean over subsets as "average"; writes
outputs/bench/within_task_signal.json (within_task_signal_<features>.json for other features), with
{SUBSET: {EXPERT: [train, test]}} as "train_vs_test" and the router of classified tasks as "routed".
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from common import FEATURES, fitted_task_probe, group_scores, per_task_choice, query_features

from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")


def ridge_routes(x_fit: np.ndarray, y_fit: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    """The expert of highest predicted reward for each row of x, by the task probes' ridge regression."""
    from rewardroute.routers.task_probe import ridge

    coef, intercept = ridge(x_fit, y_fit, [alpha])[alpha]
    return (x @ coef + intercept).argmax(1)


def task_probes(x: np.ndarray, matrix, reward: np.ndarray, fit: np.ndarray, test: np.ndarray, args):
    """`router=task_probe` fitted on the `fit` queries. Returns its choices per task, and for each test query the
    task it names, that task's best expert, and the expert the router sends it to with each task assignment."""
    import torch

    tasks = matrix.subset_ids()
    routers = fitted_task_probe(x, matrix, reward, fit, alphas=args.alphas, folds=args.folds, repeats=args.repeats)
    features, router = torch.from_numpy(x[test]).float(), routers["hard"]
    named = router.task_ids[router.named_tasks(features)].numpy()
    routes = {assignment: r.scores(features).argmax(-1).numpy() for assignment, r in routers.items()}
    best = {t: reward[fit[tasks[fit] == t]].mean(0).argmax() for t in np.unique(tasks[fit])}
    choices = {matrix.subsets[t]: c for t, c in router.choices.items()}
    return choices, np.array(matrix.subsets)[named], np.array([best[t] for t in named]), routes


def bootstrap_gain(metric, subset, ours, theirs, groups: dict, draws: int = 1000) -> dict:
    """{group: [2.5%, 97.5%]} of (ours - theirs) x100 on the group's mean, resampling each subset's queries."""
    rng, rows = np.random.default_rng(0), np.arange(len(ours))
    diff = metric[rows, ours] - metric[rows, theirs]
    per_subset = {}
    for s in sorted({s for members in groups.values() for s in members}):  # a fixed order: the same draws
        own = diff[subset == s]
        per_subset[s] = own[rng.integers(0, len(own), (draws, len(own)))].mean(1)
    means = {g: 100 * np.mean([per_subset[s] for s in members], 0) for g, members in groups.items()}
    return {g: [round(float(v), 2) for v in np.percentile(m, [2.5, 97.5])] for g, m in means.items()}


def main() -> None:
    from rewardroute.data.load import load_matrix
    from rewardroute.main import compose_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--features", choices=FEATURES, default="minilm")
    parser.add_argument("--layers", type=int, default=None, help="keep the encoder's first N layers (default: all)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0, 1000.0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="cross-validation shuffles for the router's choices")
    parser.add_argument("--out", default=None, help="the JSON record (default: outputs/bench/within_task_signal"
                                                    "[_FEATURES].json)")
    args = parser.parse_args()
    if args.layers is not None and args.features != "minilm":
        parser.error("--layers keeps MiniLM's first layers: use it with --features minilm (the words of tfidf and "
                     "both have no layers)")
    if min(args.alphas) <= 0:
        parser.error(f"--alphas must be ridge penalties > 0, got {args.alphas}")

    overrides = ["experiment=routerdc_frozen", "router=regression", "~logger"]
    overrides += [f"data.root={args.data_root}"] if args.data_root else []
    overrides += [f"router.backbone.layers={args.layers}"] if args.layers is not None else []
    cfg = compose_config(overrides, tempfile.mkdtemp())
    matrix = load_matrix(cfg)
    reward, metric = matrix.rewards(cfg.data.reward), matrix.metric
    split, subset = matrix.queries["split"].to_numpy(), matrix.queries["subset"].to_numpy()
    fit_all, test_all = np.flatnonzero(np.isin(split, ["train", "val"])), np.flatnonzero(split == "test")
    x = query_features(args.features, overrides, matrix)
    rng = np.random.default_rng(0)

    out, shift = {}, {}
    for name in matrix.subsets:
        fit, test = fit_all[subset[fit_all] == name], test_all[subset[test_all] == name]
        if not len(fit) or not len(test):
            continue  # OOD subsets have no training queries; ID subsets without test have nothing to score
        folds = rng.permutation(len(fit)) % args.folds
        cv = {"task_best": [], **{a: [] for a in args.alphas}}
        for f in range(args.folds):
            a, b = fit[folds != f], fit[folds == f]
            cv["task_best"].append(metric[b, reward[a].mean(0).argmax()].mean())
            for alpha in args.alphas:
                cv[alpha].append(metric[b, ridge_routes(x[a], reward[a], x[b], alpha)].mean() if len(b) else np.nan)
        out[name] = {
            "cv_task_best": 100 * float(np.mean(cv["task_best"])),
            "cv_probe": {str(alpha): 100 * float(np.mean(cv[alpha])) for alpha in args.alphas},
            "test_task_best": 100 * float(metric[test, reward[fit].mean(0).argmax()].mean()),
            "test_probe": {str(alpha): 100 * float(metric[test, ridge_routes(x[fit], reward[fit], x[test], alpha)].mean())
                           for alpha in args.alphas},
            "test_best_constant": 100 * float(metric[test].mean(0).max()),
        }
        shift[name] = {e: [100 * float(metric[fit, i].mean()), 100 * float(metric[test, i].mean())]
                       for i, e in enumerate(matrix.experts)}

    alphas = [str(a) for a in args.alphas]
    out["average"] = {k: ({a: float(np.mean([r[k][a] for r in out.values()])) for a in alphas} if k.endswith("probe")
                          else float(np.mean([r[k] for r in out.values()]))) for k in next(iter(out.values()))}
    print(f"{'subset':15s} {'cv: task best':>13s} " + " ".join(f"{'probe a=' + a:>13s}" for a in alphas)
          + f" {'test: task best':>15s} " + " ".join(f"{'probe a=' + a:>13s}" for a in alphas) + f" {'best const':>10s}")
    for name, r in out.items():
        print(f"{name:15s} {r['cv_task_best']:13.2f} " + " ".join(f"{r['cv_probe'][a]:13.2f}" for a in alphas)
              + f" {r['test_task_best']:15.2f} " + " ".join(f"{r['test_probe'][a]:13.2f}" for a in alphas)
              + f" {r['test_best_constant']:10.2f}")
    short = [e.split("/")[-1][:16] for e in matrix.experts]
    print(f"\naccuracy on train - on test, per expert\n{'subset':15s} " + " ".join(f"{e:>16s}" for e in short))
    for name, experts in shift.items():
        print(f"{name:15s} " + " ".join(f"{a - b:+16.2f}" for a, b in experts.values()))

    routed = routed_by_task_probes(cfg, matrix, x, fit_all, test_all, args)
    name = "within_task_signal" + ("" if args.features == "minilm" else f"_{args.features}")
    path = Path(args.out) if args.out else PROJECT_ROOT / "outputs" / "bench" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"features": args.features, "layers": args.layers, "folds": args.folds, "subsets": out,
              "train_vs_test": shift, "routed": routed}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(out))


def routed_by_task_probes(cfg, matrix, x, fit_all, test, args) -> dict:
    """`router=task_probe` beside the per-task choice, on test: printed, and returned for the record."""
    from omegaconf import OmegaConf

    from rewardroute.evaluation.metrics import groups_within

    reward, metric, subset = matrix.rewards(cfg.data.reward), matrix.metric, matrix.queries["subset"].to_numpy()
    present = set(subset[test])
    groups = groups_within(cfg.data.groups, present)
    choices, named, best, probe = task_probes(x, matrix, reward, fit_all, test, args)
    per_task = per_task_choice(matrix, OmegaConf.to_container(cfg.data.proxy_train), "test").argmax(1)
    rows, m = subset[test], metric[test]
    scores = {"per_task_choice": group_scores(m, rows, per_task, groups),
              "named_task_best": group_scores(m, rows, best, groups),
              **{f"task_probe_{a}": group_scores(m, rows, r, groups) for a, r in probe.items()}}
    trained = set(subset[fit_all])
    known = np.isin(rows, list(trained))
    tasks_named = {s: {str(t): int(n) for t, n in zip(*np.unique(named[rows == s], return_counts=True))}
                   for s in sorted(present - trained)}
    record = {"task_accuracy": float((named[known] == rows[known]).mean()), "ood_named_as": tasks_named,
              "choices": choices, "test": scores,
              "probe_minus_per_task_95": {a: bootstrap_gain(m, rows, r, per_task, groups) for a, r in probe.items()}}

    print(f"\nrouter=task_probe fitted on train and validation ({args.features}; the task named right for "
          f"{100 * record['task_accuracy']:.1f}% of the test queries of trained tasks)")
    print(f"{'task':15s} {'probe alpha':>11s}  cross-validated gain over the task's best expert (x100, mean ± s.e.)")
    for task, c in choices.items():
        gains = "  ".join(f"{a}: {100 * g:+.2f} ± {100 * se:.2f}" for a, (g, se) in c["cv_gains"].items())
        print(f"{task:15s} {c['alpha']!s:>11s}  {gains or 'too few queries'}")
    for s, named_as in tasks_named.items():
        print(f"{s:15s} named as " + ", ".join(f"{t} {n}" for t, n in named_as.items()))
    print(f"\n{'test':15s} {'per-task choice':>15s} {'named task best':>15s} " + " ".join(f"{k:>15s}" for k in probe))
    for key in scores["per_task_choice"]:
        print(f"{key:15s} " + " ".join(f"{v[key]:15.2f}" for v in scores.values()))
    for a, interval in record["probe_minus_per_task_95"].items():
        print(f"task_probe ({a}) - per-task choice, 95% bootstrap interval: "
              + ", ".join(f"{g} [{lo:+.2f}, {hi:+.2f}]" for g, (lo, hi) in interval.items()))
    return record


if __name__ == "__main__":
    main()
