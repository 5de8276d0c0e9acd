"""Router-based lightweight reward models against a single one on Auto-J's 8 domains, bundled MiniLM encoder.

1. Train single, MoRE, RODOS and ARLISS (experiment=rm_routers, one architecture after another, in process),
   each keeping the epoch with the best validation accuracy. With --choose KEY=V1,V2 ..., each architecture
   trains once per combination of the values (e.g. rm.optimizer.lr=5e-4,1e-3 rm.shared_epochs=0,2) and the run
   with the best validation accuracy is kept: choices are made on validation, never on test.
2. Print the table (accuracy per domain and on average, parameters, cost per pair), wall time per epoch, the
   targets (every router-based model's average >= single's; MoRE and ARLISS >= 50% fewer parameters than
   RODOS), and as the last line {ARCH: {"avg_acc": x, "params_total": n, "domains": {DOMAIN: acc}}} (accuracy
   in %). The record goes to <out>/bench.json; a finished architecture's folder is reused when the bench is
   run again with the same --out (a killed bench loses nothing it finished).

    python bench/rm_routers.py [--epochs 2] [--max-length 128] [--batch-size 16] [--threads N] [--choose KEY=V1,V2 ...]
                               [-- OVERRIDE ...]      (further run.py overrides for every run, e.g. rm.router_epochs=6)
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
ARCHS = ["single", "more", "rodos", "arliss"]
# in process, one run at a time: not the sweep that experiment=rm_routers starts from run.py
IN_PROCESS = [*QUIET, "hydra.mode=RUN"]


def run(overrides: list[str], out: Path) -> dict:
    if not (out / "results.json").is_file():
        run_task(compose_config(overrides + IN_PROCESS, str(out)))
    return json.loads((out / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=ARCHS, choices=ARCHS)
    parser.add_argument("--data", default="autoj", help="a preference data config (conf/data)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128, help="tokens of prompt + response")
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per training step")
    parser.add_argument("--choose", nargs="+", default=[], metavar="KEY=V1,V2",
                        help="run.py overrides to choose among on validation, every combination (default: each "
                             "architecture's own settings, conf/rm)")
    parser.add_argument("--threads", type=int, help="torch threads (one is faster while other jobs share the CPU)")
    parser.add_argument("overrides", nargs="*", help="further run.py overrides, applied to every run")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "rm_routers" / time.strftime("%Y-%m-%d_%H-%M-%S")))
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    try:
        axes = dict(choice.split("=", 1) for choice in args.choose)
    except ValueError:
        parser.error(f"--choose takes KEY=V1,V2 ..., got {args.choose}")
    settings = grid(**{key: values.split(",") for key, values in axes.items()})
    out = Path(args.out).resolve()
    common = ["experiment=rm_routers", f"data={args.data}", f"trainer.max_epochs={args.epochs}",
              f"rm.max_length={args.max_length}", f"rm.batch_size={args.batch_size}", *args.overrides]
    runs, selection = {}, {}
    for arch in args.archs:
        candidates = {}
        for setting in settings:  # one folder per setting, named by its values (a rerun reuses the finished)
            name = "_".join([arch, *(override.replace("rm.", "").replace("optimizer.", "") for override in setting)])
            res = run([*common, f"rm={arch}", *setting], out / name)
            candidates[name] = res
            print(f"{name}: validation accuracy {res['selection']['val_acc_best']:.4f}, "
                  f"{res['timing']['seconds_per_epoch']:.0f} s per epoch", flush=True)
        chosen = max(candidates, key=lambda n: candidates[n]["selection"]["val_acc_best"] or 0.0)
        selection[arch] = {n: r["selection"]["val_acc_best"] for n, r in candidates.items()} | {"chosen": chosen}
        runs[arch] = candidates[chosen]

    from rewardroute.reward_models.report import parameter_saving, write_report

    files = write_report({"kind": "reward_model_sweep", "runs": runs}, runs, out,
                         f"Reward models on {args.data} (bench/rm_routers.py)")
    summary = {arch: {"avg_acc": round(100 * r["test"]["acc"], 2), "params_total": r["params"]["total"],
                      "domains": {d: round(100 * a, 2) for d, a in r["test"]["domains"].items()}} for arch, r in runs.items()}
    record = {
        "settings": vars(args),
        "selection": selection,
        "seconds_per_epoch": {a: r["timing"]["seconds_per_epoch"] for a, r in runs.items()},
        "results": summary,
    }
    if "rodos" in runs:
        record["parameter_saving_vs_rodos"] = parameter_saving(runs)
    if "single" in runs:
        record["avg_acc_minus_single"] = {a: s["avg_acc"] - summary["single"]["avg_acc"] for a, s in summary.items()
                                          if a != "single"}
    (out / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    print(files["md"].read_text())
    for arch, seconds in record["seconds_per_epoch"].items():
        print(f"{arch}: {seconds:.0f} s per epoch (validation included), {runs[arch]['timing']['epochs']} epochs")
    for key in ("parameter_saving_vs_rodos", "avg_acc_minus_single"):
        print(f"{key}: {json.dumps({a: round(v, 3) for a, v in record.get(key, {}).items()})}")
    print(f"record: {out / 'bench.json'}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
