"""`task=report dir=<a sweep folder>` (or `dir=[<folder>,<folder>,...]`, e.g. a second sweep of rmr over more
reward models): the paper-style table of benchmark sweeps (task=benchmark jobs).

Per subset: each method's score and its rank among the single experts that answered the subset plus the
method (ties take the lower rank); per group: the mean score and mean rank over its subsets; All-MTR and
%Uplift over every ranked subset. The dataset oracle (each subset's best single expert) is a row of its own. A job
that failed (failure.json) or never finished is marked missing and left out of its method's averages (the
counts say over how many subsets each average runs). Written beside the jobs: report.md, report.csv,
report.tex, report.json, ranks.png (subset x method heat map) and groups.png (group averages by method), in
the first folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from rewardroute.evaluation.metrics import ranks

log = logging.getLogger(__name__)


def read_jobs(folders: list[Path]) -> pd.DataFrame:
    """One row per job of the sweeps: benchmark, group, method, status, score, experts (a dict), error."""
    from rewardroute.pipeline.benchmark import method_name

    rows = []
    for config in sorted(c for folder in folders for c in folder.glob("*/.hydra/config.yaml")):
        job = config.parent.parent
        cfg = OmegaConf.load(config)
        if cfg.get("task") != "benchmark" or cfg.get("benchmark") is None:
            continue
        name = job.name if len(folders) == 1 else f"{job.parent.name}/{job.name}"
        row = {"job": name, "benchmark": cfg.benchmark.name, "group": cfg.benchmark.group,
               "method": method_name(cfg), "status": "missing", "score": np.nan, "experts": None, "error": None}
        if (job / "results.json").is_file():
            result = json.loads((job / "results.json").read_text())
            row.update(status="complete", score=result["score"], experts=result["experts"])
        elif (job / "failure.json").is_file():
            row.update(status="failed", error=json.loads((job / "failure.json").read_text())["error"])
        rows.append(row)
    if not rows:
        where = ", ".join(str(f) for f in folders)
        raise FileNotFoundError(f"dir={where}: no task=benchmark jobs there (folders with .hydra/config.yaml)")
    jobs = pd.DataFrame(rows)
    twice = jobs[jobs.duplicated(["benchmark", "method"], keep=False)]
    if len(twice):
        first = twice[(twice["benchmark"] == twice["benchmark"].iloc[0]) & (twice["method"] == twice["method"].iloc[0])]
        raise ValueError(f"jobs {list(first['job'])} all give {first['method'].iloc[0]} on {first['benchmark'].iloc[0]}: "
                         "a report has one row per method; report each setting's sweep on its own")
    return jobs


def aggregate(jobs: pd.DataFrame) -> dict:
    """The numbers of report.json from the jobs (see the module docstring)."""
    subsets = list(dict.fromkeys(jobs["benchmark"]))
    group_of = dict(zip(jobs["benchmark"], jobs["group"]))
    methods = list(dict.fromkeys(jobs["method"]))
    experts_by_subset, scored_by = {}, {}
    for r in jobs[jobs["experts"].notna()].itertuples():
        first = experts_by_subset.setdefault(r.benchmark, r.experts)
        scored_by.setdefault(r.benchmark, r.job)
        if set(first) != set(r.experts) or any(not np.isclose(first[e], r.experts[e]) for e in first):
            raise ValueError(f"jobs {scored_by[r.benchmark]} and {r.job} score the single experts on {r.benchmark} "
                             f"differently ({first} against {r.experts}): other experts, generation or evaluator; "
                             "one report needs the same answers for every method")
    experts = list(dict.fromkeys(e for scores in experts_by_subset.values() for e in scores))
    scores = pd.DataFrame(np.nan, index=methods + experts, columns=subsets)
    for r in jobs[jobs["status"] == "complete"].itertuples():
        scores.loc[r.method, r.benchmark] = r.score
    for subset, by_expert in experts_by_subset.items():
        for expert, value in by_expert.items():
            scores.loc[expert, subset] = value
    if experts:  # the per-subset ("dataset") oracle: each subset's best single expert
        methods.append("dataset_oracle")
        scores.loc["dataset_oracle"] = scores.loc[experts].max(axis=0)  # NaN where no job scored the experts
        scores = scores.loc[methods + experts]
    rank = pd.DataFrame(np.nan, index=scores.index, columns=subsets)
    for subset, by_expert in experts_by_subset.items():  # ranked among the experts that answered the subset
        known = scores[subset].dropna()
        rank.loc[known.index, subset] = ranks(known.to_frame(), list(by_expert))[subset]
    groups = {g: [s for s in subsets if group_of[s] == g] for g in dict.fromkeys(group_of.values())}
    out = {}
    for name in scores.index:
        done = [s for s in subsets if not np.isnan(scores.loc[name, s])]
        ranked = [s for s in done if not np.isnan(rank.loc[name, s])]
        out[name] = {
            "kind": "method" if name in methods else "expert",
            "subsets": {s: _num(scores.loc[name, s]) for s in subsets},
            "ranks": {s: _num(rank.loc[name, s]) for s in subsets},
            "groups": {g: _num(scores.loc[name, members].mean()) for g, members in groups.items()},
            "mtr_groups": {g: _num(rank.loc[name, members].mean()) for g, members in groups.items()},
            "mtr": _num(rank.loc[name].mean()),
            "uplift": _num((rank.loc[name, ranked] == 1).mean()) if ranked else None,
            "subsets_done": len(done),
        }
    missing = jobs[jobs["status"] != "complete"][["job", "benchmark", "method", "status", "error"]]
    return {"subsets": subsets, "groups": groups, "experts": experts, "methods": out,
            "missing": missing.to_dict("records")}


def _num(value) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def table(report: dict) -> pd.DataFrame:
    """Methods then experts x (group averages, All-MTR, %Uplift, subsets done)."""
    rows = {}
    for name, m in report["methods"].items():
        rows[name] = {**{g: m["groups"][g] for g in report["groups"]},
                      **{f"MTR {g}": m["mtr_groups"][g] for g in report["groups"]},
                      "All-MTR": m["mtr"], "%Uplift": m["uplift"], "subsets": m["subsets_done"]}
    return pd.DataFrame(rows).T


def plots(report: dict, folder: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [n for n, m in report["methods"].items() if m["kind"] == "method"]
    names = methods + report["experts"]
    rank = pd.DataFrame({n: report["methods"][n]["ranks"] for n in names}).T[report["subsets"]].astype(float)
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * len(report["subsets"]), 1.2 + 0.4 * len(names)))
    image = ax.imshow(rank.to_numpy(), cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(len(rank.columns)), rank.columns, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    for (i, j), value in np.ndenumerate(rank.to_numpy()):
        ax.text(j, i, "–" if np.isnan(value) else f"{value:.0f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(image, ax=ax, label="rank among the experts + the method")
    ax.set_title("ranks per subset (1 = best)")
    fig.tight_layout()
    files = {"ranks": folder / "ranks.png", "groups": folder / "groups.png"}
    fig.savefig(files["ranks"], dpi=120)
    plt.close(fig)

    averages = pd.DataFrame({n: report["methods"][n]["groups"] for n in names}).T.astype(float)
    ax = averages.plot.bar(figsize=(max(6, 0.8 * len(names) * max(1, len(averages.columns))), 4), rot=30)
    ax.set_ylabel("mean score over the group's subsets")
    ax.set_title("group averages by method and expert")
    ax.figure.tight_layout()
    ax.figure.savefig(files["groups"], dpi=120)
    plt.close(ax.figure)
    return files


def report(cfg: DictConfig) -> dict:
    from rewardroute.evaluation.report import markdown_table

    if not cfg.dir:
        raise ValueError("task=report needs dir=<a sweep folder of task=benchmark jobs> (or dir=[<folder>,...])")
    folders = [Path(d) for d in (cfg.dir if OmegaConf.is_list(cfg.dir) else [cfg.dir])]
    folder = folders[0]
    jobs = read_jobs(folders)
    result = aggregate(jobs)
    frame = table(result)
    lines = [f"# Sweep report: {', '.join(str(f) for f in folders)}", "",
             (f"{len(jobs)} jobs: {int((jobs['status'] == 'complete').sum())} complete, "
              f"{int((jobs['status'] == 'failed').sum())} failed, {int((jobs['status'] == 'missing').sum())} missing."),
             ("Group columns: mean score over the group's subsets; MTR: mean rank among the single experts that "
              "answered the subset plus the method (ties take the lower rank); %Uplift: share of subsets ranked first; `subsets`: how many "
              "subsets the averages run over."), "",
             markdown_table(frame, {c: ".3f" for c in frame.columns} | {"subsets": ".0f"})]
    scores = pd.DataFrame({n: m["subsets"] for n, m in result["methods"].items()}).T
    lines += ["", "## Per subset", "", markdown_table(scores, ".3f")]
    if result["missing"]:
        lines += ["", "## Missing", ""] + [f"- {m['benchmark']} x {m['method']} (job {m['job']}): {m['status']}"
                                           + (f": {m['error']}" if m["error"] else "") for m in result["missing"]]
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    frame.to_csv(folder / "report.csv", index_label="method")
    frame.astype(float).to_latex(folder / "report.tex", float_format="%.3f", na_rep="--",
                                 formatters={"subsets": "{:.0f}".format})
    (folder / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    plots(result, folder)
    print("\n".join(lines))
    return result
