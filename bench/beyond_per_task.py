"""What do trained routers know beyond the per-task choice? On RouterDC's protocol the per-task best model
(each task's best expert on train) is the bar a router must beat. For run folders of one data set (what the
runs wrote, `predictions.parquet` and `results.json`; nothing is trained or predicted again, seconds), each
run's router is made to defer to that choice unless it is sure:

- at margin m, a query goes to the router's top expert only where the router's estimate for it exceeds its
  estimate for the per-task expert by a factor 1 + m, else to the per-task expert (m = 0 is the router itself,
  m = inf the per-task choice itself);
- per run, the margin validation chooses (the best pooled validation score; ties to the larger margin, fewer
  deviations), its test averages, and, in hindsight, the best test ID average over the margins: the most any
  margin could give;
- over all runs, validation's choice among every (run, margin) and the share of (run, margin) pairs whose test
  ID average beats the per-task choice's.

    python bench/beyond_per_task.py RUN_FOLDER ... [--margins 0 0.01 ... 2]
    python bench/beyond_per_task.py outputs/bench/routerdc/<time>/*/* outputs/<fine-tuned run folders>

Prints a row per run and, as the last line, {"per_task": {GROUP: x}, "target": GROUP, "chosen": {...},
"best_test": {...}, "beyond_per_task": x} (GROUP ID where the data has one, else all); writes
outputs/bench/beyond_per_task.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from common import per_task_choice, read_runs

from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")
MARGINS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]


def deferring_routes(probs: np.ndarray, per_task: np.ndarray, margin: float) -> np.ndarray:
    """Expert index per query: the router's top expert where its estimate beats the per-task expert's
    (`per_task`, an index per query) by a factor 1 + margin, else the per-task expert."""
    rows = np.arange(len(probs))
    top = probs.argmax(1)
    return np.where(probs[rows, top] > (1 + margin) * probs[rows, per_task], top, per_task)


def main() -> None:
    import pandas as pd
    from omegaconf import OmegaConf

    from rewardroute.evaluation.metrics import subset_scores

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (with predictions.parquet, results.json)")
    parser.add_argument("--margins", type=float, nargs="+", default=MARGINS)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "beyond_per_task.json"))
    args = parser.parse_args()
    if any(m < 0 for m in args.margins):
        parser.error(f"--margins must be >= 0, got {args.margins}")
    cfg, matrix, probs, _ = read_runs(parser, args.runs)
    proxy, scale = OmegaConf.to_container(cfg.data.proxy_train), cfg.data.report_scale
    metric = {s: matrix.metric[matrix.mask(s)] for s in ("val", "test")}
    subsets = matrix.queries["subset"].to_numpy()[matrix.mask("test")]
    groups = {**OmegaConf.to_container(cfg.data.groups), "all": list(dict.fromkeys(subsets))}
    per_task = {s: per_task_choice(matrix, proxy, s).argmax(1) for s in ("val", "test")}
    n = len(matrix.experts)

    def test_groups(routes: dict) -> dict[str, dict[str, float]]:
        frame = scale * subset_scores(metric["test"], subsets, {k: np.eye(n)[r] for k, r in routes.items()})
        return {k: {g: float(frame.loc[k, members].mean()) for g, members in groups.items()} for k in routes}

    reference = test_groups({"per_task": per_task["test"]})["per_task"]
    margins = [*sorted(set(args.margins)), float("inf")]
    target = "ID" if "ID" in groups else "all"  # the group the per-task choice is the bar in
    out = {}
    for name, run in probs.items():
        routes = {s: {m: deferring_routes(run[s], per_task[s], m) if m < float("inf") else per_task[s]
                      for m in margins} for s in ("val", "test")}
        tested = test_groups(routes["test"])
        rows = {str(m): {"val": scale * float(metric["val"][np.arange(len(r)), r].mean()),
                         "deviate": float((routes["test"][m] != per_task["test"]).mean()), **tested[m]}
                for m, r in routes["val"].items()}
        chosen = max(reversed(rows), key=lambda m: rows[m]["val"])  # reversed: ties go to the larger margin
        best = max(rows, key=lambda m: rows[m][target])
        out[name] = {"margins": rows, "chosen": chosen, "best_test": best}

    pairs = [(name, m) for name, r in out.items() for m in r["margins"] if m != "inf"]
    chosen = max(pairs, key=lambda p: out[p[0]]["margins"][p[1]]["val"])
    best = max(pairs, key=lambda p: out[p[0]]["margins"][p[1]][target])
    beyond = np.mean([out[r]["margins"][m][target] > reference[target] for r, m in pairs])

    table = pd.DataFrame({name: {"chosen margin": r["chosen"], "val": r["margins"][r["chosen"]]["val"],
                                 **{f"test {g}": r["margins"][r["chosen"]][g] for g in groups},
                                 "deviate": r["margins"][r["chosen"]]["deviate"], "best margin": r["best_test"],
                                 f"best {target}": r["margins"][r["best_test"]][target]}
                          for name, r in out.items()}).T
    pd.set_option("display.width", 250, "display.max_colwidth", 90)
    common = os.path.commonpath([str(r.resolve()) for r in args.runs]) if len(args.runs) > 1 else ""
    shown = table.rename(index=lambda n: os.path.relpath(Path(n).resolve(), common) if common else n)
    print(shown.to_string(float_format=lambda x: f"{x:.2f}"))
    print("per-task choice: " + ", ".join(f"{g} {v:.2f}" for g, v in reference.items())
          + f"; validation's choice: {chosen[0]} at margin {chosen[1]}: "
          + ", ".join(f"{g} {out[chosen[0]]['margins'][chosen[1]][g]:.2f}" for g in groups)
          + f"; best test {target} of any run and margin: {out[best[0]]['margins'][best[1]][target]:.2f} "
          + f"({best[0]}, margin {best[1]}); {beyond:.0%} of {len(pairs)} (run, margin) pairs beat the per-task {target}")
    summary = {"per_task": reference, "target": target,
               "chosen": {"run": chosen[0], "margin": chosen[1], **out[chosen[0]]["margins"][chosen[1]]},
               "best_test": {"run": best[0], "margin": best[1], **out[best[0]]["margins"][best[1]]},
               "beyond_per_task": float(beyond)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({**summary, "runs": out}, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
