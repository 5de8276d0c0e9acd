"""Is there anything for a router to learn within a task? On RouterDC's protocol the per-task best model
(chosen on train) is the bar to beat, so a router must pick better than that choice inside tasks. This probes
the frozen encoder's embeddings for that signal, cheaply (seconds once the embeddings are cached):

- per subset with training queries, 5-fold cross-validation on train (validation included): a ridge probe
  predicts every expert's reward from the embedding and routes to the highest prediction, against the subset's
  best expert on the other folds (the per-task choice); then both fitted on all of train, scored on test;
- the best constant expert of each subset on test itself: the ceiling of any per-task choice;
- each expert's accuracy on the subset's training queries against its test queries: where they differ, the
  expert was likely trained on that train split (DESIGN.md section 5: MetaMath on gsm8k's), so validation,
  carved from train, rewards it more than test does.

Scores are the evaluation metric of the routed expert (x100); the probe learns the run's reward (data.reward).

    python bench/within_task_signal.py [--data-root ...] [--layers N] [--alphas 1 10 100 1000]

Prints two tables and, as the last line, {SUBSET: {"cv_task_best", "cv_probe", "test_task_best", "test_probe",
"test_best_constant"}} (the probe at each alpha) with their mean over subsets as "average"; writes
outputs/bench/within_task_signal.json, with {SUBSET: {EXPERT: [train, test]}} as "train_vs_test".
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")


def ridge_routes(x_fit: np.ndarray, y_fit: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    """The expert of highest predicted reward for each row of x, by ridge regression (intercept unpenalised)."""
    mean_x, mean_y = x_fit.mean(0), y_fit.mean(0)
    a = x_fit - mean_x
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (y_fit - mean_y))
    return ((x - mean_x) @ w + mean_y).argmax(1)


def main() -> None:
    from rewardroute.data.load import load_matrix
    from rewardroute.main import compose_config
    from rewardroute.pipeline.train import build_router

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--layers", type=int, default=None, help="keep the encoder's first N layers (default: all)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 10.0, 100.0, 1000.0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    overrides = ["experiment=routerdc_frozen", "router=regression", "~logger"]
    overrides += [f"data.root={args.data_root}"] if args.data_root else []
    overrides += [f"router.backbone.layers={args.layers}"] if args.layers is not None else []
    cfg = compose_config(overrides, tempfile.mkdtemp())
    matrix = load_matrix(cfg)
    datamodule = build_router(cfg, matrix).datamodule
    datamodule.setup()
    x = np.asarray(datamodule.data["features"], dtype=np.float64)
    reward, metric = matrix.rewards(cfg.data.reward), matrix.metric
    split, subset = matrix.queries["split"].to_numpy(), matrix.queries["subset"].to_numpy()
    rng = np.random.default_rng(0)

    out, shift = {}, {}
    for name in matrix.subsets:
        fit = np.flatnonzero((subset == name) & np.isin(split, ["train", "val"]))
        test = np.flatnonzero((subset == name) & (split == "test"))
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
    path = PROJECT_ROOT / "outputs" / "bench" / "within_task_signal.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"layers": args.layers, "folds": args.folds, "subsets": out, "train_vs_test": shift}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
