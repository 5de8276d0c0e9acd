"""AlpacaEval's 5 subsets with the recorded GPT-4 (AE1) scores of a 13B pool (wizardlm-13b, vicuna-13b,
llama-2-13b-chat-hf, tulu-2-dpo-13b, ultralm-13b-v2.0), the router cross-fitted over 5 folds (each query routed
by a router trained on the other four; BMA chosen on the other four too).

The softmax temperature of the silver labels is chosen by the mean validation routed score over the folds
(validation is carved from the training folds, never the routed fold). Prints the table and, as the last line,
{NAME: {"mean": x}} for the router, its fallback and every baseline; writes outputs/bench/alpaca_eval.json (with
each method's group means too).

    python bench/alpaca_eval.py [--temperatures 0.1 0.3 1.0] [--data-root ../shared/data/alpaca_eval]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import QUIET

from rewardroute.main import compose_config
from rewardroute.pipeline.tasks import run_task
from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    out = PROJECT_ROOT / "outputs" / "bench" / "alpaca_eval" / time.strftime("%Y-%m-%d_%H-%M-%S")
    data = [f"data.root={args.data_root}"] if args.data_root else []
    runs = {}
    for t in args.temperatures:
        folder = out / f"T{t}"
        val = run_task(compose_config(["experiment=alpaca_eval_crossfit", f"labels.temperature={t}", *data, *QUIET],
                                      str(folder)))
        runs[t] = (val, folder)
        print(f"T={t}: mean validation routed score over the folds {val:.4f}", flush=True)
    best = max(runs, key=lambda t: runs[t][0])
    results = json.loads((runs[best][1] / "results.json").read_text())
    summary = {name: {"mean": m["mean"], "groups": m["groups"]} for name, m in results["methods"].items()}
    record = {"chosen_temperature": best, "validation": {str(t): v for t, (v, _) in runs.items()},
              "folds": results["cross_fit_folds"], "bma_per_fold": results["bma"], "results": summary}
    (out / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    (PROJECT_ROOT / "outputs" / "bench" / "alpaca_eval.json").write_text(json.dumps(record, indent=2) + "\n")
    print((runs[best][1] / "results.md").read_text())
    print(f"temperature {best} chosen on validation; record in {out}")
    print(json.dumps({name: {"mean": v["mean"]} for name, v in summary.items()}))


if __name__ == "__main__":
    main()
