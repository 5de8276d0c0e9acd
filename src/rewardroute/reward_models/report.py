"""The reward-model table: pairwise accuracy per domain and on average, parameters and inference cost, one row
per trained reward model. A run of task=train_rm writes it for its model; at the end of a sweep (experiment=
rm_routers) `collect` writes it for every job of the sweep, into the sweep folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from rewardroute.cache import write_files
from rewardroute.evaluation.report import markdown_table

log = logging.getLogger(__name__)

COSTS = {  # column -> (section, key) of results.json
    "params": ("params", "total"),
    "trainable": ("params", "trainable"),
    "passes/pair": ("cost", "encoder_passes_per_pair"),
    "ms/pair": ("cost", "ms_per_pair"),
    "load s": ("cost", "load_seconds"),
    "MB": ("cost", "weights_mb"),
}
FORMATS = {"params": ",.0f", "trainable": ",.0f", "passes/pair": ".0f", "ms/pair": ".1f", "load s": ".2f", "MB": ".1f"}


def results_table(runs: dict[str, dict]) -> pd.DataFrame:
    """Rows: reward models; columns: accuracy (%) per domain, `avg` (the mean over domains), the router's
    accuracy (routed models), then parameters and costs."""
    rows = {}
    for name, r in runs.items():
        test = r["test"]
        rows[name] = {**{d: 100 * test["domains"].get(d, float("nan")) for d in r["domains"]}, "avg": 100 * test["acc"],
                      "router acc": None if test["router_acc"] is None else 100 * test["router_acc"],
                      **{col: r[section][key] for col, (section, key) in COSTS.items()}}
    return pd.DataFrame(rows).T


def parameter_saving(runs: dict[str, dict], against: str = "rodos") -> dict[str, float]:
    """1 - total parameters / those of `against` (RODOS: K + 1 whole models), per other row; {} without it."""
    if against not in runs:
        return {}
    total = runs[against]["params"]["total"]
    return {name: 1 - r["params"]["total"] / total for name, r in runs.items() if name != against}


def row_names(records: list[dict]) -> list[str]:
    """Each record's architecture, with the overrides that tell its job apart where architectures repeat."""
    archs = [r["arch"] for r in records]
    if len(set(archs)) == len(archs):
        return archs
    common = set.intersection(*(set(r.get("job", [])) for r in records))
    return [" ".join([r["arch"], *[o for o in r.get("job", []) if o not in common and not o.startswith("rm=")]])
            for r in records]


def plot_accuracy(table: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(table.columns[: table.columns.get_loc("avg") + 1])
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(columns)), 4.5))
    width = 0.8 / len(table)
    for i, (name, row) in enumerate(table.iterrows()):
        ax.bar([c + (i - (len(table) - 1) / 2) * width for c in range(len(columns))], row[columns].astype(float),
               width, label=name)
    ax.axhline(50, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_ylabel("pairwise accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def markdown(table: pd.DataFrame, runs: dict[str, dict], title: str, notes: list[str]) -> str:
    formats = {c: ".1f" for c in table.columns} | FORMATS
    best = table["avg"].astype(float).idxmax() if len(table) > 1 else None
    legend = ("Pairwise accuracy (%) on the test pairs: per domain, `avg` = mean over domains. Parameters: all "
              "held in memory / trained. Cost: encoder passes and milliseconds per scored pair, seconds to load the "
              "saved model, its size.")
    out = [f"# {title}", "", legend, "", markdown_table(table, formats, index_name="reward model", bold=best)]
    saving = parameter_saving(runs)
    if saving:
        notes = ["total parameters against rodos: " + ", ".join(f"{n} {-100 * v:+.0f}%" for n, v in saving.items()),
                 *notes]
    return "\n".join(out + ([""] + [f"- {n}" for n in notes] if notes else [])) + "\n"


def write_report(record: dict, runs: dict[str, dict], out_dir: Path, title: str, notes: list[str] = ()) -> dict[str, Path]:
    """results.json (`record`), results.md, results.csv and results.png in `out_dir`, each written atomically."""
    table = results_table(runs)
    writers = {
        "json": ("results.json", lambda p: p.write_text(json.dumps(record, indent=2) + "\n")),
        "md": ("results.md", lambda p: p.write_text(markdown(table, runs, title, list(notes)))),
        "csv": ("results.csv", lambda p: table.to_csv(p, index_label="reward model")),
        "png": ("results.png", lambda p: plot_accuracy(table, p, title)),
    }
    return write_files(out_dir, writers)


def collect(sweep_dir: str | Path) -> dict[str, Path] | None:
    """One table of the reward models trained in the jobs of a sweep folder (a job that failed has no results
    and is named in the log); the table is printed."""
    sweep_dir = Path(sweep_dir)
    records, failed = [], []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        path = job / "results.json"
        record = json.loads(path.read_text()) if path.is_file() else {}
        if record.get("kind") == "reward_model":
            records.append(record)
        else:
            failed.append(job.name)
    if failed:
        log.warning("%s: jobs without reward-model results: %s", sweep_dir, failed)
    if not records:
        return None
    runs = dict(zip(row_names(records), records))
    title = f"Reward models: {records[0]['name']} on {records[0]['data']}"
    files = write_report({"kind": "reward_model_sweep", "runs": runs}, runs, sweep_dir, title,
                         [f"jobs: {sweep_dir}/<n>/ (each with its results, checkpoint and reward_model/)"])
    print(files["md"].read_text())
    return files
