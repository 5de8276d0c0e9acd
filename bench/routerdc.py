"""RouterDC's protocol on its 7-model score matrix: every router with the bundled MiniLM encoder beside every
baseline, each router's settings chosen on the validation split carved from train (never on test).

1. Per router, one run per setting of its grid with the encoder frozen (queries embedded once, cached; heads
   train in seconds): zooter over temperature x beta of the silver labels; mlp with zooter's chosen labels;
   knn over k; regression over a linear or MLP head; routerdc over its temperature x sample-sample weight;
   fast (regression on the encoder's first layers only) over how many layers it keeps; task_probe over its
   features (MiniLM's embedding or the query's words, backbone=tfidf) x its task assignment (hard or soft;
   its ridge penalties it chooses itself, by cross-validation on train).
   The run with the best validation routed accuracy is that router's result (a frozen run is deterministic:
   the same setting run again gives the same numbers). For fast, whose point is speed, it is the fewest layers
   whose validation score reaches --fast-share (95%) of the best validation score of every run so far
   (the best fast setting where none does).
2. With --finetune ROUTER ..., each named router is trained again from its chosen setting with the encoder
   fine-tuned (experiment=routerdc: the paper's recipe, lr 5e-5; one run per --finetune-epochs value, 3 by
   default, and per --finetune-seeds value, 42 by default; 4 to 10 minutes an epoch on a 2-core CPU). With
   several seeds, the Borda count of an epoch count's seeds (task=ensemble) is a candidate too: fine-tuned
   runs differ by seed about as much as validation can tell apart. The best validation score of the frozen
   and the fine-tuned candidates is that router's result; the record keeps every run.
3. With --ensemble, the chosen runs of every router are combined by a Borda count (task=ensemble) and the
   ensemble competes with them on validation.
4. The best router on validation is named in the record (`best_on_validation`).
5. Print the table, and as the last line {NAME: {"id_avg": x, "ood_avg": x}} (accuracy in %) for every router,
   its confidence-fallback variant and every baseline. The whole record goes to <out>/<time>/bench.json.

    python bench/routerdc.py [--data-root ../shared/data/routerdc_7llm] [--routers zooter knn ...] [--finetune zooter ...]
                             [--finetune-epochs 3 5] [--finetune-seeds 42 43] [--ensemble]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import QUIET, grid

from rewardroute.main import compose_config
from rewardroute.pipeline.tasks import run_task
from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")


def grids(args) -> dict[str, list[list[str]]]:
    """Each router's settings to choose among; `{labels}` stands for zooter's chosen labels."""
    return {
        "zooter": grid(**{"labels.temperature": args.temperatures, "labels.beta": args.betas}),
        "mlp": [["{labels}"]],
        "knn": grid(**{"router.module.k": [25, 50, 100, 200, 400]}),
        "regression": grid(**{"router.module.hidden": ["[]", "[256]"]}),
        "routerdc": grid(**{"router.module.temperature": [0.05, 0.2, 0.5, 1.0, 2.0], "router.module.sample_weight": [0.0, 1.0]}),
        "fast": grid(**{"router.backbone.layers": [0, 1, 2]}),
        "task_probe": [[*features, f"router.module.assignment={a}"] for features in
                       (["backbone=minilm"], ["backbone=tfidf", "router.max_length=1024"])  # every word counted
                       for a in ("hard", "soft")],
    }


def run(overrides: list[str], out: Path) -> dict:
    run_task(compose_config(overrides + QUIET, str(out)))
    timing = out / "timing.json"  # a trained run's (an ensemble trains nothing)
    results = json.loads((out / "results.json").read_text())
    return {**results, "folder": str(out), "method": next(iter(results["analysis"])),  # the router's own rows
            "timing": json.loads(timing.read_text()) if timing.is_file() else {}}


def consider(chosen: dict, results: dict, name: str, res: dict, what: str, **how) -> None:
    """Record a fine-tuned candidate of router `name`; where its validation score beats the chosen one it becomes
    the router's result (route_latency.py rebuilds it from `how`: experiment + setting, or skips `runs`)."""
    val, groups = res["selection"]["val_routed_best"], res["methods"][res["method"]]["groups"]
    chosen["finetuned"].append({"run": what, "val_routed": val, "folder": res["folder"], "id_avg": groups["ID"],
                                "ood_avg": groups["OOD"], **how})
    print(f"{name} {what}: validation routed accuracy {val:.2f} (best so far {chosen['val_routed']:.2f})", flush=True)
    if val > chosen["val_routed"]:
        chosen.pop("runs", None)
        chosen.update(val_routed=val, folder=res["folder"], **how)
        results[name] = res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None, help="the routerdc_7llm folder (default: from the config)")
    parser.add_argument("--routers", nargs="+",
                        default=["zooter", "mlp", "knn", "regression", "routerdc", "fast", "task_probe"])
    parser.add_argument("--finetune", nargs="+", default=[], metavar="ROUTER",
                        choices=["zooter", "mlp", "regression", "routerdc", "fast"],
                        help="train these routers again with the encoder fine-tuned (each must be in --routers)")
    parser.add_argument("--finetune-epochs", type=int, nargs="+", default=[3],
                        help="one fine-tuned run per value (the linear schedule spans them all)")
    parser.add_argument("--finetune-seeds", type=int, nargs="+", default=[42],
                        help="one fine-tuned run per seed and epoch count; with several, their Borda count too")
    parser.add_argument("--ensemble", action="store_true",
                        help="also route by a Borda count of every router's chosen run, chosen on validation as one")
    parser.add_argument("--fast-share", type=float, default=0.95,
                        help="fast keeps the fewest layers reaching this share of the best validation score")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5, 1.0])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="for every run, before each setting (trainer=gpu; backbone=tiny for a smoke run)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "routerdc"))
    args = parser.parse_args()
    for name in set(args.finetune) - set(args.routers):
        parser.error(f"--finetune {name}: add {name} to --routers (its setting is chosen frozen first)")
    if args.ensemble and len(args.routers) < 2:
        parser.error("--ensemble needs two or more --routers")

    out = Path(args.out) / time.strftime("%Y-%m-%d_%H-%M-%S")
    frozen = ["experiment=routerdc_frozen", *([f"data.root={args.data_root}"] if args.data_root else []),
              *args.overrides]
    labels: list[str] = []  # zooter's chosen labels, for the routers that share them
    chosen, results, top = {}, {}, 0.0  # top: the best validation score of every run so far
    for name in args.routers:
        selection = []
        for setting in grids(args)[name]:
            setting = [o for s in setting for o in (labels if s == "{labels}" else [s])]
            res = run([*frozen, f"router={name}", *setting], out / name / ("_".join(setting) or "default"))
            selection.append({"setting": setting, "val_routed": res["selection"]["val_routed_best"], "result": res})
            print(f"{name} {' '.join(setting)}: validation routed accuracy {selection[-1]['val_routed']:.2f}", flush=True)
        top = max(top, *(s["val_routed"] for s in selection))
        best = max(selection, key=lambda s: s["val_routed"])
        if name == "fast":  # its grid runs cheapest first
            best = next((s for s in selection if s["val_routed"] >= args.fast_share * top), best)
        chosen[name] = {"setting": best["setting"], "overrides": args.overrides, "val_routed": best["val_routed"],
                        "folder": best["result"]["folder"],
                        "seconds_per_epoch": best["result"]["timing"]["seconds_per_epoch"],
                        "selection": [{k: s[k] for k in ("setting", "val_routed")} for s in selection]}
        results[name] = best["result"]
        print(f"{name}: chosen on validation {' '.join(best['setting'])}", flush=True)
        if name == "zooter":
            labels = [s for s in best["setting"] if s.startswith("labels.")]
    for name in args.finetune:
        chosen[name]["finetuned"] = []
        for epochs in args.finetune_epochs:
            setting = ["router.freeze_encoder=false", f"trainer.max_epochs={epochs}", *chosen[name]["setting"]]
            seeds = []
            for seed in args.finetune_seeds:
                tuned = run(["experiment=routerdc", *frozen[1:], f"router={name}", *setting, f"seed={seed}"],
                            out / f"{name}_finetuned_{epochs}epochs_seed{seed}")
                seeds.append(tuned)
                consider(chosen[name], results, name, tuned, f"fine-tuned {epochs} epochs, seed {seed}",
                         setting=[*setting, f"seed={seed}"], experiment="routerdc")
            if len(seeds) > 1:  # the seeds' routers together: a candidate of its own
                folders = ",".join(f"'{r['folder']}'" for r in seeds)
                together = run([*frozen, "task=ensemble", f"runs=[{folders}]"], out / f"{name}_finetuned_{epochs}epochs_seeds")
                consider(chosen[name], results, name, together, f"fine-tuned {epochs} epochs, seeds "
                         f"{', '.join(map(str, args.finetune_seeds))} by Borda count", setting=setting,
                         experiment="routerdc", runs=[r["folder"] for r in seeds])
    if args.ensemble:
        runs = [f for n in args.routers for f in chosen[n].get("runs", [chosen[n]["folder"]])]  # a seeds' count: each seed
        folders = ",".join(f"'{f}'" for f in runs)
        res = run([*frozen, "task=ensemble", f"runs=[{folders}]"], out / "ensemble")
        chosen["ensemble"] = {"runs": runs, "val_routed": res["selection"]["val_routed_best"],
                              "folder": res["folder"]}
        results["ensemble"] = res
        print(f"ensemble of {', '.join(args.routers)}: validation routed accuracy {chosen['ensemble']['val_routed']:.2f}",
              flush=True)

    summary = {}
    for name, res in results.items():  # each router and its fallback variant; the baselines from any run
        for method, m in res["methods"].items():
            if m["kind"] == "baseline" or (m["kind"] == "router" and method.startswith(res["method"])):
                method = name + method[len(res["method"]):] if m["kind"] == "router" else method
                summary.setdefault(method, {"id_avg": m["groups"]["ID"], "ood_avg": m["groups"]["OOD"]})
    finetuned = [n for n in args.finetune if chosen[n].get("experiment") == "routerdc"]
    record = {"encoder": "MiniLM (bundled), frozen" + (f" ({', '.join(finetuned)} fine-tuned)" if finetuned else ""),
              "chosen": chosen, "best_on_validation": max(chosen, key=lambda n: chosen[n]["val_routed"]),
              "results": summary,
              "analysis": {n: r["analysis"][r["method"]] for n, r in results.items()}}
    (out / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    width = max(map(len, summary))
    print(f"\n{'method':{width}}  ID avg  OOD avg")
    for method, m in sorted(summary.items(), key=lambda kv: -kv[1]["id_avg"]):
        print(f"{method:{width}}  {m['id_avg']:6.2f}  {m['ood_avg']:7.2f}")
    print(f"record in {out / 'bench.json'}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
