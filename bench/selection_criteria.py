"""How well does the validation split choose among trained routers? For run folders of one data set (e.g. every
run of a `bench/routerdc.py` record), from what the runs wrote (`predictions.parquet`, `results.json`; nothing
is trained or predicted again, seconds):

- each run's validation score under two criteria: pooled over the validation queries (the checkpoint
  criterion, routers/base.py, and what the benches choose by) and averaged per subset (how test is averaged),
  with the per-task best expert chosen on the rest of train scored the same way, beside each run's test averages;
- per criterion, the rank correlation (Spearman) over the runs between the validation score and each test
  group's average: how far validation's order is test's order;
- per criterion, a bootstrap over the validation queries (1000 resamples): how often the run validation chooses
  stays the best. A low share means validation cannot tell the top runs apart.

    python bench/selection_criteria.py RUN_FOLDER ... [--resamples 1000]
    python bench/selection_criteria.py outputs/bench/routerdc/<time>/*/* outputs/<fine-tuned run folders>

Prints a table and, as the last line, {CRITERION: {"spearman": {GROUP: x}, "chosen": RUN, "chosen_share": x}};
writes outputs/bench/selection_criteria.json.
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
CRITERIA = ("pooled", "per_subset")


def scores(routed: np.ndarray, subsets: np.ndarray) -> dict[str, np.ndarray]:
    """Both criteria for the routed metric of validation queries, over the last axis (leading axes: resamples)."""
    onehot = subsets[..., None] == np.unique(subsets)  # [..., queries, subsets]
    with np.errstate(invalid="ignore"):  # a resample may miss a small subset: it then has no mean
        per_subset = (routed[..., None] * onehot).sum(-2) / onehot.sum(-2)
    return {"pooled": routed.mean(-1), "per_subset": np.nanmean(per_subset, -1)}


def main() -> None:
    import pandas as pd
    from omegaconf import OmegaConf
    from scipy.stats import spearmanr

    from rewardroute.evaluation.report import trained_routers

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (with predictions.parquet, results.json)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "selection_criteria.json"))
    args = parser.parse_args()
    cfg, matrix, probs, results = read_runs(parser, args.runs, splits=("val",))
    val = matrix.mask("val")
    subsets, scale, metric = matrix.queries["subset"].to_numpy()[val], cfg.data.report_scale, matrix.metric[val]

    routed, test = {}, {}
    for name, run in probs.items():
        routed[name] = metric[np.arange(len(metric)), run["val"].argmax(1)]
        test[name] = results[name]["methods"][trained_routers(results[name])[0]]["groups"]
    # The per-task choice as the routers' reference, scored on validation.
    per_task = (per_task_choice(matrix, OmegaConf.to_container(cfg.data.proxy_train), "val") * metric).sum(1)

    names, groups = list(routed), list(next(iter(test.values())))
    table = pd.DataFrame({c: {n: scale * float(scores(routed[n], subsets)[c]) for n in names} for c in CRITERIA})
    for g in groups:
        table[f"test {g}"] = [test[n][g] for n in names]
    reference = {c: scale * float(v) for c, v in scores(per_task, subsets).items()}
    draws = np.random.default_rng(0).integers(0, val.sum(), (args.resamples, val.sum()))
    resampled = [scores(routed[n][draws], subsets[draws]) for n in names]  # per run: {criterion: [resamples]}
    out = {}
    for c in CRITERIA:
        chosen = int(table[c].to_numpy().argmax())
        wins = np.stack([r[c] for r in resampled]).argmax(0) == chosen
        out[c] = {"spearman": {g: float(spearmanr(table[c], table[f"test {g}"])[0]) for g in groups},
                  "chosen": names[chosen], "chosen_share": float(wins.mean()), "per_task_best": reference[c]}

    pd.set_option("display.width", 250, "display.max_colwidth", 90)
    common = os.path.commonpath([str(r.resolve()) for r in args.runs]) if len(args.runs) > 1 else ""
    shown = table.rename(index=lambda n: os.path.relpath(Path(n).resolve(), common) if common else n)
    print(shown.round(2).sort_values("pooled", ascending=False).to_string())
    for c in CRITERIA:
        print(f"{c}: per-task best expert {reference[c]:.2f} on validation; Spearman with test "
              + ", ".join(f"{g} {v:.2f}" for g, v in out[c]["spearman"].items())
              + f"; chosen {out[c]['chosen']}, still the best in {out[c]['chosen_share']:.0%} of resamples")
    record = {"runs": table.round(4).to_dict(orient="index"), "criteria": out}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({c: {k: out[c][k] for k in ("spearman", "chosen", "chosen_share")} for c in CRITERIA}))


if __name__ == "__main__":
    main()
