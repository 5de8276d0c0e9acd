"""How long routing one query takes, encoder included (batch 1: a query arrives, the router picks an expert),
for every router bench/routerdc.py trained, beside its in-distribution accuracy from the same record.

Each router is rebuilt from its chosen setting and loads its checkpoint; then every router routes the same
`--queries` test queries one at a time: tokenise, encode, score, argmax. The routers take turns on each query,
in alternating order (this machine is noisy: whatever slows one query's turn slows every router's). The median
milliseconds per query are reported (after a warm-up).

    python bench/route_latency.py [--records outputs/bench/routerdc/<time>/bench.json ...] [--queries 300]

Prints a table and, as the last line, {NAME: {"ms_per_query": x, "id_avg": x}}; writes
outputs/bench/route_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from rewardroute.schema import PROJECT_ROOT

os.environ.setdefault("WANDB_MODE", "offline")


def latest_record() -> Path:
    records = sorted((PROJECT_ROOT / "outputs" / "bench" / "routerdc").glob("*/bench.json"))
    if not records:
        raise FileNotFoundError("no bench/routerdc.py record under outputs/bench/routerdc: run it first or pass --records")
    return records[-1]


def main() -> None:
    import torch
    from hydra.utils import instantiate

    from rewardroute.data.load import load_matrix
    from rewardroute.main import compose_config
    from rewardroute.pipeline.train import build_router, load_weights

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=Path, nargs="+", default=None,
                        help="bench/routerdc.py records (bench.json), merged in order (default: the latest)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()

    record = {"chosen": {}, "results": {}}
    for path in args.records or [latest_record()]:
        for key, value in json.loads(path.read_text()).items():
            if key in record:
                record[key].update(value)
    data = [f"data.root={args.data_root}"] if args.data_root else []
    matrix, routers = None, {}
    for name, chosen in record["chosen"].items():
        if "runs" in chosen:  # an ensemble: one pass of each member
            print(f"{name}: not timed (it runs every member: {', '.join(chosen['runs'])})")
            continue
        experiment = chosen.get("experiment", "routerdc_frozen")  # routerdc where fine-tuning won on validation
        # the bench's --overrides too (backbone, split), as the router was trained with them
        cfg = compose_config([f"experiment={experiment}", *data, *chosen.get("overrides", []), f"router={name}",
                              *chosen["setting"], "~logger"], tempfile.mkdtemp())
        matrix = matrix or load_matrix(cfg)
        module = build_router(cfg, matrix).module
        results = json.loads((Path(chosen["folder"]) / "results.json").read_text())
        load_weights(module, str(Path(chosen["folder"]) / "checkpoints" / results["selection"]["checkpoint"]))
        module.eval()
        queries = matrix.queries
        encoder, tokenizer = instantiate(cfg.router.backbone).build(queries.loc[queries["split"] == "train", "query"].tolist())
        encoder = (encoder if module.encoder is None else module.encoder).eval()  # a fine-tuned router has its own
        routers[name] = (module, encoder, tokenizer, cfg.router.max_length)
    if not routers:
        raise SystemExit("no router to time in the records (only ensembles)")

    queries = matrix.queries
    texts = queries.loc[queries["split"] == "test", "query"].sample(args.warmup + args.queries, random_state=0).tolist()
    times: dict[str, list[float]] = {name: [] for name in routers}
    names = list(routers)
    with torch.inference_mode():
        for i, text in enumerate(texts):
            for name in names if i % 2 == 0 else names[::-1]:
                module, encoder, tokenizer, max_length = routers[name]
                start = time.perf_counter()
                batch = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
                int(module.scores(encoder(batch["input_ids"], batch["attention_mask"])).argmax())
                if i >= args.warmup:
                    times[name].append(1000 * (time.perf_counter() - start))
    out = {}
    for name in names:
        out[name] = {"ms_per_query": round(statistics.median(times[name]), 2),
                     "p90_ms": round(statistics.quantiles(times[name], n=10)[-1], 2),
                     "id_avg": round(record["results"][name]["id_avg"], 2)}
        print(f"{name:11s} {out[name]['ms_per_query']:6.2f} ms per query (p90 {out[name]['p90_ms']:.2f}), "
              f"ID avg {out[name]['id_avg']:.2f}", flush=True)

    best = max(out, key=lambda n: out[n]["id_avg"])
    fastest = min(out, key=lambda n: out[n]["ms_per_query"])
    share = out[fastest]["id_avg"] / out[best]["id_avg"]
    print(f"fastest: {fastest} at {out[fastest]['ms_per_query']:.2f} ms, {share:.1%} of the best router's ({best}) "
          f"ID average; {torch.get_num_threads()} threads, batch 1, each router at its own max_length")
    path = PROJECT_ROOT / "outputs" / "bench" / "route_latency.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"routers": out, "fastest": fastest, "best": best, "fastest_share_of_best_id": share,
                                "threads": torch.get_num_threads(), "queries": args.queries}, indent=2) + "\n")
    print(json.dumps({n: {"ms_per_query": v["ms_per_query"], "id_avg": v["id_avg"]} for n, v in out.items()}))


if __name__ == "__main__":
    main()
