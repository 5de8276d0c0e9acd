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
from dataclasses import replace
from pathlib import Path

import numpy as np

from rewardroute.schema import PROJECT_ROOT, register_configs

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

    from rewardroute.data.load import load_matrix
    from rewardroute.evaluation.baselines import baseline_routes
    from rewardroute.pipeline.predictions import FILE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (with predictions.parquet, results.json)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "outputs" / "bench" / "selection_criteria.json"))
    args = parser.parse_args()
    register_configs()  # the resolvers the runs' saved configs use

    wrote = (FILE, "results.json", ".hydra/config.yaml")  # what every finished router run writes
    missing = [str(r) for r in args.runs if not all((r / f).is_file() for f in wrote)]
    if missing:
        parser.error(f"not a finished router run (expected {', '.join(wrote)}): {', '.join(missing)}")
    cfg = OmegaConf.load(args.runs[0] / ".hydra" / "config.yaml")
    matrix = load_matrix(cfg)
    val = matrix.mask("val")
    if not val.any():
        parser.error(f"{cfg.data.name} has no validation queries")
    subsets, scale = matrix.queries["subset"].to_numpy()[val], cfg.data.report_scale
    row = {q: i for i, q in enumerate(matrix.queries["query_id"][val])}

    routed, test = {}, {}
    for run in args.runs:
        results = json.loads((run / "results.json").read_text())
        if results["data"] != cfg.data.name:
            parser.error(f"{run} routes data={results['data']}, {args.runs[0]} data={cfg.data.name}: one data set")
        method = next(m for m, v in results["methods"].items() if v["kind"] == "router" and "+" not in m)
        probs = pd.read_parquet(run / FILE).query("split == 'val'")
        if len(probs) != val.sum():
            parser.error(f"{run}/{FILE}: {len(probs)} validation queries, the data has {val.sum()}")
        order = probs["query_id"].map(row)
        if order.isna().any():
            parser.error(f"{run}/{FILE}: validation query {probs['query_id'][order.isna()].iloc[0]!r} is not a "
                         f"validation query of {args.runs[0]}'s split (runs of one split only)")
        order = order.to_numpy(dtype=int)
        name = str(run)
        routed[name] = np.empty(val.sum())
        routed[name][order] = matrix.metric[val][order, probs[list(matrix.experts)].to_numpy().argmax(1)]
        test[name] = results["methods"][method]["groups"]
    # The per-task choice as the routers' reference: each subset's best expert on train, scored on validation.
    held_out = matrix.select(~matrix.mask("test"))
    as_test = held_out.queries["split"].replace("val", "test")
    held_out = replace(held_out, queries=held_out.queries.assign(split=as_test))
    per_task = baseline_routes(held_out, OmegaConf.to_container(cfg.data.proxy_train))[0]["dataset_oracle"]
    per_task = (per_task * held_out.metric[held_out.mask("test")]).sum(1)

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
