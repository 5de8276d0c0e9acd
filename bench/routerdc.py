"""RouterDC's protocol on its 7-model score matrix: every router with the bundled MiniLM encoder beside every
baseline, each router's settings chosen on the validation split carved from train (never on test).

1. Per router, one run per setting of its grid with the encoder frozen (queries embedded once, cached; heads
   train in seconds): zooter over temperature x beta of the silver labels; mlp with zooter's chosen labels;
   knn over k; regression over a linear or MLP head; routerdc over its temperature x sample-sample weight;
   fast (regression on the encoder's first layers only) over how many layers it keeps.
   The run with the best validation routed accuracy is that router's result (a frozen run is deterministic:
   the same setting run again gives the same numbers).
2. With --finetune, zooter is trained again with the encoder fine-tuned (the paper's recipe; about 25 minutes
   on a 2-core CPU) and reported as zooter.
3. Print the table, and as the last line {NAME: {"id_avg": x, "ood_avg": x}} (accuracy in %) for every router,
   its confidence-fallback variant and every baseline. The whole record goes to <out>/<time>/bench.json.

    python bench/routerdc.py [--data-root ../shared/data/routerdc_7llm] [--routers zooter knn ...] [--finetune]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

from rewardroute.main import compose_config
from rewardroute.pipeline.tasks import run_task
from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")
QUIET = ["~logger", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def grid(**axes: list) -> list[list[str]]:
    """Every combination of the axes' values, as override lists."""
    return [[f"{k}={v}" for k, v in zip(axes, values)] for values in itertools.product(*axes.values())]


def grids(args) -> dict[str, list[list[str]]]:
    """Each router's settings to choose among; `{labels}` stands for zooter's chosen labels."""
    return {
        "zooter": grid(**{"labels.temperature": args.temperatures, "labels.beta": args.betas}),
        "mlp": [["{labels}"]],
        "knn": grid(**{"router.module.k": [25, 50, 100, 200, 400]}),
        "regression": grid(**{"router.module.hidden": ["[]", "[256]"]}),
        "routerdc": grid(**{"router.module.temperature": [0.05, 0.2, 0.5], "router.module.sample_weight": [0.0, 1.0]}),
        "fast": grid(**{"router.backbone.layers": [0, 1, 2]}),
    }


def run(overrides: list[str], out: Path) -> dict:
    run_task(compose_config(overrides + QUIET, str(out)))
    return {**json.loads((out / "results.json").read_text()), "timing": json.loads((out / "timing.json").read_text()),
            "folder": str(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None, help="the routerdc_7llm folder (default: from the config)")
    parser.add_argument("--routers", nargs="+", default=["zooter", "mlp", "knn", "regression", "routerdc", "fast"])
    parser.add_argument("--finetune", action="store_true", help="fine-tune zooter's encoder in a final run")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5, 1.0])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "routerdc"))
    args = parser.parse_args()

    out = Path(args.out) / time.strftime("%Y-%m-%d_%H-%M-%S")
    frozen = ["experiment=routerdc_frozen", *([f"data.root={args.data_root}"] if args.data_root else [])]
    labels: list[str] = []  # zooter's chosen labels, for the routers that share them
    chosen, results = {}, {}
    for name in args.routers:
        selection = []
        for setting in grids(args)[name]:
            setting = [o for s in setting for o in (labels if s == "{labels}" else [s])]
            res = run([*frozen, f"router={name}", *setting], out / name / ("_".join(setting) or "default"))
            selection.append({"setting": setting, "val_routed": res["selection"]["val_routed_best"], "result": res})
            print(f"{name} {' '.join(setting)}: validation routed accuracy {selection[-1]['val_routed']:.2f}", flush=True)
        best = max(selection, key=lambda s: s["val_routed"])
        chosen[name] = {"setting": best["setting"], "val_routed": best["val_routed"], "folder": best["result"]["folder"],
                        "seconds_per_epoch": best["result"]["timing"]["seconds_per_epoch"],
                        "selection": [{k: s[k] for k in ("setting", "val_routed")} for s in selection]}
        results[name] = best["result"]
        print(f"{name}: chosen on validation {' '.join(best['setting'])}", flush=True)
        if name == "zooter":
            labels = [s for s in best["setting"] if s.startswith("labels.")]
    if args.finetune and "zooter" in chosen:
        results["zooter"] = run(["experiment=routerdc", *frozen[1:], "router=zooter", *labels], out / "zooter_finetuned")
        chosen["zooter"].update(finetuned=True, folder=results["zooter"]["folder"])

    summary = {}
    for name, res in results.items():  # each router and its fallback variant; the baselines from any run
        for method, m in res["methods"].items():
            if m["kind"] != "expert" and (m["kind"] == "baseline" or method.startswith(name)):
                summary.setdefault(method, {"id_avg": m["groups"]["ID"], "ood_avg": m["groups"]["OOD"]})
    record = {"encoder": "MiniLM (bundled), frozen" + (" (zooter fine-tuned)" if args.finetune else ""),
              "chosen": chosen, "results": summary,
              "analysis": {n: r["analysis"][n] for n, r in results.items()}}
    (out / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    width = max(map(len, summary))
    print(f"\n{'method':{width}}  ID avg  OOD avg")
    for method, m in sorted(summary.items(), key=lambda kv: -kv[1]["id_avg"]):
        print(f"{method:{width}}  {m['id_avg']:6.2f}  {m['ood_avg']:7.2f}")
    print(f"record in {out / 'bench.json'}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
