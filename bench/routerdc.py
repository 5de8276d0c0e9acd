"""RouterDC's protocol on its 7-model score matrix: Zooter with the bundled MiniLM encoder beside every baseline.

1. Choose temperature and beta on the validation split carved from train (never test): one run per setting
   with the encoder frozen (queries embedded once, cached; a linear head trains in seconds).
2. Train the final router with the chosen setting: frozen (default) or fine-tuned (--finetune, the paper's
   recipe; about 25 minutes on a 2-core CPU).
3. Print the table, and as the last line {NAME: {"id_avg": x, "ood_avg": x}} (accuracy in %) for zooter and
   every baseline. The whole record goes to outputs/bench/routerdc.json.

    python bench/routerdc.py [--data-root ../shared/data/routerdc_7llm] [--finetune] [--temperatures ...] [--betas ...]
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


def run(overrides: list[str], out: Path) -> dict:
    run_task(compose_config(overrides + QUIET, str(out)))
    return {**json.loads((out / "results.json").read_text()), "timing": json.loads((out / "timing.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None, help="the routerdc_7llm folder (default: from the config)")
    parser.add_argument("--finetune", action="store_true", help="fine-tune the encoder in the final run")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5, 1.0])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--reuse-selection", metavar="BENCH_JSON", help="take the selection from an earlier run's record")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "routerdc"))
    args = parser.parse_args()

    out = Path(args.out) / time.strftime("%Y-%m-%d_%H-%M-%S")
    data = [f"data.root={args.data_root}"] if args.data_root else []
    frozen = ["experiment=routerdc_frozen", *data]

    selection = json.loads(Path(args.reuse_selection).read_text())["selection"] if args.reuse_selection else []
    for t, b in [] if args.reuse_selection else itertools.product(args.temperatures, args.betas):
        res = run([*frozen, f"labels.temperature={t}", f"labels.beta={b}"], out / f"select_T{t}_beta{b}")
        selection.append({"temperature": t, "beta": b, "val_routed": res["selection"]["val_routed_best"]})
        print(f"T={t:<5} beta={b:<4} validation routed accuracy {selection[-1]['val_routed']:.2f}", flush=True)
    best = max(selection, key=lambda s: s["val_routed"])
    print(f"chosen on validation: temperature {best['temperature']}, beta {best['beta']}", flush=True)

    final = ["experiment=routerdc", *data] if args.finetune else frozen
    res = run([*final, f"labels.temperature={best['temperature']}", f"labels.beta={best['beta']}"], out / "final")
    summary = {name: {"id_avg": m["groups"]["ID"], "ood_avg": m["groups"]["OOD"]} for name, m in res["methods"].items()}
    record = {
        "final": "fine-tuned MiniLM" if args.finetune else "frozen MiniLM + linear head",
        "chosen": best,
        "selection": selection,
        "seconds_per_epoch": res["timing"]["seconds_per_epoch"],
        "epochs": res["timing"]["epochs"],
        "results": summary,
    }
    (out / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    print((out / "final" / "results.md").read_text())
    print(f"{record['final']}: {record['seconds_per_epoch']:.1f} s per epoch on this machine; record in {out}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
