"""Can a criterion built from train choose a router's settings for the out-of-distribution tasks? On RouterDC's
protocol validation is carved from the in-distribution tasks' train splits: it never meets a task the router
has not seen, and it is small (606 queries). Two stand-ins: cross-validation over all the training queries,
and leaving one task out (fit on the other tasks' training queries and route the left-out task's, as the
router meets an unseen task).

This scores `router=task_probe` without its probes (router.module.alphas=[]: the classifier names the query's
task and that task's best expert routes it; the probes only ever route humaneval, bench/README.md) over the settings of
its task classifier: the features (`minilm`: MiniLM's embedding; `words`: backbone=tfidf; `words+punctuation`:
backbone=tfidf with punctuation marks as words) x classifier_c (--c) x the task assignment (hard or soft).
For each setting:
- validation: fitted on train, the routed accuracy on the validation split (pooled, as bench/routerdc.py
  chooses);
- cross-validation: --folds-fold over the train and validation queries together (ten times the validation
  split's queries), fitted on the other folds, the routed accuracy pooled over the folds;
- held-out task: for each in-distribution task, fitted on the train split without it, the accuracy routed on
  that task's train and validation queries; the mean over the tasks;
- test, ID and OOD averages, fitted on train.
Then, over the settings, the rank correlation (Spearman) of each validation score with test ID and with test
OOD, and the setting each criterion chooses (validation; cross-validation; held-out task; the mean of
validation and held-out task, as ID and OOD are averaged apart) with its test scores.

    python bench/heldout_task_validation.py [--data-root ../shared/data/routerdc_7llm] [--features minilm ...]
                                            [--c 0.03 0.1 ...] [--folds 5] [--out FILE]

Prints the table and, as the last line, {"spearman": {CRITERION: {"ID": rho, "OOD": rho}}, "chosen": {CRITERION:
{"setting", "id_avg", "ood_avg"}}}; writes outputs/bench/heldout_task_validation.json (or --out) with every
setting's scores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from common import fitted_task_probe, group_scores, query_features

from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")

FEATURES = {"minilm": ("minilm", []), "words": ("tfidf", []),
            "words+punctuation": ("tfidf", ["router.backbone.punctuation=true"])}


def fitted_routes(x, matrix, reward, fit: np.ndarray, c: float) -> dict:
    """{assignment: routes(rows) -> the routed expert of each row} of task_probe without probes, fitted on `fit`."""
    import torch

    routers = fitted_task_probe(x, matrix, reward, fit, alphas=[], classifier_c=c)
    return {assignment: lambda rows, r=r: r.scores(torch.from_numpy(x[rows])).argmax(-1).numpy()
            for assignment, r in routers.items()}


def main() -> None:
    from scipy.stats import spearmanr

    from rewardroute.data.load import load_matrix
    from rewardroute.evaluation.metrics import groups_within
    from rewardroute.main import compose_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--features", nargs="+", choices=list(FEATURES), default=list(FEATURES))
    parser.add_argument("--c", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
                        help="the task classifier's inverse L2 penalties (router.module.classifier_c)")
    parser.add_argument("--folds", type=int, default=5, help="k of the cross-validation criterion")
    parser.add_argument("--out", default=None, help="the JSON record (default: outputs/bench/"
                                                    "heldout_task_validation.json)")
    args = parser.parse_args()
    if min(args.c) <= 0:
        parser.error(f"--c must be inverse penalties > 0, got {args.c}")
    if args.folds < 2:
        parser.error(f"--folds must be >= 2, got {args.folds}")

    overrides = ["experiment=routerdc_frozen", "router=task_probe", "~logger"]
    overrides += [f"data.root={args.data_root}"] if args.data_root else []
    cfg = compose_config(overrides, tempfile.mkdtemp())
    matrix = load_matrix(cfg)
    reward, metric = matrix.rewards(cfg.data.reward), matrix.metric
    split, subset = matrix.queries["split"].to_numpy(), matrix.queries["subset"].to_numpy()
    train, val, test = (split == "train"), (split == "val"), (split == "test")
    groups = groups_within(cfg.data.groups, set(subset[test]))
    tasks = [s for s in groups.get("ID", []) if (train & (subset == s)).any()]
    if len(tasks) < 3 or not val.any():
        parser.error(f"{cfg.data.name}: holding one task out needs three tasks with training queries and a "
                     f"validation split; found tasks {tasks} and {int(val.sum())} validation queries")

    def accuracy(rows: np.ndarray, routes: np.ndarray) -> float:
        return 100 * float(metric[rows, routes].mean())

    fit_all = np.flatnonzero(train | val)
    folds = np.random.default_rng(0).permutation(len(fit_all)) % args.folds
    own = {t: np.flatnonzero((train | val) & (subset == t)) for t in tasks}  # each task's training queries

    settings = {}
    for name in args.features:
        kind, extra = FEATURES[name]
        x = query_features(kind, overrides + extra, matrix).astype(np.float32)
        for c in args.c:
            on_train = fitted_routes(x, matrix, reward, np.flatnonzero(train), c)
            held = {t: fitted_routes(x, matrix, reward, np.flatnonzero(train & (subset != t)), c) for t in tasks}
            crossed = [(fit_all[folds == f], fitted_routes(x, matrix, reward, fit_all[folds != f], c))
                       for f in range(args.folds)]
            for assignment, routes in on_train.items():
                left_out = {t: accuracy(own[t], held[t][assignment](own[t])) for t in tasks}
                scored = group_scores(metric[test], subset[test], routes(np.flatnonzero(test)), groups)
                setting = f"{name}, C={c:g}, {assignment}"
                settings[setting] = s = {
                    "validation": accuracy(np.flatnonzero(val), routes(np.flatnonzero(val))),
                    "cross_validation": accuracy(np.concatenate([rows for rows, _ in crossed]),
                                                 np.concatenate([r[assignment](rows) for rows, r in crossed])),
                    "heldout_task": float(np.mean(list(left_out.values()))), "heldout_per_task": left_out,
                    "test": scored}
                print(f"{setting:34s} validation {s['validation']:6.2f}  "
                      f"cross-validation {s['cross_validation']:6.2f}  held-out "
                      f"task {s['heldout_task']:6.2f} (" + " ".join(f"{t} {v:.1f}" for t, v in left_out.items())
                      + f")  test ID {scored['ID']:6.2f} OOD {scored.get('OOD', float('nan')):6.2f}", flush=True)

    criteria = {"validation": lambda s: s["validation"], "cross_validation": lambda s: s["cross_validation"],
                "heldout_task": lambda s: s["heldout_task"],
                "mean_of_both": lambda s: (s["validation"] + s["heldout_task"]) / 2}
    spearman, chosen = {}, {}
    for criterion, key in criteria.items():
        values = [key(s) for s in settings.values()]
        spearman[criterion] = {g: round(float(spearmanr(values, [s["test"][g] for s in settings.values()])[0]), 3)
                               for g in groups}
        best = max(settings, key=lambda name: key(settings[name]))
        chosen[criterion] = {"setting": best, "id_avg": round(settings[best]["test"]["ID"], 2),
                             "ood_avg": round(settings[best]["test"].get("OOD", float("nan")), 2)}
    print(f"\n{'criterion':16s} " + " ".join(f"{'Spearman with test ' + g:>24s}" for g in spearman["validation"])
          + "  its choice (test ID / OOD)")
    for criterion in criteria:
        print(f"{criterion:16s} " + " ".join(f"{rho:24.3f}" for rho in spearman[criterion].values())
              + f"  {chosen[criterion]['setting']} ({chosen[criterion]['id_avg']:.2f} / "
              f"{chosen[criterion]['ood_avg']:.2f})")
    path = Path(args.out) if args.out else PROJECT_ROOT / "outputs" / "bench" / "heldout_task_validation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"tasks": tasks, "settings": settings, "spearman": spearman, "chosen": chosen},
                               indent=2) + "\n")
    print(json.dumps({"spearman": spearman, "chosen": chosen}))


if __name__ == "__main__":
    main()
