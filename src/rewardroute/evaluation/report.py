"""What a run leaves in its folder: results.json (machine-readable), results.md and results.csv (the table a
person reads), results.png (per-subset scores by method) and routing.png (where each router sent the queries)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rewardroute.cache import write_files

BASELINE_ORDER = ("rmr", "bma", "random", "dataset_oracle", "oracle")


def method_order(results: dict) -> list[str]:
    methods = results["methods"]
    routers = [n for n, m in methods.items() if m["kind"] == "router"]
    return routers + [b for b in BASELINE_ORDER if b in methods] + list(results["experts"])


def results_table(results: dict) -> pd.DataFrame:
    """Methods x (subsets, groups, mean, MTR, uplift, gain over BMA, oracle gap closed)."""
    groups = [g for g in results["groups"] if g != "all"]
    rows = {}
    for name in method_order(results):
        m = results["methods"][name]
        rows[name] = {
            **m["subsets"],
            **{g: m["groups"][g] for g in groups},
            "mean": m["mean"],
            "MTR": m["mtr"],
            "uplift": m["uplift"],
            "gain_over_bma": m["gain_over_bma"]["mean"],
            "oracle_gap_closed": m["oracle_gap_closed"]["mean"],
        }
    return pd.DataFrame(rows).T


def short_names(names: list[str]) -> dict[str, str]:
    """`org/model` as `model` where that stays unique (hub ids make wide tables)."""
    short = {n: n.split("/")[-1] for n in names}
    return short if len(set(short.values())) == len(short) else {n: n for n in names}


def markdown_table(frame: pd.DataFrame, fmt: str | dict[str, str], index_name: str = "method",
                   bold: str | None = None) -> str:
    """A Markdown table with padded columns, so that it also reads well as plain text in a terminal or log.
    `fmt` is one format for every number or one per column."""

    def cell(v, column) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        f = fmt if isinstance(fmt, str) else fmt.get(column, "")
        return format(v, f) if isinstance(v, (float, np.floating)) else str(v)

    header = [index_name] + [str(c) for c in frame.columns]
    body = [[f"**{name}**" if name == bold else str(name)] + [cell(v, c) for c, v in row.items()]
            for name, row in frame.iterrows()]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in body])


def markdown(results: dict, reference: dict[str, dict[str, float]] | None = None, notes: list[str] = ()) -> str:
    """results.md: the main table, published numbers beside ours, each router's routing, run notes."""
    scale = results.get("report_scale", 1.0)
    score_fmt = ".2f" if scale >= 10 else ".3f"
    table = results_table(results)
    formats = {c: score_fmt for c in table.columns} | {"MTR": ".2f", "uplift": ".2f", "oracle_gap_closed": ".2f"}
    routers = [n for n in table.index if results["methods"][n]["kind"] == "router"]
    counts = results.get("counts", {})
    folds = results.get("cross_fit_folds")
    bma = results["bma"] if isinstance(results["bma"], str) else "per fold: " + ", ".join(results["bma"])
    split = (f"cross-fitted over {folds} folds, every query a test query once" if folds else
             f"train {counts.get('train', '?')}, validation {counts.get('val', '?')}")
    out = [
        f"# Results: {results.get('name', '')} on {results.get('data', '')}",
        "",
        f"Test: {counts.get('test', '?')} queries in {len(results['subsets'])} subsets ({split}"
        + (f", {counts['dropped']} dropped for null scores" if counts.get("dropped") else "")
        + f"). Experts: {', '.join(results['experts'])}. BMA, chosen on train: **{bma}**.",
        "",
        "Scores are the mean evaluation metric of the routed answers"
        + (f" (x{scale:g})" if scale != 1 else "")
        + ". Rank: among the single experts plus the method, ties take the lower rank; MTR is the mean rank "
        "over subsets, uplift the share of subsets ranked first. gain_over_bma and oracle_gap_closed are on the mean.",
        "",
        markdown_table(table, formats, bold=routers[0] if routers else None),
    ]
    if reference:
        cols = list(dict.fromkeys(k for row in reference.values() for k in row))

        def ours(name: str) -> dict:
            m = results["methods"][name]
            return {c: m["groups"].get(c, m["subsets"].get(c)) for c in cols}

        ref = pd.DataFrame({f"{n} (this run)": ours(n) for n in routers + ["bma", "dataset_oracle", "oracle"]}).T
        ref = pd.concat([ref, pd.DataFrame(reference).T[cols]])
        out += ["", "## Beside the published numbers", "", markdown_table(ref, score_fmt, index_name="")]
    cost = pd.DataFrame(results["cost"]).T.loc[[n for n in table.index if n in ("rmr", "oracle") or n in routers]]
    if "rmr" in cost.index or "generated_tokens" in cost.columns:
        out += ["", "## Inference cost per query", "", markdown_table(cost, ".1f")]
    for name in trained_routers(results):
        share = pd.DataFrame(results["methods"][name]["routing"]).T.rename(columns=short_names(results["experts"]))
        share = share.div(share.sum(axis=1), axis=0)
        out += ["", f"## Where {name} sent the test queries (share per subset)", "",
                markdown_table(share, ".2f", index_name="subset")]
    out += analysis_markdown(results)
    if notes:
        out += ["", "## Run", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def trained_routers(results: dict) -> list[str]:
    """The routers proper, without their confidence-fallback variants (which route as the router or as BMA)."""
    fallbacks = {a["fallback"]["method"] for a in results.get("analysis", {}).values() if "fallback" in a}
    return [n for n, m in results["methods"].items() if m["kind"] == "router" and n not in fallbacks]


def analysis_markdown(results: dict) -> list[str]:
    """Per trained router: calibration, the confidence fallback and the quality-cost curve's area."""
    out = []
    for name, a in results.get("analysis", {}).items():
        cal = a["calibration"]
        out += ["", f"## {name}: confidence and cost", "",
                (f"- calibration (confidence = largest probability; right = routed to a best expert of the query): "
                 f"ECE {cal['ece']:.3f}, mean confidence {cal['mean_confidence']:.3f}, right {cal['accuracy']:.3f} "
                 "(reliability.png)")]
        if "fallback" in a:
            fb = a["fallback"]
            below = (f"{fb['threshold']:.3f} (chosen on validation)" if not isinstance(fb["threshold"], list) else
                     ", ".join(f"{t:.3f}" for t in fb["threshold"]) + " (per fold, each chosen on its fold's validation)")
            out.append(f"- fallback to BMA below confidence {below}: "
                       f"{fb['share']:.1%} of the test queries fell back; mean "
                       f"{results['methods'][fb['method']]['mean']:.4g} as `{fb['method']}` in the table")
        if "quality_cost" in a:
            qc = a["quality_cost"]
            out.append(f"- quality–cost (route by probability − λ·cost over {len(qc['points'])} values of λ; cost in "
                       f"{a['cost_unit']}): area under the convex hull {qc['auc']:.4g} against "
                       f"{qc['auc_singles']:.4g} for the single experts' hull (quality_cost.png)")
    return out


def plot_scores(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = results_table(results)
    columns = list(results["subsets"]) + [g for g in results["groups"] if g != "all"] + ["mean"]
    bars = [n for n in table.index if results["methods"][n]["kind"] != "expert"]
    x = np.arange(len(columns))
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(columns)), 4.5))
    for i, name in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, table.loc[name, columns].astype(float), width, label=name)
    for expert in results["experts"]:
        ax.scatter(x, table.loc[expert, columns].astype(float), marker="_", s=200, color="black", alpha=0.5, zorder=3)
    ax.scatter([], [], marker="_", color="black", alpha=0.5, label="single experts")
    ax.set_xticks(x, columns, rotation=30, ha="right")
    ax.set_ylabel("mean score of routed answers")
    ax.set_title(f"{results.get('name', '')}: per-subset scores by method")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_routing(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routers = trained_routers(results)
    fig, axes = plt.subplots(1, max(1, len(routers)), figsize=(1 + 1.2 * len(results["experts"]) * max(1, len(routers)), 4),
                             squeeze=False)
    for ax, name in zip(axes[0], routers):
        share = pd.DataFrame(results["methods"][name]["routing"]).T[results["experts"]]
        share = share.div(share.sum(axis=1), axis=0)
        image = ax.imshow(share.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(share.columns)), list(short_names(results["experts"]).values()), rotation=45, ha="right")
        ax.set_yticks(range(len(share.index)), share.index)
        ax.set_title(f"{name}: share of queries routed")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def write_report(results: dict, out_dir: str | Path, reference: dict | None = None, notes: list[str] = ()) -> dict[str, Path]:
    """Write every report file atomically; return their paths by kind."""
    from rewardroute.evaluation.calibration import plot_reliability
    from rewardroute.evaluation.cost import plot_quality_cost

    analysis = results.get("analysis", {})
    curves = {name: a["quality_cost"] for name, a in analysis.items() if "quality_cost" in a}
    writers = {  # kind: (file, writer)
        "json": ("results.json", lambda p: p.write_text(json.dumps(results, indent=2) + "\n")),
        "md": ("results.md", lambda p: p.write_text(markdown(results, reference, notes))),
        "csv": ("results.csv", lambda p: results_table(results).to_csv(p, index_label="method")),
        "png": ("results.png", lambda p: plot_scores(results, p)),
        "routing": ("routing.png", lambda p: plot_routing(results, p)),
    }
    if analysis:
        name, a = next(iter(analysis.items()))  # one trained router per run
        writers["reliability"] = ("reliability.png", lambda p: plot_reliability(a["calibration"], p, name))
        if curves:
            writers["quality_cost"] = ("quality_cost.png", lambda p: plot_quality_cost(curves, p, a["cost_unit"]))
    return write_files(out_dir, writers)
